//! `apiforge new DIR --spec FILE`: render a whole project in memory, then write it at once.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::cli::NewArgs;
use crate::commands::shell;
use crate::model::Model;
use crate::render::{self, OutFile, RenderOptions, RuntimeDep};

/// Loads and validates a spec, printing its warnings; `Err(code)` after printing its errors
/// (each with its source line, as `validate` prints them).
pub(crate) fn load_spec(path: &Path) -> Result<(crate::spec::Spec, String), ExitCode> {
    let started = Instant::now();
    let result = match crate::spec::load(path) {
        Ok(loaded) => {
            shell::diagnostics(&loaded.warnings);
            let text = std::fs::read_to_string(path).map_err(|e| {
                eprintln!("error: cannot read {}: {e}", path.display());
                ExitCode::from(2)
            })?;
            Ok((loaded.spec, text))
        }
        Err(report) => {
            shell::diagnostics(&report.diagnostics);
            Err(ExitCode::from(2))
        }
    };
    shell::verbose(format!(
        "checked {} in {:.1?}",
        path.display(),
        started.elapsed()
    ));
    result
}

/// spec → model → rendered files (Rust formatted with rustfmt, the slow step: it is
/// announced on stderr).
pub(crate) fn render_spec(
    spec: &crate::spec::Spec,
    spec_text: String,
    runtime: RuntimeDep,
) -> anyhow::Result<(Model, Vec<OutFile>)> {
    let started = Instant::now();
    let model = Model::from_spec(spec);
    shell::status(
        "Rendering",
        format!(
            "{} ({} resource{}) and formatting the Rust code with rustfmt",
            model.name,
            model.resources.len(),
            if model.resources.len() == 1 { "" } else { "s" }
        ),
    );
    let files = render::render_project(&model, &RenderOptions { spec_text, runtime })?;
    shell::verbose(format!(
        "rendered {} files in {:.1?}",
        files.len(),
        started.elapsed()
    ));
    Ok((model, files))
}

/// The runtime dependency from `--runtime-path` / `--runtime-version`, else the default.
fn runtime_dep(args: &NewArgs) -> anyhow::Result<RuntimeDep> {
    Ok(match (&args.runtime_path, &args.runtime_version) {
        (Some(path), _) => RuntimeDep::Path(
            std::path::absolute(path)
                .with_context(|| format!("cannot resolve {}", path.display()))?,
        ),
        (None, Some(version)) => RuntimeDep::Version(version.clone()),
        (None, None) => RuntimeDep::default_for_this_cli(),
    })
}

pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    let (spec, text) = match load_spec(&args.spec) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let runtime = runtime_dep(&args)?;
    shell::verbose(format!("apiforge-runtime = {}", runtime.toml()));
    let stamp = crate::write::generation_stamp(&text);
    let (model, files) = render_spec(&spec, text, runtime)?;
    shell::status(
        "Writing",
        format!("{} files to {}", files.len(), args.dir.display()),
    );
    crate::write::write_new_project(&args.dir, &files, Some(stamp), args.force)?;
    shell::status(
        "Created",
        format!(
            "{} ({} files, {} resources)",
            args.dir.display(),
            files.len(),
            model.resources.len()
        ),
    );
    shell::info(next_step(&args.dir, &model.name));
    Ok(ExitCode::SUCCESS)
}

/// The command that runs the new project (printed after `new`, on stdout).
fn next_step(dir: &Path, name: &str) -> String {
    let dir = dir.display().to_string();
    let dir = if dir.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
        format!("'{}'", dir.replace('\'', r"'\''"))
    } else {
        dir
    };
    format!("next: cd {dir} && DATABASE_URL=postgres://postgres@127.0.0.1:5432/{name} cargo run")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_step_runs_the_project_and_quotes_odd_folders() {
        assert_eq!(
            next_step(Path::new("shop"), "shop"),
            "next: cd shop && DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop cargo run"
        );
        assert!(next_step(Path::new("my shop"), "shop").starts_with("next: cd 'my shop' && "));
    }

    #[test]
    fn without_a_checkout_the_runtime_is_the_release_of_this_version() {
        let gone = Path::new("/nonexistent/apiforge/runtime");
        let dep = RuntimeDep::checkout_or_release(gone);
        let RuntimeDep::Version(req) = &dep else {
            panic!("expected a version requirement, got {dep:?}");
        };
        let cli = env!("CARGO_PKG_VERSION");
        assert!(cli.starts_with(&format!("{req}.")), "{req} vs {cli}");
        assert_eq!(req.split('.').count(), 2, "major.minor: {req}");
        assert_eq!(dep.toml(), format!("\"{req}\""));
        assert_eq!(
            dep.toml_with_features(&["decimal", "redis"]),
            format!(
                "{{ version = \"{req}\", default-features = false, features = [\"decimal\", \"redis\"] }}"
            )
        );
        assert_eq!(
            dep.toml_with_features(&[]),
            format!("{{ version = \"{req}\", default-features = false }}")
        );
    }

    #[test]
    fn from_a_checkout_the_runtime_is_its_path_and_flags_override() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime");
        assert_eq!(
            RuntimeDep::checkout_or_release(&here),
            RuntimeDep::Path(here.clone())
        );
        let mut args = NewArgs {
            dir: "x".into(),
            spec: "s.yaml".into(),
            force: false,
            runtime_path: None,
            runtime_version: Some("0.9".into()),
        };
        assert_eq!(
            runtime_dep(&args).unwrap(),
            RuntimeDep::Version("0.9".into())
        );
        args.runtime_version = None;
        args.runtime_path = Some("/opt/runtime".into());
        assert_eq!(
            runtime_dep(&args).unwrap(),
            RuntimeDep::Path("/opt/runtime".into())
        );
    }
}
