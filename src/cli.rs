//! Command-line interface (clap derive). Each subcommand's work lives in `commands::*`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::commands::shell::{self, Verbosity};

/// Shown under `apiforge --help`.
const MAIN_HELP: &str = "\
Getting started:
  apiforge validate examples/shop.yaml          check a spec; every problem as FILE:LINE:COL
  apiforge new shop --spec examples/shop.yaml   scaffold an API project in ./shop
  cd shop && cargo run                          serve it (DATABASE_URL, optional REDIS_URL)
  apiforge generate                             after editing shop/apiforge.yaml: regenerate

The spec format is documented in docs/spec.md. `apiforge help <command>` explains each command.
Exit status: 0 ok, 1 a check failed (generate --check, budget), 2 bad input (spec errors).
Shell completions: apiforge completions bash|zsh|fish (see `apiforge help completions`).";

const VALIDATE_HELP: &str = "\
Examples:
  apiforge validate apiforge.yaml
  apiforge validate examples/*.yaml
  apiforge validate --deny-warnings apiforge.yaml     # in CI: warnings fail too

Output (stderr), every problem in file order: a located first line, then the source
line with a caret under the column:
  shop.yaml:12:21: error: unknown field type `strng`; did you mean `string`? ...
  12 |       name: { type: strng }
     |                     ^
  shop.yaml:40:15: warning: filter `brand` has no index that starts with it, ...; add index [brand]
A valid file gets one line on stdout (not with -q):
  shop.yaml: ok (4 resources, 23 fields, 9 indexes; 0 warnings)

Exit status: 0 when every file is valid (warnings allowed), 2 when any file has an error
(or any warning, with --deny-warnings). Nothing is written.";

const NEW_HELP: &str = "\
Examples:
  apiforge new shop --spec examples/shop.yaml
  apiforge new api --spec blog.yaml --runtime-version 0.1

The spec is validated first (as by `apiforge validate`); on errors nothing is written.";

const GENERATE_HELP: &str = "\
Examples:
  apiforge generate                     # after editing apiforge.yaml
  apiforge generate -C shop             # the project in ./shop, from its parent folder
  apiforge generate --manifest shop/apiforge.yaml
  apiforge generate --check             # in CI: exit 1 when generated code is stale
  apiforge generate --allow-destructive # the spec dropped a column or table
  apiforge generate --redo-last         # the last migration failed at start-up: fix the spec, rewrite it";

const PLAN_HELP: &str = "\
Examples:
  apiforge plan                   # ./apiforge.yaml against the project in this folder
  apiforge plan new-spec.yaml
  apiforge plan -C shop           # the project in ./shop (as if run there)
  apiforge plan --database-url postgres://postgres@127.0.0.1/shop   # count the rows risky steps fail on";

const COMPLETIONS_HELP: &str = "\
Examples:
  apiforge completions bash > ~/.local/share/bash-completion/completions/apiforge
  apiforge completions zsh > ~/.zfunc/_apiforge      # with fpath+=(~/.zfunc) in ~/.zshrc
  apiforge completions fish > ~/.config/fish/completions/apiforge.fish";

const DRIFT_HELP: &str = "\
Examples:
  apiforge drift --database-url postgres://postgres@127.0.0.1/shop
  DATABASE_URL=postgres://postgres@127.0.0.1/shop apiforge drift --spec apiforge.yaml

Exit status: 0 when the live schema is what the migrations make, 1 listing every difference.";

const BUDGET_HELP: &str = "\
Examples:
  apiforge budget --url http://127.0.0.1:8080
  apiforge budget --url http://127.0.0.1:8080 --duration 30s --concurrency 32
  APIFORGE_TOKEN=eyJ… apiforge budget --url http://127.0.0.1:8080   # an API with `auth`

Budgets come from `budgets:` of each resource (p95/p99 per operation).";

const EXPLAIN_HELP: &str = "\
Examples:
  apiforge explain --database-url postgres://postgres@127.0.0.1/shop
  DATABASE_URL=postgres://postgres@127.0.0.1/shop apiforge explain --analyze";

/// Generate fast axum + sqlx + Postgres HTTP APIs from a YAML resource spec.
///
/// apiforge reads a resource spec (fields, indexes, relations, cache tiers, latency
/// budgets) and writes a complete Rust API project: migrations, batch loaders, in-process
/// and Redis caches, HTTP caching, field selection, compression, streaming exports and
/// monitoring. Regenerating after a spec change writes the next migration.
#[derive(Debug, Parser)]
#[command(
    name = "apiforge",
    version,
    about,
    arg_required_else_help = true,
    after_help = MAIN_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Flags every command takes (before or after the command name).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print only results, errors and warnings: no status lines, progress or summaries.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (timings of each step, the runtime dependency chosen).
    #[arg(short, long, global = true, action = ArgAction::SetTrue)]
    pub verbose: bool,
    /// When to colour output: auto (a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// The shells `apiforge completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold a new API project from a spec.
    ///
    /// Creates DIR with the generated project (Cargo.toml, migrations, src/generated,
    /// hooks, tests) and copies the spec to DIR/apiforge.yaml.
    #[command(after_help = NEW_HELP)]
    New(NewArgs),
    /// Regenerate a project after its `apiforge.yaml` changed.
    ///
    /// The project is the current folder, or the one given by -C DIR or --manifest PATH.
    /// Rewrites generated files, writes the next migration for the schema change, and
    /// refuses to overwrite generated files edited by hand (see --force).
    #[command(after_help = GENERATE_HELP)]
    Generate(GenerateArgs),
    /// Parse and check a spec; print every problem as FILE:LINE:COL.
    ///
    /// Reports every error at once: YAML syntax, unknown keys (with "did you mean"), values
    /// of the wrong kind, unknown field types, names that do not resolve (refs, indexes,
    /// filters, sort, rankings, aggregates), primary keys, defaults that do not fit their
    /// type, identifiers that are not snake_case or are Rust keywords, and more (see
    /// docs/spec.md). Warnings point at missing or redundant indexes and caches without a
    /// budget.
    #[command(after_help = VALIDATE_HELP)]
    Validate(ValidateArgs),
    /// Print what `generate` would change (files, migration SQL) without writing.
    #[command(after_help = PLAN_HELP)]
    Plan(PlanArgs),
    /// Load each budgeted route of a running API and fail when p95/p99 exceed the budget.
    #[command(after_help = BUDGET_HELP)]
    Budget(BudgetArgs),
    /// EXPLAIN every generated query shape and flag sequential scans / missing indexes.
    #[command(after_help = EXPLAIN_HELP)]
    Explain(ExplainArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Compare a live database's schema with what the migrations make; list every difference.
    #[command(after_help = DRIFT_HELP)]
    Drift(DriftArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    pub shell: Shell,
}

/// Where a project command runs: `-C DIR` and `--manifest PATH`, as in cargo and git.
#[derive(Debug, Clone, Default, Args)]
pub struct ProjectArgs {
    /// Run as if apiforge was started in DIR.
    #[arg(short = 'C', value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// Path to the project's apiforge.yaml (the project is the folder holding it).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
}

impl ProjectArgs {
    /// `path` as seen from the working folder (absolute paths stay as they are).
    pub fn resolve(&self, path: &std::path::Path) -> PathBuf {
        match &self.directory {
            Some(dir) => dir.join(path),
            None => path.to_path_buf(),
        }
    }

    /// The project's `apiforge.yaml` and the project folder holding it; an error that says
    /// how to point at a project when that file is missing.
    pub fn existing_manifest_and_dir(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        let (manifest, dir) = self.manifest_and_dir();
        if !manifest.is_file() {
            anyhow::bail!(
                "{} not found: run this inside a project made by `apiforge new`, or point at \
                 one with -C DIR or --manifest PATH",
                manifest.display()
            );
        }
        Ok((manifest, dir))
    }

    /// The project's `apiforge.yaml` and the project folder holding it.
    pub fn manifest_and_dir(&self) -> (PathBuf, PathBuf) {
        let manifest = match &self.manifest {
            Some(m) => self.resolve(m),
            None => self.resolve(std::path::Path::new("apiforge.yaml")),
        };
        let dir = match manifest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        (manifest, dir)
    }
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
    /// Depend on apiforge-runtime at this path (default: the runtime of the apiforge checkout
    /// this CLI was built from, when it still exists; else the crates.io release matching
    /// this CLI's version, e.g. "0.1").
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
    /// Overwrite (or remove, when stale) generated files that were edited by hand, keeping
    /// a copy of each as PATH.orig.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Rewrite the last migration (never applied) from the state before it.
    #[arg(long, conflicts_with = "check")]
    pub redo_last: bool,
    /// With --redo-last: refuse when this database has applied the last migration.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Spec files to check (each is checked; problems of all are printed).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Treat warnings as errors (exit 2 when any warning is printed).
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The spec to plan for (default: the project's apiforge.yaml).
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Count, in this database, the rows each risky step would fail on (reads only).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Postgres URL of the database to compare.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// The spec (default: ./apiforge.yaml); its folder's .apiforge/schema.json is used
    /// when present.
    #[arg(long)]
    pub spec: Option<PathBuf>,
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
    /// A bearer token sent on every request, for an API with `auth` (its subject owns the
    /// rows budget creates in owned resources; give it the roles the routes need).
    #[arg(
        long,
        env = "APIFORGE_TOKEN",
        hide_env_values = true,
        conflicts_with = "api_key"
    )]
    pub token: Option<String>,
    /// An API key sent as `X-API-Key` on every request, for an API with `auth.api_keys`.
    #[arg(long, env = "APIFORGE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
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
    let g = &cli.global;
    anstream::ColorChoice::write_global(match g.color {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    });
    shell::set_verbosity(if g.quiet {
        Verbosity::Quiet
    } else if g.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    });
    let result = match cli.command {
        Command::New(a) => commands::new::run(a),
        Command::Generate(a) => commands::generate::run(a),
        Command::Validate(a) => commands::validate::run(a),
        Command::Plan(a) => commands::plan::run(a),
        Command::Budget(a) => commands::budget::run(a),
        Command::Explain(a) => commands::explain::run(a),
        Command::Completions(a) => commands::completions::run(a, &mut Cli::command()),
        Command::Drift(a) => commands::drift::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let red = anstyle::AnsiColor::BrightRed
                .on_default()
                .effects(anstyle::Effects::BOLD);
            anstream::eprintln!("{red}error{red:#}: {err:#}");
            ExitCode::from(2)
        }
    }
}
