//! Each [`Change`] as SQL, with what it does in words and, for a step that can lose data
//! or fail on existing rows, why (such steps need `--allow-destructive`).

use super::diff::{Change, ConstraintKind, is_serial, pkey_name, sequence_name, unique_name};
use crate::model::naming::quote_ident as q;

/// Where a step runs: in the migration's main file (one transaction), alone in its own
/// `-- no-transaction` file, or in the file after those (validations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Main,
    Concurrent,
    Validate,
}

/// A query over the live database that counts the rows a step would fail on, with one
/// that shows a few of them. Both are parameter-free and built from identifiers the
/// generator quotes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataCheck {
    /// `duplicate groups of users (email)`, `rows of orders outside orders_quantity_check`
    pub what: String,
    /// `SELECT count(*)::bigint …`
    pub count_sql: String,
    /// `SELECT <row as text> … LIMIT 5`
    pub sample_sql: String,
}

/// One step of a migration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Step {
    /// `add column reviews.title`
    pub what: String,
    /// One or more statements, each ending with `;`.
    pub sql: String,
    /// Why the step can lose data or fail on existing rows (such steps need
    /// `--allow-destructive`).
    pub destructive: Option<String>,
    /// What `plan --database-url` runs to count the rows the step would fail on.
    pub check: Option<DataCheck>,
    /// The step rewrites the table under an exclusive lock: why, and the alternative.
    pub rewrites: Option<String>,
    pub phase: Phase,
    /// How the down migration undoes the step, or why it cannot without losing data.
    pub undo: Undo,
}

/// How a step is undone by the down migration (`NNNN_<name>.down.sql`), from
/// [`Change::undo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// The statements that undo the step (empty: there is nothing to undo, e.g. a
    /// `VALIDATE CONSTRAINT`).
    Sql(String),
    /// Why the step cannot be undone without losing data (the migration then has no down
    /// file).
    Lossy(String),
}

impl Default for Undo {
    /// A step says how it is undone; one that does not is never reversed.
    fn default() -> Self {
        Undo::Lossy("it has no down step".to_string())
    }
}

impl Undo {
    /// Nothing to undo.
    pub fn nothing() -> Self {
        Undo::Sql(String::new())
    }

    /// The same classification with other statements (the online form of a change keeps
    /// its change's verdict).
    fn with_sql(&self, sql: String) -> Self {
        match self {
            Undo::Sql(_) => Undo::Sql(sql),
            lossy => lossy.clone(),
        }
    }
}

impl Step {
    fn new(what: String, sql: String) -> Self {
        Step {
            what,
            sql,
            ..Step::default()
        }
    }

    fn destructive(mut self, why: String) -> Self {
        self.destructive = Some(why);
        self
    }

    fn checked(mut self, check: DataCheck) -> Self {
        self.check = Some(check);
        self
    }
}

/// How many sample rows `plan --database-url` shows per check.
pub const SAMPLE_ROWS: u32 = 5;

/// Rows of `table` where `cond` holds (a condition over its quoted columns).
fn rows_where(table: &str, cond: &str, what: String) -> DataCheck {
    let t = q(table);
    DataCheck {
        what,
        count_sql: format!("SELECT count(*)::bigint FROM {t} WHERE {cond}"),
        sample_sql: format!(
            "SELECT left(x::text, 200) FROM {t} AS x WHERE {cond} LIMIT {SAMPLE_ROWS}"
        ),
    }
}

/// Groups of rows of `table` sharing non-NULL values of `columns` (a unique index or
/// constraint fails on them).
pub fn duplicates(table: &str, columns: &[String]) -> DataCheck {
    let cols: Vec<String> = columns.iter().map(|c| q(c)).collect();
    let cols = cols.join(", ");
    let not_null: Vec<String> = columns
        .iter()
        .map(|c| format!("{} IS NOT NULL", q(c)))
        .collect();
    let groups = format!(
        "SELECT {cols}, count(*) AS n FROM {} WHERE {} GROUP BY {cols} HAVING count(*) > 1",
        q(table),
        not_null.join(" AND ")
    );
    DataCheck {
        what: format!("duplicate groups of {table} ({})", columns.join(", ")),
        count_sql: format!("SELECT count(*)::bigint FROM ({groups}) AS d"),
        sample_sql: format!(
            "SELECT left(d::text, 200) FROM ({groups}) AS d ORDER BY n DESC LIMIT {SAMPLE_ROWS}"
        ),
    }
}

