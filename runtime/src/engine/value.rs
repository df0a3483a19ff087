//! What the engine knows about a field's type at run time: how to parse a query-string
//! value of it, how to bind it as a parameter, and how to write it into a cache key. The
//! generator names the [`Kind`] of each filter, key and scoped column; nothing else decides.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Unexpected, Visitor};

use sqlx::Arguments;
use sqlx::postgres::PgArguments;
#[cfg(feature = "decimal")]
use sqlx::types::Decimal;
#[cfg(feature = "uuid")]
use sqlx::types::Uuid;
#[cfg(feature = "chrono")]
use sqlx::types::chrono::{DateTime, NaiveDate, Utc};

use crate::problem::Problem;

/// The type of a column as the engine sees it (SPEC.md's field types; `serial`/`ref` map to
/// the integer or key kind they store). `Decimal`, `Uuid`, `Timestamp` and `Date` exist
/// with the runtime's `decimal`, `uuid` and `chrono` features.
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
    #[cfg(feature = "decimal")]
    Decimal,
    /// `bool`.
    Bool,
    /// `uuid`.
    #[cfg(feature = "uuid")]
    Uuid,
    /// `timestamp` (RFC 3339).
    #[cfg(feature = "chrono")]
    Timestamp,
    /// `date` (`YYYY-MM-DD`).
    #[cfg(feature = "chrono")]
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
    #[cfg(feature = "decimal")]
    Decimal(Decimal),
    Bool(bool),
    #[cfg(feature = "uuid")]
    Uuid(Uuid),
    #[cfg(feature = "chrono")]
    Timestamp(DateTime<Utc>),
    #[cfg(feature = "chrono")]
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
            Kind::Int => integer(raw)
                .map(Value::Int)
                .ok_or_else(|| format!("expected a 32-bit integer, got {raw:?}")),
            Kind::BigInt => integer(raw)
                .map(Value::BigInt)
                .ok_or_else(|| format!("expected a 64-bit integer, got {raw:?}")),
            Kind::Float => num::<f64>(raw, "a number")
                .and_then(|f| {
                    f.is_finite()
                        .then_some(f)
                        .ok_or_else(|| format!("expected a finite number, got {raw:?}"))
                })
                .map(Value::Float),
            #[cfg(feature = "decimal")]
            Kind::Decimal => decimal(raw).map(Value::Decimal),
            Kind::Bool => match raw {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!("expected true or false, got {raw:?}")),
            },
            #[cfg(feature = "uuid")]
            Kind::Uuid => num(raw, "a UUID").map(Value::Uuid),
            #[cfg(feature = "chrono")]
            Kind::Timestamp => DateTime::parse_from_rfc3339(raw)
                .map(|t| Value::Timestamp(t.with_timezone(&Utc)))
                .map_err(|_| format!("expected an RFC 3339 timestamp, got {raw:?}")),
            #[cfg(feature = "chrono")]
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
                Kind::Float => true,
                #[cfg(feature = "decimal")]
                Kind::Decimal => true,
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
            #[cfg(feature = "decimal")]
            (Kind::Decimal, None) => args.add(None::<Decimal>),
            (Kind::Bool, None) => args.add(None::<bool>),
            #[cfg(feature = "uuid")]
            (Kind::Uuid, None) => args.add(None::<Uuid>),
            #[cfg(feature = "chrono")]
            (Kind::Timestamp, None) => args.add(None::<DateTime<Utc>>),
            #[cfg(feature = "chrono")]
            (Kind::Date, None) => args.add(None::<NaiveDate>),
        };
        added.map_err(bind_error)
    }
}

/// 2^52: from it on, every float is whole (`4503599627370496.5` reads as …496) and past
/// 2^53 floats skip integers (`9007199254740993.0` reads as …992), so a whole float there
/// may come from another literal. Larger integers take digits alone.
const EXACT_LIMIT: f64 = 4_503_599_627_370_496.0;

/// The integer of a whole float, when the float holds it exactly.
fn whole(v: f64) -> Option<i64> {
    #[allow(clippy::cast_possible_truncation)]
    (v.fract() == 0.0 && v.abs() < EXACT_LIMIT).then_some(v as i64)
}

