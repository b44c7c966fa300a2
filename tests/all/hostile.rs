//! The hostile gallery: every guest that tries to hurt the host ends in the
//! right outcome kind, within its timeout plus a margin, and leaves the host
//! able to run the next skill.

use crate::support::{MARGIN, host_is_unharmed, load, run_timed, with_limits};
use serde_json::{Value, json};
use std::time::Duration;
use weft::domain::{Limits, OutcomeKind, Size};
use weft::sandbox::{RunOptions, RunReport};

fn short(timeout_ms: u64) -> Limits {
    Limits { timeout: Duration::from_millis(timeout_ms), ..Limits::default() }
}

/// Runs a hostile fixture and checks what every hostile run must do, however
/// it ends: return within its timeout plus a margin, and leave the host able
/// to run the next skill.
async fn run_hostile(fixture: &str, input: &str, opts: &RunOptions) -> RunReport {
    let skill = load(fixture).await;
    let timeout = opts.limits.timeout;
    let (report, took) = run_timed(&skill, input, opts).await;
    assert!(took < timeout + MARGIN, "{fixture} took {took:?}, past its timeout {timeout:?} plus margin");
    host_is_unharmed().await;
    report
}

/// [`run_hostile`], and the run ends as `kind`.
async fn ends_as(fixture: &str, input: &str, limits: Limits, kind: OutcomeKind) -> weft::domain::Failure {
    let report = run_hostile(fixture, input, &with_limits(limits)).await;
    let failure = report.result.expect_err("a hostile run does not succeed");
    assert_eq!(failure.kind, kind, "{fixture}: {failure}");
    failure
}

#[tokio::test]
async fn busy_loop_ends_as_timeout() {
    let f = ends_as("busy-loop", "null", short(300), OutcomeKind::Timeout).await;
    assert!(f.message.contains("deadline of 300ms"), "{f}");
}

#[tokio::test]
async fn busy_loop_with_fuel_ends_as_out_of_fuel() {
    let limits = Limits { fuel: Some(5_000_000), ..short(20_000) };
    ends_as("busy-loop", "null", limits, OutcomeKind::OutOfFuel).await;
}

#[tokio::test]
async fn sleep_forever_in_a_host_call_ends_as_timeout() {
    ends_as("sleep-forever", "null", short(300), OutcomeKind::Timeout).await;
}

#[tokio::test]
async fn memory_bomb_ends_as_memory_limit() {
    let limits = Limits { max_memory: 32 * Size::MIB, ..short(20_000) };
    let f = ends_as("memory-bomb", "null", limits, OutcomeKind::MemoryLimit).await;
    assert!(f.message.contains("over its cap of 32MiB"), "{f}");
}

#[tokio::test]
async fn deep_recursion_ends_as_stack_overflow() {
    ends_as("deep-recursion", "null", short(20_000), OutcomeKind::StackOverflow).await;
}

#[tokio::test]
async fn panic_ends_as_trap_with_the_panic_message() {
    let f = ends_as("panic", "null", short(20_000), OutcomeKind::Trap).await;
    // Rust's panic aborts with `unreachable`; the message names the trap once
    // and where it happened, then the tail of stderr.
    assert!(f.message.starts_with("wasm trap: wasm `unreachable` instruction executed (in abort < "), "{f}");
    assert_eq!(f.message.matches("wasm trap").count(), 1, "{f}");
    // Frames are demangled Rust paths, without the hash suffix.
    let frames = f.message.split(" (in ").nth(1).and_then(|t| t.split(')').next()).unwrap_or_default();
    assert!(frames.contains("std::"), "{f}");
    assert!(!frames.contains("_ZN"), "{f}");
    assert!(f.message.contains("\nstderr: "), "{f}");
    assert!(f.message.contains("hostile panic: the guest gave up"), "the trap carries the stderr tail: {f}");
}

#[tokio::test]
async fn huge_output_ends_as_output_limit() {
    let f = ends_as("huge-output", "null", short(20_000), OutcomeKind::OutputLimit).await;
    assert!(f.message.contains("over the limit of 16MiB"), "{f}");
}

#[tokio::test]
async fn exit_ends_as_trap_naming_the_status() {
    let f = ends_as("exits", "null", short(20_000), OutcomeKind::Trap).await;
    // WASI 0.2 `exit` carries only success or failure, so status 3 arrives as 1.
    assert!(f.message.contains("exited with status 1"), "{f}");
}

#[tokio::test]
async fn output_that_is_not_json_is_a_contract_violation() {
    let f = ends_as("not-json", "null", short(20_000), OutcomeKind::ContractViolation).await;
    assert!(f.message.contains("not JSON"), "{f}");
}

#[tokio::test]
async fn output_that_breaks_its_schema_is_a_contract_violation_at_its_pointer() {
    let f = ends_as("breaks-schema", "null", short(20_000), OutcomeKind::ContractViolation).await;
    assert!(f.message.contains("at /count:"), "the message names the JSON pointer: {f}");
}

