//! `apiforge new DIR --spec FILE`: render a whole project in memory, then write it at once.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::NewArgs;
use crate::model::Model;
use crate::render::{self, OutFile, RenderOptions, RuntimeDep};

/// Loads and validates a spec, printing its warnings; `Err(code)` after printing its errors.
pub(crate) fn load_spec(path: &Path) -> Result<(crate::spec::Spec, String), ExitCode> {
    match crate::spec::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            let text = std::fs::read_to_string(path).map_err(|e| {
                eprintln!("error: cannot read {}: {e}", path.display());
                ExitCode::from(2)
            })?;
            Ok((loaded.spec, text))
        }
        Err(report) => {
            eprint!("{report}");
            Err(ExitCode::from(2))
        }
    }
}

/// spec → model → rendered files.
pub(crate) fn render_spec(
    spec: &crate::spec::Spec,
    spec_text: String,
    runtime: RuntimeDep,
) -> anyhow::Result<(Model, Vec<OutFile>)> {
    let model = Model::from_spec(spec);
    let files = render::render_project(&model, &RenderOptions { spec_text, runtime })?;
    Ok((model, files))
}

pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    let (spec, text) = match load_spec(&args.spec) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let runtime = match (args.runtime_path, args.runtime_version) {
        (Some(path), _) => RuntimeDep::Path(
            std::path::absolute(&path)
                .with_context(|| format!("cannot resolve {}", path.display()))?,
        ),
        (None, Some(version)) => RuntimeDep::Version(version),
        (None, None) => RuntimeDep::this_checkout(),
    };
    let (model, files) = render_spec(&spec, text, runtime)?;
    crate::write::write_new_project(&args.dir, &files, args.force)?;
    println!(
        "created {} ({} files, {} resources)\nnext: cd {} && DATABASE_URL=postgres://postgres@127.0.0.1:5432/{} cargo run",
        args.dir.display(),
        files.len(),
        model.resources.len(),
        args.dir.display(),
        model.name
    );
    Ok(ExitCode::SUCCESS)
}
