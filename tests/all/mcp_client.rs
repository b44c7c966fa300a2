//! MCP servers as data sources, against the reference servers installed from
//! npm and PyPI by `tools/setup.sh`.

use crate::support::{root, weft};
use crate::workflow::{run, spec};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use weft::domain::OutcomeKind;
use weft::domain::events::{Event, Record, Recovery, Report, RunStatus};
use weft::domain::spec::ServerSpec;
use weft::engine::run::SinkError;
use weft::engine::{EventSink, Executor, ManualClock, MemorySink, RunRequest};
use weft::mcp::client::{McpPool, ServerPlan, ToolInfo};

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

/// Passes events to a `MemorySink` and says when `step` starts its first attempt.
struct AttemptWatch {
    memory: MemorySink,
    step: &'static str,
    started: tokio::sync::Notify,
}

impl EventSink for AttemptWatch {
    fn record<'a>(&'a self, run_id: &'a str, record: &'a Record) -> BoxFuture<'a, Result<(), SinkError>> {
        if let Event::AttemptStarted { step, attempt: 1 } = &record.event
            && step == self.step
        {
            self.started.notify_one();
        }
        self.memory.record(run_id, record)
    }
}

#[tokio::test]
async fn a_server_killed_during_a_call_is_a_lost_connection_retried_on_a_restarted_server() {
    // A marker on the command line, so only this test's server is killed
    // (other tests run servers from the same process).
    let marker = format!("weft-kill-me-{}", std::process::id() ^ 0x5eed);
    let s = spec(&format!(
        r#"
        name = "killed"
        [servers.everything]
        command = "{}"
        args = ["stdio", "{marker}"]

        # Starts the server, so that `long` finds it up and sends its call at once.
        [steps.warm]
        tool = "echo"
        server = "everything"
        input = {{ message = "'up'" }}

        [steps.long]
        needs = ["warm"]
        tool = "trigger-long-running-operation"
        server = "everything"
        input = {{ duration = 3, steps = 3 }}
        limits = {{ timeout = "60s" }}
        retry = {{ max_attempts = 3, initial_interval = "10ms" }}
        "#,
        everything()
    ));
    let wf = Arc::new(crate::workflow::check(&s).await.unwrap_or_else(|e| panic!("{e}")));
    let watch = Arc::new(AttemptWatch { memory: MemorySink::default(), step: "long", started: Default::default() });
    let req = RunRequest::new(json!(null), watch.clone());
    let run = tokio::spawn(async move { Executor::new(Arc::new(ManualClock::default())).run(wf, req).await });
    // The operation takes 3 s; a second into its first attempt, the call is in flight.
    tokio::time::timeout(Duration::from_secs(120), watch.started.notified()).await.expect("`long` starts");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pids = children_matching(&marker);
    assert!(!pids.is_empty(), "the server is running");
    for pid in pids {
        std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    }
    let outcome = run.await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let report = Report::from_log(&outcome.run_id, &watch.memory.records());
    let long = &report.steps["long"];
    assert_eq!(long.attempts, 2, "{long:?}");
    match long.recovery.as_slice() {
        [Recovery::Retry { attempt: 1, kind: OutcomeKind::Transient, message, .. }] => {
            assert!(message.contains("lost the connection to MCP server `everything`"), "{message}")
        }
        other => panic!("one retry after a lost connection, not {other:?}"),
    }
    assert!(text_of(&outcome.output["long"]).contains("completed"), "{}", outcome.output);
}

#[tokio::test]
async fn a_streamable_http_server_is_reached_by_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = everything_over_http(port).await;
    let s = spec(&format!(
        "name = \"http\"\n[servers.remote]\nurl = \"http://127.0.0.1:{port}/mcp\"\n[steps.echo]\ntool = \"echo\"\nserver = \"remote\"\ninput = {{ message = \"'over http'\" }}\n"
    ));
    let r = run(&s, json!(null)).await;
    let _ = server.kill().await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert!(text_of(&r.outcome.output["echo"]).contains("over http"));
}

/// Starts the reference server over streamable HTTP on `port`; returns once it accepts connections.
async fn everything_over_http(port: u16) -> tokio::process::Child {
    let server = tokio::process::Command::new(everything())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
}

