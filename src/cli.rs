//! Command-line interface (clap derive). Each subcommand's work lives in `commands::*`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::commands;

/// Generate fast axum + sqlx + Postgres HTTP APIs from a YAML resource spec.
#[derive(Debug, Parser)]
#[command(name = "apiforge", version, about, long_about = None, arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold a new API project from a spec.
    New(NewArgs),
    /// Regenerate the project in the current folder after `apiforge.yaml` changed.
    Generate(GenerateArgs),
    /// Parse and check a spec; print every problem as FILE:LINE:COL.
    Validate(ValidateArgs),
    /// Print what `generate` would change (files, migration SQL) without writing.
    Plan(PlanArgs),
    /// Load each budgeted route of a running API and fail when p95/p99 exceed the budget.
    Budget(BudgetArgs),
    /// EXPLAIN every generated query shape and flag sequential scans / missing indexes.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Folder to create the project in (must be empty or missing, unless --force).
    pub dir: PathBuf,
    /// The resource spec (YAML); copied to DIR/apiforge.yaml.
    #[arg(long)]
    pub spec: PathBuf,
    /// Write into a non-empty folder.
    #[arg(long)]
    pub force: bool,
    /// Depend on apiforge-runtime at this path (default: the runtime of this apiforge checkout).
    #[arg(long, conflicts_with = "runtime_version")]
    pub runtime_path: Option<PathBuf>,
    /// Depend on this crates.io version of apiforge-runtime instead of a path.
    #[arg(long)]
    pub runtime_version: Option<String>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Write nothing; exit 1 when any generated file or migration is out of date.
    #[arg(long)]
    pub check: bool,
    /// Allow migrations that drop data (dropped columns or tables, narrowed types).
    #[arg(long)]
    pub allow_destructive: bool,
    /// Overwrite generated files that were edited by hand.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Spec files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Treat warnings as errors (exit 2 when any warning is printed).
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The spec to plan for (default: ./apiforge.yaml).
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// Base URL of the running API, e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub url: String,
    /// The spec whose budgets to check (default: ./apiforge.yaml).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// How long to load each route.
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Concurrent requests in flight per route.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Postgres URL of a database migrated to the spec's schema.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// The spec (default: ./apiforge.yaml).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Run EXPLAIN ANALYZE (executes each query) instead of plain EXPLAIN.
    #[arg(long)]
    pub analyze: bool,
}

/// Parse arguments and run; the exit code follows the command's contract
/// (0 ok, 1 check failed, 2 bad input).
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::New(a) => commands::new::run(a),
        Command::Generate(a) => commands::generate::run(a),
        Command::Validate(a) => commands::validate::run(a),
        Command::Plan(a) => commands::plan::run(a),
        Command::Budget(a) => commands::budget::run(a),
        Command::Explain(a) => commands::explain::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
