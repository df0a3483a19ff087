//! `apiforge budget`.

use std::process::ExitCode;

use crate::cli::BudgetArgs;

pub fn run(_args: BudgetArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`apiforge budget` is not implemented yet in this version")
}
