//! Judging plans and printing the per-shape table.

use std::fmt::Write as _;

use super::plan::PlanSummary;
use super::shape::Shape;

/// What EXPLAIN said about one shape.
#[derive(Debug, Clone)]
pub struct Finding {
    pub shape: Shape,
    /// The plan, or why it could not be had (e.g. the table does not exist).
    pub plan: Result<PlanSummary, String>,
}

impl Finding {
    /// A warning when the shape filters or sorts without an index: a Seq Scan remains
    /// (with sequential scans disabled), or a set filter is not in any index condition.
    pub fn warning(&self) -> Option<String> {
        let plan = self.plan.as_ref().ok()?;
        let shape = &self.shape;
        if !shape.needs_index() {
            // Other shapes (by key, loaders, …): a parameterised statement that still
            // reads the whole table has no index for its condition.
            let rel = plan
                .seq_scans
                .first()
                .filter(|_| !shape.params.is_empty())?;
            let filter = plan
                .seq_filters
                .first()
                .map_or(String::new(), |f| format!(" (Filter: {f})"));
            return Some(format!(
                "Seq Scan on {rel}{filter}; add an index on the filtered columns to resources.{}.indexes",
                shape.resource
            ));
        }
        let problem = if let Some(rel) = plan.seq_scans.first() {
            let mut what: Vec<String> = shape
                .filters
                .iter()
                .map(|f| format!("filter `{}`", f.column))
                .collect();
            what.extend(shape.sort.iter().map(|s| format!("sort `{s}`")));
            format!("Seq Scan on {rel} for {}", what.join(" and "))
        } else {
            let unserved = shape
                .filters
                .iter()
                .find(|f| !plan.index_serves(&f.column))?;
            format!("filter `{}` is not served by an index", unserved.column)
        };
        Some(format!(
            "{problem}; add to resources.{}.indexes: [{}]",
            shape.resource,
            shape.suggested_index().join(", ")
        ))
    }
}

/// The table (shape, top node, indexes, cost, verdict), then warnings and errors.
pub fn render(findings: &[Finding], analyze: bool) -> String {
    let mut header = vec!["shape", "top node", "index", "cost"];
    if analyze {
        header.push("time");
    }
    header.push("verdict");
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            let mut row = vec![f.shape.name.clone()];
            match &f.plan {
                Ok(p) => {
                    let mut idx = p.indexes.clone();
                    idx.dedup();
                    row.push(p.top.clone());
                    row.push(if idx.is_empty() {
                        "-".into()
                    } else {
                        idx.join(",")
                    });
                    row.push(format!("{:.2}", p.total_cost));
                    if analyze {
                        row.push(p.execution_ms.map_or("-".into(), |ms| format!("{ms:.3}ms")));
                    }
                    row.push(
                        if f.warning().is_some() {
                            "WARNING"
                        } else {
                            "ok"
                        }
                        .into(),
                    );
                }
                Err(_) => {
                    row.extend(["-", "-", "-"].map(String::from));
                    if analyze {
                        row.push("-".into());
                    }
                    row.push("ERROR".into());
                }
            }
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.into_iter().map(String::from).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<w$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for f in findings {
        if let Some(w) = f.warning() {
            let _ = writeln!(out, "WARNING {}: {w}", f.shape.name);
        }
        if let Err(e) = &f.plan {
            let _ = writeln!(out, "ERROR {}: {e}", f.shape.name);
        }
    }
    let add = suggestions(findings);
    if !add.is_empty() {
        out.push_str("indexes to add to the spec:\n");
        for (resource, cols) in add {
            let _ = writeln!(out, "  resources.{resource}.indexes: [{}]", cols.join(", "));
        }
    }
    out
}

