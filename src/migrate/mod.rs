//! Schema migrations after the first: the schema state of the last migration
//! (`.apiforge/schema.json`, [`state`]) diffed against the new model ([`diff`]), each
//! change as SQL ([`sql`]), written as `migrations/NNNN_<name>.sql` by `generate`.
//!
//! Sits between `model` (stage 3) and `write` (stage 5): it reads the model and the
//! project's state, and hands `generate` / `plan` one more file to write.

pub mod diff;
pub mod sql;
pub mod state;

use std::path::Path;

use anyhow::{Context, bail};

use crate::model::Model;
use crate::render::GENERATED_MARKER;
use crate::spec::Spec;
pub use diff::{Change, Renames};
pub use sql::Step;
pub use state::{STATE_PATH, SchemaState};

/// Folder of the migrations inside a project.
pub const MIGRATIONS_DIR: &str = "migrations";

/// The next migration of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// `2` for `0002_add_reviews_title.sql`.
    pub number: u32,
    /// `add_reviews_title`
    pub name: String,
    pub steps: Vec<Step>,
    /// The project's name (for the header).
    pub project: String,
}

impl Migration {
    /// `0002_add_reviews_title.sql`
    pub fn file_name(&self) -> String {
        format!("{:04}_{}.sql", self.number, self.name)
    }

    /// `migrations/0002_add_reviews_title.sql`
    pub fn path(&self) -> String {
        format!("{MIGRATIONS_DIR}/{}", self.file_name())
    }

    /// Steps that can lose data or fail on existing rows.
    pub fn destructive(&self) -> Vec<&Step> {
        self.steps
            .iter()
            .filter(|s| s.destructive.is_some())
            .collect()
    }

    /// The file: a generated header, then each step under a comment saying what it does.
    pub fn contents(&self) -> String {
        let mut out = format!(
            "-- {GENERATED_MARKER}\n-- Migration {:04} of {}, from the schema diff of apiforge.yaml. Migrations are\n\
             -- append-only: `apiforge generate` adds the next one when apiforge.yaml changes.\n",
            self.number, self.project
        );
        for s in &self.steps {
            out.push_str(&format!("\n-- {}\n{}\n", s.what, s.sql));
        }
        out
    }
}

/// What `generate` writes for the schema: the new state and, when the schema changed, the
/// next migration.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The state after the migration (or the old one's migrations, when none is needed).
    pub state: SchemaState,
    pub migration: Option<Migration>,
}

/// Diffs the project's schema state against the model. Errors name the changes no
/// migration can be written for, and unreadable state.
pub fn pending(dir: &Path, spec: &Spec, model: &Model) -> anyhow::Result<Pending> {
    let old = SchemaState::read(dir)?;
    let renames = Renames::of(spec, model);
    let new = SchemaState::of(model, old.migrations.clone());
    let diff = match diff::diff(&old, &new, &renames) {
        Ok(d) => d,
        Err(unsupported) => bail!(
            "apiforge.yaml changes the schema in ways no migration is written for:\n  {}\n\
             Nothing was written.",
            unsupported.join("\n  ")
        ),
    };
    if diff.is_empty() {
        return Ok(Pending {
            state: new,
            migration: None,
        });
    }
    let number = next_number(dir, &old)?;
    let migration = Migration {
        number,
        name: short_name(&diff.labels),
        steps: diff.changes.iter().map(sql::step).collect(),
        project: model.name.clone(),
    };
    let mut state = new;
    state.migrations.push(migration.file_name());
    Ok(Pending {
        state,
        migration: Some(migration),
    })
}

/// One more than the highest number among `migrations/NNNN_*.sql` and the state's list.
fn next_number(dir: &Path, old: &SchemaState) -> anyhow::Result<u32> {
    let number = |name: &str| -> Option<u32> {
        let (digits, _) = name.split_once('_')?;
        digits.parse().ok()
    };
    let mut highest = old
        .migrations
        .iter()
        .filter_map(|m| number(m))
        .max()
        .unwrap_or(0);
    let folder = dir.join(MIGRATIONS_DIR);
    if folder.is_dir() {
        for entry in std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read {}", folder.display()))?
        {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".sql") {
                highest = highest.max(number(&name).unwrap_or(0));
            }
        }
    }
    Ok(highest + 1)
}

/// The label of the one change, `update_<table>` for several changes of one table,
/// `update_schema` otherwise; at most 60 characters.
fn short_name(labels: &[(String, String)]) -> String {
    let name = match labels {
        [(_, one)] => one.clone(),
        [(table, _), rest @ ..] if rest.iter().all(|(t, _)| t == table) => {
            format!("update_{table}")
        }
        _ => "update_schema".to_string(),
    };
    let mut name: String = name.chars().take(60).collect();
    while name.ends_with('_') {
        name.pop();
    }
    name
}

#[cfg(test)]
mod tests;