#[tokio::test]
async fn guest_errors_keep_their_kind() {
    for (kind, expected) in [
        ("transient", OutcomeKind::Transient),
        ("permanent", OutcomeKind::Permanent),
        ("invalid-input", OutcomeKind::InvalidInput),
    ] {
        let input = json!({"kind": kind, "message": format!("told to fail as {kind}")}).to_string();
        let f = ends_as("guest-error", &input, short(20_000), expected).await;
        assert_eq!(f.message, format!("told to fail as {kind}"));
    }
}

#[tokio::test]
async fn stdout_flood_is_truncated_at_its_cap_and_the_run_still_succeeds() {
    let limits = Limits { max_stdout: 64 * Size::KIB, max_stderr: 32 * Size::KIB, ..short(20_000) };
    let report = run_hostile("stdout-flood", "null", &with_limits(limits)).await;
    assert_eq!(report.result.expect("the flood itself is not an error"), json!({"written": 16_777_216}));
    assert_eq!(report.stdout.text.len(), 64 * 1024);
    assert_eq!(report.stdout.dropped_bytes, 8 * 1024 * 1024 - 64 * 1024);
    assert_eq!(report.stderr.text.len(), 32 * 1024);
    assert!(report.stdout.truncated() && report.stderr.truncated());
}

#[tokio::test]
async fn host_log_flood_is_capped_and_counted() {
    let limits = Limits { max_log: 64 * Size::KIB, ..short(20_000) };
    let report = run_hostile("log-flood", "null", &with_limits(limits)).await;
    assert_eq!(report.result.expect("logging too much is not an error"), json!({"logged": 100_000}));
    let kept: usize = report.logs.iter().map(|l| l.message.len() + 1).sum();
    assert!(kept <= 64 * 1024, "kept {kept} bytes of logs");
    assert!(!report.logs.is_empty());
    assert_eq!(report.logs.len() as u64 + report.logs_dropped, 100_000);
}

/// Runs escape-probe as a hostile run, with no grants.
async fn probe(input: Value) -> Value {
    let report = run_hostile("escape-probe", &input.to_string(), &with_limits(short(20_000))).await;
    report.result.expect("the probe reports what happened instead of failing")
}

fn all_denied(report: &Value, section: &str) {
    let entries = report[section].as_object().unwrap_or_else(|| panic!("{section} in {report}"));
    assert!(!entries.is_empty(), "{section} was probed");
    for (what, result) in entries {
        assert_eq!(result["ok"], json!(false), "{section} {what} should be denied: {result}");
    }
}

#[tokio::test]
async fn reading_etc_passwd_and_parent_paths_is_denied() {
    let input = json!({
        "read": ["/etc/passwd", "../Cargo.toml", "../../etc/passwd", "/proc/self/environ", "Cargo.toml"],
        "list": ["/", ".", ".."],
        "write": ["/tmp/weft-escape-probe"]
    });
    let report = probe(input).await;
    all_denied(&report, "read");
    all_denied(&report, "list");
    all_denied(&report, "write");
    assert!(!std::path::Path::new("/tmp/weft-escape-probe").exists());
}

#[tokio::test]
async fn the_host_environment_is_invisible() {
    // The host has an environment (PATH at least); the guest sees none of it.
    assert!(std::env::var("PATH").is_ok(), "the host has an environment");
    let report = probe(json!({"env": true})).await;
    assert_eq!(report["env"], json!({}), "the guest sees no environment variables");
}

#[tokio::test]
async fn opening_a_socket_and_resolving_names_are_denied() {
    // A real listener on loopback: reachable from the host, not from the guest.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let report = probe(json!({"connect": [addr], "lookup": ["localhost", "example.com"]})).await;
    all_denied(&report, "connect");
    all_denied(&report, "lookup");
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "nothing connected to the listener");
}