/// The server process dies in the middle of a call over streamable HTTP: the
/// attempt ends `transient` within a second of the connection's loss (not at
/// the step's 60 s timeout), and the retry reaches the restarted server on a
/// new session (the old one is unknown to it).
#[tokio::test]
async fn an_http_server_dying_mid_call_is_transient_at_once_and_the_retry_opens_a_new_session() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = everything_over_http(port).await;
    let s = spec(&format!(
        r#"
        name = "http-killed"
        [servers.remote]
        url = "http://127.0.0.1:{port}/mcp"

        [steps.warm]
        tool = "echo"
        server = "remote"
        input = {{ message = "'up'" }}

        [steps.long]
        needs = ["warm"]
        tool = "trigger-long-running-operation"
        server = "remote"
        input = {{ duration = 3, steps = 3 }}
        limits = {{ timeout = "60s" }}
        retry = {{ max_attempts = 5, initial_interval = "1s", backoff_coefficient = 2.0 }}
        "#
    ));
    let wf = Arc::new(crate::workflow::check(&s).await.unwrap_or_else(|e| panic!("{e}")));
    let watch = Arc::new(AttemptWatch { memory: MemorySink::default(), step: "long", started: Default::default() });
    let req = RunRequest::new(json!(null), watch.clone());
    let run = tokio::spawn(async move { Executor::new(Arc::new(weft::engine::SystemClock)).run(wf, req).await });
    tokio::time::timeout(Duration::from_secs(120), watch.started.notified()).await.expect("`long` starts");
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.kill().await.unwrap();
    let killed_ms = weft::engine::Clock::wall_ms(&weft::engine::SystemClock);
    // Back up on the same port, as a restarted service would be.
    let _restarted = everything_over_http(port).await;
    let outcome = tokio::time::timeout(Duration::from_secs(50), run).await.expect("the run ends").unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let records = watch.memory.records();
    let failed_at = records
        .iter()
        .find_map(|r| match &r.event {
            Event::AttemptFailed { step, failure, .. } if step == "long" => Some((r.at_ms, failure.clone())),
            _ => None,
        })
        .expect("the first attempt failed");
    assert_eq!(failed_at.1.kind, OutcomeKind::Transient, "{}", failed_at.1);
    assert!(!failed_at.1.message.contains("::"), "no Rust type names in messages: {}", failed_at.1);
    assert!(
        failed_at.0 <= killed_ms + 1_000,
        "the lost connection was noticed {} ms after the kill",
        failed_at.0.saturating_sub(killed_ms)
    );
    let report = Report::from_log(&outcome.run_id, &records);
    let long = &report.steps["long"];
    // The retry may come before the restarted server listens: that attempt
    // fails as transient too, and the next one gets through.
    assert!(long.attempts >= 2, "{long:?}");
    for r in &long.recovery {
        match r {
            Recovery::Retry { kind: OutcomeKind::Transient, message, .. } => {
                assert!(!message.contains("::"), "no Rust type names in messages: {message}")
            }
            other => panic!("only retries after transient failures, not {other:?}"),
        }
    }
    let long = &outcome.output["long"];
    assert!(text_of(long).contains("completed"), "`long` gave {long} after {:?}", report.steps["long"].recovery);
}

