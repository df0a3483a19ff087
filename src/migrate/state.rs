//! The schema state kept in a generated project's `.apiforge/schema.json`: what the
//! database looks like after the migrations listed in it. Written from the model by
//! `render` (and by `generate` after each new migration); read back by `generate` and
//! `plan` as the "before" side of the schema diff.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::model::Model;

/// Path of the schema state inside a project.
pub const STATE_PATH: &str = ".apiforge/schema.json";

/// The schema after the last migration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaState {
    /// Migration files (`0001_init.sql`, …) applied to reach this state, in order.
    pub migrations: Vec<String>,
    pub tables: Vec<TableState>,
}

/// One table. Every constraint and index name follows the generator's naming for the
/// table's current name (`generate` renames them along with tables and columns).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableState {
    /// The resource key (informational: tables are matched by `name`).
    pub resource: String,
    pub name: String,
    pub columns: Vec<ColumnState>,
    /// The primary key column.
    pub primary_key: String,
    pub indexes: Vec<IndexState>,
    pub checks: Vec<CheckState>,
    pub foreign_keys: Vec<ForeignKeyState>,
    /// `CREATE TABLE …;` as the model writes it (built from the model only, not stored).
    #[serde(skip)]
    pub create_sql: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnState {
    pub name: String,
    /// DDL type: `varchar(320)`, `numeric(10,2)`, `bigserial`.
    #[serde(rename = "type")]
    pub ddl_type: String,
    pub nullable: bool,
    pub unique: bool,
    /// SQL default expression (`now()`, `0`, `'pending'`).
    pub default: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexState {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    /// `CREATE [UNIQUE] INDEX …;`
    pub sql: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    pub name: String,
    /// The condition, columns quoted (`"rating" >= 1 AND "rating" <= 5`).
    pub expr: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForeignKeyState {
    pub name: String,
    pub column: String,
    /// The referenced table (its primary key is the referenced column).
    pub references: String,
    /// `CASCADE`, `RESTRICT`, `SET NULL`, `NO ACTION`.
    pub on_delete: String,
    /// `ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY …;` as the model writes it (built from
    /// the model only, not stored).
    #[serde(skip)]
    pub sql: String,
}

impl SchemaState {
    /// The schema the model describes, reached by `migrations`.
    pub fn of(m: &Model, migrations: Vec<String>) -> Self {
        SchemaState {
            migrations,
            tables: m
                .resources
                .iter()
                .map(|r| TableState {
                    resource: r.key.clone(),
                    name: r.table.clone(),
                    columns: r
                        .fields
                        .iter()
                        .chain(&r.retired)
                        .map(|f| ColumnState {
                            name: f.name.clone(),
                            ddl_type: f.ddl_type.clone(),
                            nullable: f.nullable,
                            unique: f.unique,
                            default: f.default_sql.clone(),
                        })
                        .collect(),
                    primary_key: r.pk.name.clone(),
                    indexes: r
                        .indexes
                        .iter()
                        .map(|i| IndexState {
                            name: i.name.clone(),
                            columns: i.columns.clone(),
                            unique: i.unique,
                            sql: i.sql.clone(),
                        })
                        .collect(),
                    checks: r
                        .checks
                        .iter()
                        .map(|c| CheckState {
                            name: c.name.clone(),
                            expr: c.expr.clone(),
                        })
                        .collect(),
                    foreign_keys: r
                        .belongs_to
                        .iter()
                        .enumerate()
                        .map(|(i, b)| ForeignKeyState {
                            name: b.constraint.clone(),
                            column: b.field.clone(),
                            references: b.table.clone(),
                            on_delete: b.on_delete.clone(),
                            sql: r.sql.foreign_keys.get(i).cloned().unwrap_or_default(),
                        })
                        .collect(),
                    create_sql: r.sql.create_table.clone(),
                })
                .collect(),
        }
    }

    /// Reads `DIR/.apiforge/schema.json`.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(STATE_PATH);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (the schema state that `generate` diffs against)",
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid schema state", path.display()))
    }

    /// The file's contents: pretty JSON and a newline.
    pub fn to_json(&self) -> String {
        format!(
            "{}\n",
            serde_json::to_string_pretty(self).expect("a schema state serializes")
        )
    }

    pub fn table(&self, name: &str) -> Option<&TableState> {
        self.tables.iter().find(|t| t.name == name)
    }
}

impl TableState {
    pub fn column(&self, name: &str) -> Option<&ColumnState> {
        self.columns.iter().find(|c| c.name == name)
    }
}
