//! Compile-time behaviour of `#[weft_guest::skill]`: good skills build, bad
//! ones are rejected with errors that point at the author's code.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p weft-guest --test macro_ui`
//! (then review the `.stderr` files).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
