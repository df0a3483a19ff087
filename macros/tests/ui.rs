//! Compile tests of `#[derive(Resource)]`: misuse fails with pinned, spanned errors;
//! correct use compiles. Regenerate the `.stderr` files with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