/// An integer in a query string or path: digits, or a whole number in another notation
/// (`128.0`, `1.28e2`), as JSON Schema's `integer` allows and as bodies take it
/// ([`BodyValue`]); `None` for anything else or out of `T`'s range.
///
/// ```
/// use apiforge_runtime::engine::value::integer;
/// assert_eq!(integer::<i32>("128"), Some(128));
/// assert_eq!(integer::<i32>("128.0"), Some(128));
/// assert_eq!(integer::<i64>("1e2"), Some(100));
/// assert_eq!(integer::<i32>("128.5"), None);
/// assert_eq!(integer::<i32>("3e9"), None);
/// assert_eq!(integer::<i32>("inf"), None);
/// assert_eq!(integer::<i64>("-9223372036854775809"), None);
/// assert_eq!(integer::<i64>("9007199254740993.0"), None);
/// ```
pub fn integer<T: FromStr + TryFrom<i64>>(raw: &str) -> Option<T> {
    raw.parse().ok().or_else(|| {
        // Digits alone that did not parse are out of range, not another notation.
        if !raw.contains(['.', 'e', 'E']) {
            return None;
        }
        let v = whole(raw.parse().ok()?)?;
        T::try_from(v).ok()
    })
}

/// A decimal in plain notation, the `pattern` of decimal fields in the OpenAPI document: an
/// optional `-`, an integer part without leading zeros, an optional fraction of at least
/// one digit (`Decimal::from_str` alone also takes `1_000`, `.5` and `1e5`).
///
/// ```
/// use apiforge_runtime::engine::value::decimal;
/// assert_eq!(decimal("-12.50").map(|d| d.scale()), Ok(2));
/// for bad in ["1_000", ".5", "5.", "007", "1e5", "+1", "", "-", "1.2.3", " 1", "999999999999999999999.99999999"] {
///     assert!(decimal(bad).is_err(), "{bad}");
/// }
/// ```
#[cfg(feature = "decimal")]
pub fn decimal(raw: &str) -> Result<Decimal, String> {
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let plain = digits(int) && (int == "0" || !int.starts_with('0')) && frac.is_none_or(digits);
    let parsed: Option<Decimal> = plain.then(|| raw.parse().ok()).flatten();
    match parsed {
        // Past its 96-bit mantissa (28 to 29 significant digits) `Decimal` rounds the
        // fraction away: refused, as a fraction longer than a column's scale is.
        Some(d) if d.scale() as usize == frac.map_or(0, str::len) => Ok(d),
        Some(_) => Err(format!(
            "expected at most 28 significant digits, got {raw:?}"
        )),
        None => Err(format!("expected a decimal number, got {raw:?}")),
    }
}

/// How a body field's value is read from JSON: as the OpenAPI document describes it, and
/// no more leniently. Integers take whole numbers (`128` or `128.0`, as JSON Schema's
/// `integer` does) in range; decimals take strings of plain notation only (`-12.50`, see
/// `decimal`); UUIDs, timestamps and dates strings as [`Kind::parse`] takes them; every
/// other type reads as its `Deserialize` does.
pub trait BodyValue: Sized {
    fn deserialize_body<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

macro_rules! body_value_as_deserialize {
    ($($t:ty),+) => {$(
        impl BodyValue for $t {
            fn deserialize_body<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$t as Deserialize>::deserialize(d)
            }
        }
    )+};
}
body_value_as_deserialize!(String, bool, f64, serde_json::Value);

/// A string parsed as a [`Kind`], as query values are: one grammar for both.
#[cfg(any(feature = "uuid", feature = "chrono"))]
struct KindText(Kind);

#[cfg(any(feature = "uuid", feature = "chrono"))]
impl Visitor<'_> for KindText {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            #[cfg(feature = "uuid")]
            Kind::Uuid => "a UUID string",
            #[cfg(feature = "chrono")]
            Kind::Timestamp => "an RFC 3339 timestamp string",
            _ => "a date string (YYYY-MM-DD)",
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.parse(v).map_err(E::custom)
    }
}

