//! Row JSON written straight from database rows: the selected columns through
//! [`Resource::serialize_row_field`], then members the engine adds (includes, aggregates,
//! computed), then the closing brace — one pass, nothing written twice or taken back.

use serde::Serialize;
use serde::ser::SerializeMap;
use sqlx::postgres::PgRow;
use sqlx::{Column, Row};

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
/// `,"name":value` (there is always at least one column before them). For the rows of one
/// result set, [`write_object_at`] finds the columns once.
pub fn write_object<R: Resource>(
    row: &PgRow,
    fields: &FieldSet,
    out: &mut Vec<u8>,
    extra: impl FnOnce(&mut Vec<u8>) -> Result<(), Problem>,
) -> Result<(), Problem> {
    out.push(b'{');
    let mut members = Members { out, first: true };
    for (guess, (&index, column)) in fields.indices().iter().zip(fields.columns()).enumerate() {
        match position(row, guess, column) {
            Ok(at) => R::serialize_row_field_at(row, index, at, &mut members),
            // Missing: reading it by name says which column.
            Err(_) => R::serialize_row_field(row, index, &mut members),
        }
        .map_err(internal)?;
    }
    extra(out)?;
    out.push(b'}');
    Ok(())
}

/// Where the selected fields' columns are in the rows of one result set: found by name on
/// the first row written, then read by position. sqlx finds a column by name with a hash
/// lookup per value, ≈ 10 % of a page of 50 orders with their users and products
/// (callgrind, bench/PROFILES.md).
#[derive(Debug, Default)]
pub struct Positions(Vec<usize>);

/// Where `column` is in `row`: at `guess` (its place in a `SELECT` of the selected fields,
/// checked by comparing names) or found by name.
fn position(row: &PgRow, guess: usize, column: &str) -> Result<usize, sqlx::Error> {
    match row.columns().get(guess) {
        Some(c) if c.name() == column => Ok(guess),
        _ => row.try_column(column).map(Column::ordinal),
    }
}

impl Positions {
    /// The position of each of `fields`' columns in `row` (and every row of its result set).
    fn of(&mut self, row: &PgRow, fields: &FieldSet) -> Result<&[usize], sqlx::Error> {
        if self.0.len() != fields.len() {
            self.0 = fields
                .columns()
                .enumerate()
                .map(|(guess, column)| position(row, guess, column))
                .collect::<Result<_, _>>()?;
        }
        Ok(&self.0)
    }
}

/// [`write_object`] for one of the rows of a result set, all written with the same
/// `positions` and `fields`.
pub fn write_object_at<R: Resource>(
    row: &PgRow,
    fields: &FieldSet,
    positions: &mut Positions,
    out: &mut Vec<u8>,
    extra: impl FnOnce(&mut Vec<u8>) -> Result<(), Problem>,
) -> Result<(), Problem> {
    let at = positions
        .of(row, fields)
        .map_err(|err| Problem::from_sqlx(err, &[]))?;
    out.push(b'{');
    members_at::<R>(row, fields, at, out).map_err(internal)?;
    extra(out)?;
    out.push(b'}');
    Ok(())
}

/// Writes a full row of `R` (every selectable column) as a JSON object: what an `include`
/// embeds. `positions` is shared by the rows of one result set.
pub fn full_row<R: Resource>(
    row: &PgRow,
    positions: &mut Positions,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    use serde::ser::Error as _;
    let fields = FieldSet::all::<R>();
    let at = positions
        .of(row, &fields)
        .map_err(serde_json::Error::custom)?;
    out.push(b'{');
    members_at::<R>(row, &fields, at, out)?;
    out.push(b'}');
    Ok(())
}

/// The members of `fields`, read from `row` at their positions `at`.
fn members_at<R: Resource>(
    row: &PgRow,
    fields: &FieldSet,
    at: &[usize],
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    let mut members = Members { out, first: true };
    for (&index, &at) in fields.indices().iter().zip(at) {
        R::serialize_row_field_at(row, index, at, &mut members)?;
    }
    Ok(())
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
