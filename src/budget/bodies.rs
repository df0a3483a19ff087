//! Valid request bodies generated from a resource's fields, so create/update load
//! exercises the real write path instead of bouncing off validation (a 400 is an error).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use super::fixtures::Pools;
use super::target::Target;
use crate::spec::{Field, FieldType};

/// Makes bodies whose unique values never repeat within a run, nor (with high
/// likelihood) across runs: every value carries a per-run nonce and a counter.
pub struct BodyGen {
    nonce: u64,
    next: AtomicU64,
}

impl BodyGen {
    /// `nonce` distinguishes this run's values from earlier runs' rows.
    pub fn new(nonce: u64) -> Self {
        Self {
            nonce,
            next: AtomicU64::new(0),
        }
    }

    /// A full create body: every field the API accepts on create.
    pub fn create(&self, t: &Target, pools: &Pools) -> Result<Value, String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut body = Map::new();
        for name in &t.create_fields {
            let field = &t.res.fields[name.as_str()];
            body.insert(name.clone(), self.value(name, field, n, pools)?);
        }
        Ok(Value::Object(body))
    }

    /// A partial update body: one updatable field, preferring one that is neither
    /// unique nor a reference (the cheapest valid change).
    pub fn update(&self, t: &Target, pools: &Pools) -> Result<Value, String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut updatable = t
            .update_fields
            .iter()
            .map(|name| (name, &t.res.fields[name.as_str()]));
        let plain = updatable
            .clone()
            .find(|(_, f)| !f.unique && f.ty != FieldType::Ref);
        let (name, field) = plain
            .or_else(|| updatable.next())
            .ok_or("the resource has no field a client may update")?;
        Ok(json!({ name.as_str(): self.value(name, field, n, pools)? }))
    }

    fn value(&self, name: &str, f: &Field, n: u64, pools: &Pools) -> Result<Value, String> {
        let token = format!("{:x}{n}", self.nonce & 0xff_ffff);
        Ok(match f.ty {
            FieldType::String | FieldType::Text => {
                let s = if name.contains("email") {
                    format!("u{token}@example.com")
                } else {
                    format!("{name}-{token}")
                };
                Value::String(fit_length(s, f.max_length))
            }
            FieldType::Int | FieldType::Serial => json!(integer(f, n, self.nonce, i32::MAX as i64)),
            FieldType::Bigint | FieldType::Bigserial => json!(integer(f, n, self.nonce, i64::MAX)),
            FieldType::Float => json!(clamp_f(if f.unique { 1.5 + n as f64 } else { 1.5 }, f)),
            FieldType::Decimal => Value::String(decimal(f, n)),
            FieldType::Bool => Value::Bool(false),
            FieldType::Uuid => Value::String(uuid(self.nonce, n)),
            FieldType::Timestamp => Value::String(timestamp(n)),
            FieldType::Date => Value::String(date(n)),
            FieldType::Json => json!({ "n": n }),
            FieldType::Enum => {
                let values = f.values.as_deref().unwrap_or_default();
                match values.len() {
                    0 => return Err(format!("enum field `{name}` has no values")),
                    len => Value::String(values[(n % len as u64) as usize].clone()),
                }
            }
            FieldType::Ref => {
                let to = f.to.as_deref().unwrap_or_default();
                match pools.ids(to) {
                    [] if f.nullable => Value::Null,
                    [] => {
                        return Err(format!(
                            "field `{name}` needs a row of `{to}` to refer to, and there is none"
                        ));
                    }
                    ids => ids[(n % ids.len() as u64) as usize].clone(),
                }
            }
        })
    }
}

/// Keep the tail (where the unique part is) when a string exceeds `max_length`.
fn fit_length(s: String, max: Option<u32>) -> String {
    match max {
        Some(max) if s.chars().count() > max as usize => {
            let skip = s.chars().count() - max as usize;
            s.chars().skip(skip).collect()
        }
        _ => s,
    }
}

/// An integer within `[min, max]` (and the column type): 1 when possible, or a
/// value that changes with every request for unique fields.
fn integer(f: &Field, n: u64, nonce: u64, type_max: i64) -> i64 {
    let lo = f.min.map_or(-type_max, |m| m.ceil() as i64).max(-type_max);
    let hi = f.max.map_or(type_max, |m| m.floor() as i64).min(type_max);
    if hi < lo {
        return lo;
    }
    let start = 1.clamp(lo, hi);
    if f.unique {
        let span = (hi - start) as u64 + 1;
        start
            + ((nonce % 1_000_000) * 1_000_000 + n)
                .checked_rem(span)
                .unwrap_or(0) as i64
    } else {
        start
    }
}

fn clamp_f(v: f64, f: &Field) -> f64 {
    let v = f.min.map_or(v, |m| v.max(m));
    f.max.map_or(v, |m| v.min(m))
}

/// A decimal string that fits `numeric(precision, scale)` and `min`/`max`.
fn decimal(f: &Field, n: u64) -> String {
    let scale = f.scale.unwrap_or(2).min(12);
    let int_digits = f.precision.map_or(12, |p| p.saturating_sub(scale)).min(12);
    let type_max = 10f64.powi(int_digits as i32) - 10f64.powi(-(scale as i32));
    let v = if f.unique { 1.0 + n as f64 } else { 1.0 };
    let v = clamp_f(v.min(type_max), f);
    format!("{v:.prec$}", prec = scale as usize)
}

