//! Running EXPLAIN on Postgres for each shape.
//!
//! Each statement is `PREPARE`d with its parameter types and explained through
//! `EXPLAIN EXECUTE` with representative values under `plan_cache_mode =
//! force_custom_plan`, so the plan is the one the API gets for real values (an
//! optional filter `$1 IS NULL OR col = $1` folds away, as it does at run time).
//! `enable_seqscan = off` makes the planner take any usable index even on a tiny
//! table: a Seq Scan that remains means no index can serve the statement.

use anyhow::Context;
use serde_json::Value;
use sqlx::{Connection, PgConnection};

use super::plan::PlanSummary;
use super::shape::Shape;

/// Connect and set up the session for planning checks.
pub async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("cannot connect to the database given by --database-url")?;
    sqlx::raw_sql("SET enable_seqscan = off; SET plan_cache_mode = force_custom_plan")
        .execute(&mut conn)
        .await
        .context("cannot configure the planner session")?;
    Ok(conn)
}

/// EXPLAIN one shape; `Err` holds Postgres' message (e.g. a missing table).
pub async fn explain(
    conn: &mut PgConnection,
    shape: &Shape,
    analyze: bool,
) -> Result<PlanSummary, String> {
    const STMT: &str = "apiforge_explain";
    let types: Vec<&str> = shape.params.iter().map(|p| p.cast.as_str()).collect();
    let prepare = if types.is_empty() {
        format!("PREPARE {STMT} AS {}", shape.sql)
    } else {
        format!("PREPARE {STMT} ({}) AS {}", types.join(", "), shape.sql)
    };
    let args: Vec<String> = shape
        .params
        .iter()
        .map(|p| p.sample.as_deref().map_or("NULL".to_owned(), literal))
        .collect();
    let execute = if args.is_empty() {
        STMT.to_owned()
    } else {
        format!("{STMT}({})", args.join(", "))
    };
    let options = if analyze {
        "FORMAT JSON, ANALYZE"
    } else {
        "FORMAT JSON"
    };
    // ANALYZE runs the statement: writes are rolled back.
    if analyze {
        run(conn, "BEGIN").await?;
    }
    let result = async {
        run(conn, &prepare).await?;
        let plan =
            sqlx::query_scalar::<_, Value>(&format!("EXPLAIN ({options}) EXECUTE {execute}"))
                .persistent(false)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| e.to_string());
        run(conn, &format!("DEALLOCATE {STMT}")).await?;
        plan
    }
    .await;
    if analyze {
        run(conn, "ROLLBACK").await?;
    } else if result.is_err() {
        // A failed PREPARE leaves nothing to deallocate; make sure no name lingers.
        let _ = run(conn, &format!("DEALLOCATE {STMT}")).await;
    }
    PlanSummary::from_json(&result?)
}

async fn run(conn: &mut PgConnection, sql: &str) -> Result<(), String> {
    sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A SQL string literal; Postgres coerces it to the prepared parameter's type.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
