//! `apiforge explain`.

use std::process::ExitCode;

use crate::cli::ExplainArgs;

pub fn run(_args: ExplainArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`apiforge explain` is not implemented yet in this version")
}
