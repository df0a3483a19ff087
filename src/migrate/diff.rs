//! The schema diff: the old state (`.apiforge/schema.json`) against the new model's state,
//! as typed changes in the order they can run.
//!
//! Tables are matched by name, columns by name within a table; `renamed_from` (resource or
//! field) pairs an old name with a new one, which becomes a RENAME, never a drop + add.
//! Constraint, index and sequence names follow the generator's naming of the current
//! table and column names, so they are renamed along with their table or column.
//! Indexes, checks and foreign keys are matched by name; an unmatched old one whose
//! definition equals an unmatched new one (after renames) is renamed, anything else that
//! changed is dropped and created again.

use std::collections::BTreeMap;

use super::state::{CheckState, ColumnState, ForeignKeyState, IndexState, SchemaState, TableState};
use crate::model::Model;
use crate::spec::Spec;

/// The spec's `renamed_from`s, by new name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renames {
    /// new table → old table
    pub tables: BTreeMap<String, String>,
    /// (new table, new column) → old column
    pub columns: BTreeMap<(String, String), String>,
}

impl Renames {
    pub fn of(spec: &Spec, model: &Model) -> Self {
        let mut out = Renames::default();
        for r in &model.resources {
            let Some(res) = spec.resources.get(&r.key) else {
                continue;
            };
            if let Some(old) = &res.renamed_from {
                out.tables.insert(r.table.clone(), old.clone());
            }
            for (name, f) in &res.fields {
                if let Some(old) = &f.renamed_from {
                    out.columns
                        .insert((r.table.clone(), name.clone()), old.clone());
                }
            }
        }
        out
    }
}

/// What a constraint dropped by [`Change::DropConstraint`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    Check,
    ForeignKey,
}

/// One schema change. Table names are the names at the time the change runs: drops run
/// before renames (old names), additions after them (new names).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    CreateTable {
        table: TableState,
    },
    DropTable {
        table: String,
    },
    RenameTable {
        from: String,
        to: String,
    },
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    RenameSequence {
        from: String,
        to: String,
    },
    RenameConstraint {
        table: String,
        from: String,
        to: String,
    },
    RenameIndex {
        from: String,
        to: String,
    },
    AddColumn {
        table: String,
        column: ColumnState,
    },
    DropColumn {
        table: String,
        column: String,
    },
    AlterType {
        table: String,
        column: String,
        from: String,
        to: String,
    },
    SetNotNull {
        table: String,
        column: String,
        fill_default: bool,
    },
    DropNotNull {
        table: String,
        column: String,
    },
    SetDefault {
        table: String,
        column: String,
        default: String,
        /// The default before (`None`: there was none), for the down migration.
        from: Option<String>,
    },
    DropDefault {
        table: String,
        column: String,
        /// The default dropped, for the down migration.
        from: String,
    },
    AddUnique {
        table: String,
        column: String,
    },
    AddPrimaryKey {
        table: String,
        column: String,
    },
    DropConstraint {
        table: String,
        name: String,
        kind: ConstraintKind,
    },
    AddCheck {
        table: String,
        check: CheckState,
    },
    CreateIndex {
        table: String,
        index: IndexState,
    },
    DropIndex {
        table: String,
        name: String,
    },
    AddForeignKey {
        table: String,
        fk: ForeignKeyState,
    },
}

/// The changes, in order, and one short label per logical change (for the file name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// `(table, label)`: `add_reviews_title`, `create_tags`, … (no duplicates).
    pub labels: Vec<(String, String)>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// `serial` / `bigserial`: a column backed by its own sequence `<table>_<column>_seq`.
pub fn is_serial(ddl_type: &str) -> bool {
    matches!(ddl_type, "serial" | "bigserial")
}

/// The sequence Postgres creates for a serial column.
pub fn sequence_name(table: &str, column: &str) -> String {
    format!("{table}_{column}_seq")
}

pub fn pkey_name(table: &str) -> String {
    format!("{table}_pkey")
}

