//! `spec::load` never panics, whatever the input: arbitrary bytes, YAML-ish token soup,
//! and random edits of a valid spec all end in `Ok` or a located `Err`.

use std::path::Path;

use proptest::prelude::*;

const EXAMPLES: &[&str] = &[
    include_str!("../examples/shop.yaml"),
    include_str!("../examples/blog.yaml"),
];

/// Words that steer the input into the spec's keys, types and values.
const VOCABULARY: &[&str] = &[
    "name",
    "resources",
    "fields",
    "type",
    "primary_key",
    "nullable",
    "unique",
    "default",
    "min",
    "max",
    "max_length",
    "readonly",
    "hidden",
    "renamed_from",
    "precision",
    "scale",
    "values",
    "to",
    "on_delete",
    "indexes",
    "columns",
    "filters",
    "sort",
    "allowed",
    "pagination",
    "default_limit",
    "max_limit",
    "cache",
    "memory",
    "redis",
    "http",
    "ttl",
    "immutable_when",
    "budgets",
    "list",
    "get",
    "p95",
    "p99",
    "aggregates",
    "count",
    "avg",
    "reviews.rating",
    "rankings",
    "partition",
    "order",
    "limit",
    "operations",
    "string",
    "bigserial",
    "ref",
    "enum",
    "decimal",
    "bool",
    "json",
    "users",
    "products",
    "id",
    "now",
    "gen_random_uuid",
    "-created_at",
    "5m",
    "250ms",
    "1MiB",
    "true",
    "false",
    "null",
    "~",
    "0",
    "-1",
    "1e400",
    "0x1f",
    "",
    "type",
    "self",
    "orderItems",
    "&a",
    "*a",
    "!!str",
    "!x",
];

const PUNCTUATION: &[&str] = &[
    ": ",
    ":",
    "- ",
    "\n",
    "\n  ",
    "\n    ",
    "  ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "'",
    "\"",
    "#",
    "? ",
    "|",
    ">",
    "---",
    "...",
    "%YAML 1.2",
    "\t",
    "é",
    "\u{feff}",
];

fn check(bytes: &[u8]) {
    let path = Path::new("fuzz.yaml");
    match apiforge::spec::load_bytes(path, bytes) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                assert!(w.line >= 1 && w.col >= 1, "{w}");
            }
        }
        Err(report) => {
            assert!(
                !report.diagnostics.is_empty(),
                "an error report names an error"
            );
            for d in &report.diagnostics {
                assert!(d.line >= 1 && d.col >= 1, "unlocated: {d}");
                // The shape walk must catch everything serde would reject.
                assert!(!d.message.starts_with("invalid spec:"), "{d}");
            }
        }
    }
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(VOCABULARY).prop_map(str::to_owned),
        proptest::sample::select(PUNCTUATION).prop_map(str::to_owned),
        "[a-z_]{1,8}",
    ]
}

/// One random edit of a line-based document.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Replace the n-th word of a line with a vocabulary word.
    Word(usize, usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (
            any::<usize>(),
            0usize..8,
            proptest::sample::select(VOCABULARY)
        )
            .prop_map(|(l, w, s)| Edit::Word(l, w, s.to_owned())),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::Delete(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) if !lines.is_empty() => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::Word(l, w, s) if !lines.is_empty() => {
                let line = &mut lines[l % n];
                let mut words: Vec<String> = line.split(' ').map(str::to_owned).collect();
                let k = w % words.len();
                let trailing: String = words[k]
                    .chars()
                    .filter(|c| matches!(c, ':' | ',' | '}' | ']'))
                    .collect();
                words[k] = format!("{s}{trailing}");
                *line = words.join(" ");
            }
            _ => {}
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&bytes);
    }

    #[test]
    fn yaml_ish_text(tokens in proptest::collection::vec(token(), 0..80)) {
        check(tokens.concat().as_bytes());
    }

    #[test]
    fn edited_example_spec(
        base in proptest::sample::select(EXAMPLES),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        check(apply(base, &edits).as_bytes());
    }
}

#[test]
fn hostile_documents_are_refused_not_crashed() {
    // Deep nesting and an alias bomb stop at a limit with a located error.
    let deep = format!("name: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    check(deep.as_bytes());
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let err = apiforge::spec::load_bytes(Path::new("bomb.yaml"), bomb.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("more than"), "{err}");
}