/// The server restarted between two calls: the connection's session is one
/// it no longer knows (404). The next call opens a new session and
/// succeeds, promptly.
#[tokio::test]
async fn after_an_http_server_restarts_a_stale_session_is_replaced_not_hung_on() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = everything_over_http(port).await;
    let plan = ServerPlan {
        name: "remote".to_string(),
        spec: ServerSpec { url: Some(format!("http://127.0.0.1:{port}/mcp")), ..ServerSpec::default() },
        dir: root(),
    };
    let pool = McpPool::new([plan], json!(null));
    let echo = |m: &'static str| {
        let pool = &pool;
        async move {
            pool.call("remote", "echo", &json!({"message": m}), Duration::from_secs(20), OutcomeKind::Transient).await
        }
    };
    assert!(text_of(&echo("before").await.unwrap()).contains("before"));
    server.kill().await.unwrap();
    let _restarted = everything_over_http(port).await;
    let started = std::time::Instant::now();
    // At most one transient failure (the stale session found out), then a new session.
    let after = match echo("after").await {
        Ok(v) => v,
        Err(f) => {
            assert_eq!(f.kind, OutcomeKind::Transient, "{f}");
            assert!(!f.message.contains("::"), "no Rust type names in messages: {f}");
            echo("after").await.unwrap_or_else(|f| panic!("the retry reaches the restarted server: {f}"))
        }
    };
    assert!(text_of(&after).contains("after"), "{after}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    pool.shutdown().await;
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

#[tokio::test]
async fn a_script_in_javascript_calls_a_granted_server_and_is_refused_an_ungranted_one() {
    let s = spec(&format!(
        r#"
        name = "call-tool-js"
        [servers.everything]
        command = "{}"
        [servers.other]
        command = "{}"

        [steps.granted]
        script_inline = """
function run(input) {{
  const sum = weft.callTool("everything", "get-sum", {{ a: 2, b: 3 }});
  let refused = null;
  try {{
    weft.callTool("other", "echo", {{ message: "x" }});
  }} catch (e) {{
    if (!(e instanceof weft.PermanentError)) throw e;
    refused = e.message;
  }}
  return {{ sum, refused }};
}}
"""
        language = "javascript"
        grants = {{ servers = ["everything"] }}
        "#,
        everything(),
        everything()
    ));
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    let out = &r.outcome.output["granted"];
    assert!(text_of(&out["sum"]).contains('5'), "{out}");
    assert!(out["refused"].as_str().unwrap().contains("not granted"), "{out}");
}

fn tool_names(tools: &[ToolInfo]) -> Vec<&str> {
    tools.iter().map(|t| t.name.as_str()).collect()
}

#[tokio::test]
async fn the_tools_of_a_server_are_listed_with_their_schemas() {
    let allowed = tempfile::tempdir().unwrap();
    let plan = |name: &str, command: String, args: Vec<String>| ServerPlan {
        name: name.to_string(),
        spec: ServerSpec { command: Some(command), args, ..ServerSpec::default() },
        dir: root(),
    };
    let pool = McpPool::new(
        [
            plan("everything", everything(), vec![]),
            plan("fs", filesystem(), vec![allowed.path().display().to_string()]),
        ],
        json!(null),
    );
    let listed = pool.list_tools("everything", Duration::from_secs(60)).await.unwrap();
    let names = tool_names(&listed);
    for t in ["echo", "get-sum", "get-structured-content", "trigger-long-running-operation"] {
        assert!(names.contains(&t), "{t} in {names:?}");
    }
    let sum = listed.iter().find(|t| t.name == "get-sum").unwrap();
    assert_eq!(sum.input_schema["required"], json!(["a", "b"]), "{}", sum.input_schema);
    assert!(sum.description.as_deref().unwrap_or_default().to_lowercase().contains("sum"), "{sum:?}");

    let listed = pool.list_tools("fs", Duration::from_secs(60)).await.unwrap();
    let names = tool_names(&listed);
    for t in ["read_text_file", "write_file", "list_directory", "list_allowed_directories"] {
        assert!(names.contains(&t), "{t} in {names:?}");
    }
    let read = listed.iter().find(|t| t.name == "read_text_file").unwrap();
    assert!(read.input_schema["properties"]["path"].is_object(), "{}", read.input_schema);

    let e = pool.list_tools("nowhere", Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(e.kind, OutcomeKind::Permanent, "{}", e.message);
    pool.shutdown().await;
}

#[test]
fn weft_mcp_tools_lists_the_servers_of_a_spec_and_names_a_tool_step_whose_tool_does_not_exist() {
    let allowed = tempfile::tempdir().unwrap();
    let text = |tool: &str| {
        format!(
            r#"
            name = "tools"
            [servers.everything]
            command = "{}"
            [servers.fs]
            command = "{}"
            args = ["${{{{ input.dir }}}}"]
            [steps.sum]
            tool = "get-sum"
            server = "everything"
            input = {{ a = 1, b = 2 }}
            [steps.group]
            input = {{ path = "input.dir" }}
            [steps.group.steps.read]
            tool = "{tool}"
            server = "fs"
            input = {{ path = "input.path" }}
            "#,
            everything(),
            filesystem()
        )
    };
    let input = json!({"dir": allowed.path()}).to_string();

    let good = spec(&text("read_text_file"));
    let out = weft().args(["mcp", "tools"]).arg(&good.path).args(["--input", &input, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&r["ok"], &r["problems"]), (&json!(true), &json!([])));
    let listed = |server: &str| -> Vec<String> {
        r["servers"][server]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().into()).collect()
    };
    assert!(listed("everything").contains(&"get-sum".to_string()), "{r}");
    assert!(listed("fs").contains(&"read_text_file".to_string()), "{r}");

    let misspelt = spec(&text("read_txt_file"));
    let out = weft().args(["mcp", "tools"]).arg(&misspelt.path).args(["--input", &input]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("everything: ") && stdout.contains("  read_text_file "), "{stdout}");
    assert!(
        stderr.contains(
            "step `group.read` calls tool `read_txt_file`, which MCP server `fs` does not offer; did you mean `read_text_file`?"
        ),
        "{stderr}"
    );

    let out = weft().args(["mcp", "tools"]).arg(&good.path).args(["--server", "f5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no MCP server `f5`; did you mean `fs`?"));
}

#[tokio::test]
async fn a_call_with_no_answer_within_the_step_timeout_is_a_timeout() {
    let s = spec(&format!(
        r#"
        name = "slow-tool"
        [servers.everything]
        command = "{}"

        # The same operation, with time to finish and without.
        [steps.patient]
        tool = "trigger-long-running-operation"
        server = "everything"
        input = {{ duration = 1, steps = 1 }}
        limits = {{ timeout = "60s" }}

        [steps.hasty]
        needs = ["patient"]
        tool = "trigger-long-running-operation"
        server = "everything"
        input = {{ duration = 60, steps = 1 }}
        limits = {{ timeout = "500ms" }}
        on_failure = "continue"
        "#,
        everything()
    ));
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert!(text_of(&r.outcome.output["patient"]).contains("completed"), "{}", r.outcome.output);
    let hasty = &r.report.steps["hasty"];
    let e = hasty.error.as_ref().unwrap();
    assert_eq!(e.kind, OutcomeKind::Timeout, "{}", e.message);
    assert!(e.message.contains("did not answer within 500ms"), "{}", e.message);
    assert_eq!(hasty.status, "skipped");
    assert!(r.took < Duration::from_secs(60), "the call was abandoned at its timeout, not awaited: {:?}", r.took);
}

#[tokio::test]
async fn a_tool_error_is_transient_by_default_and_retried() {
    let allowed = tempfile::tempdir().unwrap();
    let s = spec(&format!(
        r#"
        name = "tool-error-default"
        [servers.fs]
        command = "{}"
        args = ["{}"]

        [steps.outside]
        tool = "read_text_file"
        server = "fs"
        input = {{ path = "'/etc/passwd'" }}
        retry = {{ max_attempts = 2, initial_interval = "1ms" }}
        "#,
        filesystem(),
        allowed.path().display()
    ));
    let r = run(&s, json!(null)).await;
    let e = r.outcome.error.unwrap();
    assert_eq!((e.step.as_str(), e.kind), ("outside", OutcomeKind::Transient), "{}", e.message);
    assert!(e.message.contains("reported an error") && e.message.to_lowercase().contains("denied"), "{}", e.message);
    assert_eq!(r.report.steps["outside"].attempts, 2);
}

#[tokio::test]
async fn failures_open_the_breaker_of_the_server_for_every_step_that_calls_it() {
    let allowed = tempfile::tempdir().unwrap();
    let s = spec(&format!(
        r#"
        name = "server-breaker"
        [servers.fs]
        command = "{fs}"
        args = ["{dir}"]
        [servers.other]
        command = "{fs}"
        args = ["{dir}"]

        [defaults]
        breaker = {{ failure_threshold = 2, cooldown = "1h" }}

        [steps.outside]
        tool = "read_text_file"
        server = "fs"
        input = {{ path = "'/etc/passwd'" }}
        retry = {{ max_attempts = 5, initial_interval = "1ms" }}
        on_failure = "continue"

        # Would succeed, but the breaker of `fs` is open: it fails fast without a call.
        [steps.same_server]
        needs = ["outside"]
        tool = "list_allowed_directories"
        server = "fs"
        on_failure = "continue"

        # Another server has its own breaker, still closed.
        [steps.other_server]
        needs = ["outside"]
        tool = "list_allowed_directories"
        server = "other"
        "#,
        fs = filesystem(),
        dir = allowed.path().display()
    ));
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    let actions = |step: &str| -> Vec<&'static str> {
        r.report.steps[step]
            .recovery
            .iter()
            .map(|a| match a {
                Recovery::Retry { .. } => "retry",
                Recovery::BreakerOpened { .. } => "breaker_opened",
                Recovery::BreakerRejected { .. } => "breaker_rejected",
                Recovery::Fallback { .. } => "fallback",
                Recovery::Continued { .. } => "continued",
            })
            .collect()
    };
    let outside = &r.report.steps["outside"];
    assert_eq!(outside.attempts, 2, "the third attempt was refused by the open breaker: {outside:?}");
    assert_eq!(actions("outside"), ["retry", "breaker_opened", "retry", "breaker_rejected", "continued"]);
    let same = &r.report.steps["same_server"];
    assert_eq!((same.attempts, same.status.as_str()), (0, "skipped"), "{same:?}");
    assert_eq!(actions("same_server"), ["breaker_rejected", "continued"]);
    assert!(same.error.as_ref().unwrap().message.contains("circuit breaker for `MCP server fs` is open"));
    assert_eq!(r.report.steps["other_server"].status, "succeeded");
    let dir = allowed.path().file_name().unwrap().to_string_lossy().into_owned();
    assert!(r.outcome.output["other_server"].to_string().contains(&dir), "{}", r.outcome.output);
}

