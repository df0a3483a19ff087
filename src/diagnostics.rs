//! Located problems in a spec: `FILE:LINE:COL: error: message`, then the source line with a
//! caret under the column, as rustc prints them.
//!
//! The first line of each diagnostic is stable text (tests and users grep for it); the
//! snippet below it is rendered by `annotate-snippets`. Rendering always produces ANSI
//! styles; the caller prints through `anstream`, which strips them when colour is off
//! (`--color never`, `NO_COLOR`, or stderr is not a terminal).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use anstyle::{AnsiColor, Effects, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    fn style(self) -> Style {
        match self {
            Severity::Error => AnsiColor::BrightRed.on_default().effects(Effects::BOLD),
            Severity::Warning => AnsiColor::Yellow.on_default().effects(Effects::BOLD),
        }
    }
}

/// One problem, located in the spec file (1-based line and column; line 0 when it concerns
/// the file as a whole, e.g. it cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    pub message: String,
}

/// The plain first line, `FILE:LINE:COL: error: message` (no snippet, no styles).
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = self.severity.word();
        if self.line == 0 {
            return write!(f, "{}: {sev}: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

impl Diagnostic {
    /// The located first line (styled), then — when `source` has the line — the line itself
    /// with a caret under the column and a blank line. Ends with a newline.
    pub fn render(&self, source: Option<&str>) -> String {
        let bold = Style::new().effects(Effects::BOLD);
        let sev = self.severity;
        let location = if self.line == 0 {
            format!("{}:", self.file.display())
        } else {
            format!("{}:{}:{}:", self.file.display(), self.line, self.col)
        };
        let mut out = format!(
            "{bold}{location}{bold:#} {}{}{:#}{bold}: {}{bold:#}\n",
            sev.style(),
            sev.word(),
            sev.style(),
            self.message
        );
        if let Some(snippet) = source.and_then(|s| self.snippet(s)) {
            // A blank line after the snippet separates diagnostics, as in rustc.
            out.push_str(&snippet);
            out.push_str("\n\n");
        }
        out
    }

    /// The source line of the diagnostic with a caret under its column, as annotate-snippets
    /// renders it (no header: the located first line is ours).
    fn snippet(&self, source: &str) -> Option<String> {
        if self.line == 0 {
            return None;
        }
        let text = source.lines().nth(self.line - 1)?;
        // Columns count characters from 1; the caret goes under that character (or just past
        // the end of the line, when the column is there).
        let start = text
            .char_indices()
            .nth(self.col.saturating_sub(1))
            .map_or(text.len(), |(i, _)| i);
        let end = text[start..]
            .chars()
            .next()
            .map_or(start, |c| start + c.len_utf8());
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let report = &[Group::with_level(level).element(
            Snippet::source(text)
                .line_start(self.line)
                .annotation(AnnotationKind::Primary.span(start..end)),
        )];
        let rendered = Renderer::styled().render(report);
        Some(rendered.trim_end_matches('\n').to_string())
    }
}

/// Renders diagnostics of any files, each with its source line; every file is read once
/// (a file that cannot be read just gets no snippets).
pub fn render_all<'a>(diagnostics: impl IntoIterator<Item = &'a Diagnostic>) -> String {
    let mut sources: HashMap<&Path, Option<String>> = HashMap::new();
    let mut out = String::new();
    for d in diagnostics {
        let source = sources.entry(&d.file).or_insert_with(|| {
            std::fs::read(&d.file)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        });
        out.push_str(&d.render(source.as_deref()));
    }
    out
}

/// Every error found in one spec (never just the first), in file order.
#[derive(Debug, Clone)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
}

/// The plain located lines, one per diagnostic (for `anyhow` contexts and logs; the CLI
/// prints [`render_all`] instead).
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Report {}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(line: usize, col: usize, severity: Severity) -> Diagnostic {
        Diagnostic {
            file: PathBuf::from("shop.yaml"),
            line,
            col,
            severity,
            message: "unknown field type `strng`".into(),
        }
    }

    fn plain(s: &str) -> String {
        anstream::adapter::strip_str(s).to_string()
    }

    #[test]
    fn first_line_is_located_then_the_source_line_with_a_caret() {
        let source = "name: shop\nresources:\n  p: { type: strng }\n";
        let out = plain(&diag(3, 14, Severity::Error).render(Some(source)));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "shop.yaml:3:14: error: unknown field type `strng`"
        );
        let src = lines.iter().position(|l| l.ends_with("p: { type: strng }"));
        let src = src.expect("source line shown");
        assert!(lines[src].starts_with("3 |"), "{out}");
        // The caret sits under the `s` of `strng` (column 14 of the source line).
        let caret = lines[src + 1];
        let text_start = lines[src].find("  p:").unwrap();
        assert_eq!(caret.find('^'), Some(text_start + 13), "{out}");
    }

    #[test]
    fn styled_unless_stripped_and_warnings_say_warning() {
        let source = "a\nb\n";
        let styled = diag(2, 1, Severity::Warning).render(Some(source));
        assert!(
            styled.contains('\u{1b}'),
            "styles are emitted for anstream to keep or strip"
        );
        assert!(plain(&styled).starts_with("shop.yaml:2:1: warning: "));
    }

    #[test]
    fn no_snippet_without_a_line() {
        let whole_file = diag(0, 0, Severity::Error).render(Some("a\n"));
        assert_eq!(
            plain(&whole_file),
            "shop.yaml: error: unknown field type `strng`\n"
        );
        let past_end = diag(9, 1, Severity::Error).render(Some("a\n"));
        assert_eq!(plain(&past_end).lines().count(), 1);
        // A column past the end of the line puts the caret just after it.
        let after = plain(&diag(1, 5, Severity::Error).render(Some("ab\n")));
        assert!(after.contains('^'), "{after}");
    }
}
