//! The result table and the verdict per route.

use std::fmt::Write as _;
use std::time::Duration;

use super::load::Stats;
use crate::spec::Budget;

/// One budgeted route and what happened to it.
#[derive(Debug, Clone)]
pub struct RouteResult {
    /// `GET /products/{id}`.
    pub route: String,
    pub budget: Budget,
    /// `None` when the route could not be loaded at all (see `problem`).
    pub stats: Option<Stats>,
    /// Why the route could not be loaded (setup failed).
    pub problem: Option<String>,
}

/// How a route fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// p95 or p99 above its budget.
    Over,
    /// Errors, or nothing measured.
    Error,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Over => "OVER",
            Verdict::Error => "ERROR",
        }
    }
}

impl RouteResult {
    /// Over budget wins over errors in the table (both fail the run).
    pub fn verdict(&self) -> Verdict {
        let Some(stats) = &self.stats else {
            return Verdict::Error;
        };
        let over = |q: f64, limit: Option<crate::spec::Duration>| {
            limit.is_some_and(|l| stats.quantile(q) > l.0)
        };
        if stats.hist.is_empty() {
            Verdict::Error
        } else if over(0.95, self.budget.p95) || over(0.99, self.budget.p99) {
            Verdict::Over
        } else if stats.errors > 0 {
            Verdict::Error
        } else {
            Verdict::Ok
        }
    }

    pub fn passed(&self) -> bool {
        self.verdict() == Verdict::Ok
    }
}

/// `850us`, `12.3ms`, `1.25s`.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

fn fmt_budget(b: &Budget) -> String {
    let part = |d: Option<crate::spec::Duration>| d.map_or("-".to_owned(), |d| d.to_string());
    format!("{}/{}", part(b.p95), part(b.p99))
}

/// The table, then one line per route that had errors or could not run.
pub fn render(results: &[RouteResult]) -> String {
    let header = [
        "route",
        "budget p95/p99",
        "p50",
        "p95",
        "p99",
        "requests",
        "errors",
        "verdict",
    ];
    let rows: Vec<[String; 8]> = results
        .iter()
        .map(|r| {
            let q = |q: f64| {
                r.stats
                    .as_ref()
                    .map_or("-".into(), |s| fmt_duration(s.quantile(q)))
            };
            let count =
                |f: fn(&Stats) -> u64| r.stats.as_ref().map_or("-".into(), |s| f(s).to_string());
            [
                r.route.clone(),
                fmt_budget(&r.budget),
                q(0.50),
                q(0.95),
                q(0.99),
                count(|s| s.requests),
                count(|s| s.errors),
                r.verdict().as_str().to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            // The route column is left-aligned, figures right-aligned.
            let _ = match i {
                0 => write!(l, "{cell:<w$}  "),
                _ => write!(l, "{cell:>w$}  "),
            };
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    for r in results {
        let why = r
            .problem
            .as_deref()
            .or_else(|| r.stats.as_ref().and_then(|s| s.first_error.as_deref()));
        if let Some(why) = why {
            let _ = writeln!(out, "{}: {why}", r.route);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;

    fn result(latency_us: u64, errors: u64, p95: &str) -> RouteResult {
        let mut hist = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        hist.record_n(latency_us, 100).unwrap();
        RouteResult {
            route: "GET /things".into(),
            budget: Budget {
                p95: Some(p95.parse().unwrap()),
                p99: None,
            },
            stats: Some(Stats {
                hist,
                requests: 100 + errors,
                errors,
                first_error: (errors > 0).then(|| "500 boom".into()),
            }),
            problem: None,
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(result(30_000, 0, "50ms").verdict(), Verdict::Ok);
        assert_eq!(result(30_000, 0, "1ms").verdict(), Verdict::Over);
        assert_eq!(result(30_000, 1, "50ms").verdict(), Verdict::Error);
        let unreached = RouteResult {
            stats: None,
            problem: Some("no rows".into()),
            ..result(1, 0, "1s")
        };
        assert_eq!(unreached.verdict(), Verdict::Error);
    }

    #[test]
    fn table_shows_figures_and_reasons() {
        let table = render(&[result(30_000, 0, "1ms"), result(2_000_000, 2, "5s")]);
        assert!(table.starts_with("route"), "{table}");
        assert!(
            table.contains("30.0ms") && table.contains("OVER"),
            "{table}"
        );
        assert!(
            table.contains("2.00s") && table.contains("ERROR"),
            "{table}"
        );
        assert!(table.contains("GET /things: 500 boom"), "{table}");
        assert_eq!(fmt_duration(Duration::from_micros(850)), "850us");
    }
}
