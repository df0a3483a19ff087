//! Schema migrations after the first: the schema state of the last migration
//! (`.apiforge/schema.json`, [`state`]) diffed against the new model ([`diff`]), each
//! change as SQL ([`sql`]), written as `migrations/NNNN_<name>.sql` by `generate`.
//!
//! Sits between `model` (stage 3) and `write` (stage 5): it reads the model and the
//! project's state, and hands `generate` / `plan` one more file to write.

pub mod diff;
pub mod drift;
pub mod integrity;
pub mod sql;
pub mod state;

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, bail};

use crate::model::Model;
use crate::render::GENERATED_MARKER;
use crate::spec::Spec;
pub use diff::{Change, Renames};
pub use sql::{Phase, Step, Undo};
pub use state::{STATE_PATH, SchemaState};

/// Folder of the migrations inside a project.
pub const MIGRATIONS_DIR: &str = "migrations";

/// Every transactional migration after the first starts with `SET LOCAL lock_timeout` to
/// this: a step waiting longer for its lock fails (and the migration rolls back) instead
/// of queueing the API's reads and writes behind it.
pub const LOCK_TIMEOUT: &str = "5s";

/// First line of a file sqlx runs outside a transaction (sqlx 0.8 `migrate!`).
pub const NO_TRANSACTION: &str = "-- no-transaction";

/// The next migration of a project: one schema change, written as one or more files
/// (consecutive versions): the main file, one `-- no-transaction` file per concurrent
/// index build, and a file of validations after them.
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

/// One file of a [`Migration`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    /// `0002_add_reviews_title.sql`
    pub name: String,
    pub contents: String,
}

impl MigrationFile {
    /// `migrations/0002_add_reviews_title.sql`
    pub fn path(&self) -> String {
        format!("{MIGRATIONS_DIR}/{}", self.name)
    }

    /// A down file (`NNNN_<name>.down.sql`), which sqlx runs only to revert.
    pub fn is_down(&self) -> bool {
        is_down(&self.name)
    }
}

/// `NNNN_<name>.down.sql`: sqlx's reversible format, run only by a revert.
pub fn is_down(file: &str) -> bool {
    file.ends_with(DOWN_SUFFIX)
}

/// The migration a file belongs to: `0002_add_x` for `0002_add_x.sql`,
/// `0002_add_x.up.sql` and `0002_add_x.down.sql`.
pub fn stem(file: &str) -> &str {
    [DOWN_SUFFIX, UP_SUFFIX, ".sql"]
        .iter()
        .find_map(|s| file.strip_suffix(s))
        .unwrap_or(file)
}

/// Suffix of the up file of a reversible migration (sqlx 0.8 `MigrationType`).
pub const UP_SUFFIX: &str = ".up.sql";
/// Suffix of the down file of a reversible migration.
pub const DOWN_SUFFIX: &str = ".down.sql";

