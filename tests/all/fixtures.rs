//! Every fixture built from `skills/` (Rust, Python and JavaScript) has a
//! test that uses it.

use crate::support::root;

/// The fixtures in `dir`: directories holding a Rust crate, a Python skill
/// (`app.py`) or a JavaScript skill (`index.js`), each built into
/// `target/skills/NAME.wasm`.
fn fixture_names(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if ["Cargo.toml", "app.py", "index.js"].iter().any(|f| path.join(f).exists()) {
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names
}

#[test]
fn every_fixture_has_a_test() {
    let skills = root().join("skills");
    let mut fixtures = Vec::new();
    for dir in [".", "hostile", "testing", "python", "js"] {
        let found = fixture_names(&skills.join(dir));
        assert!(!found.is_empty(), "no fixtures found in skills/{dir}");
        fixtures.extend(found);
    }
    for script_skill in ["slugify", "title-case"] {
        assert!(fixtures.iter().any(|f| f == script_skill), "{script_skill} is scanned: {fixtures:?}");
    }
    let tests_dir = root().join("tests/all");
    let mut sources = String::new();
    for entry in std::fs::read_dir(&tests_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("fixtures.rs") {
            sources.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    let used = |f: &String| sources.contains(&format!("\"{f}\"")) || sources.contains(&format!("/{f}.wasm"));
    let untested: Vec<_> = fixtures.iter().filter(|f| !used(f)).collect();
    assert!(untested.is_empty(), "fixtures with no test: {untested:?}");
}
