//! `apiforge generate`.

use std::process::ExitCode;

use crate::cli::GenerateArgs;

pub fn run(_args: GenerateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`apiforge generate` is not implemented yet in this version")
}