#[tokio::test]
async fn self_referencing_schemas_load_and_are_applied_without_harming_the_host() {
    let skill = load("recursive-schema").await;
    assert_eq!(skill.info().input_schema["$ref"], json!("#"));
    // A deep input is checked against the recursive input schema, then
    // returned and checked against the 100-level output schema.
    let mut deep = json!({});
    for _ in 0..100 {
        deep = json!({"child": deep});
    }
    let report = run_hostile("recursive-schema", &deep.to_string(), &with_limits(short(20_000))).await;
    assert_eq!(report.result.expect("a deep input that obeys the schema runs"), deep);

    let f = ends_as("recursive-schema", r#"{"child": {"child": 1}}"#, short(20_000), OutcomeKind::InvalidInput).await;
    assert!(f.message.contains("at /child/child:"), "{f}");
}

#[tokio::test]
async fn a_describe_past_the_output_limit_is_a_load_error() {
    let e = crate::support::sandbox()
        .load_file(&crate::support::fixture("huge-describe"))
        .await
        .err()
        .expect("a 20 MiB description is refused");
    match &e {
        weft::sandbox::LoadError::Describe { failure, .. } => {
            assert_eq!(failure.kind, OutcomeKind::OutputLimit, "{e}");
            assert!(failure.message.contains("over the limit of 16MiB"), "{e}");
        }
        other => panic!("expected a describe failure, got {other}"),
    }
    // An ordinary description stays well under it.
    let echo = crate::support::sandbox().load_file(&crate::support::fixture("echo")).await.expect("echo loads");
    assert!(!echo.info().description.is_empty());
    host_is_unharmed().await;
}

#[tokio::test]
async fn a_wide_input_cannot_multiply_a_costly_schema() {
    // The schema loads: one value costs at most about 2^19 evaluations.
    let report = run_hostile("costly-schema", "[1, 2, 3]", &with_limits(short(20_000))).await;
    assert_eq!(report.result.expect("a few integers are checked and run"), json!([1, 2, 3]));
    let f = ends_as("costly-schema", r#"["a"]"#, short(20_000), OutcomeKind::InvalidInput).await;
    assert!(f.message.contains("at /0:"), "one string is checked in full, and fails: {f}");
    // 300 strings would cost 300 × about 2^19 evaluations: refused before checking.
    let wide = serde_json::to_string(&vec!["a"; 300]).unwrap();
    let f = ends_as("costly-schema", &wide, short(20_000), OutcomeKind::InvalidInput).await;
    assert!(f.message.contains("more than the 100,000,000 allowed for one document"), "{f}");
}

#[tokio::test]
async fn a_schema_nested_too_deep_to_parse_is_a_load_error() {
    let e = crate::support::sandbox()
        .load_file(&crate::support::fixture("deep-schema"))
        .await
        .err()
        .expect("a 100,000-level schema is refused");
    assert!(matches!(e, weft::sandbox::LoadError::Schema { which: "input", .. }), "{e}");
    assert!(e.to_string().contains("recursion limit exceeded"), "{e}");
    host_is_unharmed().await;
}

#[tokio::test]
async fn a_schema_whose_checking_is_exponential_is_a_load_error() {
    // The input schema compiles in milliseconds, but checking any value
    // against it would take 2^40 steps on a host thread: its cost is bounded
    // before it is compiled, and the skill is refused.
    let started = std::time::Instant::now();
    let e = crate::support::sandbox()
        .load_file(&crate::support::fixture("exponential-schema"))
        .await
        .err()
        .expect("a schema costing 2^40 evaluations is refused");
    let took = started.elapsed();
    let refused_as_too_costly = matches!(
        &e,
        weft::sandbox::LoadError::SchemaCost {
            which: "input",
            error: weft::contract::cost::CostError::TooCostly { .. },
            ..
        }
    );
    assert!(refused_as_too_costly, "{e}");
    assert!(
        e.to_string().contains(
            "exponential-schema.wasm`: its input schema could cost more than 1,000,000 evaluations per value \
             (from `#/$defs/d22` on"
        ),
        "{e}"
    );
    // Loading runs `describe` under a 10s deadline; the bound adds little.
    assert!(took < Duration::from_secs(10) + MARGIN, "loading took {took:?}");
    host_is_unharmed().await;
}

/// wasmtime 48.0.11 fixed the pooling allocator's reset of a slot's memory
/// skipping pages that were swapped out, so a previous instance's data could
/// survive into the next. Here: one slot in the pool (so every instance
/// reuses it), keep-resident on (as weft configures it: 4 MiB), and a guest
/// that writes 12 MiB of a pattern, then a fresh instance that grows its
/// memory the same way and looks for it, without writing.
#[tokio::test]
async fn a_fresh_instance_never_sees_what_the_previous_instance_wrote() {
    use weft::sandbox::{Allocation, Sandbox, SandboxConfig};
    let config = SandboxConfig {
        cache_dir: Some(crate::support::root().join("target/test-cache")),
        allocation: Allocation::Pooling { instances: 1 },
    };
    let sandbox = Sandbox::new(config).expect("a one-slot pool");
    assert_eq!(sandbox.allocation(), Allocation::Pooling { instances: 1 }, "the pool was reserved");
    let snoop = sandbox.load_file(&crate::support::fixture("memory-snoop")).await.unwrap();
    let opts = with_limits(Limits { max_memory: 64 * Size::MIB, ..short(20_000) });
    let run = |input: Value| {
        let (snoop, opts) = (snoop.clone(), opts.clone());
        async move { snoop.run(&input.to_string(), &opts).await.result.expect("memory-snoop runs") }
    };
    // The probe sees the pattern where it is: in the instance that wrote it.
    let itself = run(json!({"write": 7, "read": 7, "mib": 12})).await;
    assert!(itself["pages_with_pattern"].as_u64().unwrap() >= 12 * 16, "the probe works: {itself}");
    for seed in 1..=5u64 {
        run(json!({"write": seed, "mib": 12})).await;
        let next = run(json!({"read": seed, "mib": 12})).await;
        assert_eq!(next["pages_with_pattern"], 0, "round {seed}: the next instance saw the previous one's memory");
    }
}