/// Rows of `table` outside a new CHECK (NULL passes a CHECK, as here).
pub fn outside_check(table: &str, name: &str, expr: &str) -> DataCheck {
    rows_where(
        table,
        &format!("NOT ({expr})"),
        format!("rows of {table} outside {name} ({expr})"),
    )
}

/// Rows of `table` whose `column` refers to no row of `references` (by `ref_column`).
pub fn orphans(table: &str, column: &str, references: &str, ref_column: &str) -> DataCheck {
    rows_where(
        table,
        &format!(
            "x.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {r} AS p WHERE p.{pk} = x.{c})",
            c = q(column),
            r = q(references),
            pk = q(ref_column)
        ),
        format!("rows of {table} whose {column} is in no row of {references}"),
    )
}

/// The statement that drops an INVALID index `name` left by a failed concurrent build
/// (a valid one is kept: `CREATE … IF NOT EXISTS` then does nothing).
pub fn drop_invalid_index(name: &str) -> String {
    let lit = name.replace('\'', "''");
    let ident = q(name).replace('\'', "''");
    format!(
        "DO $$\nBEGIN\n  IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid\n             \
         WHERE c.relname = '{lit}' AND c.relnamespace = current_schema()::regnamespace\n               \
         AND NOT i.indisvalid) THEN\n    DROP INDEX {ident};\n  END IF;\nEND\n$$;"
    )
}

/// Fails the migration (with what to do) when the index `name`, built concurrently by the
/// file `file`, is INVALID: a failed `CREATE INDEX CONCURRENTLY` leaves one behind, and
/// its `IF NOT EXISTS` would skip it when the file runs again.
pub fn assert_valid_index(name: &str, file: &str) -> String {
    let lit = name.replace('\'', "''");
    let ident = q(name).replace('\'', "''");
    let version = file
        .split('_')
        .next()
        .unwrap_or_default()
        .trim_start_matches('0');
    format!(
        "DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid\n                 \
         WHERE c.relname = '{lit}' AND c.relnamespace = current_schema()::regnamespace\n                   \
         AND i.indisvalid) THEN\n    RAISE EXCEPTION 'index {lit} is missing or INVALID: its concurrent build ({file}) failed. \
         Fix the cause (apiforge plan --database-url shows duplicates), then run: DROP INDEX IF EXISTS {ident}; \
         DELETE FROM _sqlx_migrations WHERE version = {version}; and start the API again';\n  END IF;\nEND\n$$;"
    )
}

