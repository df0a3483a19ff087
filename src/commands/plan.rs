//! `apiforge plan [FILE]`: what `generate` (in a project) or `new` (elsewhere) would write,
//! with the SQL of the migration. `-C DIR` and `--manifest PATH` choose the project.

use std::process::ExitCode;

use crate::cli::PlanArgs;
use crate::commands::generate::{destructive_lines, update_of};
use crate::commands::new::{load_spec, render_spec};
use anyhow::Context;
use sqlx::Connection;

use crate::migrate::{Migration, integrity};
use crate::render::RuntimeDep;
use crate::write;

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let (file, dir) = match &args.file {
        Some(f) => (args.project.resolve(f), args.project.manifest_and_dir().1),
        None => args.project.existing_manifest_and_dir()?,
    };
    let (spec, text) = match load_spec(&file) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let dir = dir.as_path();
    if dir.join(write::MANIFEST_PATH).exists() {
        let update = update_of(dir, &spec, text)?;
        let (plan, migration) = (&update.plan, update.migration.clone());
        if plan.is_empty() {
            println!("nothing to change");
        }
        for p in &plan.changed {
            let note = if plan.is_hand_edited(p) {
                " (edited by hand: generate skips it without --force)"
            } else if migration
                .as_ref()
                .is_some_and(|m| m.files().iter().any(|f| f.path() == *p))
            {
                " (new migration)"
            } else {
                ""
            };
            println!("update {p}{note}");
        }
        for p in &plan.missing_user_files {
            println!("create {p}");
        }
        for p in &plan.stale {
            let note = if plan.is_hand_edited(p) {
                " (edited by hand: generate skips it without --force)"
            } else {
                ""
            };
            println!("remove {p}{note}");
        }
        for note in update.held_back_notes() {
            println!("{note}");
        }
        let state = crate::migrate::SchemaState::read(dir)?;
        for p in integrity::verify(dir, &state, &[])? {
            println!("generate refuses: {p}");
        }
        if let Some(m) = migration {
            for f in m.files() {
                println!("\n-- {}\n{}", f.path(), f.contents);
            }
            if !m.destructive().is_empty() {
                print!(
                    "generate refuses these steps without --allow-destructive:\n{}",
                    destructive_lines(&m)
                );
            }
            if m.reversible() {
                println!(
                    "reversible: each file has a down file (`<binary> migrate revert` undoes the \
                     last applied one)"
                );
            } else {
                for (s, why) in m.irreversible() {
                    println!("no down file: {}: {why}", s.what);
                }
            }
            for s in m.steps.iter() {
                if let Some(why) = &s.rewrites {
                    println!("table rewrite: {}: {why}", s.what);
                }
            }
            if let Some(url) = &args.database_url {
                let failing = check_data(url, &m)?;
                if failing > 0 {
                    println!(
                        "{failing} step{} would fail on the rows in the database: fix those rows \
                         first, or change apiforge.yaml",
                        if failing == 1 { "" } else { "s" }
                    );
                    return Ok(ExitCode::from(1));
                }
            }
        }
    } else {
        let (_, files) = render_spec(&spec, text, RuntimeDep::this_checkout())?;
        println!("a new project would contain:");
        for f in &files {
            println!("  {} ({:?})", f.path, f.owner);
        }
        if let Some(m) = files.iter().find(|f| f.path.starts_with("migrations/")) {
            println!("\n-- {}\n{}", m.path, m.contents);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs each risky step's check against the database (reads only), printing the count
/// and a sample; returns how many steps would fail.
fn check_data(url: &str, m: &Migration) -> anyhow::Result<usize> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .context("cannot connect to the database given by --database-url / DATABASE_URL")?;
        // Nothing is written, whatever the checks do.
        sqlx::raw_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            .execute(&mut conn)
            .await?;
        println!("\ndata checks against the database:");
        let mut failing = 0;
        let checks: Vec<_> = m
            .steps
            .iter()
            .filter_map(|s| s.check.as_ref().map(|c| (s, c)))
            .collect();
        if checks.is_empty() {
            println!("  no step depends on the rows in the database");
        }
        for (s, c) in checks {
            let count: Result<i64, _> = sqlx::query_scalar(c.count_sql.as_str())
                .fetch_one(&mut conn)
                .await;
            match count {
                Err(e) => println!(
                    "  {}: cannot check ({e}); a column or table it needs is made by this \
                     migration or renamed by it",
                    s.what
                ),
                Ok(0) => println!("  {}: ok, 0 {}", s.what, c.what),
                Ok(n) => {
                    failing += 1;
                    println!("  {}: FAILS, {n} {}, for example:", s.what, c.what);
                    let sample: Vec<String> = sqlx::query_scalar(c.sample_sql.as_str())
                        .fetch_all(&mut conn)
                        .await
                        .unwrap_or_default();
                    for row in sample {
                        println!("    {row}");
                    }
                }
            }
        }
        Ok(failing)
    })
}
