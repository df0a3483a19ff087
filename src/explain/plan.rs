//! Reading `EXPLAIN (FORMAT JSON)` output: the top node, the cost, and every scan in
//! the plan tree (children under `Plans`, init/sub-plans included).

use serde_json::Value;

/// Postgres' `disable_cost`, added to the cost of a plan node of a disabled kind.
const DISABLE_COST: f64 = 1.0e10;

/// What one plan tells about index use.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSummary {
    /// Node type of the root (`Limit`, `Index Scan`, `Sort`, …).
    pub top: String,
    /// The planner's estimated total cost of the root.
    pub total_cost: f64,
    /// Wall time of the whole statement (EXPLAIN ANALYZE only), in milliseconds.
    pub execution_ms: Option<f64>,
    /// Index names used by Index Scan / Index Only Scan / Bitmap Index Scan nodes.
    pub indexes: Vec<String>,
    /// Relations read by a Seq Scan.
    pub seq_scans: Vec<String>,
    /// The `Filter` of each Seq Scan that has one (what it tests on every row).
    pub seq_filters: Vec<String>,
    /// Every `Index Cond` and `Recheck Cond` text: what the indexes actually served.
    pub index_conds: Vec<String>,
}

impl PlanSummary {
    /// Parse the single JSON document `EXPLAIN (FORMAT JSON)` returns (`[{"Plan": …}]`).
    pub fn from_json(doc: &Value) -> Result<Self, String> {
        let top = doc
            .get(0)
            .unwrap_or(doc)
            .as_object()
            .ok_or("EXPLAIN output is not a JSON object")?;
        let plan = top.get("Plan").ok_or("EXPLAIN output has no `Plan`")?;
        let mut summary = PlanSummary {
            top: node_type(plan).to_owned(),
            // `enable_seqscan = off` adds a fixed 1e10 "disable cost" per disabled node;
            // leave it out so the figure stays the planner's own estimate.
            total_cost: plan
                .get("Total Cost")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
                % DISABLE_COST,
            execution_ms: top.get("Execution Time").and_then(Value::as_f64),
            indexes: Vec::new(),
            seq_scans: Vec::new(),
            seq_filters: Vec::new(),
            index_conds: Vec::new(),
        };
        summary.walk(plan);
        Ok(summary)
    }

    fn walk(&mut self, node: &Value) {
        let text = |key: &str| node.get(key).and_then(Value::as_str).map(str::to_owned);
        match node_type(node) {
            "Index Scan" | "Index Only Scan" | "Bitmap Index Scan" => {
                self.indexes.extend(text("Index Name"));
            }
            "Seq Scan" => {
                self.seq_scans.extend(text("Relation Name"));
                self.seq_filters.extend(text("Filter"));
            }
            _ => {}
        }
        self.index_conds.extend(text("Index Cond"));
        self.index_conds.extend(text("Recheck Cond"));
        for child in node
            .get("Plans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.walk(child);
        }
    }

    /// Whether any node reads through an index.
    pub fn uses_index(&self) -> bool {
        !self.indexes.is_empty()
    }

    /// Whether an index condition mentions `column` (as a whole word).
    pub fn index_serves(&self, column: &str) -> bool {
        self.index_conds.iter().any(|cond| mentions(cond, column))
    }
}

fn node_type(node: &Value) -> &str {
    node.get("Node Type").and_then(Value::as_str).unwrap_or("?")
}

/// `column` appears in `text` not as part of a longer identifier.
fn mentions(text: &str, column: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(column).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + column.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_nested_plans() {
        let doc = json!([{
            "Plan": {
                "Node Type": "Limit", "Total Cost": 12.5,
                "Plans": [{
                    "Node Type": "Sort",
                    "Plans": [{
                        "Node Type": "Bitmap Heap Scan", "Relation Name": "products",
                        "Recheck Cond": "(category = 'x'::text)",
                        "Plans": [{ "Node Type": "Bitmap Index Scan", "Index Name": "products_category_idx",
                                    "Index Cond": "(category = 'x'::text)" }]
                    }, { "Node Type": "Seq Scan", "Relation Name": "reviews", "Filter": "(product_id = ANY ($1))" }]
                }]
            },
            "Execution Time": 0.5
        }]);
        let s = PlanSummary::from_json(&doc).unwrap();
        assert_eq!(s.top, "Limit");
        assert_eq!(s.total_cost, 12.5);
        assert_eq!(s.execution_ms, Some(0.5));
        assert_eq!(s.indexes, ["products_category_idx"]);
        assert_eq!(s.seq_scans, ["reviews"]);
        assert_eq!(s.seq_filters, ["(product_id = ANY ($1))"]);
        assert!(s.uses_index());
        assert!(s.index_serves("category"));
        assert!(!s.index_serves("categ"));
        assert!(!s.index_serves("name"));
    }

    #[test]
    fn rejects_other_json() {
        assert!(PlanSummary::from_json(&json!([1])).is_err());
        assert!(PlanSummary::from_json(&json!({"x": 1})).is_err());
    }
}
