//! Row JSON written straight from database rows: the selected columns through
//! [`Resource::serialize_row_field`], then members the engine adds (includes, aggregates,
//! computed), then the closing brace — one pass, nothing written twice or taken back.

use serde::Serialize;
use serde::ser::SerializeMap;
use sqlx::postgres::PgRow;

use crate::fieldset::FieldSet;
use crate::problem::Problem;
use crate::resource::Resource;

pub(crate) fn internal(err: serde_json::Error) -> Problem {
    tracing::error!(error = %crate::monitor::log_safe(&err), "cannot serialize a row");
    Problem::internal()
}

/// A JSON object's members written into a byte buffer (the object's braces are the
/// caller's).
struct Members<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl SerializeMap for Members<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Self::Error> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        serde_json::to_writer(&mut *self.out, key)
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Self::Error> {
        self.out.push(b':');
        serde_json::to_writer(&mut *self.out, value)
    }

    fn end(self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Writes `{<selected columns of row><what extra appends>}`; `extra` writes members as
/// `,"name":value` (there is always at least one column before them).
pub fn write_object<R: Resource>(
    row: &PgRow,
    fields: &FieldSet,
    out: &mut Vec<u8>,
    extra: impl FnOnce(&mut Vec<u8>) -> Result<(), Problem>,
) -> Result<(), Problem> {
    out.push(b'{');
    let mut members = Members { out, first: true };
    for &index in fields.indices() {
        R::serialize_row_field(row, index, &mut members).map_err(internal)?;
    }
    extra(out)?;
    out.push(b'}');
    Ok(())
}

/// Writes a full row of `R` (every selectable column) as a JSON object: what an `include`
/// embeds.
pub fn full_row<R: Resource>(row: &PgRow, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    R::write_row_json(row, &FieldSet::all::<R>(), out)
}

/// Appends `,"name":`.
pub(crate) fn member_name(out: &mut Vec<u8>, name: &str) -> Result<(), Problem> {
    out.push(b',');
    serde_json::to_writer(&mut *out, name).map_err(internal)?;
    out.push(b':');
    Ok(())
}

/// Writes `{<every selectable field of value><what extra appends>}`.
pub fn write_struct<R: Resource>(
    value: &R,
    out: &mut Vec<u8>,
    extra: impl FnOnce(&mut Vec<u8>) -> Result<(), Problem>,
) -> Result<(), Problem> {
    out.push(b'{');
    let mut members = Members { out, first: true };
    for index in 0..R::FIELDS.len() {
        value
            .serialize_field(index, &mut members)
            .map_err(internal)?;
    }
    extra(out)?;
    out.push(b'}');
    Ok(())
}
