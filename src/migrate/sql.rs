//! Each [`Change`] as SQL, with what it does in words and, for a step that can lose data
//! or fail on existing rows, why (such steps need `--allow-destructive`).

use super::diff::{Change, ConstraintKind, is_serial, pkey_name, sequence_name, unique_name};
use crate::model::naming::quote_ident as q;

/// One step of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `add column reviews.title`
    pub what: String,
    /// One or more statements, each ending with `;`.
    pub sql: String,
    /// Why the step can lose data or fail on existing rows.
    pub destructive: Option<String>,
}

impl Step {
    fn new(what: String, sql: String) -> Self {
        Step {
            what,
            sql,
            destructive: None,
        }
    }

    fn destructive(mut self, why: String) -> Self {
        self.destructive = Some(why);
        self
    }
}

pub fn step(change: &Change) -> Step {
    match change {
        Change::CreateTable { table } => Step::new(
            format!("create table {}", table.name),
            table.create_sql.clone(),
        ),
        Change::DropTable { table } => Step::new(
            format!("drop table {table}"),
            format!("DROP TABLE {};", q(table)),
        )
        .destructive(format!("drops table `{table}` and every row in it")),
        Change::RenameTable { from, to } => Step::new(
            format!("rename table {from} to {to}"),
            format!("ALTER TABLE {} RENAME TO {};", q(from), q(to)),
        ),
        Change::RenameColumn { table, from, to } => Step::new(
            format!("rename column {table}.{from} to {to}"),
            format!(
                "ALTER TABLE {} RENAME COLUMN {} TO {};",
                q(table),
                q(from),
                q(to)
            ),
        ),
        Change::RenameSequence { from, to } => Step::new(
            format!("rename sequence {from} to {to}"),
            format!("ALTER SEQUENCE {} RENAME TO {};", q(from), q(to)),
        ),
        Change::RenameConstraint { table, from, to } => Step::new(
            format!("rename constraint {from} to {to}"),
            format!(
                "ALTER TABLE {} RENAME CONSTRAINT {} TO {};",
                q(table),
                q(from),
                q(to)
            ),
        ),
        Change::RenameIndex { from, to } => Step::new(
            format!("rename index {from} to {to}"),
            format!("ALTER INDEX {} RENAME TO {};", q(from), q(to)),
        ),
        Change::AddColumn { table, column } => {
            let mut sql = format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                q(table),
                q(&column.name),
                column.ddl_type
            );
            if !column.nullable {
                sql.push_str(" NOT NULL");
            }
            if let Some(d) = &column.default {
                sql.push_str(&format!(" DEFAULT {d}"));
            }
            sql.push(';');
            let step = Step::new(format!("add column {table}.{}", column.name), sql);
            if column.nullable || column.default.is_some() || is_serial(&column.ddl_type) {
                step
            } else {
                step.destructive(format!(
                    "adds column `{table}.{c}` NOT NULL without a default, which fails on a \
                     table that has rows: give field `{c}` a `default` or `nullable: true` \
                     (or pass --allow-destructive if `{table}` is empty)",
                    c = column.name
                ))
            }
        }
        Change::DropColumn { table, column } => Step::new(
            format!("drop column {table}.{column}"),
            format!("ALTER TABLE {} DROP COLUMN {};", q(table), q(column)),
        )
        .destructive(format!("drops column `{table}.{column}` and its values")),
        Change::AlterType {
            table,
            column,
            from,
            to,
        } => alter_type(table, column, from, to),
        Change::SetNotNull {
            table,
            column,
            fill_default,
        } => {
            let alter = format!(
                "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL;",
                q(table),
                q(column)
            );
            if *fill_default {
                Step::new(
                    format!("make {table}.{column} NOT NULL"),
                    format!(
                        "UPDATE {t} SET {c} = DEFAULT WHERE {c} IS NULL;\n{alter}",
                        t = q(table),
                        c = q(column)
                    ),
                )
                .destructive(format!(
                    "makes `{table}.{column}` NOT NULL: rows holding NULL get its default"
                ))
            } else {
                Step::new(format!("make {table}.{column} NOT NULL"), alter).destructive(format!(
                    "makes `{table}.{column}` NOT NULL: fails if a row holds NULL"
                ))
            }
        }
        Change::DropNotNull { table, column } => Step::new(
            format!("make {table}.{column} nullable"),
            format!(
                "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;",
                q(table),
                q(column)
            ),
        ),
        Change::SetDefault {
            table,
            column,
            default,
        } => Step::new(
            format!("set the default of {table}.{column}"),
            format!(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {default};",
                q(table),
                q(column)
            ),
        ),
        Change::DropDefault { table, column } => Step::new(
            format!("drop the default of {table}.{column}"),
            format!(
                "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;",
                q(table),
                q(column)
            ),
        ),
        Change::AddUnique { table, column } => Step::new(
            format!("make {table}.{column} unique"),
            format!(
                "ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({});",
                q(table),
                q(&unique_name(table, column)),
                q(column)
            ),
        ),
        Change::AddPrimaryKey { table, column } => Step::new(
            format!("make {table}.{column} the primary key"),
            format!(
                "ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({});",
                q(table),
                q(&pkey_name(table)),
                q(column)
            ),
        )
        .destructive(format!(
            "changes the primary key of `{table}` to `{column}`: fails if it holds NULLs or \
             duplicates, or if foreign keys refer to the old key"
        )),
        Change::DropConstraint { table, name, kind } => {
            let what = match kind {
                ConstraintKind::PrimaryKey => "primary key",
                ConstraintKind::Unique => "unique constraint",
                ConstraintKind::Check => "check",
                ConstraintKind::ForeignKey => "foreign key",
            };
            Step::new(
                format!("drop {what} {name}"),
                format!("ALTER TABLE {} DROP CONSTRAINT {};", q(table), q(name)),
            )
        }
        Change::AddCheck { table, check } => Step::new(
            format!("add check {}", check.name),
            format!(
                "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({});",
                q(table),
                q(&check.name),
                check.expr
            ),
        ),
        Change::CreateIndex { table, index } => Step::new(
            format!("create index {} on {table}", index.name),
            index.sql.clone(),
        ),
        Change::DropIndex { table, name } => Step::new(
            format!("drop index {name} of {table}"),
            format!("DROP INDEX {};", q(name)),
        ),
        Change::AddForeignKey { table, fk } => Step::new(
            format!("add foreign key {}", fk.name),
            if fk.sql.is_empty() {
                format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ON DELETE {};",
                    q(table),
                    q(&fk.name),
                    q(&fk.column),
                    q(&fk.references),
                    fk.on_delete
                )
            } else {
                fk.sql.clone()
            },
        ),
    }
}

