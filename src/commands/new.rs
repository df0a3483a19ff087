//! `apiforge new`.

use std::process::ExitCode;

use crate::cli::NewArgs;

pub fn run(_args: NewArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`apiforge new` is not implemented yet in this version")
}
