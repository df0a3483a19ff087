//! Request bodies: the validation rules of the spec, collected so that every violation is
//! reported at once, and the serde helpers of PATCH bodies.

use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use crate::problem::{FieldViolation, Problem};

/// A body with the spec's rules (min, max, max_length, read-only fields).
pub trait Validate {
    /// `Ok`, or a 400 naming every field at fault.
    fn validate(&self) -> Result<(), Problem>;
}

/// A PATCH field that may be absent (`None`) but not `null`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A nullable PATCH field: absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
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

impl Measure for sqlx::types::Decimal {
    fn number(&self) -> Option<f64> {
        f64::try_from(*self).ok()
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

/// Parses the `{id}` path segment; a malformed key is a 400 naming it.
pub fn parse_key<K>(raw: &str) -> Result<K, Problem>
where
    K: FromStr,
    K::Err: Display,
{
    raw.parse().map_err(|err: K::Err| {
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
