//! What each field type allows: options, ranges, defaults.

use serde_yaml::Value;

use crate::spec::{Field, FieldType};

pub fn name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "string",
        FieldType::Text => "text",
        FieldType::Int => "int",
        FieldType::Bigint => "bigint",
        FieldType::Serial => "serial",
        FieldType::Bigserial => "bigserial",
        FieldType::Float => "float",
        FieldType::Decimal => "decimal",
        FieldType::Bool => "bool",
        FieldType::Uuid => "uuid",
        FieldType::Timestamp => "timestamp",
        FieldType::Date => "date",
        FieldType::Json => "json",
        FieldType::Enum => "enum",
        FieldType::Ref => "ref",
    }
}

/// `a` or `an` for the type name, for messages.
pub fn a(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Int | FieldType::Enum => "an",
        _ => "a",
    }
}

pub fn is_integer(ty: FieldType) -> bool {
    matches!(
        ty,
        FieldType::Int | FieldType::Bigint | FieldType::Serial | FieldType::Bigserial
    )
}

pub fn is_numeric(ty: FieldType) -> bool {
    is_integer(ty) || matches!(ty, FieldType::Float | FieldType::Decimal)
}

/// Types filtered by range (`?price_min=&price_max=`) and usable by `min`/`max` aggregates.
pub fn is_ranged(ty: FieldType) -> bool {
    is_numeric(ty) || matches!(ty, FieldType::Timestamp | FieldType::Date)
}

/// Types a primary key may have.
pub fn can_be_primary_key(ty: FieldType) -> bool {
    is_integer(ty) || matches!(ty, FieldType::Uuid | FieldType::String | FieldType::Text)
}

/// Inclusive bounds of integer types.
pub fn int_bounds(ty: FieldType) -> Option<(f64, f64)> {
    match ty {
        FieldType::Int | FieldType::Serial => Some((f64::from(i32::MIN), f64::from(i32::MAX))),
        FieldType::Bigint | FieldType::Bigserial => Some((i64::MIN as f64, i64::MAX as f64)),
        _ => None,
    }
}

