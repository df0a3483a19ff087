//! One module per subcommand. Each `run` returns the process exit code, or an error
//! (printed as `error: …`, exit 2).

pub mod budget;
pub mod completions;
pub mod drift;
pub mod explain;
pub mod generate;
pub mod new;
pub mod plan;
pub mod shell;
pub mod validate;
