//! `weft mcp`: weft served to a real MCP client from another ecosystem, the
//! official Python MCP SDK (`tests/mcp/client.py`, installed into `.venv` by
//! `tools/setup.sh`), over stdio and over streamable HTTP, with real skill
//! components and the real script runners.

use crate::support::{MARGIN, fixture, root};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one client session may take at most: generous, since a cold
/// compile cache makes the server compile the Python runner first.
const SESSION_LIMIT: Duration = Duration::from_secs(240);

/// A child process that is killed when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(p.exists(), "{} is missing: run `tools/setup.sh` (or `make`) first", p.display());
    p
}

/// The environment `weft mcp` runs with (the client passes it on).
fn weft_env() -> Value {
    json!({
        "WEFT_CACHE_DIR": root().join("target/test-cache"),
        "WEFT_RUNNERS_DIR": root().join("target/skills"),
    })
}

/// A `--skills` directory holding copies of these fixtures.
fn skills_dir(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        std::fs::copy(fixture(name), dir.path().join(format!("{name}.wasm"))).unwrap();
    }
    dir
}

/// A plan that starts `weft mcp ARGS` over stdio and runs `ops`.
fn stdio(args: &[&str], ops: Value) -> Value {
    let mut all = vec!["mcp"];
    all.extend_from_slice(args);
    json!({"command": env!("CARGO_BIN_EXE_weft"), "args": all, "env": weft_env(), "ops": ops})
}

fn call(name: &str, arguments: Value) -> Value {
    json!({"op": "call", "name": name, "arguments": arguments})
}