#[cfg(any(feature = "uuid", feature = "chrono"))]
macro_rules! body_value_as_kind {
    ($($t:ty => $kind:ident),+) => {$(
        impl BodyValue for $t {
            fn deserialize_body<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                match d.deserialize_str(KindText(Kind::$kind))? {
                    Value::$kind(v) => Ok(v),
                    _ => Err(de::Error::custom(concat!("expected ", stringify!($kind)))),
                }
            }
        }
    )+};
}
#[cfg(feature = "uuid")]
body_value_as_kind!(Uuid => Uuid);
#[cfg(feature = "chrono")]
body_value_as_kind!(DateTime<Utc> => Timestamp, NaiveDate => Date);

/// Whole JSON numbers into an integer type (`what` names it in errors).
struct Whole<T>(PhantomData<T>, &'static str);

impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        match whole(v) {
            Some(v) => self.visit_i64(v),
            None => Err(E::invalid_value(Unexpected::Float(v), &self)),
        }
    }
}

impl BodyValue for i32 {
    fn deserialize_body<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Whole(PhantomData, "a 32-bit integer"))
    }
}

impl BodyValue for i64 {
    fn deserialize_body<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Whole(PhantomData, "a 64-bit integer"))
    }
}

#[cfg(feature = "decimal")]
struct DecimalText;

#[cfg(feature = "decimal")]
impl Visitor<'_> for DecimalText {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal number in a string (\"12.50\")")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        decimal(v).map_err(E::custom)
    }
}

