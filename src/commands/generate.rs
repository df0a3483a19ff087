//! `apiforge generate [--check] [--allow-destructive] [--force] [-C DIR] [--manifest PATH]`:
//! re-render the project (the current folder, or the folder holding `--manifest`) from its
//! `apiforge.yaml`, and write the next migration when the schema changed.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::GenerateArgs;
use crate::commands::new::{load_spec, render_spec};
use anyhow::Context;

use crate::commands::shell;
use crate::migrate::integrity::{self, PREVIOUS_PATH};
use crate::migrate::{self, MIGRATIONS_DIR, Migration, Pending, STATE_PATH};
use crate::model::Model;
use crate::render::{OutFile, Owner, RuntimeDep};
use crate::spec::Spec;
use crate::write;

/// The files `generate` writes into an existing project: the rendered ones less the first
/// migration (migrations on disk are never rewritten), the schema state after the next
/// migration, and that migration's files and the state before it when the schema changed
/// (the state is written last of all files).
pub(crate) fn project_files(
    dir: &Path,
    spec: &Spec,
    model: &Model,
    files: Vec<OutFile>,
) -> anyhow::Result<(Vec<OutFile>, Option<Migration>)> {
    let pending = migrate::pending(dir, spec, model)?;
    Ok(with_pending(files, pending))
}

fn with_pending(files: Vec<OutFile>, pending: Pending) -> (Vec<OutFile>, Option<Migration>) {
    let mut out: Vec<OutFile> = files
        .into_iter()
        .filter(|f| !f.path.starts_with(&format!("{MIGRATIONS_DIR}/")) && f.path != STATE_PATH)
        .collect();
    if let Some(m) = &pending.migration {
        for f in m.files() {
            out.push(OutFile {
                path: f.path(),
                contents: f.contents,
                owner: Owner::Generated,
            });
        }
        out.push(OutFile {
            path: PREVIOUS_PATH.to_string(),
            contents: pending.previous.to_json(),
            owner: Owner::Generated,
        });
    }
    out.push(OutFile {
        path: STATE_PATH.to_string(),
        contents: pending.state.to_json(),
        owner: Owner::Generated,
    });
    (out, pending.migration)
}

/// `  - drop column reviews.body: drops column `reviews.body` and its values`, one a line.
pub(crate) fn destructive_lines(m: &Migration) -> String {
    m.destructive()
        .iter()
        .map(|s| {
            format!(
                "  - {}: {}\n",
                s.what,
                s.destructive.as_deref().unwrap_or_default()
            )
        })
        .collect()
}

/// The refusal of a migration with destructive steps.
fn refuse(m: &Migration) -> ExitCode {
    eprint!(
        "error: the next migration ({}) has steps that can lose data or fail on \
         existing rows:\n{}Change apiforge.yaml, or pass --allow-destructive to write \
         it anyway (`apiforge plan --database-url URL` counts the rows each step fails on). \
         Nothing was written.\n",
        m.path(),
        destructive_lines(m)
    );
    ExitCode::from(2)
}

