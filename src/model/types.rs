//! The type table of SPEC.md: spec type → SQL DDL type, cast type, Rust type, JSON type,
//! samples.

use serde_yaml::Value;

use super::FieldKind;
use super::naming::quote_literal;
use crate::spec::{Field, FieldType};

pub fn kind_of(ty: FieldType) -> FieldKind {
    match ty {
        FieldType::String => FieldKind::String,
        FieldType::Text => FieldKind::Text,
        FieldType::Int => FieldKind::Int,
        FieldType::Bigint | FieldType::Ref => FieldKind::Bigint,
        FieldType::Serial => FieldKind::Serial,
        FieldType::Bigserial => FieldKind::Bigserial,
        FieldType::Float => FieldKind::Float,
        FieldType::Decimal => FieldKind::Decimal,
        FieldType::Bool => FieldKind::Bool,
        FieldType::Uuid => FieldKind::Uuid,
        FieldType::Timestamp => FieldKind::Timestamp,
        FieldType::Date => FieldKind::Date,
        FieldType::Json => FieldKind::Json,
        FieldType::Enum => FieldKind::Enum,
    }
}

/// The column type in `CREATE TABLE`.
pub fn ddl_type(kind: FieldKind, f: &Field) -> String {
    match (kind, f.max_length) {
        (FieldKind::String, Some(n)) => format!("varchar({n})"),
        (FieldKind::Decimal, _) => match (f.precision, f.scale) {
            (Some(p), Some(s)) => format!("numeric({p},{s})"),
            (Some(p), None) => format!("numeric({p})"),
            _ => "numeric".into(),
        },
        (FieldKind::Serial, _) => "serial".into(),
        (FieldKind::Bigserial, _) => "bigserial".into(),
        (k, _) => cast_type(k).into(),
    }
}

/// The type a bound parameter is cast to when compared with the column.
pub fn cast_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::String | FieldKind::Text | FieldKind::Enum => "text",
        FieldKind::Int | FieldKind::Serial => "integer",
        FieldKind::Bigint | FieldKind::Bigserial => "bigint",
        FieldKind::Float => "double precision",
        FieldKind::Decimal => "numeric",
        FieldKind::Bool => "boolean",
        FieldKind::Uuid => "uuid",
        FieldKind::Timestamp => "timestamptz",
        FieldKind::Date => "date",
        FieldKind::Json => "jsonb",
    }
}

/// Rust type of a non-null value (enums are named by the caller).
pub fn rust_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::String | FieldKind::Text | FieldKind::Enum => "String",
        FieldKind::Int | FieldKind::Serial => "i32",
        FieldKind::Bigint | FieldKind::Bigserial => "i64",
        FieldKind::Float => "f64",
        FieldKind::Decimal => "rust_decimal::Decimal",
        FieldKind::Bool => "bool",
        FieldKind::Uuid => "uuid::Uuid",
        FieldKind::Timestamp => "chrono::DateTime<chrono::Utc>",
        FieldKind::Date => "chrono::NaiveDate",
        FieldKind::Json => "serde_json::Value",
    }
}

/// How a value travels in JSON bodies and answers: the JSON Schema `type` (`None`: any
/// JSON value) and `format` that the OpenAPI document gives it and the README names.
pub fn json_type(kind: FieldKind) -> (Option<&'static str>, Option<&'static str>) {
    match kind {
        FieldKind::String | FieldKind::Text | FieldKind::Enum => (Some("string"), None),
        FieldKind::Int | FieldKind::Serial => (Some("integer"), Some("int32")),
        FieldKind::Bigint | FieldKind::Bigserial => (Some("integer"), Some("int64")),
        FieldKind::Float => (Some("number"), Some("double")),
        // Plain notation in a string (`runtime::engine::value::decimal`), never a number.
        FieldKind::Decimal => (Some("string"), Some("decimal")),
        FieldKind::Bool => (Some("boolean"), None),
        FieldKind::Uuid => (Some("string"), Some("uuid")),
        FieldKind::Timestamp => (Some("string"), Some("date-time")),
        FieldKind::Date => (Some("string"), Some("date")),
        FieldKind::Json => (None, None),
    }
}

/// The `pattern` of a decimal's text (`runtime::engine::value::decimal`): a sign unless
/// `signed` is false, and the digits of `numeric(precision, scale)` when given.
pub fn decimal_pattern(signed: bool, digits: Option<(u32, u32)>) -> String {
    let sign = if signed { "-?" } else { "" };
    let (int, frac) = match digits {
        Some((p, scale)) => {
            let int = match p.saturating_sub(scale) {
                0 => "0".to_string(),
                1 => "[0-9]".to_string(),
                n => format!("(0|[1-9][0-9]{{0,{}}})", n - 1),
            };
            let frac = match scale {
                0 => String::new(),
                s => format!("(\\.[0-9]{{1,{s}}})?"),
            };
            (int, frac)
        }
        None => ("(0|[1-9][0-9]*)".to_string(), "(\\.[0-9]+)?".to_string()),
    };
    format!("^{sign}{int}{frac}$")
}

