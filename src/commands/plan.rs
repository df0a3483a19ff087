//! `apiforge plan [FILE]`: what `generate` (in a project) or `new` (elsewhere) would write,
//! with the SQL of the migration. `-C DIR` and `--manifest PATH` choose the project.

use std::process::ExitCode;

use crate::cli::PlanArgs;
use crate::commands::generate::{destructive_lines, project_files};
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
    let (model, files) = render_spec(&spec, text, RuntimeDep::this_checkout())?;
    let dir = dir.as_path();
    if dir.join(write::MANIFEST_PATH).exists() {
        let (files, migration) = project_files(dir, &spec, &model, files)?;
        let plan = write::plan_update(dir, &files)?;
        if plan.is_empty() {
            println!("nothing to change");
        }
        for p in &plan.changed {
            let note = if plan.hand_edited.contains(p) {
                " (edited by hand: generate refuses without --force)"
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
