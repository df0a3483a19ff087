//! The bad-spec corpus: every file under `tests/specs/` is checked by the real binary
//! (`apiforge validate`) and its exact output and exit code are pinned as snapshots.

use std::path::Path;
use std::process::Command;

/// Run `apiforge ARGS…` from the package root; the exit code, stdout and stderr as text.
fn apiforge(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_apiforge"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run apiforge");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

/// `apiforge validate ARGS…` as pinned text: exit code, stdout, stderr.
fn validate_report(args: &[&str]) -> String {
    let (code, stdout, stderr) = apiforge(&[&["validate"], args].concat());
    format!("exit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}")
}

macro_rules! corpus {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let file = concat!("tests/specs/", stringify!($name), ".yaml");
                insta::assert_snapshot!(stringify!($name), validate_report(&[file]));
            }
        )*
        const CORPUS: &[&str] = &[$(stringify!($name)),*];
    };
}

corpus!(
    aggregates,
    bad_defaults,
    budgets,
    crate_name,
    deprecated_fields,
    decimals,
    empty,
    enums,
    hidden_fields,
    indexes,
    indexes_flat,
    lints,
    malformed_yaml,
    many_mistakes,
    min_max,
    missing_required,
    name_collisions,
    not_a_mapping,
    not_snake_case,
    not_utf8,
    only_comments,
    options_wrong_type,
    pagination,
    primary_keys,
    rankings,
    roles_without_jwt,
    refs,
    reserved_params,
    route_collisions,
    rust_keywords,
    security,
    security_without_auth,
    slow_query,
    spec_level,
    unknown_field_type,
    unknown_keys,
    unknown_names,
    wrong_value_kinds,
    yaml_details,
);

/// Specs in the corpus that are valid (they pin warnings, not errors).
const VALID: &[&str] = &["lints"];

#[test]
fn every_corpus_file_is_pinned() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("tests/specs")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut pinned: Vec<String> = CORPUS.iter().map(|s| s.to_string()).collect();
    pinned.sort();
    assert_eq!(files, pinned, "add new corpus files to the corpus! list");
}

/// A line of the source snippet under a located line (`12 |   source`, `   |   ^`, or the
/// blank line after it).
fn is_snippet(line: &str) -> bool {
    line.is_empty()
        || line
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ')
            .starts_with('|')
}

/// Every bad spec exits 2, prints nothing on stdout, and every line of stderr is located
/// in that file (`FILE:LINE:COL: error: …`, line and column from 1) or belongs to the
/// source snippet under such a line.
#[test]
fn every_bad_spec_exits_2_with_located_errors() {
    for name in CORPUS.iter().filter(|n| !VALID.contains(n)) {
        let file = format!("tests/specs/{name}.yaml");
        let (code, stdout, stderr) = apiforge(&["validate", &file]);
        assert_eq!(code, 2, "{file}: {stderr}");
        assert!(stdout.is_empty(), "{file}: stdout {stdout}");
        let mut errors = 0;
        for line in stderr.lines().filter(|l| !is_snippet(l)) {
            let rest = line
                .strip_prefix(&format!("{file}:"))
                .unwrap_or_else(|| panic!("{file}: unlocated line {line}"));
            let mut parts = rest.splitn(3, ':');
            let l: usize = parts.next().unwrap().parse().expect("line number");
            let c: usize = parts.next().unwrap().parse().expect("column number");
            assert!(l >= 1 && c >= 1, "{line}");
            let message = parts.next().unwrap();
            assert!(
                message.starts_with(" error: ") || message.starts_with(" warning: "),
                "{line}"
            );
            errors += usize::from(message.starts_with(" error: "));
        }
        assert!(errors > 0, "{file} reported no error");
    }
}

#[test]
fn warnings_exit_0_unless_denied() {
    let (code, _, stderr) = apiforge(&["validate", "tests/specs/lints.yaml"]);
    assert_eq!(code, 0);
    let located: Vec<&str> = stderr.lines().filter(|l| !is_snippet(l)).collect();
    assert!(
        located.iter().all(|l| l.contains(": warning: ")),
        "{stderr}"
    );
    assert!(located.len() >= 5, "{stderr}");
    let (code, _, denied) = apiforge(&["validate", "--deny-warnings", "tests/specs/lints.yaml"]);
    assert_eq!(code, 2);
    assert_eq!(denied, stderr);
}

#[test]
fn several_files_are_all_checked() {
    insta::assert_snapshot!(
        "several_files",
        validate_report(&[
            "tests/specs/empty.yaml",
            "examples/shop.yaml",
            "tests/specs/not_a_mapping.yaml",
        ])
    );
}

#[test]
fn unreadable_file_is_reported() {
    let (code, stdout, stderr) = apiforge(&["validate", "tests/specs/missing.yaml"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("tests/specs/missing.yaml: error: cannot read the spec: "),
        "{stderr}"
    );
}

#[test]
fn help_teaches_with_examples() {
    for args in [
        &["--help"][..],
        &["help", "validate"],
        &["validate", "--help"],
    ] {
        let (code, stdout, stderr) = apiforge(args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(
            stdout.contains("apiforge validate examples/"),
            "{args:?}: {stdout}"
        );
    }
    let (_, stdout, _) = apiforge(&["help", "validate"]);
    assert!(stdout.contains("--deny-warnings"), "{stdout}");
    assert!(stdout.contains("Exit status: 0"), "{stdout}");
}

/// `--color always` styles diagnostics even in a pipe; `never`, `NO_COLOR` and a pipe with
/// the default `auto` print the same text without styles.
#[test]
fn color_follows_the_flag_and_no_color() {
    let file = "tests/specs/refs.yaml";
    let (code, _, plain) = apiforge(&["validate", file]);
    assert_eq!(code, 2);
    assert!(
        !plain.contains('\u{1b}'),
        "a pipe gets no colour: {plain:?}"
    );
    let (_, _, always) = apiforge(&["--color", "always", "validate", file]);
    assert!(always.contains("\u{1b}["), "{always:?}");
    assert_eq!(anstream::adapter::strip_str(&always).to_string(), plain);
    let (_, _, never) = apiforge(&["validate", file, "--color", "never"]);
    assert_eq!(never, plain);
    let out = Command::new(env!("CARGO_BIN_EXE_apiforge"))
        .args(["validate", file])
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run apiforge");
    assert_eq!(String::from_utf8_lossy(&out.stderr), plain);
}
