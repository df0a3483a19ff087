//! `apiforge plan [FILE]`: what `generate` (in a project) or `new` (elsewhere) would write,
//! with the SQL of the migration. `-C DIR` and `--manifest PATH` choose the project.

use std::process::ExitCode;

use crate::cli::PlanArgs;
use crate::commands::generate::{destructive_lines, update_of};
use crate::commands::new::{load_spec, render_spec};
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
            } else if migration.as_ref().is_some_and(|m| m.path() == *p) {
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
        if let Some(m) = migration {
            println!("\n-- {}\n{}", m.path(), m.contents());
            if !m.destructive().is_empty() {
                print!(
                    "generate refuses these steps without --allow-destructive:\n{}",
                    destructive_lines(&m)
                );
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