pub fn unique_name(table: &str, column: &str) -> String {
    format!("{table}_{column}_key")
}

/// Phases of a migration, run in this order.
#[derive(Default)]
struct Phases {
    drop_fks: Vec<Change>,
    drop_table_parts: Vec<Change>,
    drop_columns_tables: Vec<Change>,
    renames: Vec<Change>,
    rename_parts: Vec<Change>,
    create_tables: Vec<Change>,
    columns: Vec<Change>,
    constraints: Vec<Change>,
    indexes: Vec<Change>,
    add_fks: Vec<Change>,
    labels: Vec<(String, String)>,
}

impl Phases {
    fn label(&mut self, table: &str, label: String) {
        let entry = (table.to_string(), label);
        if !self.labels.contains(&entry) {
            self.labels.push(entry);
        }
    }
}

/// Diffs `old` against `new`. `Err` lists the changes no migration is written for.
pub fn diff(old: &SchemaState, new: &SchemaState, renames: &Renames) -> Result<Diff, Vec<String>> {
    let mut p = Phases::default();
    let mut unsupported = Vec::new();

    // Pair tables: same name, or the new table's `renamed_from`.
    let mut pairs: Vec<(&TableState, &TableState)> = Vec::new();
    let mut created: Vec<&TableState> = Vec::new();
    for n in &new.tables {
        if let Some(o) = old.table(&n.name) {
            pairs.push((o, n));
            continue;
        }
        let renamed = renames
            .tables
            .get(&n.name)
            .filter(|from| new.table(from).is_none())
            .and_then(|from| old.table(from));
        match renamed {
            Some(o) => pairs.push((o, n)),
            None => created.push(n),
        }
    }
    let dropped: Vec<&TableState> = old
        .tables
        .iter()
        .filter(|o| !pairs.iter().any(|(po, _)| po.name == o.name))
        .collect();
    // old table name → new table name, for references.
    let table_map: BTreeMap<&str, &str> = pairs
        .iter()
        .map(|(o, n)| (o.name.as_str(), n.name.as_str()))
        .collect();

    for (o, n) in &pairs {
        diff_table(o, n, renames, &table_map, &mut p, &mut unsupported);
    }

    // Dropped tables: their foreign keys to other dropped tables first, so that the drops
    // never depend on one another; the rest goes with each table.
    for o in &dropped {
        for fk in &o.foreign_keys {
            let to_dropped =
                fk.references != o.name && dropped.iter().any(|d| d.name == fk.references);
            if to_dropped {
                p.drop_fks.push(Change::DropConstraint {
                    table: o.name.clone(),
                    name: fk.name.clone(),
                    kind: ConstraintKind::ForeignKey,
                });
            }
        }
        p.drop_columns_tables.push(Change::DropTable {
            table: o.name.clone(),
        });
        p.label(&o.name, format!("drop_{}", o.name));
    }
    for n in &created {
        p.create_tables.push(Change::CreateTable {
            table: (*n).clone(),
        });
        for i in &n.indexes {
            p.indexes.push(Change::CreateIndex {
                table: n.name.clone(),
                index: i.clone(),
            });
        }
        for fk in &n.foreign_keys {
            p.add_fks.push(Change::AddForeignKey {
                table: n.name.clone(),
                fk: fk.clone(),
            });
        }
        p.label(&n.name, format!("create_{}", n.name));
    }

    if !unsupported.is_empty() {
        return Err(unsupported);
    }
    let changes = [
        p.drop_fks,
        p.drop_table_parts,
        p.drop_columns_tables,
        p.renames,
        p.rename_parts,
        p.create_tables,
        p.columns,
        p.constraints,
        p.indexes,
        p.add_fks,
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(Diff {
        changes,
        labels: p.labels,
    })
}

fn diff_table(
    o: &TableState,
    n: &TableState,
    renames: &Renames,
    table_map: &BTreeMap<&str, &str>,
    p: &mut Phases,
    unsupported: &mut Vec<String>,
) {
    let (ot, nt) = (o.name.as_str(), n.name.as_str());
    if ot != nt {
        p.renames.push(Change::RenameTable {
            from: ot.to_string(),
            to: nt.to_string(),
        });
        p.label(nt, format!("rename_{ot}_to_{nt}"));
    }

    // Pair columns: same name, or the new field's `renamed_from`.
    let mut col_map: BTreeMap<String, String> = BTreeMap::new();
    let mut added: Vec<&ColumnState> = Vec::new();
    for nc in &n.columns {
        if o.column(&nc.name).is_some() {
            col_map.insert(nc.name.clone(), nc.name.clone());
            continue;
        }
        let from = renames
            .columns
            .get(&(nt.to_string(), nc.name.clone()))
            .filter(|from| o.column(from).is_some() && n.column(from).is_none());
        match from {
            Some(from) => {
                col_map.insert(from.clone(), nc.name.clone());
            }
            None => added.push(nc),
        }
    }
    let tr = |c: &str| col_map.get(c).cloned().unwrap_or_else(|| c.to_string());

    for oc in &o.columns {
        let Some(new_name) = col_map.get(&oc.name) else {
            p.drop_columns_tables.push(Change::DropColumn {
                table: ot.to_string(),
                column: oc.name.clone(),
            });
            p.label(nt, format!("drop_{nt}_{}", oc.name));
            continue;
        };
        let nc = n.column(new_name).expect("paired columns exist");
        if oc.name != nc.name {
            p.renames.push(Change::RenameColumn {
                table: nt.to_string(),
                from: oc.name.clone(),
                to: nc.name.clone(),
            });
            p.label(nt, format!("rename_{nt}_{}_to_{}", oc.name, nc.name));
        }
        if is_serial(&oc.ddl_type) && (ot != nt || oc.name != nc.name) {
            p.rename_parts.push(Change::RenameSequence {
                from: sequence_name(ot, &oc.name),
                to: sequence_name(nt, &nc.name),
            });
        }
        diff_column(o, n, oc, nc, p, unsupported);
    }
    for nc in &added {
        p.columns.push(Change::AddColumn {
            table: nt.to_string(),
            column: (*nc).clone(),
        });
        if nc.unique && nc.name != n.primary_key {
            p.constraints.push(Change::AddUnique {
                table: nt.to_string(),
                column: nc.name.clone(),
            });
        }
        p.label(nt, format!("add_{nt}_{}", nc.name));
    }

    // Primary key.
    if tr(&o.primary_key) == n.primary_key {
        if ot != nt {
            p.rename_parts.push(Change::RenameConstraint {
                table: nt.to_string(),
                from: pkey_name(ot),
                to: pkey_name(nt),
            });
        }
    } else {
        p.drop_table_parts.push(Change::DropConstraint {
            table: ot.to_string(),
            name: pkey_name(ot),
            kind: ConstraintKind::PrimaryKey,
        });
        p.constraints.push(Change::AddPrimaryKey {
            table: nt.to_string(),
            column: n.primary_key.clone(),
        });
        p.label(nt, format!("alter_{nt}_primary_key"));
    }

    // Indexes.
    let mut unmatched_new: Vec<&IndexState> = n
        .indexes
        .iter()
        .filter(|ni| !o.indexes.iter().any(|oi| oi.name == ni.name))
        .collect();
    for oi in &o.indexes {
        let cols: Vec<String> = oi.columns.iter().map(|c| tr(c)).collect();
        let same = |ni: &IndexState| ni.columns == cols && ni.unique == oi.unique;
        if let Some(ni) = n.indexes.iter().find(|ni| ni.name == oi.name) {
            if !same(ni) {
                p.drop_table_parts.push(Change::DropIndex {
                    table: ot.to_string(),
                    name: oi.name.clone(),
                });
                p.indexes.push(Change::CreateIndex {
                    table: nt.to_string(),
                    index: ni.clone(),
                });
                p.label(nt, format!("alter_index_{}", ni.name));
            }
        } else if let Some(pos) = unmatched_new.iter().position(|ni| same(ni)) {
            let ni = unmatched_new.remove(pos);
            p.rename_parts.push(Change::RenameIndex {
                from: oi.name.clone(),
                to: ni.name.clone(),
            });
        } else {
            p.drop_table_parts.push(Change::DropIndex {
                table: ot.to_string(),
                name: oi.name.clone(),
            });
            p.label(nt, format!("drop_index_{}", oi.name));
        }
    }
    for ni in unmatched_new {
        p.indexes.push(Change::CreateIndex {
            table: nt.to_string(),
            index: ni.clone(),
        });
        p.label(nt, format!("add_index_{}", ni.name));
    }

    // Checks (their expressions name columns quoted; renamed columns are renamed in them).
    let mut unmatched_new: Vec<&CheckState> = n
        .checks
        .iter()
        .filter(|nc| !o.checks.iter().any(|oc| oc.name == nc.name))
        .collect();
    for oc in &o.checks {
        let expr = rename_quoted(&oc.expr, &col_map);
        let drop_add = |p: &mut Phases, add: Option<&CheckState>| {
            p.drop_table_parts.push(Change::DropConstraint {
                table: ot.to_string(),
                name: oc.name.clone(),
                kind: ConstraintKind::Check,
            });
            if let Some(nc) = add {
                p.constraints.push(Change::AddCheck {
                    table: nt.to_string(),
                    check: nc.clone(),
                });
            }
            p.label(nt, format!("alter_{nt}_checks"));
        };
        if let Some(nc) = n.checks.iter().find(|nc| nc.name == oc.name) {
            if nc.expr != expr {
                drop_add(p, Some(nc));
            }
        } else if let Some(pos) = unmatched_new.iter().position(|nc| nc.expr == expr) {
            let nc = unmatched_new.remove(pos);
            p.rename_parts.push(Change::RenameConstraint {
                table: nt.to_string(),
                from: oc.name.clone(),
                to: nc.name.clone(),
            });
        } else {
            drop_add(p, None);
        }
    }
    for nc in unmatched_new {
        p.constraints.push(Change::AddCheck {
            table: nt.to_string(),
            check: nc.clone(),
        });
        p.label(nt, format!("alter_{nt}_checks"));
    }

    // Foreign keys.
    let mut unmatched_new: Vec<&ForeignKeyState> = n
        .foreign_keys
        .iter()
        .filter(|nf| !o.foreign_keys.iter().any(|of| of.name == nf.name))
        .collect();
    for of in &o.foreign_keys {
        let references = table_map
            .get(of.references.as_str())
            .map_or(of.references.as_str(), |t| t);
        let col = tr(&of.column);
        let same = |nf: &ForeignKeyState| {
            nf.column == col && nf.references == references && nf.on_delete == of.on_delete
        };
        let drop = |p: &mut Phases| {
            p.drop_fks.push(Change::DropConstraint {
                table: ot.to_string(),
                name: of.name.clone(),
                kind: ConstraintKind::ForeignKey,
            });
        };
        if let Some(nf) = n.foreign_keys.iter().find(|nf| nf.name == of.name) {
            if !same(nf) {
                drop(p);
                p.add_fks.push(Change::AddForeignKey {
                    table: nt.to_string(),
                    fk: nf.clone(),
                });
                p.label(nt, format!("alter_{}", nf.name));
            }
        } else if let Some(pos) = unmatched_new.iter().position(|nf| same(nf)) {
            let nf = unmatched_new.remove(pos);
            p.rename_parts.push(Change::RenameConstraint {
                table: nt.to_string(),
                from: of.name.clone(),
                to: nf.name.clone(),
            });
        } else {
            drop(p);
            p.label(nt, format!("drop_{}", of.name));
        }
    }
    for nf in unmatched_new {
        p.add_fks.push(Change::AddForeignKey {
            table: nt.to_string(),
            fk: nf.clone(),
        });
        p.label(nt, format!("add_{}", nf.name));
    }
}

/// Type, default, nullability and unique of a column kept (perhaps renamed).
fn diff_column(
    o: &TableState,
    n: &TableState,
    oc: &ColumnState,
    nc: &ColumnState,
    p: &mut Phases,
    unsupported: &mut Vec<String>,
) {
    let (ot, nt) = (o.name.as_str(), n.name.as_str());
    let t = nt.to_string();
    let c = nc.name.clone();
    let before = p.columns.len() + p.constraints.len() + p.drop_table_parts.len();
    if oc.ddl_type != nc.ddl_type {
        if is_serial(&nc.ddl_type) && !is_serial(&oc.ddl_type) {
            unsupported.push(format!(
                "column `{nt}.{c}` changes from {} to {}: an existing column cannot become \
                 serial; add a new serial field instead",
                oc.ddl_type, nc.ddl_type
            ));
        } else {
            p.columns.push(Change::AlterType {
                table: t.clone(),
                column: c.clone(),
                from: oc.ddl_type.clone(),
                to: nc.ddl_type.clone(),
            });
        }
    }
    // A serial column's default is its sequence; a column leaving serial loses it with the
    // type change.
    let old_default = if is_serial(&oc.ddl_type) {
        None
    } else {
        oc.default.as_ref()
    };
    if !is_serial(&nc.ddl_type) && old_default != nc.default.as_ref() {
        p.columns.push(match (&nc.default, old_default) {
            (Some(d), from) => Change::SetDefault {
                table: t.clone(),
                column: c.clone(),
                default: d.clone(),
                from: from.cloned(),
            },
            (None, from) => Change::DropDefault {
                table: t.clone(),
                column: c.clone(),
                from: from.cloned().unwrap_or_default(),
            },
        });
    }
    match (oc.nullable, nc.nullable) {
        (true, false) => p.columns.push(Change::SetNotNull {
            table: t.clone(),
            column: c.clone(),
            fill_default: nc.default.is_some(),
        }),
        (false, true) => p.columns.push(Change::DropNotNull {
            table: t.clone(),
            column: c.clone(),
        }),
        _ => {}
    }
    let old_unique = oc.unique && oc.name != o.primary_key;
    let new_unique = nc.unique && nc.name != n.primary_key;
    match (old_unique, new_unique) {
        (true, true) => {
            let (from, to) = (unique_name(ot, &oc.name), unique_name(nt, &nc.name));
            if from != to {
                p.rename_parts
                    .push(Change::RenameConstraint { table: t, from, to });
            }
        }
        (true, false) => p.drop_table_parts.push(Change::DropConstraint {
            table: ot.to_string(),
            name: unique_name(ot, &oc.name),
            kind: ConstraintKind::Unique,
        }),
        (false, true) => p.constraints.push(Change::AddUnique {
            table: t,
            column: c,
        }),
        (false, false) => {}
    }
    if p.columns.len() + p.constraints.len() + p.drop_table_parts.len() != before {
        p.label(nt, format!("alter_{nt}_{}", nc.name));
    }
}

/// Replaces double-quoted identifiers of `expr` found in `map` (single-quoted literals are
/// left alone).
pub fn rename_quoted(expr: &str, map: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut chars = expr.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => {
                out.push(ch);
                // A literal; '' inside it is an escaped quote.
                while let Some(c) = chars.next() {
                    out.push(c);
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            out.push(chars.next().expect("peeked"));
                        } else {
                            break;
                        }
                    }
                }
            }
            '"' => {
                let mut ident = String::new();
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            ident.push(chars.next().expect("peeked"));
                        } else {
                            break;
                        }
                    } else {
                        ident.push(c);
                    }
                }
                let name = map.get(&ident).unwrap_or(&ident);
                out.push_str(&crate::model::naming::quote_ident(name));
            }
            c => out.push(c),
        }
    }
    out
}