/// Runs the Python client on `plan` and returns what it printed, failing
/// the test (with the client's stderr) if it fails or takes too long.
fn client(plan: &Value) -> Value {
    let mut child = KillOnDrop(
        Command::new(python())
            .arg(root().join("tests/mcp/client.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the Python client starts"),
    );
    child.0.stdin.take().unwrap().write_all(plan.to_string().as_bytes()).unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.0.stdout.take().unwrap()));
    let err = drain(Box::new(child.0.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > SESSION_LIMIT {
            let _ = child.0.kill();
            panic!("the MCP session took over {SESSION_LIMIT:?}; stderr:\n{}", err.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "the Python client failed ({status}); stderr:\n{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("the client printed no JSON ({e}): {out}\n{err}"))
}

fn calls(out: &Value) -> &Vec<Value> {
    out["calls"].as_array().expect("calls")
}

/// The structured content of a successful call.
fn ok(c: &Value) -> &Value {
    assert_eq!(c["is_error"], json!(false), "the call failed: {c}");
    &c["structured"]
}

/// The error of a failed call (`isError`): its kind and message.
fn failure(c: &Value) -> (String, String) {
    assert_eq!(c["is_error"], json!(true), "the call did not fail: {c}");
    let e = &c["structured"]["error"];
    let (kind, message) = (e["kind"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string());
    let text = c["text"][0].as_str().unwrap_or_default();
    assert!(text.starts_with(&format!("{kind}: ")), "the text content names the kind: {text}");
    (kind, message)
}

fn seconds(c: &Value) -> Duration {
    Duration::from_secs_f64(c["seconds"].as_f64().unwrap())
}

#[test]
fn lists_the_builtin_tools_and_one_tool_per_skill() {
    let skills = skills_dir(&["word-count", "echo"]);
    let dir = skills.path().to_str().unwrap();
    let out = client(&stdio(&["--skills", dir], json!([{"op": "list_tools"}, call("list_skills", json!({}))])));
    assert_eq!(out["server"]["name"], "weft");
    let tools = out["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["run_script", "run_workflow", "list_skills", "echo", "word-count"]);
    let tool = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap();

    let run_script = &tool("run_script")["input_schema"];
    assert_eq!(run_script["required"], json!(["language", "source"]));
    assert_eq!(run_script["properties"]["language"]["enum"], json!(["python", "javascript"]));
    assert!(run_script["properties"]["limits"]["properties"]["timeout"].is_object());
    assert!(tool("run_workflow")["input_schema"]["properties"]["spec"].is_object());

    // An object schema is the tool's schema as it is; any other is wrapped as `input`.
    let wc = tool("word-count");
    assert_eq!(wc["input_schema"]["type"], "object");
    assert_eq!(wc["input_schema"]["required"], json!(["text"]));
    assert!(wc["description"].as_str().unwrap().starts_with("Counts the words"), "{}", wc["description"]);
    let echo = &tool("echo")["input_schema"];
    assert_eq!(echo["type"], "object");
    assert!(echo["properties"]["input"].is_object(), "{echo}");

    let listed = ok(&calls(&out)[0])["skills"].as_array().unwrap().clone();
    let wc = listed.iter().find(|s| s["name"] == "word-count").unwrap();
    assert_eq!((wc["version"].as_str(), wc["tool"].as_str()), (Some("0.1.0"), Some("word-count")));
    assert_eq!(wc["input_schema"]["required"], json!(["text"]));
    assert_eq!(wc["output_schema"]["required"], json!(["words", "lines", "chars"]));
    assert!(Path::new(wc["path"].as_str().unwrap()).ends_with("word-count.wasm"));
}

#[test]
fn run_script_runs_python_and_javascript() {
    let python = "import statistics\n\ndef run(input):\n    print('hello from python')\n    \
                  return {'mean': statistics.mean(input['xs'])}\n";
    let js = "function run(input) {\n  console.log('counting');\n  return { n: input.items.length, \
              upper: input.items.map((s) => s.toUpperCase()) };\n}\n";
    let out = client(&stdio(
        &[],
        json!([
            call("run_script", json!({"language": "python", "source": python, "input": {"xs": [1, 2, 6]}})),
            call("run_script", json!({"language": "javascript", "source": js, "input": {"items": ["a", "b"]}})),
        ]),
    ));
    let py = ok(&calls(&out)[0]);
    assert_eq!(py["status"], "ok");
    assert_eq!(py["output"], json!({"mean": 3}));
    assert_eq!(py["stdout"], "hello from python\n");
    assert!(py["duration_ms"].as_f64().unwrap() > 0.0);
    let js = ok(&calls(&out)[1]);
    assert_eq!(js["output"], json!({"n": 2, "upper": ["A", "B"]}));
    assert_eq!(js["logs"], json!([{"level": "info", "message": "counting"}]));
}

#[test]
fn an_endless_script_is_stopped_at_the_timeout_it_asked_for() {
    let out = client(&stdio(
        &[],
        json!([call(
            "run_script",
            json!({"language": "python", "source": "def run(input):\n    while True:\n        pass\n",
                   "limits": {"timeout": "500ms"}})
        )]),
    ));
    let c = &calls(&out)[0];
    let (kind, message) = failure(c);
    assert_eq!(kind, "timeout");
    assert!(message.contains("500ms"), "{message}");
    assert!(seconds(c) < Duration::from_millis(500) + MARGIN, "took {:?}", seconds(c));
}

#[test]
fn a_caller_cannot_raise_limits_past_the_ceilings() {
    let skills = skills_dir(&["busy-loop"]);
    let out = client(&stdio(
        &["--skills", skills.path().to_str().unwrap(), "--max-timeout", "1s", "--max-memory", "64MiB"],
        json!([
            // Asking for ten minutes gets the one-second ceiling.
            call(
                "run_script",
                json!({"language": "javascript", "source": "function run() { for (;;) {} }",
                                      "limits": {"timeout": "10m"}})
            ),
            // Asking for more memory gets the 64 MiB ceiling.
            call(
                "run_script",
                json!({"language": "python",
                                      "source": "def run(input):\n    return len(bytearray(200 * 1024 * 1024))\n",
                                      "limits": {"max_memory": "1GiB"}})
            ),
            // A skill tool runs with the defaults, under the same ceilings.
            call("busy-loop", json!({})),
        ]),
    ));
    let all = calls(&out);
    let (kind, message) = failure(&all[0]);
    assert_eq!(kind, "timeout");
    assert!(message.contains("deadline of 1s"), "{message}");
    assert!(seconds(&all[0]) < Duration::from_secs(1) + MARGIN, "took {:?}", seconds(&all[0]));
    assert_eq!(failure(&all[1]).0, "memory_limit", "{}", all[1]);
    let (kind, message) = failure(&all[2]);
    assert_eq!(kind, "timeout");
    assert!(message.contains("deadline of 1s"), "{message}");
}

#[test]
fn a_skill_tool_runs_the_skill_and_refuses_input_that_breaks_its_schema() {
    let skills = skills_dir(&["word-count", "echo"]);
    let out = client(&stdio(
        &["--skills", skills.path().to_str().unwrap()],
        json!([
            call("word-count", json!({"text": "one two three"})),
            call("word-count", json!({"words": "not a text"})),
            call("echo", json!({"input": [1, "two"]})),
            call("echo", json!({"input": 1, "extra": true})),
        ]),
    ));
    let all = calls(&out);
    assert_eq!(ok(&all[0])["output"], json!({"words": 3, "lines": 1, "chars": 13}));
    let (kind, message) = failure(&all[1]);
    assert_eq!(kind, "invalid_input");
    assert!(message.contains("input schema") && message.contains("text"), "{message}");
    assert_eq!(ok(&all[2])["output"], json!([1, "two"]));
    let (kind, message) = failure(&all[3]);
    assert_eq!(kind, "invalid_input");
    assert!(message.contains("`extra`"), "{message}");
}

#[test]
fn bad_arguments_are_tool_errors_and_an_unknown_tool_is_a_protocol_error() {
    let out = client(&stdio(
        &[],
        json!([
            call("run_script", json!({"language": "python"})),
            call("run_script", json!({"language": "ruby", "source": "x"})),
            call("run_script", json!({"language": "python", "source": "x", "limits": {"max_stack": "8MiB"}})),
            call("run_script", json!({"language": "python", "source": "x", "limits": {"timeout": "0s"}})),
            call("no_such_tool", json!({})),
        ]),
    ));
    let all = calls(&out);
    for (c, needle) in all.iter().zip(["missing field `source`", "`ruby`", "`max_stack`", "`timeout`"]) {
        let (kind, message) = failure(c);
        assert_eq!(kind, "invalid_input");
        assert!(message.starts_with("bad arguments for `run_script`") && message.contains(needle), "{message}");
    }
    assert_eq!(all[4]["mcp_error"]["code"], -32602, "{}", all[4]);
    assert!(all[4]["mcp_error"]["message"].as_str().unwrap().contains("no_such_tool"));
}

#[test]
fn run_workflow_runs_an_inline_spec() {
    let skills = skills_dir(&["word-count", "echo"]);
    let dir = skills.path().display().to_string();
    let spec = format!(
        r#"
        name = "count-inline"
        input_schema = {{ type = "object", required = ["text"] }}
        output = "{{'words': steps.count.output.words, 'echoed': steps.back.output, 'shout': steps.shout.output}}"

        [steps.count]
        skill = "{dir}/word-count.wasm"
        input = {{ text = "input.text" }}

        [steps.back]
        skill = "{dir}/echo.wasm"
        input = "steps.count.output.lines"

        [steps.shout]
        script_inline = "function run(input) {{ return input.text.toUpperCase(); }}"
        language = "javascript"
        "#
    );
    let out = client(&stdio(
        &["--skills", &dir],
        json!([
            call("run_workflow", json!({"spec": spec, "input": {"text": "a b c\nd"}})),
            call("run_workflow", json!({"spec": spec, "input": {"no_text": 1}})),
        ]),
    ));
    let all = calls(&out);
    let report = ok(&all[0]);
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["workflow"], "count-inline");
    assert_eq!(report["output"], json!({"words": 4, "echoed": 2, "shout": "A B C\nD"}));
    assert_eq!(report["steps"]["count"]["attempts"], 1);
    assert!(report["run_id"].as_str().is_some_and(|id| !id.is_empty()));
    // A run that fails is a tool error carrying the same report.
    assert_eq!(all[1]["is_error"], json!(true));
    assert_eq!(all[1]["structured"]["status"], "failed");
    assert_eq!(all[1]["structured"]["error"]["kind"], "invalid_input");
}

#[test]
fn an_inline_workflow_gets_no_grants_servers_or_files_outside_the_exposed_directories() {
    let skills = skills_dir(&["echo"]);
    let spec = r#"
name = "greedy"

[servers.shell]
command = "sh"

[steps.secrets]
script = "/etc/passwd"
language = "python"

[steps.zero]
skill = "../../../../dev/zero"

[steps.reader]
script_inline = "def run(input):\n    return open('/etc/hostname').read()"
language = "python"
grants = { read = ["/etc"] }
"#;
    let out = client(&stdio(
        &["--skills", skills.path().to_str().unwrap()],
        json!([
            call("run_workflow", json!({"spec": spec})),
            call("run_workflow", json!({"spec": "name = \"broken\"\n[steps.a]\nskil = \"echo.wasm\"\n"})),
        ]),
    ));
    let all = calls(&out);
    let (kind, message) = failure(&all[0]);
    assert_eq!(kind, "invalid_input");
    assert_eq!(message, "the workflow spec has 4 error(s)");
    let diags = all[0]["structured"]["diagnostics"].as_array().unwrap();
    let at: Vec<&str> = diags.iter().map(|d| d["at"].as_str().unwrap()).collect();
    assert_eq!(at, ["servers.shell", "steps.secrets.script", "steps.zero.skill", "steps.reader.grants"]);
    assert_eq!(diags[1]["line"], 8, "diagnostics are located: {}", diags[1]);
    assert!(diags[1]["message"].as_str().unwrap().contains("outside the directories this server exposes"));
    // Ordinary spec errors come back the same way, with the checker's diagnostics.
    let (kind, _) = failure(&all[1]);
    assert_eq!(kind, "invalid_input");
    let text = all[1]["text"][0].as_str().unwrap();
    assert!(text.contains("<inline>:3") && text.contains("skil"), "{text}");
}

#[test]
fn run_workflow_reads_spec_files_only_from_the_workflows_directory() {
    let skills = skills_dir(&["word-count"]);
    let workflows = tempfile::tempdir().unwrap();
    std::fs::create_dir(workflows.path().join("team")).unwrap();
    std::fs::write(
        workflows.path().join("team/count.toml"),
        format!(
            "name = \"count-file\"\n[steps.count]\nskill = \"{}\"\ninput = {{ text = \"input.text\" }}\n",
            skills.path().join("word-count.wasm").display()
        ),
    )
    .unwrap();
    let outside = tempfile::tempdir().unwrap();
    let escape = outside.path().join("escape.toml");
    std::fs::write(
        &escape,
        "name = \"escape\"\n[steps.a]\nscript_inline = \"def run(i): return 1\"\nlanguage = \"python\"\n",
    )
    .unwrap();
    let up = format!("../{}/escape.toml", outside.path().file_name().unwrap().to_str().unwrap());
    let out = client(&stdio(
        &["--skills", skills.path().to_str().unwrap(), "--workflows", workflows.path().to_str().unwrap()],
        json!([
            call("run_workflow", json!({"path": "team/count.toml", "input": {"text": "x y"}})),
            call("run_workflow", json!({"path": up})),
            call("run_workflow", json!({"path": escape})),
            call("run_workflow", json!({"path": "team/missing.toml"})),
            call("run_workflow", json!({"path": "team/count.toml", "spec": "name = \"x\""})),
        ]),
    ));
    let all = calls(&out);
    let report = ok(&all[0]);
    assert_eq!((report["status"].as_str(), report["workflow"].as_str()), (Some("succeeded"), Some("count-file")));
    assert_eq!(report["output"]["count"]["words"], 2);
    for (c, needle) in all[1..].iter().zip(["outside the workflows directory", "outside", "no workflow", "not both"]) {
        let (kind, message) = failure(c);
        assert_eq!(kind, "invalid_input");
        assert!(message.contains(needle), "{message}");
    }
}

/// `weft mcp ARGS` with stderr read in the background; returns the child
/// and the URL it says it listens on.
fn http_server(args: &[&str]) -> (KillOnDrop, String) {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_weft"))
            .arg("mcp")
            .args(args)
            .env("WEFT_CACHE_DIR", root().join("target/test-cache"))
            .env("WEFT_RUNNERS_DIR", root().join("target/skills"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("weft mcp starts"),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("weft mcp: listening on ") {
                let _ = tx.send(Ok(url.trim().to_string()));
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let _ = tx.send(Err(seen));
    });
    match rx.recv_timeout(SESSION_LIMIT) {
        Ok(Ok(url)) => (child, url),
        Ok(Err(stderr)) => panic!("weft mcp --http exited before listening:\n{stderr}"),
        Err(_) => panic!("weft mcp --http did not start listening within {SESSION_LIMIT:?}"),
    }
}

#[test]
fn serves_streamable_http_on_a_loopback_port_in_the_session_and_the_stateless_protocol() {
    let skills = skills_dir(&["word-count"]);
    let (_server, url) = http_server(&["--http", "127.0.0.1:0", "--skills", skills.path().to_str().unwrap()]);
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"), "{url}");
    // `legacy`: the initialize handshake and a session; `2026-07-28`: no
    // handshake, every request on its own.
    for (mode, version) in [("legacy", "2025-11-25"), ("2026-07-28", "2026-07-28")] {
        let out = client(&json!({
            "url": url,
            "mode": mode,
            "ops": [
                {"op": "list_tools"},
                call("run_script", json!({"language": "python", "source": "def run(input):\n    return input * 2\n",
                                          "input": 21})),
                call("word-count", json!({"text": "over http"})),
                call("no-such-tool", json!({})),
            ],
        }));
        assert_eq!(out["protocol_version"], version, "{mode}");
        let names: Vec<&str> = out["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["run_script", "run_workflow", "list_skills", "word-count"], "{mode}");
        assert_eq!(ok(&calls(&out)[0])["output"], 42, "{mode}");
        assert_eq!(ok(&calls(&out)[1])["output"]["words"], 2, "{mode}");
        assert_eq!(calls(&out)[2]["mcp_error"]["code"], -32602, "{mode}: {}", calls(&out)[2]);
    }
}

#[test]
fn refuses_a_non_loopback_address_unless_allowed() {
    let out = crate::support::weft().args(["mcp", "--http", "0.0.0.0:0"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a loopback address")
            && stderr.contains("no authentication")
            && stderr.contains("--allow-remote"),
        "{stderr}"
    );
}

/// One raw HTTP request to weft mcp: `POST /mcp` with an `initialize`
/// request and the given extra headers; returns the status code and the
/// response text.
fn raw_post(url: &str, host: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let addr = url.trim_start_matches("http://").trim_end_matches("/mcp");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
    .to_string();
    let mut req = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(req.as_bytes()).unwrap();
    let mut response = Vec::new();
    // An SSE answer stays open until the server ends it; the status line is what matters.
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
        if response.windows(4).any(|w| w == b"\r\n\r\n") && response.len() > 64 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

#[test]
fn browser_pages_on_this_machine_may_connect_and_others_only_when_allowed() {
    let (_server, url) = http_server(&["--http", "127.0.0.1:0", "--allow-origin", "https://agent.example"]);
    let port = url.trim_start_matches("http://127.0.0.1:").trim_end_matches("/mcp").to_string();
    let host = format!("127.0.0.1:{port}");
    for origin in
        [format!("http://localhost:{port}"), format!("http://127.0.0.1:{port}"), "http://localhost:6274".into()]
    {
        let (code, text) = raw_post(&url, &host, &[("Origin", &origin)]);
        assert_eq!(code, 200, "Origin {origin}: {text}");
    }
    let (code, text) = raw_post(&url, &host, &[("Origin", "https://agent.example")]);
    assert_eq!(code, 200, "an allowed origin: {text}");
    for origin in ["https://evil.example", "http://localhost.evil.example", "null"] {
        let (code, _) = raw_post(&url, &host, &[("Origin", origin)]);
        assert_eq!(code, 403, "Origin {origin} must be refused");
    }
    let (code, _) = raw_post(&url, "evil.example", &[]);
    assert_eq!(code, 403, "a foreign Host is refused");
    let (code, text) = raw_post(&url, &host, &[]);
    assert_eq!(code, 200, "no Origin (not a browser): {text}");
}

#[test]
fn a_line_on_stdio_that_is_not_json_gets_a_parse_error_and_the_session_goes_on() {
    // Answers come in any order: a parse error is answered at once, even
    // while the server is still starting.
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_weft"))
            .arg("mcp")
            .env("WEFT_CACHE_DIR", root().join("target/test-cache"))
            .env("WEFT_RUNNERS_DIR", root().join("target/skills"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let lines = [
        init.to_string(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        "this is not json".to_string(),
        "42".to_string(),
        json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string(),
    ];
    for l in &lines {
        writeln!(stdin, "{l}").unwrap();
    }
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut answers: Vec<Value> = Vec::new();
    while answers.len() < 4 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        answers.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout carries only JSON ({e}): {line}")));
    }
    drop(stdin);
    let codes: Vec<Value> = answers.iter().map(|a| a["error"]["code"].clone()).collect();
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert!(answers.iter().any(|a| a["id"] == 1 && a["result"].is_object()), "initialized: {answers:?}");
    assert!(codes.contains(&json!(-32700)) && codes.contains(&json!(-32600)), "{answers:?}");
    assert!(answers.iter().any(|a| a["id"] == 2 && a["result"].is_object()), "the session goes on: {answers:?}");
}

#[test]
fn deleting_a_session_over_http_answers_no_content() {
    let (_server, url) = http_server(&["--http", "127.0.0.1:0"]);
    let addr = url.trim_start_matches("http://").trim_end_matches("/mcp").to_string();
    let (code, text) = raw_post(&url, &addr, &[]);
    assert_eq!(code, 200, "{text}");
    let session = text
        .lines()
        .find_map(|l| l.strip_prefix("mcp-session-id: ").or_else(|| l.strip_prefix("Mcp-Session-Id: ")))
        .expect("a session id")
        .trim()
        .to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "DELETE /mcp HTTP/1.1\r\nHost: {addr}\r\nmcp-session-id: {session}\r\nmcp-protocol-version: 2025-11-25\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code: u16 = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(code == 200 || code == 204, "{response}");
}

/// What process `pid` holds in memory, in MiB: its private memory (anonymous
/// and shared-memory pages), and its whole RSS, which also counts the pages of
/// files it maps (its binary, the compiled runners), shared with the page
/// cache and given back by the kernel when memory is short.
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("RssAnon:") + field("RssShmem:"), field("VmRSS:"))
}

/// 200 calls at once on a server that runs 4 at a time: they queue in order,
/// every one is answered within its own timeout, and the server gives its
/// memory back afterwards.
#[test]
fn under_200_concurrent_calls_every_call_is_answered_in_time_and_memory_comes_back() {
    let (server, url) = http_server(&["--http", "127.0.0.1:0", "--max-calls", "4"]);
    let script = "def run(input):\n    return {'n': input['n'] * 2, 'pad': 'x' * 100000}\n";
    let out = client(&json!({
        "url": url,
        "ops": [{"op": "parallel", "count": 200, "name": "run_script", "timeout": 60,
                 "arguments": {"language": "python", "source": script, "input": {"n": 21}, "limits": {"timeout": "20s"}}}],
    }));
    let calls = calls(&out);
    assert_eq!(calls.len(), 200);
    let slowest = calls.iter().map(seconds).max().unwrap();
    for c in calls {
        assert_eq!(ok(c)["output"]["n"], 42, "{c}");
        assert!(seconds(c) < Duration::from_secs(20), "a call took {:?}, past its 20s timeout", seconds(c));
    }
    std::thread::sleep(Duration::from_secs(2));
    let (private, rss) = memory_mib(server.0.id());
    assert!(private < 150, "the server kept {private} MiB after the load ({rss} MiB RSS; slowest call {slowest:?})");
}

/// A call that cannot start before its timeout passes is answered `timeout`
/// at that timeout, not after the calls ahead of it.
#[test]
fn a_call_that_waits_past_its_timeout_for_a_slot_ends_as_timeout_then() {
    let (_server, url) = http_server(&["--http", "127.0.0.1:0", "--max-calls", "1"]);
    let busy = "def run(input):\n    while True:\n        pass\n";
    let out = client(&json!({
        "url": url,
        "ops": [{"op": "parallel", "count": 3, "name": "run_script", "timeout": 60,
                 "arguments": {"language": "python", "source": busy, "limits": {"timeout": "2s"}}}],
    }));
    let mut kinds: Vec<(String, String)> = calls(&out).iter().map(failure).collect();
    kinds.sort();
    for c in calls(&out) {
        assert!(seconds(c) < Duration::from_secs(2) + MARGIN, "a call took {:?}, past its 2s timeout", seconds(c));
    }
    assert!(kinds.iter().all(|(k, _)| k == "timeout"), "{kinds:?}");
    assert!(kinds.iter().any(|(_, m)| m.contains("run slots")), "some waited in the queue: {kinds:?}");
}