/// The zero-downtime form of a change to a table that already exists (its rows stay
/// readable and writable): an index is built `CONCURRENTLY` in a file of its own (after
/// dropping an INVALID leftover of the same name); a unique constraint is attached to
/// such an index; a CHECK or foreign key is added `NOT VALID` and validated afterwards
/// (validation takes a lock that lets writes through). Other changes are [`step`].
/// `ref_column` gives the primary key of a referenced table.
pub fn online_steps(change: &Change, ref_column: &dyn Fn(&str) -> String) -> Vec<Step> {
    match change {
        Change::CreateIndex { table, index } => {
            let base = step(change);
            let cols: Vec<String> = index.columns.iter().map(|c| q(c)).collect();
            let build = Step {
                what: format!("create index {} on {table}, concurrently", index.name),
                sql: format!(
                    "CREATE {}INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({});",
                    if index.unique { "UNIQUE " } else { "" },
                    q(&index.name),
                    q(table),
                    cols.join(", ")
                ),
                phase: Phase::Concurrent,
                undo: base.undo.with_sql(format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {};",
                    q(&index.name)
                )),
                ..base
            };
            vec![
                Step {
                    undo: Undo::nothing(),
                    ..Step::new(
                        format!(
                            "drop index {} if an earlier build left it INVALID",
                            index.name
                        ),
                        drop_invalid_index(&index.name),
                    )
                },
                build,
            ]
        }
        Change::AddUnique { table, column } => {
            let name = unique_name(table, column);
            let base = step(change);
            vec![
                Step {
                    undo: Undo::nothing(),
                    ..Step::new(
                        format!("drop index {name} if an earlier build left it INVALID"),
                        drop_invalid_index(&name),
                    )
                },
                Step {
                    what: format!("build the unique index {name} concurrently"),
                    sql: format!(
                        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({});",
                        q(&name),
                        q(table),
                        q(column)
                    ),
                    phase: Phase::Concurrent,
                    // When the constraint's down (the validations' file) already dropped
                    // it with its index, this finds nothing.
                    undo: base
                        .undo
                        .with_sql(format!("DROP INDEX CONCURRENTLY IF EXISTS {};", q(&name))),
                    ..base.clone()
                },
                Step {
                    what: format!("make {table}.{column} unique with the index {name}"),
                    sql: format!(
                        "ALTER TABLE {} ADD CONSTRAINT {n} UNIQUE USING INDEX {n};",
                        q(table),
                        n = q(&name)
                    ),
                    phase: Phase::Validate,
                    destructive: None,
                    check: None,
                    ..base
                },
            ]
        }
        Change::AddCheck { table, check } => {
            let base = step(change);
            vec![
                Step {
                    what: format!("add check {} (NOT VALID: new rows only)", check.name),
                    sql: format!(
                        "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}) NOT VALID;",
                        q(table),
                        q(&check.name),
                        check.expr
                    ),
                    ..base.clone()
                },
                Step {
                    what: format!("validate check {} against existing rows", check.name),
                    sql: format!(
                        "ALTER TABLE {} VALIDATE CONSTRAINT {};",
                        q(table),
                        q(&check.name)
                    ),
                    phase: Phase::Validate,
                    destructive: None,
                    check: None,
                    undo: base.undo.with_sql(String::new()),
                    ..base
                },
            ]
        }
        Change::AddForeignKey { table, fk } => {
            let base = step(change);
            let pk = ref_column(&fk.references);
            vec![
                Step {
                    what: format!("add foreign key {} (NOT VALID: new rows only)", fk.name),
                    sql: format!(
                        "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} NOT VALID;",
                        q(table),
                        q(&fk.name),
                        q(&fk.column),
                        q(&fk.references),
                        q(&pk),
                        fk.on_delete
                    ),
                    check: Some(orphans(table, &fk.column, &fk.references, &pk)),
                    destructive: Some(format!(
                        "adds foreign key `{}`: validating it fails if a row of `{table}` has a \
                         `{}` that is in no row of `{}`",
                        fk.name, fk.column, fk.references
                    )),
                    ..base.clone()
                },
                Step {
                    what: format!("validate foreign key {} against existing rows", fk.name),
                    sql: format!(
                        "ALTER TABLE {} VALIDATE CONSTRAINT {};",
                        q(table),
                        q(&fk.name)
                    ),
                    phase: Phase::Validate,
                    undo: base.undo.with_sql(String::new()),
                    ..Step::default()
                },
            ]
        }
        other => vec![step(other)],
    }
}

pub fn step(change: &Change) -> Step {
    Step {
        undo: change.undo(),
        ..plain_step(change)
    }
}