#[cfg(feature = "decimal")]
impl BodyValue for Decimal {
    fn deserialize_body<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(DecimalText)
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
            #[cfg(feature = "decimal")]
            Value::Decimal(v) => args.add(*v),
            Value::Bool(v) => args.add(*v),
            #[cfg(feature = "uuid")]
            Value::Uuid(v) => args.add(*v),
            #[cfg(feature = "chrono")]
            Value::Timestamp(v) => args.add(*v),
            #[cfg(feature = "chrono")]
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
            // Runs of plain text in one `write_str`, not a `write!` per character: a cached
            // page's key (`…&category=category-07`) 2,576 → 1,506 instructions (callgrind;
            // bench/PROFILES.md, list_cached).
            Value::Text(v) => {
                let mut rest = v.as_str();
                while let Some(at) = rest.find(['%', '&', ',', '=', ':']) {
                    f.write_str(&rest[..at])?;
                    write!(f, "%{:02X}", rest.as_bytes()[at])?;
                    rest = &rest[at + 1..];
                }
                f.write_str(rest)
            }
            Value::Int(v) => write!(f, "{v}"),
            Value::BigInt(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v:?}"),
            #[cfg(feature = "decimal")]
            Value::Decimal(v) => write!(f, "{}", v.normalize()),
            Value::Bool(v) => write!(f, "{v}"),
            #[cfg(feature = "uuid")]
            Value::Uuid(v) => write!(f, "{v}"),
            #[cfg(feature = "chrono")]
            Value::Timestamp(v) => write!(f, "{}", v.to_rfc3339()),
            #[cfg(feature = "chrono")]
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
        assert_eq!(Kind::Int.parse("128.0"), Ok(Value::Int(128)));
        assert!(Kind::Int.parse("128.5").is_err());
        assert!(Kind::Int.parse("99999999999").is_err());
        assert_eq!(Kind::Bool.parse("true"), Ok(Value::Bool(true)));
        assert!(Kind::Float.parse("NaN").is_err());
    }

    #[test]
    #[cfg(all(feature = "decimal", feature = "uuid", feature = "chrono"))]
    fn parses_decimals_uuids_and_dates() {
        assert!(Kind::Decimal.parse("1e5").is_err());
        assert!(Kind::Decimal.parse("-").is_err());
        assert_eq!(
            Kind::Decimal.parse("-1.50").map(|v| v.to_string()),
            Ok("-1.5".into())
        );
        assert!(Kind::Date.parse("2026-02-30").is_err());
        assert!(Kind::Uuid.parse("nope").is_err());
    }

    fn body<T: BodyValue>(json: &str) -> Result<T, String> {
        T::deserialize_body(&mut serde_json::Deserializer::from_str(json))
            .map_err(|e| e.to_string())
    }

    /// JSON Schema's `integer` is a whole number, whatever its notation (schemathesis sends
    /// `128.0`); fractions, out-of-range values and strings are refused.
    #[test]
    fn body_integers_take_whole_numbers_in_range() {
        assert_eq!(body::<i32>("128"), Ok(128));
        assert_eq!(body::<i32>("128.0"), Ok(128));
        assert_eq!(body::<i32>("1.28e2"), Ok(128));
        assert_eq!(
            body::<i64>("-4503599627370495.0"),
            Ok(-4_503_599_627_370_495)
        );
        assert_eq!(body::<i64>("9223372036854775807"), Ok(i64::MAX));
        assert!(body::<i64>("9007199254740993.0").is_err());
        assert!(body::<i64>("4503599627370496.5").is_err());
        assert!(
            body::<i32>("128.5")
                .unwrap_err()
                .contains("expected a 32-bit integer")
        );
        assert!(body::<i32>("2147483648").is_err());
        assert!(body::<i32>("3e9").is_err());
        assert!(body::<i64>("9223372036854775808").is_err());
        assert!(body::<i64>("9.3e18").is_err());
        assert!(body::<i64>("-9.3e18").is_err());
        assert!(body::<i32>("\"5\"").is_err());
        assert!(body::<i32>("null").is_err());
    }

    /// Decimals are strings of plain notation: no `1_000`, no exponent, no JSON number.
    #[test]
    #[cfg(feature = "decimal")]
    fn body_decimals_are_plain_strings() {
        assert_eq!(
            body::<Decimal>("\"12.50\"").map(|d| (d.to_string(), d.scale())),
            Ok(("12.50".into(), 2))
        );
        assert_eq!(body::<Decimal>("\"-0.001\"").map(|d| d.scale()), Ok(3));
        for bad in [
            "\"1_000\"",
            "\"1e3\"",
            "\".5\"",
            "\"01\"",
            "12.5",
            "null",
            "\"\"",
        ] {
            assert!(body::<Decimal>(bad).is_err(), "{bad}");
        }
        assert!(Kind::Decimal.parse("1_000").is_err());
        assert!(Kind::Decimal.parse("007").is_err());
    }

    /// A json field holding a number near `f64::MAX` comes back from Postgres as 309
    /// digits: it must parse (it was a 500 on every read of the row).
    #[test]
    fn jsonb_numbers_read_back_exactly() {
        let text = format!("{{\"a\": 17976931348623157{}}}", "0".repeat(292));
        let value: serde_json::Value = serde_json::from_str(&text).expect("parses");
        assert_eq!(value["a"].as_f64(), Some(f64::MAX));
    }

    #[test]
    fn cache_key_text_is_escaped() {
        assert_eq!(Value::Text("a,b&c=d".into()).to_string(), "a%2Cb%26c%3Dd");
        assert_eq!(
            Value::Text("%x:é=, ∂&".into()).to_string(),
            "%25x%3Aé%3D%2C ∂%26"
        );
        assert_eq!(Value::Text(String::new()).to_string(), "");
        assert_eq!(Value::Text("category-07".into()).to_string(), "category-07");
    }

    #[test]
    fn cursor_values_are_checked_against_the_kind() {
        #[cfg(feature = "chrono")]
        {
            assert!(Kind::Timestamp.accepts_json(&serde_json::json!("2026-01-01T00:00:00Z")));
            assert!(!Kind::Timestamp.accepts_json(&serde_json::json!("2026-13-45T00:00:00Z")));
            assert!(!Kind::Timestamp.accepts_json(&serde_json::json!(5)));
        }
        assert!(!Kind::Text.accepts_json(&serde_json::json!("a\u{0}")));
        assert!(Kind::BigInt.accepts_json(&serde_json::json!(5)));
    }
}