/// The distinct indexes the warnings ask for, without those that a longer suggested
/// index of the same resource starts with (`[name, created_at]` also serves `[name]`).
pub fn suggestions(findings: &[Finding]) -> Vec<(String, Vec<String>)> {
    let mut all: Vec<(String, Vec<String>)> = Vec::new();
    for f in findings.iter().filter(|f| f.warning().is_some()) {
        let s = (f.shape.resource.clone(), f.shape.suggested_index());
        if !s.1.is_empty() && !all.contains(&s) {
            all.push(s);
        }
    }
    let covered = |(res, cols): &(String, Vec<String>)| {
        all.iter()
            .any(|(r, c)| r == res && c.len() > cols.len() && c.starts_with(cols))
    };
    all.iter().filter(|s| !covered(s)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::shape::{Filter, Param};

    fn finding(seq: bool, conds: &[&str]) -> Finding {
        Finding {
            shape: Shape {
                resource: "products".into(),
                name: "products.list?category".into(),
                sql: String::new(),
                params: Vec::new(),
                filters: vec![Filter {
                    column: "category".into(),
                    equality: true,
                }],
                sort: Some("created_at".into()),
            },
            plan: Ok(PlanSummary {
                top: "Limit".into(),
                total_cost: 8.5,
                execution_ms: None,
                indexes: if seq {
                    vec![]
                } else {
                    vec!["products_created_at_idx".into()]
                },
                seq_scans: if seq { vec!["products".into()] } else { vec![] },
                seq_filters: Vec::new(),
                index_conds: conds.iter().map(|c| (*c).into()).collect(),
            }),
        }
    }

    #[test]
    fn warnings_name_the_index_to_add() {
        let w = finding(true, &[]).warning().unwrap();
        assert!(
            w.starts_with("Seq Scan on products for filter `category` and sort `created_at`"),
            "{w}"
        );
        assert!(
            w.ends_with("add to resources.products.indexes: [category, created_at]"),
            "{w}"
        );
        let w = finding(false, &[]).warning().unwrap();
        assert!(
            w.starts_with("filter `category` is not served by an index"),
            "{w}"
        );
        assert!(
            finding(false, &["(category = 'x'::text)"])
                .warning()
                .is_none()
        );
    }

    #[test]
    fn table_marks_warnings_and_errors() {
        let mut broken = finding(false, &[]);
        broken.plan = Err("relation \"products\" does not exist".into());
        let out = render(&[finding(true, &[]), broken], false);
        assert!(out.lines().nth(1).unwrap().ends_with("WARNING"), "{out}");
        assert!(out.lines().nth(2).unwrap().ends_with("ERROR"), "{out}");
        assert!(
            out.contains("ERROR products.list?category: relation"),
            "{out}"
        );
        assert!(out.ends_with("indexes to add to the spec:\n  resources.products.indexes: [category, created_at]\n"), "{out}");
    }

    #[test]
    fn other_parameterised_shapes_warn_on_a_seq_scan() {
        let mut loader = finding(true, &[]);
        loader.shape.name = "reviews.by_product".into();
        loader.shape.filters.clear();
        loader.shape.sort = None;
        assert!(
            loader.warning().is_none(),
            "no parameters: a full read is expected"
        );
        loader.shape.params.push(Param {
            name: "ids".into(),
            cast: "bigint[]".into(),
            sample: Some("{1}".into()),
        });
        if let Ok(plan) = &mut loader.plan {
            plan.seq_filters.push("(product_id = ANY ($1))".into());
        }
        let w = loader.warning().unwrap();
        assert!(
            w.starts_with("Seq Scan on products (Filter: (product_id = ANY ($1)))"),
            "{w}"
        );
        assert!(suggestions(&[loader]).is_empty());
    }

    #[test]
    fn suggestions_drop_prefixes_of_longer_ones() {
        let mut by_sort = finding(true, &[]);
        by_sort.shape.filters.clear();
        by_sort.shape.sort = Some("category".into());
        let again = finding(true, &[]);
        let got = suggestions(&[by_sort, finding(true, &[]), again]);
        assert_eq!(
            got,
            [(
                "products".to_owned(),
                vec!["category".to_owned(), "created_at".to_owned()]
            )]
        );
    }
}
