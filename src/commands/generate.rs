//! `apiforge generate [--check] [--allow-destructive] [--force] [-C DIR] [--manifest PATH]`:
//! re-render the project (the current folder, or the folder holding `--manifest`) from its
//! `apiforge.yaml`, and write the next migration when the schema changed.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::GenerateArgs;
use crate::commands::new::{load_spec, render_spec};
use crate::commands::shell;
use crate::migrate::{self, MIGRATIONS_DIR, Migration, STATE_PATH};
use crate::model::Model;
use crate::render::{OutFile, Owner, RuntimeDep};
use crate::spec::Spec;
use crate::write;

/// The files `generate` writes into an existing project: the rendered ones less the first
/// migration (migrations on disk are never rewritten), the schema state after the next
/// migration, and that migration when the schema changed (just before the state, which is
/// written last of all files).
pub(crate) fn project_files(
    dir: &Path,
    spec: &Spec,
    model: &Model,
    files: Vec<OutFile>,
) -> anyhow::Result<(Vec<OutFile>, Option<Migration>)> {
    let pending = migrate::pending(dir, spec, model)?;
    let mut out: Vec<OutFile> = files
        .into_iter()
        .filter(|f| !f.path.starts_with(&format!("{MIGRATIONS_DIR}/")) && f.path != STATE_PATH)
        .collect();
    if let Some(m) = &pending.migration {
        out.push(OutFile {
            path: m.path(),
            contents: m.contents(),
            owner: Owner::Generated,
        });
    }
    out.push(OutFile {
        path: STATE_PATH.to_string(),
        contents: pending.state.to_json(),
        owner: Owner::Generated,
    });
    Ok((out, pending.migration))
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

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let (manifest, dir) = args.project.existing_manifest_and_dir()?;
    let dir = dir.as_path();
    let (spec, text) = match load_spec(&manifest) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    // Cargo.toml is the user's: the runtime dependency choice does not matter here.
    let (model, files) = render_spec(&spec, text, RuntimeDep::this_checkout())?;
    let (files, migration) = project_files(dir, &spec, &model, files)?;
    if args.check {
        let plan = write::plan_update(dir, &files)?;
        if plan.is_empty() {
            println!("up to date");
            return Ok(ExitCode::SUCCESS);
        }
        for p in &plan.changed {
            let note = match &migration {
                Some(m) if *p == m.path() => format!(
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
        eprint!(
            "error: the next migration ({}) has steps that can lose data or fail on \
                 existing rows:\n{}Change apiforge.yaml, or pass --allow-destructive to write \
                 it anyway. Nothing was written.\n",
            m.path(),
            destructive_lines(m)
        );
        return Ok(ExitCode::from(2));
    }
    let plan = write::update_project(dir, &files, args.force)?;
    if plan.is_empty() {
        shell::info("up to date");
    }
    for p in plan.changed.iter().chain(&plan.missing_user_files) {
        shell::info(format_args!("wrote {p}"));
    }
    if let Some(m) = &migration {
        shell::info(format_args!(
            "migration {}: {} step{}; the project applies it at start-up",
            m.file_name(),
            m.steps.len(),
            if m.steps.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}
