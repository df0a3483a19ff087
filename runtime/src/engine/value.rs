//! What the engine knows about a field's type at run time: how to parse a query-string
//! value of it, how to bind it as a parameter, and how to write it into a cache key. The
//! generator names the [`Kind`] of each filter, key and scoped column; nothing else decides.

use std::fmt;
use std::str::FromStr;

use sqlx::Arguments;
use sqlx::postgres::PgArguments;
use sqlx::types::chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::{Decimal, Uuid};

use crate::problem::Problem;

/// The type of a column as the engine sees it (SPEC.md's field types; `serial`/`ref` map to
/// the integer or key kind they store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `string`, `text`.
    Text,
    /// `int`, `serial`.
    Int,
    /// `bigint`, `bigserial`.
    BigInt,
    /// `float`.
    Float,
    /// `decimal`.
    Decimal,
    /// `bool`.
    Bool,
    /// `uuid`.
    Uuid,
    /// `timestamp` (RFC 3339).
    Timestamp,
    /// `date` (`YYYY-MM-DD`).
    Date,
    /// `enum`: one of these values (text in SQL).
    Enum(&'static [&'static str]),
}

/// A parsed value of a [`Kind`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i32),
    BigInt(i64),
    Float(f64),
    Decimal(Decimal),
    Bool(bool),
    Uuid(Uuid),
    Timestamp(DateTime<Utc>),
    Date(NaiveDate),
}

impl Kind {
    /// Parses `raw` (a query-string value) as this kind; the error says what was expected.
    ///
    /// ```
    /// use apiforge_runtime::engine::{Kind, Value};
    /// assert_eq!(Kind::BigInt.parse("42"), Ok(Value::BigInt(42)));
    /// assert!(Kind::Decimal.parse("1_000").is_err());
    /// assert!(Kind::Text.parse("a\0b").is_err());
    /// assert!(Kind::Timestamp.parse("2026-13-45T00:00:00Z").is_err());
    /// assert!(Kind::Enum(&["paid", "shipped"]).parse("lost").is_err());
    /// ```
    pub fn parse(self, raw: &str) -> Result<Value, String> {
        fn num<T: FromStr>(raw: &str, what: &str) -> Result<T, String> {
            raw.parse()
                .map_err(|_| format!("expected {what}, got {raw:?}"))
        }
        match self {
            Kind::Text => text(raw).map(|t| Value::Text(t.to_owned())),
            Kind::Enum(values) => {
                if values.contains(&raw) {
                    Ok(Value::Text(raw.to_owned()))
                } else {
                    Err(format!(
                        "expected one of {}, got {raw:?}",
                        values.join(", ")
                    ))
                }
            }
            Kind::Int => num(raw, "a 32-bit integer").map(Value::Int),
            Kind::BigInt => num(raw, "a 64-bit integer").map(Value::BigInt),
            Kind::Float => num::<f64>(raw, "a number")
                .and_then(|f| {
                    f.is_finite()
                        .then_some(f)
                        .ok_or_else(|| format!("expected a finite number, got {raw:?}"))
                })
                .map(Value::Float),
            Kind::Decimal => {
                // Plain decimal notation only: `Decimal::from_str` also takes `1_000`.
                let plain = raw.strip_prefix('-').unwrap_or(raw);
                let digits = plain.bytes().filter(u8::is_ascii_digit).count();
                let dots = plain.bytes().filter(|&b| b == b'.').count();
                if digits == 0 || dots > 1 || digits + dots != plain.len() {
                    return Err(format!("expected a decimal number, got {raw:?}"));
                }
                num(raw, "a decimal number").map(Value::Decimal)
            }
            Kind::Bool => match raw {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!("expected true or false, got {raw:?}")),
            },
            Kind::Uuid => num(raw, "a UUID").map(Value::Uuid),
            Kind::Timestamp => DateTime::parse_from_rfc3339(raw)
                .map(|t| Value::Timestamp(t.with_timezone(&Utc)))
                .map_err(|_| format!("expected an RFC 3339 timestamp, got {raw:?}")),
            Kind::Date => num(raw, "a date (YYYY-MM-DD)").map(Value::Date),
        }
    }

    /// Whether a value read back from a cursor (JSON) can be of this kind: strings must
    /// parse, numbers must be numeric kinds, `null` only for nullable sort columns (the
    /// statement compares it like any value).
    pub fn accepts_json(self, value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Null => true,
            serde_json::Value::String(s) => self.parse(s).is_ok(),
            serde_json::Value::Number(n) => match self {
                Kind::Int => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                Kind::BigInt => n.as_i64().is_some(),
                Kind::Float | Kind::Decimal => true,
                _ => false,
            },
            serde_json::Value::Bool(_) => self == Kind::Bool,
            _ => false,
        }
    }

    /// Binds `value` (NULL when `None`) with this kind's SQL type: a statement is prepared
    /// once per text, so a parameter must keep its type whether it is set or not.
    pub fn bind(self, value: Option<&Value>, args: &mut PgArguments) -> Result<(), Problem> {
        let added = match (self, value) {
            (_, Some(v)) => v.add_to(args),
            (Kind::Text | Kind::Enum(_), None) => args.add(None::<String>),
            (Kind::Int, None) => args.add(None::<i32>),
            (Kind::BigInt, None) => args.add(None::<i64>),
            (Kind::Float, None) => args.add(None::<f64>),
            (Kind::Decimal, None) => args.add(None::<Decimal>),
            (Kind::Bool, None) => args.add(None::<bool>),
            (Kind::Uuid, None) => args.add(None::<Uuid>),
            (Kind::Timestamp, None) => args.add(None::<DateTime<Utc>>),
            (Kind::Date, None) => args.add(None::<NaiveDate>),
        };
        added.map_err(bind_error)
    }
}