impl Migration {
    /// `0002_add_reviews_title.sql` (`….up.sql` when reversible): the main (first) file.
    pub fn file_name(&self) -> String {
        self.file(self.number, &self.name)
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

    /// Steps that cannot be undone without losing data, with why.
    pub fn irreversible(&self) -> Vec<(&Step, &str)> {
        self.steps
            .iter()
            .filter_map(|s| match &s.undo {
                Undo::Lossy(why) => Some((s, why.as_str())),
                Undo::Sql(_) => None,
            })
            .collect()
    }

    /// Every step can be undone without losing data: the migration is written in sqlx's
    /// reversible format, each file `NNNN_<name>.up.sql` beside a `NNNN_<name>.down.sql`.
    pub fn reversible(&self) -> bool {
        self.irreversible().is_empty()
    }

    /// `NNNN_<name>.sql`, or `NNNN_<name>.up.sql` when reversible, the name cut to 60
    /// characters.
    fn file(&self, number: u32, name: &str) -> String {
        let stem = file_stem(number, name);
        if self.reversible() {
            format!("{stem}{UP_SUFFIX}")
        } else {
            format!("{stem}.sql")
        }
    }

    /// The main file's contents (all the steps when none runs concurrently).
    pub fn contents(&self) -> String {
        self.files().remove(0).contents
    }

    /// The files, in the order they run, each up file followed by its down file when the
    /// migration is reversible.
    pub fn files(&self) -> Vec<MigrationFile> {
        let header = |number: u32, what: &str| {
            format!(
                "-- {GENERATED_MARKER}\n-- Migration {number:04} of {}{what}, from the schema diff of apiforge.yaml. Migrations are\n\
                 -- append-only: `apiforge generate` adds the next one when apiforge.yaml changes.\n\
                 -- A step that waits more than {LOCK_TIMEOUT} for a lock fails instead of blocking traffic.\n\
                 SET LOCAL lock_timeout = '{LOCK_TIMEOUT}';\n",
                self.project
            )
        };
        let body = |phase: Phase| -> String {
            self.steps
                .iter()
                .filter(|s| s.phase == phase)
                .map(|s| format!("\n-- {}\n{}\n", s.what, s.sql))
                .collect()
        };
        let irreversible = self.irreversible();
        let no_down = if irreversible.is_empty() {
            String::new()
        } else {
            let mut why = String::from(
                "-- No down migration (sqlx's `.down.sql`): these steps cannot be undone without\n\
                 -- losing data:\n",
            );
            for (s, reason) in &irreversible {
                why.push_str(&format!("--   {}: {}\n", s.what, reason.replace('\n', " ")));
            }
            why
        };
        let mut number = self.number;
        let mut ups = vec![MigrationFile {
            name: self.file_name(),
            contents: header(number, "") + &no_down + &body(Phase::Main),
        }];
        let mut built = Vec::new();
        for s in self.steps.iter().filter(|s| s.phase == Phase::Concurrent) {
            number += 1;
            let index = index_name_of(&s.sql);
            let name = self.file(number, &format!("create_index_{index}"));
            ups.push(MigrationFile {
                contents: format!(
                    "{NO_TRANSACTION}\n-- {GENERATED_MARKER}\n-- Migration {number:04} of {}: {}.\n\
                     -- Outside a transaction (CONCURRENTLY: inserts, updates and deletes go on during the\n\
                     -- build), so this file holds exactly one statement: Postgres runs several statements\n\
                     -- sent at once in one implicit transaction, where CONCURRENTLY is refused.\n{}\n",
                    self.project, s.what, s.sql
                ),
                name: name.clone(),
            });
            built.push((index, name));
        }
        let validate = body(Phase::Validate);
        if !built.is_empty() || !validate.is_empty() {
            number += 1;
            // The builds are checked first: a step below may use the index (a unique
            // constraint `USING INDEX`), and would fail on an INVALID one without saying
            // what to do.
            let mut contents = header(number, &format!(" (validations of {:04})", self.number));
            for (index, file) in &built {
                contents.push_str(&format!(
                    "\n-- check that the concurrent build of {index} succeeded\n{}\n",
                    sql::assert_valid_index(index, file)
                ));
            }
            contents.push_str(&validate);
            ups.push(MigrationFile {
                name: self.file(number, &format!("validate_{}", self.name)),
                contents,
            });
        }
        if !self.reversible() {
            return ups;
        }
        let mut out = Vec::new();
        for up in ups {
            let down = self.down_file(&up);
            out.push(up);
            out.push(down);
        }
        out
    }

    /// The down file of `up` (a file of this reversible migration): the undo of each of
    /// its steps, last step first. A concurrent build's down drops the index concurrently,
    /// alone in a `-- no-transaction` file as the build is.
    fn down_file(&self, up: &MigrationFile) -> MigrationFile {
        let stem = stem(&up.name);
        let name = format!("{stem}{DOWN_SUFFIX}");
        let number = integrity::version(&up.name).unwrap_or(self.number);
        let phase = if up.contents.starts_with(NO_TRANSACTION) {
            Phase::Concurrent
        } else if number == self.number {
            Phase::Main
        } else {
            Phase::Validate
        };
        let steps: Vec<&Step> = self.steps.iter().filter(|s| s.phase == phase).collect();
        let steps: Vec<&Step> = if phase == Phase::Concurrent {
            // The builds in the order of their files: this file's is the one it names.
            let k = (number - self.number - 1) as usize;
            steps.into_iter().skip(k).take(1).collect()
        } else {
            steps
        };
        let mut contents = String::new();
        if phase == Phase::Concurrent {
            contents.push_str(&format!(
                "{NO_TRANSACTION}\n-- {GENERATED_MARKER}\n-- Down migration of {}: undoes it when reverted\n\
                 -- (`<binary> migrate revert`). Outside a transaction (CONCURRENTLY), one statement.\n",
                up.name
            ));
            for s in &steps {
                if let Undo::Sql(sql) = &s.undo {
                    contents.push_str(&format!("{sql}\n"));
                }
            }
            return MigrationFile { name, contents };
        }
        contents.push_str(&format!(
            "-- {GENERATED_MARKER}\n-- Down migration of {}: undoes its steps, last first, when reverted\n\
             -- (`<binary> migrate revert`), in one transaction.\n\
             SET LOCAL lock_timeout = '{LOCK_TIMEOUT}';\n",
            up.name
        ));
        for s in steps.iter().rev() {
            match &s.undo {
                Undo::Sql(sql) if !sql.is_empty() => {
                    contents.push_str(&format!("\n-- undo: {}\n{sql}\n", s.what));
                }
                _ => contents.push_str(&format!("\n-- undo: {} (nothing to undo)\n", s.what)),
            }
        }
        MigrationFile { name, contents }
    }
}

/// `NNNN_<name>`, the name cut to 60 characters.
fn file_stem(number: u32, name: &str) -> String {
    let mut name: String = name.chars().take(60).collect();
    while name.ends_with('_') {
        name.pop();
    }
    format!("{number:04}_{name}")
}

/// The index name of `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS "name" ON …`.
fn index_name_of(sql: &str) -> String {
    sql.split('"')
        .nth(1)
        .unwrap_or("index")
        .replace("\"\"", "\"")
}

/// What `generate` writes for the schema: the new state and, when the schema changed, the
/// next migration.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The state after the migration (or the old one's migrations, when none is needed).
    pub state: SchemaState,
    pub migration: Option<Migration>,
    /// The state before the migration (kept as `.apiforge/schema.previous.json` for
    /// `generate --redo-last`).
    pub previous: SchemaState,
}