/// A spec default as the README words it: `now` and `gen_random_uuid` in words, literals
/// as the JSON the API answers (a decimal in a string).
pub fn default_doc(kind: FieldKind, v: &Value) -> String {
    match v {
        Value::String(s) if s == "now" && kind == FieldKind::Date => "the current date".into(),
        Value::String(s) if s == "now" => "the current time".into(),
        Value::String(s) if s == "gen_random_uuid" => "a random UUID".into(),
        Value::Number(n) if kind == FieldKind::Decimal => format!("`\"{n}\"`"),
        other => format!(
            "`{}`",
            serde_json::to_string(other).unwrap_or_else(|_| "null".into())
        ),
    }
}

/// Types with a meaningful order get range filters (`_min`, `_max`).
pub fn is_ordered(kind: FieldKind) -> bool {
    matches!(
        kind,
        FieldKind::Int
            | FieldKind::Bigint
            | FieldKind::Serial
            | FieldKind::Bigserial
            | FieldKind::Float
            | FieldKind::Decimal
            | FieldKind::Timestamp
            | FieldKind::Date
    )
}

/// A Rust `f64` literal.
pub fn f64_literal(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// The SQL expression of a spec default: `now`, `gen_random_uuid`, or a literal of the type.
pub fn default_sql(kind: FieldKind, v: &Value) -> String {
    match v {
        Value::String(s) if s == "now" => "now()".into(),
        Value::String(s) if s == "gen_random_uuid" => "gen_random_uuid()".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match kind {
            FieldKind::Decimal | FieldKind::Float => n.to_string(),
            _ => n.to_string(),
        },
        Value::String(s) => match kind {
            FieldKind::Json => format!(
                "{}::jsonb",
                quote_literal(&serde_json::Value::String(s.clone()).to_string())
            ),
            _ => quote_literal(s),
        },
        Value::Null => "NULL".into(),
        other => {
            // Mappings and sequences are JSON defaults.
            let json = serde_json::to_string(other).unwrap_or_else(|_| "null".into());
            format!("{}::jsonb", quote_literal(&json))
        }
    }
}

/// The default a deprecated NOT NULL column without one gets: rows the new release writes
/// (without the column) stay readable by the previous release, which still selects it.
pub fn placeholder_sql(kind: FieldKind, enum_values: &[String]) -> String {
    match kind {
        FieldKind::String | FieldKind::Text => "''".into(),
        FieldKind::Int
        | FieldKind::Bigint
        | FieldKind::Serial
        | FieldKind::Bigserial
        | FieldKind::Float
        | FieldKind::Decimal => "0".into(),
        FieldKind::Bool => "false".into(),
        FieldKind::Uuid => "gen_random_uuid()".into(),
        FieldKind::Timestamp => "now()".into(),
        FieldKind::Date => "CURRENT_DATE".into(),
        FieldKind::Json => "'null'::jsonb".into(),
        FieldKind::Enum => enum_values
            .first()
            .map_or_else(|| "''".into(), |v| quote_literal(v)),
    }
}

/// Two JSON values (as text) that pass the field's validation, for generated tests.
pub fn samples(kind: FieldKind, f: &Field, values: &[String]) -> (String, String) {
    let lo = f.min.unwrap_or(f64::MIN);
    let hi = f.max.unwrap_or(f64::MAX);
    let pick = |wanted: f64| wanted.clamp(lo, hi);
    let int = |wanted: f64| format!("{}", pick(wanted).ceil() as i64);
    let text = |s: &str| {
        let n = f.max_length.unwrap_or(u32::MAX) as usize;
        serde_json::Value::String(s.chars().take(n.max(1)).collect()).to_string()
    };
    match kind {
        FieldKind::String | FieldKind::Text => (text("sample one"), text("sample two")),
        FieldKind::Int | FieldKind::Bigint | FieldKind::Serial | FieldKind::Bigserial => {
            let a = int(1.0);
            let b = int(pick(1.0) + 1.0);
            (a, b)
        }
        FieldKind::Float => (format!("{:?}", pick(1.5)), format!("{:?}", pick(2.5))),
        FieldKind::Decimal => {
            // `numeric(p)` has scale 0; an unconstrained `numeric` takes any.
            let scale = f.scale.unwrap_or(if f.precision.is_some() { 0 } else { 2 }) as usize;
            let fmt = |v: f64| format!("\"{v:.scale$}\"");
            (fmt(pick(12.5)), fmt(pick(7.25)))
        }
        FieldKind::Bool => ("true".into(), "false".into()),
        FieldKind::Uuid => (
            "\"6f1e2d3c-4b5a-4978-8675-a1b2c3d4e5f6\"".into(),
            "\"0e9d8c7b-6a59-4483-9271-f6e5d4c3b2a1\"".into(),
        ),
        FieldKind::Timestamp => (
            "\"2024-01-02T03:04:05Z\"".into(),
            "\"2024-02-03T04:05:06Z\"".into(),
        ),
        FieldKind::Date => ("\"2024-01-02\"".into(), "\"2024-02-03\"".into()),
        FieldKind::Json => ("{\"k\":1}".into(), "[1,2]".into()),
        FieldKind::Enum => {
            let a = values.first().cloned().unwrap_or_default();
            let b = values.get(1).cloned().unwrap_or_else(|| a.clone());
            (
                serde_json::Value::String(a).to_string(),
                serde_json::Value::String(b).to_string(),
            )
        }
    }
}