/// Text as Postgres takes it: no NUL byte.
fn text(raw: &str) -> Result<&str, String> {
    if raw.contains('\0') {
        Err("text cannot contain a NUL byte".to_owned())
    } else {
        Ok(raw)
    }
}

pub(crate) fn bind_error(err: sqlx::error::BoxDynError) -> Problem {
    tracing::error!(error = %crate::monitor::log_safe(&err), "cannot encode a query parameter");
    Problem::internal()
}

impl Value {
    fn add_to(&self, args: &mut PgArguments) -> Result<(), sqlx::error::BoxDynError> {
        match self {
            Value::Text(v) => args.add(v.clone()),
            Value::Int(v) => args.add(*v),
            Value::BigInt(v) => args.add(*v),
            Value::Float(v) => args.add(*v),
            Value::Decimal(v) => args.add(*v),
            Value::Bool(v) => args.add(*v),
            Value::Uuid(v) => args.add(*v),
            Value::Timestamp(v) => args.add(*v),
            Value::Date(v) => args.add(*v),
        }
    }

    /// Binds this value as one parameter.
    pub fn bind(&self, args: &mut PgArguments) -> Result<(), Problem> {
        self.add_to(args).map_err(bind_error)
    }
}

/// The canonical text of a value, as cache keys hold it (`,` and `&` escaped so that two
/// different parameter lists never write the same key).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(v) => {
                for c in v.chars() {
                    match c {
                        '%' | '&' | ',' | '=' | ':' => write!(f, "%{:02X}", c as u32)?,
                        c => write!(f, "{c}")?,
                    }
                }
                Ok(())
            }
            Value::Int(v) => write!(f, "{v}"),
            Value::BigInt(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v:?}"),
            Value::Decimal(v) => write!(f, "{}", v.normalize()),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Uuid(v) => write!(f, "{v}"),
            Value::Timestamp(v) => write!(f, "{}", v.to_rfc3339()),
            Value::Date(v) => write!(f, "{v}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_and_refuses_garbage() {
        assert_eq!(Kind::Int.parse("7"), Ok(Value::Int(7)));
        assert!(Kind::Int.parse("128.0").is_err());
        assert!(Kind::Int.parse("99999999999").is_err());
        assert_eq!(Kind::Bool.parse("true"), Ok(Value::Bool(true)));
        assert!(Kind::Float.parse("NaN").is_err());
        assert!(Kind::Decimal.parse("1e5").is_err());
        assert!(Kind::Decimal.parse("-").is_err());
        assert_eq!(
            Kind::Decimal.parse("-1.50").map(|v| v.to_string()),
            Ok("-1.5".into())
        );
        assert!(Kind::Date.parse("2026-02-30").is_err());
        assert!(Kind::Uuid.parse("nope").is_err());
    }

    #[test]
    fn cache_key_text_is_escaped() {
        assert_eq!(Value::Text("a,b&c=d".into()).to_string(), "a%2Cb%26c%3Dd");
    }

    #[test]
    fn cursor_values_are_checked_against_the_kind() {
        assert!(Kind::Timestamp.accepts_json(&serde_json::json!("2026-01-01T00:00:00Z")));
        assert!(!Kind::Timestamp.accepts_json(&serde_json::json!("2026-13-45T00:00:00Z")));
        assert!(!Kind::Timestamp.accepts_json(&serde_json::json!(5)));
        assert!(!Kind::Text.accepts_json(&serde_json::json!("a\u{0}")));
        assert!(Kind::BigInt.accepts_json(&serde_json::json!(5)));
    }
}