/// The integrity problems, printed; `true` when there were some.
fn report_problems(problems: &[String], check: bool) -> bool {
    for p in problems {
        if check {
            println!("migrations: {p}");
        } else {
            eprintln!("error: {p}");
        }
    }
    if !problems.is_empty() && !check {
        eprintln!("Nothing was written.");
    }
    !problems.is_empty()
}

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let (manifest, dir) = args.project.existing_manifest_and_dir()?;
    let dir = dir.as_path();
    let (spec, text) = match load_spec(&manifest) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    // Cargo.toml is the user's: the runtime dependency choice does not matter here.
    let (model, files) = render_spec(&spec, text, RuntimeDep::this_checkout())?;
    if args.redo_last {
        return redo_last(dir, &spec, &model, files, &args);
    }
    let state = migrate::SchemaState::read(dir)?;
    let problems = integrity::verify(dir, &state, &[])?;
    if report_problems(&problems, args.check) {
        return Ok(ExitCode::from(if args.check { 1 } else { 2 }));
    }
    let (files, migration) = project_files(dir, &spec, &model, files)?;
    if args.check {
        let plan = write::plan_update(dir, &files)?;
        if plan.is_empty() {
            println!("up to date");
            return Ok(ExitCode::SUCCESS);
        }
        let migration_paths: Vec<String> = migration
            .iter()
            .flat_map(|m| m.files())
            .map(|f| f.path())
            .collect();
        for p in &plan.changed {
            let note = match &migration {
                Some(m) if migration_paths.contains(p) => format!(
                    " (pending migration, {} step{})",
                    m.steps.len(),
                    if m.steps.len() == 1 { "" } else { "s" }
                ),
                _ if plan.hand_edited.contains(p) => " (edited by hand)".to_string(),
                _ => String::new(),
            };
            println!("out of date: {p}{note}");
        }
        for p in &plan.missing_user_files {
            println!("missing: {p}");
        }
        if let Some(m) = migration.as_ref().filter(|m| !m.destructive().is_empty()) {
            print!(
                "the pending migration needs --allow-destructive:\n{}",
                destructive_lines(m)
            );
        }
        return Ok(ExitCode::from(1));
    }
    if let Some(m) = &migration
        && !m.destructive().is_empty()
        && !args.allow_destructive
    {
        return Ok(refuse(m));
    }
    let plan = write::update_project(dir, &files, args.force)?;
    if plan.is_empty() {
        shell::info("up to date");
    }
    for p in plan.changed.iter().chain(&plan.missing_user_files) {
        shell::info(format_args!("wrote {p}"));
    }
    if let Some(m) = &migration {
        print_written(m);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_written(m: &Migration) {
    let files = m.files();
    shell::info(format_args!(
        "migration {}: {} step{}{}; the project applies it at start-up",
        m.file_name(),
        m.steps.len(),
        if m.steps.len() == 1 { "" } else { "s" },
        if files.len() > 1 {
            format!(
                " in {} files (through {})",
                files.len(),
                files[files.len() - 1].name
            )
        } else {
            String::new()
        }
    ));
}

/// `generate --redo-last`: the last migration written by `generate` is replaced by one
/// made from the state before it (`.apiforge/schema.previous.json`) and the current spec.
/// Refused when the database given (`--database-url` / `DATABASE_URL`) applied any of its
/// files.
fn redo_last(
    dir: &Path,
    spec: &Spec,
    model: &Model,
    files: Vec<OutFile>,
    args: &GenerateArgs,
) -> anyhow::Result<ExitCode> {
    let state = migrate::SchemaState::read(dir)?;
    let Some(previous) = integrity::read_previous(dir)? else {
        eprintln!(
            "error: {PREVIOUS_PATH} is missing, so the state before the last migration is \
             unknown (it is kept from the first migration `apiforge generate` writes; the \
             initial migration cannot be redone). Write a new migration instead: fix \
             apiforge.yaml and run `apiforge generate`. Nothing was written."
        );
        return Ok(ExitCode::from(2));
    };
    let n = previous.migrations.len();
    if state.migrations.len() <= n || state.migrations[..n] != previous.migrations[..] {
        eprintln!(
            "error: the last migration was already redone or {PREVIOUS_PATH} does not precede \
             .apiforge/schema.json: nothing to redo. Fix apiforge.yaml and run `apiforge \
             generate` for a new migration. Nothing was written."
        );
        return Ok(ExitCode::from(2));
    }
    let last: Vec<String> = state.migrations[n..].to_vec();
    let problems = integrity::verify(dir, &state, &last)?;
    if report_problems(&problems, false) {
        return Ok(ExitCode::from(2));
    }
    match &args.database_url {
        Some(url) => {
            let applied = applied_versions(url, &last)?;
            if !applied.is_empty() {
                eprintln!(
                    "error: the database applied {}: a migration that ran cannot be rewritten \
                     (sqlx refuses to start when an applied migration changed). Fix apiforge.yaml \
                     and run `apiforge generate` to write a new migration after it. Nothing was \
                     written.",
                    applied.join(", ")
                );
                return Ok(ExitCode::from(2));
            }
        }
        None => eprintln!(
            "note: not checked against a database (pass --database-url or set DATABASE_URL): \
             redo only migrations that no database applied"
        ),
    }
    let pending = migrate::pending_from(dir, previous, spec, model, &last)?;
    if let Some(m) = &pending.migration
        && !m.destructive().is_empty()
        && !args.allow_destructive
    {
        return Ok(refuse(m));
    }
    let (files, migration) = with_pending(files, pending);
    let new_paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let old_paths: Vec<String> = last
        .iter()
        .map(|f| format!("{MIGRATIONS_DIR}/{f}"))
        .filter(|p| !new_paths.contains(p))
        .collect();
    let plan = write::update_project(dir, &files, args.force)?;
    write::forget(dir, &old_paths)?;
    for p in &old_paths {
        println!("deleted {p}");
    }
    for p in plan.changed.iter().chain(&plan.missing_user_files) {
        println!("wrote {p}");
    }
    match &migration {
        Some(m) => print_written(m),
        None => println!(
            "no migration needed: the spec matches the state before {}",
            last.join(", ")
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Which of `files` the database's `_sqlx_migrations` holds as applied.
fn applied_versions(url: &str, files: &[String]) -> anyhow::Result<Vec<String>> {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .context("cannot connect to the database given by --database-url / DATABASE_URL")?;
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut conn)
            .await?;
        if !exists {
            return Ok(Vec::new());
        }
        let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
            .fetch_all(&mut conn)
            .await?;
        Ok(files
            .iter()
            .filter(|f| integrity::version(f).is_some_and(|v| versions.contains(&i64::from(v))))
            .cloned()
            .collect())
    })
}