impl Change {
    /// How the down migration undoes this change, or why it cannot without losing data:
    /// the one place that decides which changes are reversible. Reversible: renames (renamed
    /// back), an added index, unique constraint, check, foreign key or primary key (dropped
    /// again), `DROP NOT NULL` (`SET NOT NULL` again), a default set or dropped (the old one
    /// restored), `SET NOT NULL` that filled no NULLs, and a widening whose narrowing back
    /// either keeps each value or fails (`int` → `bigint`, `serial` → `bigserial`, a longer
    /// `varchar`, `varchar` → `text`, more `numeric` precision at the same scale). A down
    /// that fails (a value written since does not fit the old type, a NULL written since
    /// meets `SET NOT NULL`) is rolled back whole: it never loses data either. Not
    /// reversible: a table or column created (the down would drop what was written since),
    /// anything dropped, other type changes, `SET NOT NULL` that filled NULLs with the
    /// default.
    pub fn undo(&self) -> Undo {
        let lossy = |why: String| Undo::Lossy(why);
        let sql = |s: String| Undo::Sql(s);
        match self {
            Change::CreateTable { table } => lossy(format!(
                "creates table `{}`: its down would drop the table and the rows written since",
                table.name
            )),
            Change::DropTable { table } => lossy(format!("drops table `{table}` and its rows")),
            Change::RenameTable { from, to } => {
                sql(format!("ALTER TABLE {} RENAME TO {};", q(to), q(from)))
            }
            Change::RenameColumn { table, from, to } => sql(format!(
                "ALTER TABLE {} RENAME COLUMN {} TO {};",
                q(table),
                q(to),
                q(from)
            )),
            Change::RenameSequence { from, to } => {
                sql(format!("ALTER SEQUENCE {} RENAME TO {};", q(to), q(from)))
            }
            Change::RenameConstraint { table, from, to } => sql(format!(
                "ALTER TABLE {} RENAME CONSTRAINT {} TO {};",
                q(table),
                q(to),
                q(from)
            )),
            Change::RenameIndex { from, to } => {
                sql(format!("ALTER INDEX {} RENAME TO {};", q(to), q(from)))
            }
            Change::AddColumn { table, column } => lossy(format!(
                "adds column `{table}.{}`: its down would drop the column and the values \
                 written since",
                column.name
            )),
            Change::DropColumn { table, column } => {
                lossy(format!("drops column `{table}.{column}` and its values"))
            }
            Change::AlterType {
                table,
                column,
                from,
                to,
            } => {
                if narrows_back_exactly(from, to) {
                    let (t, c) = (q(table), q(column));
                    let old = base_type(from);
                    let mut down = Vec::new();
                    if is_serial(from) {
                        down.push(format!(
                            "ALTER SEQUENCE {} AS {old};",
                            q(&sequence_name(table, column))
                        ));
                    }
                    down.push(format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {old};"));
                    sql(down.join("\n"))
                } else {
                    lossy(format!(
                        "changes `{table}.{column}` from {from} to {to}: changing it back could \
                         alter values written since"
                    ))
                }
            }
            Change::SetNotNull {
                table,
                column,
                fill_default,
            } => {
                if *fill_default {
                    lossy(format!(
                        "makes `{table}.{column}` NOT NULL, setting its NULLs to the default: \
                         the down cannot tell those rows apart"
                    ))
                } else {
                    sql(format!(
                        "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;",
                        q(table),
                        q(column)
                    ))
                }
            }
            Change::DropNotNull { table, column } => sql(format!(
                "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL;",
                q(table),
                q(column)
            )),
            Change::SetDefault {
                table,
                column,
                from,
                ..
            } => sql(match from {
                Some(d) => format!(
                    "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {d};",
                    q(table),
                    q(column)
                ),
                None => format!(
                    "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;",
                    q(table),
                    q(column)
                ),
            }),
            Change::DropDefault {
                table,
                column,
                from,
            } => sql(format!(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {from};",
                q(table),
                q(column)
            )),
            Change::AddUnique { table, column } => sql(format!(
                "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
                q(table),
                q(&unique_name(table, column))
            )),
            Change::AddPrimaryKey { table, .. } => sql(format!(
                "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
                q(table),
                q(&pkey_name(table))
            )),
            Change::DropConstraint { name, .. } => lossy(format!(
                "drops constraint `{name}`: apiforge writes no down step for a drop"
            )),
            Change::AddCheck { table, check } => sql(format!(
                "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
                q(table),
                q(&check.name)
            )),
            Change::CreateIndex { index, .. } => {
                sql(format!("DROP INDEX IF EXISTS {};", q(&index.name)))
            }
            Change::DropIndex { name, .. } => lossy(format!(
                "drops index `{name}`: apiforge writes no down step for a drop"
            )),
            Change::AddForeignKey { table, fk } => sql(format!(
                "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
                q(table),
                q(&fk.name)
            )),
        }
    }
}

/// Whether changing a column of type `to` back to `from` keeps every value or fails
/// (never rounds or truncates): the widenings `int` → `bigint` (also serial →
/// bigserial), a longer `varchar`, `varchar` → `text`, and more `numeric` precision at the
/// same scale.
pub fn narrows_back_exactly(from: &str, to: &str) -> bool {
    if is_serial(from) != is_serial(to) || !widens(from, to) {
        return false;
    }
    let ((fname, fargs), (tname, targs)) = (parts(base_type(from)), parts(base_type(to)));
    match (fname, tname) {
        ("integer", "bigint") | ("varchar", "text") => true,
        ("varchar", "varchar") => !fargs.is_empty() && !targs.is_empty(),
        ("numeric", "numeric") => {
            !fargs.is_empty()
                && !targs.is_empty()
                && fargs.get(1).copied().unwrap_or(0) == targs.get(1).copied().unwrap_or(0)
        }
        _ => false,
    }
}

fn plain_step(change: &Change) -> Step {
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
            let nulls = rows_where(
                table,
                &format!("{} IS NULL", q(column)),
                format!("rows of {table} where {column} is NULL"),
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
                .checked(nulls)
            } else {
                Step::new(format!("make {table}.{column} NOT NULL"), alter)
                    .destructive(format!(
                        "makes `{table}.{column}` NOT NULL: fails if a row holds NULL"
                    ))
                    .checked(nulls)
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
            ..
        } => Step::new(
            format!("set the default of {table}.{column}"),
            format!(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {default};",
                q(table),
                q(column)
            ),
        ),
        Change::DropDefault { table, column, .. } => Step::new(
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
        )
        .destructive(format!(
            "makes `{table}.{column}` unique: fails if two rows hold the same `{column}`"
        ))
        .checked(duplicates(table, std::slice::from_ref(column))),
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
        )
        .destructive(format!(
            "adds check `{}` ({}): fails if a row of `{table}` is outside it",
            check.name, check.expr
        ))
        .checked(outside_check(table, &check.name, &check.expr)),
        Change::CreateIndex { table, index } => {
            let step = Step::new(
                format!("create index {} on {table}", index.name),
                index.sql.clone(),
            );
            if index.unique {
                step.destructive(format!(
                    "creates unique index `{}`: fails if two rows of `{table}` hold the same ({})",
                    index.name,
                    index.columns.join(", ")
                ))
                .checked(duplicates(table, &index.columns))
            } else {
                step
            }
        }
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
    let mut step = Step::new(
        format!("change the type of {table}.{column} from {from} to {to}"),
        sql.join("\n"),
    );
    if rewrites(from, to) {
        step.rewrites = Some(format!(
            "rewrites every row of `{table}` holding an ACCESS EXCLUSIVE lock (reads and \
             writes wait). On a large table, expand and contract instead: add a new field of \
             type {to}, backfill it in batches, switch the code to it, then remove `{column}`"
        ));
    }
    let (tname, targs) = parts(target);
    if tname == "varchar" && family(parts(base_type(from)).0) == "text" {
        if let Some(n) = targs.first() {
            step.check = Some(rows_where(
                table,
                &format!("char_length({c}) > {n}"),
                format!("rows of {table} whose {column} is longer than {n} characters"),
            ));
        }
    } else if target == "integer" && base_type(from) == "bigint" {
        step.check = Some(rows_where(
            table,
            &format!("{c} NOT BETWEEN -2147483648 AND 2147483647"),
            format!("rows of {table} whose {column} does not fit an integer"),
        ));
    }
    if widens(from, to) {
        step
    } else {
        step.destructive(format!(
            "changes `{table}.{column}` from {from} to {to}, which can lose data or fail on \
             existing values"
        ))
    }
}