/// A version-4-shaped UUID built from the run nonce and the counter (unique per body).
fn uuid(nonce: u64, n: u64) -> String {
    let mut b = ((nonce as u128) << 64 | n as u128).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// RFC 3339 timestamps in 2024, one second apart per counter value.
fn timestamp(n: u64) -> String {
    let s = n % (28 * 12 * 86_400);
    let (day, rest) = (s / 86_400, s % 86_400);
    format!(
        "2024-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        day / 28 + 1,
        day % 28 + 1,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Calendar dates, one day apart per counter value (28-day months keep them valid).
fn date(n: u64) -> String {
    let d = n % (28 * 12 * 100);
    format!(
        "{}-{:02}-{:02}",
        2000 + d / (28 * 12),
        d % (28 * 12) / 28 + 1,
        d % 28 + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(yaml: &str) -> Field {
        serde_yaml::from_str(yaml).unwrap()
    }

    /// The one resource `r` of a spec whose `resources:` holds `yaml` (plus `users`).
    fn target(yaml: &str) -> Target {
        let spec = format!(
            "name: t\nresources:\n  users:\n    fields: {{ id: {{ type: bigserial, primary_key: true }} }}\n  r:\n{yaml}"
        );
        let spec: crate::spec::Spec = serde_yaml::from_str(&spec).unwrap();
        crate::budget::target::targets(&spec)
            .swap_remove("r")
            .unwrap()
    }

    #[test]
    fn strings_respect_max_length_and_stay_unique() {
        let g = BodyGen::new(0xabcdef);
        let t = target(
            "    fields: { id: { type: bigserial, primary_key: true }, code: { type: string, max_length: 8, unique: true } }",
        );
        let pools = Pools::default();
        let a = g.create(&t, &pools).unwrap();
        let b = g.create(&t, &pools).unwrap();
        assert!(
            a.get("id").is_none(),
            "serial primary key is server-set: {a}"
        );
        let (a, b) = (a["code"].as_str().unwrap(), b["code"].as_str().unwrap());
        assert!(a.len() <= 8 && b.len() <= 8);
        assert_ne!(a, b);
    }

    #[test]
    fn numbers_respect_min_max_and_precision() {
        assert_eq!(
            integer(
                &field("{ type: int, min: 3, max: 5 }"),
                0,
                0,
                i32::MAX as i64
            ),
            3
        );
        assert_eq!(
            integer(&field("{ type: int, max: -2 }"), 0, 0, i32::MAX as i64),
            -2
        );
        let u = field("{ type: int, min: 1, max: 5, unique: true }");
        assert!((1..=5).contains(&integer(&u, 77, 9, i32::MAX as i64)));
        assert_eq!(
            decimal(
                &field("{ type: decimal, precision: 10, scale: 2, min: 0 }"),
                0
            ),
            "1.00"
        );
        assert_eq!(
            decimal(&field("{ type: decimal, precision: 2, scale: 2 }"), 0),
            "0.99"
        );
        assert_eq!(decimal(&field("{ type: decimal, min: 5 }"), 0), "5.00");
    }

    #[test]
    fn server_set_fields_are_omitted_and_hidden_ones_sent() {
        let t = target(
            "    fields:
      id: { type: uuid, primary_key: true, default: gen_random_uuid }
      secret: { type: string, hidden: true }
      at: { type: timestamp, default: now, readonly: true }
      state: { type: enum, values: [a, b] }",
        );
        let g = BodyGen::new(1);
        let body = g.create(&t, &Pools::default()).unwrap();
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["secret", "state"]);
        assert_eq!(body["state"], "a");
        // An update changes one plain field.
        let patch = g.update(&t, &Pools::default()).unwrap();
        assert_eq!(patch.as_object().unwrap().len(), 1, "{patch}");
        assert!(patch.get("secret").is_some(), "{patch}");
    }

    #[test]
    fn refs_need_a_target_row_unless_nullable() {
        let t = target(
            "    fields: { id: { type: bigserial, primary_key: true }, owner: { type: ref, to: users } }",
        );
        let err = BodyGen::new(1).create(&t, &Pools::default()).unwrap_err();
        assert!(err.contains("users"), "{err}");
        let mut pools = Pools::default();
        pools.insert("users", vec![json!(7)]);
        assert_eq!(BodyGen::new(1).create(&t, &pools).unwrap()["owner"], 7);
        let t = target(
            "    fields: { id: { type: bigserial, primary_key: true }, owner: { type: ref, to: users, nullable: true } }",
        );
        assert_eq!(
            BodyGen::new(1).create(&t, &Pools::default()).unwrap()["owner"],
            Value::Null
        );
    }

    #[test]
    fn generated_scalars_are_well_formed() {
        let u = uuid(0x1234, 5);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(timestamp(0), "2024-01-01T00:00:00Z");
        assert_eq!(timestamp(86_400 * 28 + 61), "2024-02-01T00:01:01Z");
        assert_eq!(date(0), "2000-01-01");
    }
}
