//! Every fixture built from `skills/` has a test that uses it.

use crate::support::root;

fn crate_names(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.join("Cargo.toml").exists() {
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names
}

#[test]
fn every_fixture_has_a_test() {
    let skills = root().join("skills");
    let mut fixtures = crate_names(&skills);
    fixtures.extend(crate_names(&skills.join("hostile")));
    fixtures.extend(crate_names(&skills.join("testing")));
    assert!(fixtures.len() >= 16, "found {fixtures:?}");
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