/// Why `value` cannot be the default of `field` (`target_key`: the primary key a ref points
/// at), or `None` when it fits.
pub fn default_problem(field: &Field, value: &Value, target_key: Option<&Field>) -> Option<String> {
    let ty = field.ty;
    let tn = name(ty);
    let a = a(ty);
    if let Value::String(s) = value {
        match s.as_str() {
            "now" if matches!(ty, FieldType::Timestamp | FieldType::Date) => return None,
            "now" => {
                return Some(format!(
                    "`default: now` fits timestamp and date fields, not {tn}"
                ));
            }
            "gen_random_uuid" if ty == FieldType::Uuid => return None,
            "gen_random_uuid" => {
                return Some(format!(
                    "`default: gen_random_uuid` fits uuid fields, not {tn}"
                ));
            }
            _ => {}
        }
    }
    let found = describe(value);
    match ty {
        FieldType::Serial | FieldType::Bigserial => {
            Some(format!("{a} {tn} field numbers itself; remove `default`"))
        }
        FieldType::String | FieldType::Text => match value {
            Value::String(s) => match field.max_length {
                Some(n) if s.chars().count() > n as usize => Some(format!(
                    "default is {} characters, longer than max_length {n}",
                    s.chars().count()
                )),
                _ => None,
            },
            _ => Some(format!(
                "default of {a} {tn} field must be text, found {found} (quote it: `\"...\"`)"
            )),
        },
        FieldType::Int | FieldType::Bigint | FieldType::Float | FieldType::Decimal => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) if ty == FieldType::Decimal => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            let Some(n) = n.filter(|n| n.is_finite()) else {
                return Some(format!(
                    "default of {a} {tn} field must be a number, found {found}"
                ));
            };
            if let Some((lo, hi)) = int_bounds(ty)
                && (n.fract() != 0.0 || n < lo || n > hi)
            {
                return Some(format!(
                    "default {found} is not a whole number within the range of {tn}"
                ));
            }
            if ty == FieldType::Decimal
                && let Some(problem) = decimal_digits(field, value)
            {
                return Some(problem);
            }
            match (field.min, field.max) {
                (Some(min), _) if n < min => Some(format!("default {found} is below min {min}")),
                (_, Some(max)) if n > max => Some(format!("default {found} is above max {max}")),
                _ => None,
            }
        }
        FieldType::Bool => (!matches!(value, Value::Bool(_)))
            .then(|| format!("default of a bool field must be `true` or `false`, found {found}")),
        FieldType::Uuid => match value {
            Value::String(s) if is_uuid(s) => None,
            _ => Some(format!(
                "default of a uuid field must be `gen_random_uuid` or a UUID literal, found {found}"
            )),
        },
        FieldType::Timestamp => match value {
            Value::String(s) if is_rfc3339(s) => None,
            _ => Some(format!(
                "default of a timestamp field must be `now` or an RFC 3339 time \
                 (`2024-01-31T12:00:00Z`), found {found}"
            )),
        },
        FieldType::Date => match value {
            Value::String(s) if is_date(s) => None,
            _ => Some(format!(
                "default of a date field must be `now` or a date (`2024-01-31`), found {found}"
            )),
        },
        FieldType::Json => None,
        FieldType::Enum => {
            let values = field.values.as_deref().unwrap_or_default();
            match value {
                // Missing values are reported on their own.
                _ if values.is_empty() => None,
                Value::String(s) if values.contains(s) => None,
                _ => Some(format!(
                    "default {found} is not one of the enum's values ({})",
                    values.join(", ")
                )),
            }
        }
        FieldType::Ref => target_key.and_then(|key| {
            let mut as_key = key.clone();
            // The column holds the target key's values, but never numbers itself.
            as_key.ty = match key.ty {
                FieldType::Serial => FieldType::Int,
                FieldType::Bigserial => FieldType::Bigint,
                other => other,
            };
            as_key.min = None;
            as_key.max = None;
            default_problem(&as_key, value, None)
                .map(|p| format!("{p} (the type of the referenced primary key)"))
        }),
    }
}

fn decimal_digits(field: &Field, value: &Value) -> Option<String> {
    let precision = field.precision?;
    let scale = field.scale.unwrap_or(0);
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    let unsigned = text.trim_start_matches(['-', '+']);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let int_digits = int.trim_start_matches('0').len();
    let frac_digits = frac.trim_end_matches('0').len();
    if frac_digits > scale as usize || int_digits + scale as usize > precision as usize {
        Some(format!(
            "default `{text}` does not fit numeric({precision},{scale})"
        ))
    } else {
        None
    }
}

/// A value as quoted in messages.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("`{s}`"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(_) => "a tagged value".into(),
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `YYYY-MM-DD` with a real month and day.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && s[..4].bytes().all(|c| c.is_ascii_digit())
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn is_rfc3339(s: &str) -> bool {
    let Some((date, time)) = s.split_once(['T', 't', ' ']) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, "+00:00")
    } else if let Some(i) = time.rfind(['+', '-']) {
        (&time[..i], &time[i..])
    } else {
        return false;
    };
    let two = |t: &str, max: u32| t.len() == 2 && t.parse::<u32>().is_ok_and(|n| n <= max);
    let clock = clock.split_once('.').map_or(clock, |(c, frac)| {
        if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) {
            c
        } else {
            ""
        }
    });
    let hms: Vec<&str> = clock.split(':').collect();
    let off: Vec<&str> = offset[1..].split(':').collect();
    hms.len() == 3
        && two(hms[0], 23)
        && two(hms[1], 59)
        && two(hms[2], 60)
        && off.len() == 2
        && two(off[0], 23)
        && two(off[1], 59)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2024-13-01"));
        assert!(is_rfc3339("2024-01-31T12:00:00Z"));
        assert!(is_rfc3339("2024-01-31T12:00:00.123+02:00"));
        assert!(!is_rfc3339("2024-01-31T25:00:00Z"));
        assert!(!is_rfc3339("2024-01-31"));
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid("123e4567"));
    }
}
