//! `apiforge plan`.

use std::process::ExitCode;

use crate::cli::PlanArgs;

pub fn run(_args: PlanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`apiforge plan` is not implemented yet in this version")
}
