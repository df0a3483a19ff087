//! `apiforge generate [--check] [--force]`: re-render the project in the current folder
//! from its `apiforge.yaml`.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::GenerateArgs;
use crate::commands::new::{load_spec, render_spec};
use crate::render::RuntimeDep;
use crate::write;

/// The first migration; later ones come from schema diffs (not implemented yet).
const INIT_MIGRATION: &str = "migrations/0001_init.sql";

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let dir = Path::new(".");
    let (spec, text) = match load_spec(&dir.join("apiforge.yaml")) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    // Cargo.toml is the user's: the runtime dependency choice does not matter here.
    let (_, files) = render_spec(&spec, text, RuntimeDep::this_checkout())?;
    let plan = write::plan_update(dir, &files)?;
    let schema_changed = plan.changed.iter().any(|p| p == INIT_MIGRATION);
    if args.check {
        if plan.is_empty() {
            println!("up to date");
            return Ok(ExitCode::SUCCESS);
        }
        for p in &plan.changed {
            let edited = if plan.hand_edited.contains(p) {
                " (edited by hand)"
            } else {
                ""
            };
            println!("out of date: {p}{edited}");
        }
        for p in &plan.missing_user_files {
            println!("missing: {p}");
        }
        return Ok(ExitCode::from(1));
    }
    if schema_changed {
        anyhow::bail!(
            "apiforge.yaml changes the database schema; writing the next migration from a schema \
             diff is not implemented yet in this version (the first migration is never rewritten). \
             Nothing was written."
        );
    }
    if args.allow_destructive {
        eprintln!("note: --allow-destructive has no effect until schema-diff migrations exist");
    }
    let plan = write::update_project(dir, &files, args.force)?;
    if plan.is_empty() {
        println!("up to date");
    }
    for p in plan.changed.iter().chain(&plan.missing_user_files) {
        println!("wrote {p}");
    }
    Ok(ExitCode::SUCCESS)
}