/// Diffs the project's schema state against the model. Errors name the changes no
/// migration can be written for, and unreadable state.
pub fn pending(dir: &Path, spec: &Spec, model: &Model) -> anyhow::Result<Pending> {
    let old = SchemaState::read(dir)?;
    pending_from(dir, old, spec, model, &[])
}

/// [`pending`] from a given old state, numbering after the files on disk less `ignore`.
pub fn pending_from(
    dir: &Path,
    old: SchemaState,
    spec: &Spec,
    model: &Model,
    ignore: &[String],
) -> anyhow::Result<Pending> {
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
            previous: old,
        });
    }
    let number = next_number(dir, &old, ignore)?;
    let migration = Migration {
        number,
        name: short_name(&diff.labels),
        steps: steps(&old, &new, &diff.changes),
        project: model.name.clone(),
    };
    let mut state = new;
    state
        .migrations
        .extend(migration.files().into_iter().map(|f| f.name));
    Ok(Pending {
        state,
        migration: Some(migration),
        previous: old,
    })
}

/// The steps of the changes: zero-downtime forms on tables that exist
/// ([`sql::online_steps`]); steps that cannot fail because of the table's rows (it is new,
/// the column is new and NULL everywhere, a check only loosens) are not marked
/// destructive.
fn steps(old: &SchemaState, new: &SchemaState, changes: &[Change]) -> Vec<Step> {
    let created: BTreeSet<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::CreateTable { table } => Some(table.name.as_str()),
            _ => None,
        })
        .collect();
    // Columns added NULL everywhere (nullable, no default).
    let null_columns: BTreeSet<(&str, &str)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::AddColumn { table, column } if column.default.is_none() => {
                Some((table.as_str(), column.name.as_str()))
            }
            _ => None,
        })
        .collect();
    let added_columns: BTreeSet<(&str, &str)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::AddColumn { table, column } => Some((table.as_str(), column.name.as_str())),
            _ => None,
        })
        .collect();
    let pk_of = |t: &str| {
        new.table(t)
            .map(|t| t.primary_key.clone())
            .unwrap_or_else(|| "id".to_string())
    };
    let mut out = Vec::new();
    for c in changes {
        let safe = match c {
            Change::CreateIndex { table, index } => {
                created.contains(table.as_str())
                    || index
                        .columns
                        .iter()
                        .any(|col| null_columns.contains(&(table.as_str(), col.as_str())))
            }
            Change::AddUnique { table, column } => {
                created.contains(table.as_str())
                    || null_columns.contains(&(table.as_str(), column.as_str()))
            }
            Change::AddCheck { table, check } => {
                created.contains(table.as_str())
                    || added_columns
                        .iter()
                        .any(|(t, col)| t == table && check.name == format!("{t}_{col}_check"))
                    || old
                        .tables
                        .iter()
                        .flat_map(|t| &t.checks)
                        .any(|o| o.name == check.name && sql::check_implied(&o.expr, &check.expr))
            }
            Change::AddForeignKey { table, fk } => {
                created.contains(table.as_str())
                    || null_columns.contains(&(table.as_str(), fk.column.as_str()))
                    || old.tables.iter().flat_map(|t| &t.foreign_keys).any(|o| {
                        o.name == fk.name && o.column == fk.column && o.references == fk.references
                    })
            }
            _ => false,
        };
        let table_is_new = match c {
            Change::CreateIndex { table, .. }
            | Change::AddUnique { table, .. }
            | Change::AddCheck { table, .. }
            | Change::AddForeignKey { table, .. } => created.contains(table.as_str()),
            _ => false,
        };
        let mut steps = if table_is_new {
            vec![sql::step(c)]
        } else {
            sql::online_steps(c, &pk_of)
        };
        if safe {
            for s in &mut steps {
                s.destructive = None;
                s.check = None;
            }
        }
        out.extend(steps);
    }
    out
}

/// One more than the highest number among `migrations/NNNN_*.sql` and the state's list.
fn next_number(dir: &Path, old: &SchemaState, ignore: &[String]) -> anyhow::Result<u32> {
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
            if name.ends_with(".sql") && !ignore.contains(&name) {
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