/// Whether `ALTER COLUMN … TYPE` from `from` to `to` rewrites the table (Postgres keeps
/// the rows only for binary-compatible changes: a longer or unbounded varchar, varchar to
/// text, a numeric with more precision and the same scale).
pub fn rewrites(from: &str, to: &str) -> bool {
    let (from, to) = (base_type(from), base_type(to));
    if from == to {
        return false;
    }
    let ((fname, fargs), (tname, targs)) = (parts(from), parts(to));
    match (fname, tname) {
        ("varchar", "text") | ("text", "varchar") => false,
        ("varchar", "varchar") => {
            !matches!(
                (fargs.first(), targs.first()),
                (Some(f), Some(t)) if t >= f
            ) && !targs.is_empty()
        }
        ("numeric", "numeric") => match (fargs.as_slice(), targs.as_slice()) {
            (_, []) => false,
            ([fp, fs], [tp, ts]) => !(tp >= fp && ts == fs),
            _ => true,
        },
        _ => true,
    }
}

/// Whether every row satisfying the CHECK `old` satisfies `new` (so adding `new` cannot
/// fail): each conjunct of `new` (`c >= a`, `c <= b`, `c IN (…)`, `char_length(c) <= n`,
/// as the model writes them) is implied by a conjunct of `old`.
pub fn check_implied(old: &str, new: &str) -> bool {
    fn parse(conj: &str) -> Option<(&str, &str, &str)> {
        for op in [" >= ", " <= ", " IN "] {
            if let Some((lhs, rhs)) = conj.split_once(op) {
                return Some((lhs, op.trim(), rhs));
            }
        }
        None
    }
    let list = |rhs: &str| -> Vec<String> {
        rhs.trim_start_matches('(')
            .trim_end_matches(')')
            .split(", ")
            .map(str::to_string)
            .collect()
    };
    let olds: Vec<&str> = old.split(" AND ").collect();
    new.split(" AND ").all(|n| {
        let Some((nl, nop, nr)) = parse(n) else {
            return olds.contains(&n);
        };
        olds.iter().filter_map(|o| parse(o)).any(|(ol, oop, or)| {
            if ol != nl || oop != nop {
                return false;
            }
            match nop {
                "IN" => list(or).iter().all(|v| list(nr).contains(v)),
                _ => match (or.parse::<f64>(), nr.parse::<f64>()) {
                    (Ok(o), Ok(n)) if nop == ">=" => o >= n,
                    (Ok(o), Ok(n)) => o <= n,
                    _ => or == nr,
                },
            }
        })
    })
}
