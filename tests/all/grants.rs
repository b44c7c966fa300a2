//! Deny by default, grant by declaration: files, environment, tools.

use crate::support::load;
use serde_json::{Value, json};
use weft::domain::{Grants, OutcomeKind};
use weft::sandbox::RunOptions;

async fn probe(input: Value, grants: Grants) -> Value {
    let skill = load("escape-probe").await;
    let opts = RunOptions { grants, ..RunOptions::default() };
    skill.run(&input.to_string(), &opts).await.result.expect("the probe reports")
}

fn dir_with_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), "granted content").unwrap();
    let path = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
    (dir, path)
}

#[tokio::test]
async fn read_grant_obeyed() {
    let (_dir, path) = dir_with_file();
    let file = format!("{path}/note.txt");
    let report = probe(json!({"read": [file]}), Grants::default().read_dir(&path)).await;
    assert_eq!(report["read"][&file], json!({"ok": true, "value": "granted content"}));
}

#[tokio::test]
async fn read_grant_violated_outside_and_above_it() {
    // The grant is `sub/`; `note.txt` sits right above it, readable on the host.
    let (dir, path) = dir_with_file();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/inside.txt"), "inside").unwrap();
    let sub = format!("{path}/sub");
    let above = format!("{sub}/../note.txt");
    assert_eq!(std::fs::read_to_string(&above).unwrap(), "granted content", "the host can read it");
    let inside = format!("{sub}/inside.txt");
    let report = probe(
        json!({"read": ["/etc/passwd", above, format!("{path}/note.txt"), inside], "list": [format!("{sub}/.."), path]}),
        Grants::default().read_dir(&sub),
    )
    .await;
    assert_eq!(report["read"][&inside], json!({"ok": true, "value": "inside"}), "the grant itself works");
    for section in ["read", "list"] {
        for (what, r) in report[section].as_object().unwrap() {
            if *what != inside {
                assert_eq!(r["ok"], json!(false), "{section} {what}: {r}");
            }
        }
    }
    assert_eq!(report["read"].as_object().unwrap().len() + report["list"].as_object().unwrap().len(), 6);
    let why = report["read"][&above]["error"].as_str().unwrap();
    assert!(why.contains("not permitted"), "refused, not missing: {why}");
}

#[tokio::test]
async fn write_grant_obeyed() {
    let (dir, path) = dir_with_file();
    let file = format!("{path}/out.txt");
    let report = probe(json!({"write": [file]}), Grants::default().write_dir(&path)).await;
    assert_eq!(report["write"][&file]["ok"], json!(true), "{report}");
    assert_eq!(std::fs::read_to_string(dir.path().join("out.txt")).unwrap(), "probe");
}

#[tokio::test]
async fn write_grant_violated_on_a_read_only_grant() {
    let (dir, path) = dir_with_file();
    let file = format!("{path}/out.txt");
    let report = probe(json!({"write": [file]}), Grants::default().read_dir(&path)).await;
    assert_eq!(report["write"][&file]["ok"], json!(false), "{report}");
    assert!(!dir.path().join("out.txt").exists());
}

#[tokio::test]
async fn env_grant_shows_only_what_was_granted() {
    let grants = Grants::default().env("WEFT_GRANTED", "yes");
    let report = probe(json!({"env": true}), grants).await;
    assert_eq!(report["env"], json!({"WEFT_GRANTED": "yes"}));
}

#[tokio::test]
async fn a_grant_of_a_missing_directory_fails_the_run_clearly() {
    let skill = load("echo").await;
    let opts = RunOptions { grants: Grants::default().read_dir("/no/such/weft/dir"), ..RunOptions::default() };
    let f = skill.run("1", &opts).await.result.unwrap_err();
    assert_eq!(f.kind, OutcomeKind::Permanent);
    assert!(f.message.contains("/no/such/weft/dir"), "{f}");
}
