//! Request bodies: the validation rules of the spec, collected so that every violation is
//! reported at once, and the serde helpers of PATCH bodies.

use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::value::BodyValue;
use crate::problem::{FieldViolation, Problem};

/// A body with the spec's rules (min, max, max_length, read-only fields).
pub trait Validate {
    /// `Ok`, or a 400 naming every field at fault.
    fn validate(&self) -> Result<(), Problem>;
}

/// A required body field, read as [`BodyValue`] (`null` is refused).
pub fn required<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: BodyValue,
{
    T::deserialize_body(deserializer)
}

/// A field that may be absent (`None`, with `#[serde(default)]`) but not `null`: a PATCH
/// field, or a create field with a default.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: BodyValue,
{
    T::deserialize_body(deserializer).map(Some)
}

/// A nullable create field: absent (with `#[serde(default)]`) and `null` are both `None`.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: BodyValue,
{
    Option::<Body<T>>::deserialize(deserializer).map(|v| v.map(|Body(v)| v))
}

/// A nullable PATCH field: absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: BodyValue,
{
    optional(deserializer).map(Some)
}

/// A [`BodyValue`] as a `Deserialize` type (inside `Option`).
struct Body<T>(T);

impl<'de, T: BodyValue> Deserialize<'de> for Body<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize_body(deserializer).map(Body)
    }
}

/// What validation rules measure: the number of a numeric value, the length of a text.
pub trait Measure {
    fn number(&self) -> Option<f64> {
        None
    }
    fn length(&self) -> Option<usize> {
        None
    }
    /// Whether a text holds a NUL byte (Postgres cannot store one).
    fn has_nul(&self) -> bool {
        false
    }
    /// The value of a decimal, as written (its scale is the literal's).
    #[cfg(feature = "decimal")]
    fn decimal(&self) -> Option<sqlx::types::Decimal> {
        None
    }
}

impl Measure for i32 {
    fn number(&self) -> Option<f64> {
        Some(f64::from(*self))
    }
}

impl Measure for i64 {
    fn number(&self) -> Option<f64> {
        // Precision loss past 2^53 only blurs bounds that large.
        Some(*self as f64)
    }
}

impl Measure for f64 {
    fn number(&self) -> Option<f64> {
        Some(*self)
    }
}

#[cfg(feature = "decimal")]
impl Measure for sqlx::types::Decimal {
    fn number(&self) -> Option<f64> {
        f64::try_from(*self).ok()
    }
    fn decimal(&self) -> Option<sqlx::types::Decimal> {
        Some(*self)
    }
}

impl Measure for String {
    fn length(&self) -> Option<usize> {
        Some(self.chars().count())
    }
    fn has_nul(&self) -> bool {
        self.contains('\0')
    }
}

impl<T: Measure> Measure for Option<T> {
    fn number(&self) -> Option<f64> {
        self.as_ref().and_then(T::number)
    }
    fn length(&self) -> Option<usize> {
        self.as_ref().and_then(T::length)
    }
    fn has_nul(&self) -> bool {
        self.as_ref().is_some_and(T::has_nul)
    }
    #[cfg(feature = "decimal")]
    fn decimal(&self) -> Option<sqlx::types::Decimal> {
        self.as_ref().and_then(T::decimal)
    }
}

