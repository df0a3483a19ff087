//! apiforge: a YAML resource spec in, a fast axum + sqlx + Postgres API project out.
//!
//! The pipeline, one module per stage, nothing flowing backwards:
//! `spec` (parse) → `validate` (every problem at once) → `model` (resolved IR) →
//! `render` (askama templates) → `write` (atomic write + manifest); `migrate` diffs the
//! schema state of a project's last migration against the model (for `generate`).

pub mod budget;
pub mod cli;
pub mod commands;
pub mod diagnostics;
pub mod explain;
pub mod migrate;
pub mod model;
pub mod render;
pub mod spec;
pub mod validate;
pub mod write;
