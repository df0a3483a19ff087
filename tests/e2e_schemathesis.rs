//! The OpenAPI document of every example spec against its running API, by schemathesis
//! (an outside property-based fuzzer): every phase (examples, coverage, fuzzing, and the
//! stateful phase, which follows the document's links), every check, a fixed seed and a
//! cap on examples per operation. Zero failures: what the document allows, the server
//! accepts; what the server answers, the document describes (docs/spec.md, decision 30).
//!
//! Needs schemathesis on the PATH (`st`): `pip install schemathesis==4.32.5`, as `.ci/run`
//! does. `APIFORGE_SCHEMATHESIS` names another executable.

mod common;

use std::process::Command;
use std::time::Instant;

use common::{Project, Server, TestDb};

/// The version `.ci/run` installs; other versions may generate other cases.
const VERSION: &str = "4.32.5";
/// Hypothesis seed: the same cases on every run.
const SEED: &str = "20261202";
/// Test cases per operation and phase (a few minutes per spec on a small machine).
const MAX_EXAMPLES: &str = "40";

fn schemathesis() -> String {
    let exe = std::env::var("APIFORGE_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    let version = Command::new(&exe).arg("--version").output();
    match version {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if !text.contains(VERSION) {
                eprintln!("note: {exe} is {}, .ci/run pins {VERSION}", text.trim());
            }
            exe
        }
        _ => panic!(
            "schemathesis is not installed (no `{exe}` on the PATH): \
             `pip install schemathesis=={VERSION}` (as .ci/run does), \
             or set APIFORGE_SCHEMATHESIS to its `st` executable"
        ),
    }
}

fn fuzz(spec: &str, st: &str) {
    let project = Project::generate(spec);
    let binary = project.build();
    let db = TestDb::create();
    let (server, log) = Server::start_logged(&binary, &db.url, &[]);
    let url = format!("http://127.0.0.1:{}/openapi.json", server.port);
    let config = common::workspace().join("tests/schemathesis/schemathesis.toml");
    let report = tempfile::tempdir().expect("a report dir");
    let started = Instant::now();
    let out = Command::new(st)
        .arg("--config-file")
        .arg(&config)
        .args([
            "run",
            &url,
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--seed",
            SEED,
            "--max-examples",
            MAX_EXAMPLES,
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--no-color",
            "--report-dir",
        ])
        .arg(report.path())
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "{spec}: schemathesis ran {:.0?}\n{}",
        started.elapsed(),
        stdout
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        out.status.success(),
        "{spec}: schemathesis found failures ({}):\n{stdout}\n--- stderr\n{}\n--- server log\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        log.text()
    );
    drop(server);
    drop(db);
}

#[test]
fn every_example_api_fits_its_openapi_document() {
    let st = schemathesis();
    for spec in ["examples/shop.yaml", "examples/blog.yaml"] {
        fuzz(spec, &st);
    }
}
