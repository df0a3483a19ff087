//! `apiforge explain`: exit 0 when every shape is served by indexes, 1 when any shape
//! gets a warning (a filter or sort without an index), 2 on bad input (spec, database
//! unreachable, or a shape that cannot be explained because the schema does not match).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::ExplainArgs;
use crate::commands::new::load_spec;
use crate::commands::shell;
use crate::explain::{self, report};

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let path = args.spec.unwrap_or_else(|| PathBuf::from("apiforge.yaml"));
    let spec = match load_spec(&path) {
        Ok((spec, _)) => spec,
        Err(code) => return Ok(code),
    };
    let shapes = explain::source::shapes(&spec);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let bar = shell::progress(shapes.len() as u64, "query shapes");
    let findings = rt.block_on(explain::run(
        &args.database_url,
        shapes,
        args.analyze,
        |i| bar.set_position(i as u64),
    ));
    bar.finish_and_clear();
    let findings = findings?;
    print!("{}", report::render(&findings, args.analyze));
    let errors = findings.iter().filter(|f| f.plan.is_err()).count();
    let warnings = findings.iter().filter(|f| f.warning().is_some()).count();
    if errors > 0 {
        eprintln!(
            "error: {errors} of {} query shapes could not be explained: is the database migrated to this spec?",
            findings.len()
        );
        return Ok(ExitCode::from(2));
    }
    if warnings > 0 {
        println!(
            "{warnings} of {} query shapes need an index",
            findings.len()
        );
        return Ok(ExitCode::from(1));
    }
    println!("all {} query shapes are served by indexes", findings.len());
    Ok(ExitCode::SUCCESS)
}
