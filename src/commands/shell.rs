//! How the CLI talks to the user, following cargo's conventions: results on stdout,
//! status and progress on stderr, `-q` silences both (never errors or warnings), `-v`
//! adds detail, colour per `--color` / `NO_COLOR` / whether the stream is a terminal
//! (decided by `anstream`, which strips styles when colour is off).

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use anstyle::{AnsiColor, Effects, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::diagnostics::Diagnostic;

/// `-q`, neither, or `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet = 0,
    Normal = 1,
    Verbose = 2,
}

static VERBOSITY: AtomicU8 = AtomicU8::new(Verbosity::Normal as u8);

/// Set once from the global flags, before a command runs.
pub fn set_verbosity(v: Verbosity) {
    VERBOSITY.store(v as u8, Ordering::Relaxed);
}

pub fn verbosity() -> Verbosity {
    match VERBOSITY.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// A cargo-style status line on stderr (`   Rendering shop …`), unless `-q`.
pub fn status(verb: &str, message: impl std::fmt::Display) {
    if verbosity() > Verbosity::Quiet {
        let green = AnsiColor::Green.on_default().effects(Effects::BOLD);
        anstream::eprintln!("{green}{verb:>12}{green:#} {message}");
    }
}

/// Detail on stderr shown only with `-v`.
pub fn verbose(message: impl std::fmt::Display) {
    if verbosity() == Verbosity::Verbose {
        let dim = Style::new().effects(Effects::DIMMED);
        anstream::eprintln!("{dim}{message}{dim:#}");
    }
}

/// An informational result line on stdout (e.g. `shop.yaml: ok …`), unless `-q`.
pub fn info(message: impl std::fmt::Display) {
    if verbosity() > Verbosity::Quiet {
        anstream::println!("{message}");
    }
}

/// Errors and warnings of specs, each with its source line, on stderr (never silenced).
pub fn diagnostics<'a>(diagnostics: impl IntoIterator<Item = &'a Diagnostic>) {
    anstream::eprint!("{}", crate::diagnostics::render_all(diagnostics));
}

/// A progress bar on stderr for `len` steps, hidden with `-q` or when stderr is not a
/// terminal (indicatif's stderr target draws nothing then).
pub fn progress(len: u64, unit: &str) -> ProgressBar {
    if verbosity() == Verbosity::Quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template =
        format!("{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit} {{wide_msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