/// The violations of one request body, collected so that all are reported at once.
///
/// ```
/// use apiforge_runtime::engine::Violations;
/// let err = Violations::default()
///     .min("rating", &0, 1.0)
///     .max_length("name", &"x".repeat(9), 8)
///     .finish()
///     .unwrap_err();
/// assert_eq!(err.errors.len(), 2);
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// A server-set field the client sent.
    pub fn read_only(mut self, field: &str, present: bool) -> Self {
        if present {
            self.0.push(FieldViolation::new(field, "is read-only"));
        }
        self
    }

    pub fn min(mut self, field: &str, value: &impl Measure, min: f64) -> Self {
        if value.number().is_some_and(|v| v < min) {
            self.0.push(FieldViolation::new(
                field,
                format!("must be at least {min}"),
            ));
        }
        self
    }

    pub fn max(mut self, field: &str, value: &impl Measure, max: f64) -> Self {
        if value.number().is_some_and(|v| v > max) {
            self.0
                .push(FieldViolation::new(field, format!("must be at most {max}")));
        }
        self
    }

    pub fn max_length(mut self, field: &str, value: &impl Measure, max: usize) -> Self {
        if value.length().is_some_and(|n| n > max) {
            self.0.push(FieldViolation::new(
                field,
                format!("must be at most {max} characters long"),
            ));
        }
        self
    }

    /// Decimal fields of `numeric(precision, scale)`: at most `scale` digits after the
    /// point (Postgres would round the others away) and `precision - scale` before it
    /// (Postgres would refuse the value).
    ///
    /// ```
    /// use apiforge_runtime::engine::Violations;
    /// use sqlx::types::Decimal;
    /// let d = |s: &str| s.parse::<Decimal>().unwrap();
    /// let err = Violations::default().decimal("price", &d("0.001"), 10, 2).finish().unwrap_err();
    /// assert_eq!(err.errors[0].message, "must have at most 2 digits after the decimal point");
    /// let err = Violations::default().decimal("price", &d("123456789"), 10, 2).finish().unwrap_err();
    /// assert_eq!(err.errors[0].message, "must have at most 8 digits before the decimal point");
    /// assert!(Violations::default().decimal("price", &d("99999999.99"), 10, 2).finish().is_ok());
    /// ```
    #[cfg(feature = "decimal")]
    pub fn decimal(
        mut self,
        field: &str,
        value: &impl Measure,
        precision: u32,
        scale: u32,
    ) -> Self {
        let Some(value) = value.decimal() else {
            return self;
        };
        let whole = precision.saturating_sub(scale);
        if value.scale() > scale {
            self.0.push(FieldViolation::new(
                field,
                format!("must have at most {scale} digits after the decimal point"),
            ));
        } else if whole < 29
            && value.abs().trunc()
                >= sqlx::types::Decimal::from_i128_with_scale(10i128.pow(whole), 0)
        {
            self.0.push(FieldViolation::new(
                field,
                format!("must have at most {whole} digits before the decimal point"),
            ));
        }
        self
    }

    /// Text fields: no NUL byte.
    pub fn text(mut self, field: &str, value: &impl Measure) -> Self {
        if value.has_nul() {
            self.0
                .push(FieldViolation::new(field, "cannot contain a NUL byte"));
        }
        self
    }

    /// `Ok` when nothing was violated, else a 400 naming every field.
    pub fn finish(self) -> Result<(), Problem> {
        if self.0.is_empty() {
            return Ok(());
        }
        let detail = self
            .0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Err(Problem::bad_request(format!("invalid request body: {detail}")).with_errors(self.0))
    }
}

/// Parses the `{id}` path segment (an integer key also in whole-number notation, `7.0`,
/// as JSON Schema's `integer` allows); a malformed key is a 400 naming it.
///
/// ```
/// use apiforge_runtime::engine::parse_key;
/// assert_eq!(parse_key::<i64>("7.0").unwrap(), 7);
/// assert_eq!(parse_key::<i64>("7.5").unwrap_err().status, 400);
/// ```
pub fn parse_key<K>(raw: &str) -> Result<K, Problem>
where
    K: FromStr,
    K::Err: Display,
{
    let whole = || super::value::integer::<i64>(raw)?.to_string().parse().ok();
    raw.parse()
        .or_else(|err| whole().ok_or(err))
        .map_err(|err: K::Err| {
            Problem::bad_request(format!("invalid path parameter `id` ({raw:?}): {err}"))
                .with_error("id", err.to_string())
        })
}

/// The body type of an operation a resource does not have: it cannot be built, and a
/// request never gets that far (the route does not exist).
#[derive(Debug)]
pub enum NoBody {}

impl<'de> Deserialize<'de> for NoBody {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("this operation does not exist"))
    }
}

impl Validate for NoBody {
    fn validate(&self) -> Result<(), Problem> {
        match *self {}
    }
}
