//! MCP servers as data sources, against the reference servers installed from
//! npm and PyPI by `tools/setup.sh`.

use crate::support::root;
use crate::workflow::{run, spec};
use serde_json::{Value, json};
use std::time::Duration;
use weft::domain::OutcomeKind;
use weft::domain::events::RunStatus;

fn everything() -> String {
    root().join("tools/node_modules/.bin/mcp-server-everything").display().to_string()
}

fn filesystem() -> String {
    root().join("tools/node_modules/.bin/mcp-server-filesystem").display().to_string()
}

fn text_of(output: &Value) -> String {
    output
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["text"].as_str()).collect::<Vec<_>>().join(""))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_tool_step_calls_a_real_server_and_returns_its_result() {
    let s = spec(&format!(
        r#"
        name = "everything"
        [servers.everything]
        command = "{}"

        [steps.echo]
        tool = "echo"
        server = "everything"
        input = {{ message = "'hello from weft'" }}

        [steps.weather]
        tool = "get-structured-content"
        server = "everything"
        input = {{ location = "'Chicago'" }}
        "#,
        everything()
    ));
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert!(text_of(&r.outcome.output["echo"]).contains("hello from weft"), "{}", r.outcome.output);
    assert!(
        r.outcome.output["weather"].is_object(),
        "structured content is the output: {}",
        r.outcome.output["weather"]
    );
}

#[tokio::test]
async fn a_tool_error_takes_the_kind_the_step_chose() {
    let allowed = tempfile::tempdir().unwrap();
    let s = spec(&format!(
        r#"
        name = "tool-error"
        [servers.fs]
        command = "{}"
        args = ["{}"]

        [steps.outside]
        tool = "read_text_file"
        server = "fs"
        input = {{ path = "'/etc/passwd'" }}
        tool_error = "permanent"
        "#,
        filesystem(),
        allowed.path().display()
    ));
    let r = run(&s, json!(null)).await;
    let e = r.outcome.error.unwrap();
    assert_eq!((e.step.as_str(), e.kind), ("outside", OutcomeKind::Permanent));
    assert!(e.message.contains("reported an error") && e.message.to_lowercase().contains("denied"), "{}", e.message);
}

#[tokio::test]
async fn an_unknown_tool_is_invalid_input_and_not_retried() {
    let s = spec(&format!(
        "name = \"unknown-tool\"\n[servers.everything]\ncommand = \"{}\"\n[steps.nope]\ntool = \"no-such-tool\"\nserver = \"everything\"\nretry = {{ max_attempts = 3 }}\n",
        everything()
    ));
    let r = run(&s, json!(null)).await;
    let e = r.outcome.error.unwrap();
    assert_eq!(e.kind, OutcomeKind::InvalidInput, "{}", e.message);
    assert_eq!(r.report.steps["nope"].attempts, 1);
}

#[tokio::test]
async fn a_server_command_that_does_not_exist_is_transient_and_retried() {
    let s = spec(
        "name = \"no-server\"\n[servers.ghost]\ncommand = \"/no/such/mcp-server\"\n[steps.call]\ntool = \"anything\"\nserver = \"ghost\"\nretry = { max_attempts = 2, initial_interval = \"1ms\" }\n",
    );
    let r = run(&s, json!(null)).await;
    let e = r.outcome.error.unwrap();
    assert_eq!(e.kind, OutcomeKind::Transient, "{}", e.message);
    assert!(e.message.contains("cannot start MCP server `ghost`"), "{}", e.message);
    assert_eq!(r.report.steps["call"].attempts, 2);
}

/// Children of this process whose command line mentions `needle`.
fn children_matching(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let ppid: i32 =
            stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|p| p.parse().ok()).unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == me && String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test]
async fn a_server_killed_mid_run_comes_back_through_retry() {
    // A marker on the command line, so only this test's server is killed
    // (other tests run servers from the same process).
    let marker = format!("weft-kill-me-{}", std::process::id() ^ 0x5eed);
    let s = spec(&format!(
        r#"
        name = "killed"
        [servers.everything]
        command = "{}"
        args = ["stdio", "{marker}"]

        [steps.before]
        tool = "echo"
        server = "everything"
        input = {{ message = "'one'" }}
        # On a slow machine the kill can land while the server is still starting.
        retry = {{ max_attempts = 3, initial_interval = "10ms" }}

        [steps.pause]
        skill = "@skills/sleep.wasm"
        input = {{ ms = 1500, tag = "steps.before.output[0].text" }}

        [steps.after]
        tool = "echo"
        server = "everything"
        input = {{ message = "steps.pause.output.tag + ' two'" }}
        retry = {{ max_attempts = 3, initial_interval = "10ms" }}
        "#,
        everything()
    ));
    let run = tokio::spawn(async move {
        let r = crate::workflow::run(&s, json!(null)).await;
        (r, s)
    });
    // Wait for the server to be up, then kill it while `pause` sleeps.
    let mut killed = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let pids = children_matching(&marker);
        if !pids.is_empty() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for pid in children_matching(&marker) {
                std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
                killed += 1;
            }
            break;
        }
    }
    assert!(killed > 0, "the server was found and killed");
    let (r, _s) = run.await.unwrap();
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert!(text_of(&r.outcome.output["after"]).contains("one two"), "{}", r.outcome.output);
}

#[tokio::test]
async fn a_streamable_http_server_is_reached_by_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = tokio::process::Command::new(everything())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = spec(&format!(
        "name = \"http\"\n[servers.remote]\nurl = \"http://127.0.0.1:{port}/mcp\"\n[steps.echo]\ntool = \"echo\"\nserver = \"remote\"\ninput = {{ message = \"'over http'\" }}\n"
    ));
    let r = run(&s, json!(null)).await;
    let _ = server.kill().await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert!(text_of(&r.outcome.output["echo"]).contains("over http"));
}

#[tokio::test]
async fn a_script_calls_a_granted_server_and_is_refused_an_ungranted_one() {
    let s = spec(&format!(
        r#"
        name = "call-tool"
        [servers.everything]
        command = "{}"
        [servers.other]
        command = "{}"

        [steps.granted]
        script_inline = """
def run(input):
    r = weft.call_tool("everything", "get-sum", {{"a": 2, "b": 3}})
    try:
        weft.call_tool("other", "echo", {{"message": "x"}})
        refused = None
    except weft.PermanentError as e:
        refused = str(e)
    return {{"sum": r, "refused": refused}}
"""
        language = "python"
        grants = {{ servers = ["everything"] }}
        "#,
        everything(),
        everything()
    ));
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    let out = &r.outcome.output["granted"];
    assert!(out["sum"].to_string().contains('5'), "{out}");
    assert!(out["refused"].as_str().unwrap().contains("not granted"), "{out}");
}

#[tokio::test]
async fn check_refuses_unknown_servers() {
    let s = spec("name = \"x\"\n[steps.a]\ntool = \"echo\"\nserver = \"nowhere\"\n");
    let err = crate::workflow::check(&s).await.err().unwrap();
    assert!(err.to_string().contains("unknown MCP server `nowhere`"), "{err}");
}