/// The type a serial column has once created.
fn base_type(ddl: &str) -> &str {
    match ddl {
        "serial" => "integer",
        "bigserial" => "bigint",
        t => t,
    }
}

/// `varchar(320)` → (`varchar`, [320]); `numeric(10,2)` → (`numeric`, [10, 2]).
fn parts(ddl: &str) -> (&str, Vec<u32>) {
    match ddl.split_once('(') {
        Some((name, args)) => (
            name.trim(),
            args.trim_end_matches(')')
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect(),
        ),
        None => (ddl.trim(), Vec::new()),
    }
}

/// Families whose values convert by assignment (no `USING` needed, errors on overflow).
fn family(name: &str) -> &str {
    match name {
        "integer" | "bigint" | "numeric" | "double precision" => "number",
        "text" | "varchar" => "text",
        other => other,
    }
}

/// Every value of `from` converts to `to` without loss.
pub fn widens(from: &str, to: &str) -> bool {
    let (from, to) = (base_type(from), base_type(to));
    if from == to {
        return true;
    }
    // Digits before the point of numeric(p,s); None = unconstrained.
    let int_digits = |args: &[u32]| match args {
        [] => None,
        [p] => Some(*p),
        [p, s, ..] => Some(p.saturating_sub(*s)),
    };
    let scale = |args: &[u32]| args.get(1).copied().unwrap_or(0);
    let ((fname, fargs), (tname, targs)) = (parts(from), parts(to));
    match (fname, tname) {
        ("integer", "bigint" | "double precision") => true,
        ("integer", "numeric") => int_digits(&targs).is_none_or(|d| d >= 10),
        ("bigint", "numeric") => int_digits(&targs).is_none_or(|d| d >= 19),
        ("varchar", "text") => true,
        ("varchar", "varchar") => {
            matches!((fargs.first(), targs.first()), (Some(f), Some(t)) if t >= f)
        }
        ("numeric", "numeric") => match (int_digits(&fargs), int_digits(&targs)) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(f), Some(t)) => t >= f && scale(&targs) >= scale(&fargs),
        },
        _ => false,
    }
}

fn alter_type(table: &str, column: &str, from: &str, to: &str) -> Step {
    let (t, c) = (q(table), q(column));
    let target = base_type(to);
    let using = if family(parts(base_type(from)).0) == family(parts(target).0) {
        String::new()
    } else {
        format!(" USING {c}::{target}")
    };
    let mut sql = vec![format!(
        "ALTER TABLE {t} ALTER COLUMN {c} TYPE {target}{using};"
    )];
    let seq = q(&sequence_name(table, column));
    if is_serial(from) && is_serial(to) {
        sql.push(format!("ALTER SEQUENCE {seq} AS {target};"));
    } else if is_serial(from) {
        sql.push(format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT;"));
        sql.push(format!("DROP SEQUENCE {seq};"));
    }
    let step = Step::new(
        format!("change the type of {table}.{column} from {from} to {to}"),
        sql.join("\n"),
    );
    if widens(from, to) {
        step
    } else {
        step.destructive(format!(
            "changes `{table}.{column}` from {from} to {to}, which can lose data or fail on \
             existing values"
        ))
    }
}