#[tokio::test]
async fn arguments_a_tool_refuses_are_invalid_input_and_not_retried() {
    let allowed = tempfile::tempdir().unwrap();
    let s = spec(&format!(
        r#"
        name = "bad-arguments"
        [servers.everything]
        command = "{}"
        [servers.fs]
        command = "{}"
        args = ["{}"]

        [defaults]
        retry = {{ max_attempts = 3, initial_interval = "1ms" }}

        [steps.good_sum]
        tool = "get-sum"
        server = "everything"
        input = {{ a = 2, b = 3 }}

        [steps.bad_sum]
        tool = "get-sum"
        server = "everything"
        input = {{ a = "'two'", b = 3 }}
        on_failure = "continue"

        [steps.bad_path]
        tool = "read_text_file"
        server = "fs"
        input = {{ path = 5 }}
        on_failure = "continue"
        "#,
        everything(),
        filesystem(),
        allowed.path().display()
    ));
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert!(text_of(&r.outcome.output["good_sum"]).contains('5'), "{}", r.outcome.output);
    for step in ["bad_sum", "bad_path"] {
        let s = &r.report.steps[step];
        let e = s.error.as_ref().unwrap();
        assert_eq!((e.kind, s.attempts), (OutcomeKind::InvalidInput, 1), "{step}: {}", e.message);
        assert!(e.message.to_lowercase().contains("invalid arguments"), "{step}: {}", e.message);
    }
}

