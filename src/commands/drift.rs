//! `apiforge drift --database-url URL [--spec FILE]`: exit 0 when the live schema is the
//! one the migrations make, 1 listing every difference, 2 on bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::DriftArgs;
use crate::migrate::{STATE_PATH, SchemaState, drift};
use crate::model::Model;

pub fn run(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let path = args.spec.unwrap_or_else(|| PathBuf::from("apiforge.yaml"));
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let (expected, source) = if dir.join(STATE_PATH).exists() {
        (
            SchemaState::read(&dir)?,
            dir.join(STATE_PATH).display().to_string(),
        )
    } else {
        let loaded = crate::spec::load(&path)
            .map_err(|report| anyhow::anyhow!("invalid spec:\n{report}"))?;
        let model = Model::from_spec(&loaded.spec);
        (
            SchemaState::of(&model, Vec::new()),
            path.display().to_string(),
        )
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let live = rt.block_on(drift::read_live(&args.database_url))?;
    let differences = drift::compare(&expected, &live);
    if differences.is_empty() {
        println!("no drift: the database matches {source}");
        return Ok(ExitCode::SUCCESS);
    }
    for d in &differences {
        println!("{d}");
    }
    println!(
        "{} difference{} between the database and {source}: change the database back (or \
         express the change in apiforge.yaml and run `apiforge generate`)",
        differences.len(),
        if differences.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::from(1))
}
