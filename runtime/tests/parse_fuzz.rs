//! Property tests of what the engine parses from clients (issue #11 item 7): query-string
//! values of every kind, integers and decimals in their notations, path keys, request
//! bodies and query strings. Nothing panics; what is accepted is what the OpenAPI document
//! allows (docs/spec.md, decision 30). A crash found here becomes a case of its own below.
#![cfg(all(feature = "decimal", feature = "uuid", feature = "chrono"))]

use apiforge_runtime::engine::value::{decimal, integer};
use apiforge_runtime::engine::{Kind, Value, parse_key};
use apiforge_runtime::extract::{Json, Query, QueryMap};
use proptest::prelude::*;
use sqlx::types::Decimal;

const KINDS: &[Kind] = &[
    Kind::Text,
    Kind::Int,
    Kind::BigInt,
    Kind::Float,
    Kind::Decimal,
    Kind::Bool,
    Kind::Uuid,
    Kind::Timestamp,
    Kind::Date,
    Kind::Enum(&["pending", "paid"]),
];

/// The decimal grammar of the document's pattern, written as a regex for proptest.
const DECIMAL: &str = "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,8})?";

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Body {
    #[serde(deserialize_with = "apiforge_runtime::engine::required")]
    price: Decimal,
    #[serde(default, deserialize_with = "apiforge_runtime::engine::present")]
    sales: Option<i32>,
    #[serde(default, deserialize_with = "apiforge_runtime::engine::nullable")]
    note: Option<Option<String>>,
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Page {
    limit: Option<i64>,
    q: Option<String>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any text, any kind: a value or a message, never a panic; a parsed value's cache-key
    /// text parses back to the same value for the kinds whose text is canonical.
    #[test]
    fn every_kind_parses_any_text_without_panicking(raw in any::<String>(), k in 0..KINDS.len()) {
        let kind = KINDS[k];
        if let Ok(value) = kind.parse(&raw) {
            if matches!(value, Value::Int(_) | Value::BigInt(_) | Value::Bool(_) | Value::Uuid(_) | Value::Date(_)) {
                prop_assert_eq!(kind.parse(&value.to_string()), Ok(value));
            }
            // A cursor holding the same text is accepted for the kind.
            prop_assert!(kind.accepts_json(&serde_json::Value::String(raw.clone())));
        }
    }

    /// Decimals: exactly the document's grammar; the literal's scale is kept, or the value
    /// is refused (more than 28 significant digits: `Decimal` would round it).
    #[test]
    fn decimals_of_the_pattern_parse_with_their_scale(raw in DECIMAL) {
        let d = match decimal(&raw) {
            Ok(d) => d,
            Err(message) => {
                prop_assert!(message.contains("significant digits"), "{}: {}", raw, message);
                return Ok(());
            }
        };
        let scale = raw.split_once('.').map_or(0, |(_, f)| f.len());
        prop_assert_eq!(d.scale() as usize, scale);
        prop_assert_eq!(Kind::Decimal.parse(&raw), Ok(Value::Decimal(d)));
    }

    #[test]
    fn decimals_outside_the_pattern_are_refused(raw in "[-+0-9._eE ]{0,12}") {
        let plain = regex_free_decimal(&raw);
        prop_assert_eq!(decimal(&raw).is_ok(), plain, "{:?}", raw);
    }

    /// Integers: digits as `i64` parses them, and whole numbers in float notation.
    #[test]
    fn integers_in_every_notation(v in -(1i64 << 52) + 1..(1i64 << 52)) {
        prop_assert_eq!(integer::<i64>(&v.to_string()), Some(v));
        prop_assert_eq!(integer::<i64>(&format!("{v}.0")), Some(v));
        prop_assert_eq!(integer::<i64>(&format!("{v}.5")), None);
        prop_assert_eq!(integer::<i32>(&v.to_string()), i32::try_from(v).ok());
        prop_assert_eq!(parse_key::<i64>(&format!("{v}.0")).ok(), Some(v));
    }

    #[test]
    fn integer_and_key_parsing_never_panic(raw in any::<String>()) {
        let _ = integer::<i32>(&raw);
        let _ = integer::<i64>(&raw);
        let _ = parse_key::<i64>(&raw);
        let _ = parse_key::<sqlx::types::Uuid>(&raw);
    }

    /// Bodies: any bytes are a body or a 400, never a panic; accepted ones are objects.
    #[test]
    fn any_body_is_parsed_or_refused_with_400(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        match Json::<Body>::from_object_bytes(&bytes) {
            Ok(_) => prop_assert_eq!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(&b'{')),
            Err(p) => prop_assert_eq!(p.status, 400),
        }
    }

    /// Bodies near valid ones: one field mutated to an arbitrary JSON value.
    #[test]
    fn near_valid_bodies_are_parsed_or_refused_with_400(
        price in prop_oneof![Just(serde_json::json!("1.50")), any::<f64>().prop_map(serde_json::Value::from), ".*".prop_map(serde_json::Value::from)],
        sales in prop_oneof![Just(serde_json::Value::Null), any::<i64>().prop_map(serde_json::Value::from), any::<f64>().prop_map(serde_json::Value::from)],
        trailing in "[ \\n]{0,2}[a-z}]{0,2}",
    ) {
        let text = format!("{}{trailing}", serde_json::json!({ "price": price, "sales": sales }));
        match Json::<Body>::from_object_bytes(text.as_bytes()) {
            Ok(Json(body)) => {
                prop_assert!(price.is_string() && trailing.trim().is_empty(), "{text}");
                prop_assert!(body.sales.is_some());
            }
            Err(p) => prop_assert_eq!(p.status, 400),
        }
    }

    /// Query strings: any text parses into pairs; typed queries are a value or a 400.
    #[test]
    fn any_query_string_is_parsed_or_refused_with_400(raw in any::<String>()) {
        let _ = QueryMap::parse(&raw);
        if let Err(p) = Query::<Page>::from_query(&raw) {
            prop_assert_eq!(p.status, 400);
        }
    }
}

/// The decimal grammar without regexes: `-`?, digits without a leading zero, `.digits`?.
fn regex_free_decimal(raw: &str) -> bool {
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    let (int, frac) = unsigned
        .split_once('.')
        .map_or((unsigned, None), |(i, f)| (i, Some(f)));
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(int)
        && (int == "0" || !int.starts_with('0'))
        && frac.is_none_or(digits)
        && int.len() + frac.map_or(0, str::len) <= 28
}

/// Crashes and leniencies found so far, each a case of its own.
#[test]
fn found_cases() {
    // schemathesis: `1_000` and `.5` were decimals, `0.001` rounded (now the scale rule).
    assert!(decimal("1_000").is_err());
    assert!(decimal(".5").is_err());
    // A 309-digit jsonb number (f64::MAX) failed to read back.
    let text = format!("[17976931348623157{}]", "0".repeat(292));
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
    // `[]` as a PATCH body was an empty update.
    assert_eq!(
        Json::<Body>::from_object_bytes(b"[]").unwrap_err().status,
        400
    );
    // Out-of-range digits were read through f64 (`-9223372036854775809` as i64::MIN).
    assert_eq!(integer::<i64>("-9223372036854775809"), None);
    // Decimal rounded the fraction of a literal past its 96-bit mantissa (scale 8 read as 7).
    assert!(decimal("999999999999999999999.99999999").is_err());
    // From 2^52 on, floats are whole: `4503599627370496.5` read as an integer.
    assert_eq!(integer::<i64>("4503599627370496.5"), None);
    assert_eq!(integer::<i64>("4503599627370496"), Some(1 << 52));
}