#[test]
fn weft_run_server_down_makes_every_call_transient_and_a_misspelt_server_is_refused() {
    let s = spec(&format!(
        "name = \"down\"\n[servers.everything]\ncommand = \"{}\"\n[steps.echo]\ntool = \"echo\"\nserver = \"everything\"\ninput = {{ message = \"'hi'\" }}\nretry = {{ max_attempts = 2, initial_interval = \"1ms\" }}\n",
        everything()
    ));
    let db = s.dir.path().join("runs.db");
    let out = weft()
        .env("WEFT_DB", &db)
        .arg("run")
        .arg(&s.path)
        .args(["--server-down", "everything", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["error"]["step"].as_str(), r["error"]["kind"].as_str()), (Some("echo"), Some("transient")), "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("is down (injected fault)"), "{r}");
    assert_eq!(r["steps"]["echo"]["attempts"], json!(2));

    // Without the fault, the same run succeeds.
    let out = weft().env("WEFT_DB", &db).arg("run").arg(&s.path).arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let out = weft().env("WEFT_DB", &db).arg("run").arg(&s.path).args(["--server-down", "everythin"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--server-down everythin: the spec has no MCP server `everythin`; did you mean `everything`?"),
        "{stderr}"
    );
    assert!(!stderr.contains("run "), "nothing ran: {stderr}");
}
