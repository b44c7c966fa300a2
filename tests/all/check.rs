//! `weft check`: every scenario under `tests/scenarios/check/` is a spec that
//! must be refused, with its diagnostics naming the file, line and column;
//! `expected.txt` lists text each must contain, one line each.

use crate::support::{root, weft};
use crate::workflow::{check, spec};

#[test]
fn every_refused_spec_scenario_reports_what_it_should() {
    let dir = root().join("tests/scenarios/check");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap();
        let out = weft().arg("check").arg(case.join("workflow.toml")).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: a refused spec exits 2\n{stderr}", case.display());
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            assert!(stderr.contains(line), "{}: expected `{line}` in:\n{stderr}", case.display());
        }
        seen += 1;
    }
    assert!(seen >= 15, "found {seen} scenarios");
}

#[test]
fn a_valid_spec_checks_and_shows_each_step_with_its_grants() {
    let s = spec(
        "name = \"ok\"\n[steps.read]\nskill = \"@skills/escape-probe.wasm\"\ngrants = { read = [\"@dir\"], env = { LANG = \"C\" } }\n",
    );
    let out = weft().arg("check").arg(&s.path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is valid"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("grants: read ") && stderr.contains("env LANG"), "{stderr}");
}

#[test]
fn check_json_lists_diagnostics_for_machines() {
    let case = root().join("tests/scenarios/check/unknown-step/workflow.toml");
    let out = weft().args(["check", "--json"]).arg(&case).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], serde_json::json!(false));
    let d = &v["diagnostics"][0];
    assert_eq!((d["line"].as_u64(), d["at"].as_str()), (Some(8), Some("steps.use.input")));
    assert_eq!(d["help"], serde_json::json!("did you mean `fetch`?"));
}

#[tokio::test]
async fn json_specs_are_accepted_too() {
    let s = spec("name = \"placeholder\"\n[steps.a]\nskill = \"@skills/echo.wasm\"\n");
    let json_path = s.dir.path().join("workflow.json");
    let skill = root().join("target/skills/echo.wasm");
    std::fs::write(&json_path, serde_json::json!({"name": "from-json", "steps": {"a": {"skill": skill}}}).to_string())
        .unwrap();
    let src = weft::engine::SpecSource::read(&json_path).unwrap();
    let wf = weft::engine::Workflow::check(crate::support::sandbox(), src).await.unwrap();
    assert_eq!(wf.spec.name, "from-json");
    assert!(check(&s).await.is_ok());
}

#[test]
fn the_published_spec_schema_matches_the_code() {
    let published =
        std::fs::read_to_string(root().join("docs/workflow.schema.json")).expect("docs/workflow.schema.json exists");
    let published: serde_json::Value = serde_json::from_str(&published).unwrap();
    assert_eq!(
        published,
        weft::domain::spec::json_schema(),
        "regenerate it with `weft schema > docs/workflow.schema.json`"
    );
}

#[test]
fn every_field_of_the_spec_format_is_documented() {
    fn fields(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(o) => {
                if let Some(serde_json::Value::Object(props)) = o.get("properties") {
                    out.extend(props.keys().cloned());
                }
                o.values().for_each(|x| fields(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| fields(x, out)),
            _ => {}
        }
    }
    let mut names = std::collections::BTreeSet::new();
    fields(&weft::domain::spec::json_schema(), &mut names);
    let docs = std::fs::read_to_string(root().join("docs/workflows.md")).unwrap();
    let missing: Vec<_> = names.iter().filter(|n| !docs.contains(&format!("`{n}`"))).collect();
    assert!(missing.is_empty(), "fields missing from docs/workflows.md: {missing:?}");
}
