//! `apiforge budget` against a real generated `examples/shop.yaml` API on Postgres:
//! every operation of every resource, with generous budgets (exit 0) and impossible
//! ones (exit 1), on the same server.

mod common;

use common::output_text as text;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `examples/shop.yaml` with every operation of every resource budgeted at `limit`.
fn shop_with_budgets(dir: &Path, limit: &str) -> PathBuf {
    let text = std::fs::read_to_string(common::workspace().join("examples/shop.yaml")).unwrap();
    let mut spec: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let budget: serde_yaml::Value =
        serde_yaml::from_str(&format!("{{ p95: {limit}, p99: {limit} }}")).unwrap();
    let ops = ["list", "get", "create", "update", "delete", "export"];
    let budgets: serde_yaml::Mapping = ops
        .iter()
        .map(|op| ((*op).into(), budget.clone()))
        .collect();
    for (_, res) in spec["resources"].as_mapping_mut().unwrap() {
        res["budgets"] = budgets.clone().into();
    }
    let path = dir.join(format!("shop-{limit}.yaml"));
    std::fs::write(&path, serde_yaml::to_string(&spec).unwrap()).unwrap();
    path
}

fn budget(port: u16, spec: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apiforge"))
        .args(["budget", "--url", &format!("http://127.0.0.1:{port}")])
        .args(["--duration", "300ms", "--concurrency", "4", "--spec"])
        .arg(spec)
        .output()
        .unwrap()
}

/// The verdict of every route row of the table.
fn verdicts(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter(|l| {
            ["GET ", "POST ", "PATCH ", "DELETE "]
                .iter()
                .any(|m| l.starts_with(m))
        })
        .filter(|l| !l.contains(':'))
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[..2].join(" "), cells[cells.len() - 1].to_owned())
        })
        .collect()
}

#[test]
fn budget_passes_and_fails_against_the_generated_shop_api() {
    let project = common::Project::generate("examples/shop.yaml");
    let binary = project.build();
    let db = common::TestDb::create();
    let server = common::Server::start(&binary, &db.url);
    let dir = tempfile::tempdir().unwrap();

    let out = budget(server.port, &shop_with_budgets(dir.path(), "10s"));
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let rows = verdicts(&String::from_utf8_lossy(&out.stdout));
    // 4 resources × 6 operations, all loaded without a single non-2xx answer.
    assert_eq!(rows.len(), 24, "{report}");
    assert!(rows.iter().all(|(_, v)| v == "ok"), "{report}");
    assert!(
        rows.contains(&("POST /orders".into(), "ok".into())),
        "{report}"
    );
    assert!(
        rows.contains(&("DELETE /users/{id}".into(), "ok".into())),
        "{report}"
    );

    let out = budget(server.port, &shop_with_budgets(dir.path(), "1us"));
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let rows = verdicts(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(rows.len(), 24, "{report}");
    assert!(rows.iter().all(|(_, v)| v == "OVER"), "{report}");
}
