//! Components that cannot be loaded end as `load` errors naming the file.

use crate::support::{fixture, host_is_unharmed, sandbox};
use weft::sandbox::LoadError;

async fn load_bytes(name: &str, bytes: Vec<u8>) -> LoadError {
    match sandbox().load_bytes(name, bytes).await {
        Ok(_) => panic!("{name} should not load"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_core_module_is_refused_with_what_to_do() {
    let core = wat::parse_str("(module (func (export \"run\")))").unwrap();
    let e = load_bytes("core.wasm", core).await;
    assert!(matches!(e, LoadError::NotComponent { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("core.wasm") && text.contains("wasm32-wasip2"), "{text}");
    host_is_unharmed().await;
}

#[tokio::test]
async fn garbage_bytes_are_refused() {
    let e = load_bytes("garbage.wasm", b"\x7fELF this is not wasm at all".to_vec()).await;
    assert!(matches!(e, LoadError::NotComponent { .. }), "{e}");
    let mut truncated = wat::parse_str("(component)").unwrap();
    truncated.extend_from_slice(&[0xff; 32]);
    let e = load_bytes("truncated.wasm", truncated).await;
    assert!(matches!(e, LoadError::Invalid { .. }), "{e}");
    host_is_unharmed().await;
}

#[tokio::test]
async fn a_component_of_another_world_is_refused() {
    let e = sandbox().load_file(&fixture("wrong-world")).await.err().expect("a command component is not a skill");
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{e}");
    assert!(e.to_string().contains("wrong-world.wasm"), "{e}");
    host_is_unharmed().await;
}

#[tokio::test]
async fn a_component_with_an_unknown_import_is_refused() {
    let wat = r#"(component
        (import "acme:rockets/launch" (instance (export "fire" (func))))
    )"#;
    let e = load_bytes("rockets.wasm", wat::parse_str(wat).unwrap()).await;
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{e}");
    assert!(e.to_string().contains("acme:rockets/launch"), "{e}");
}

#[tokio::test]
async fn a_missing_file_is_refused() {
    let e = sandbox().load_file("/no/such/skill.wasm".as_ref()).await.err().unwrap();
    assert!(matches!(e, LoadError::Read { .. }), "{e}");
    assert!(e.to_string().contains("/no/such/skill.wasm"));
}

#[tokio::test]
async fn a_second_sandbox_reuses_the_compile_cache() {
    let cache = tempfile::tempdir().unwrap();
    let config = weft::sandbox::SandboxConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        allocation: weft::sandbox::Allocation::OnDemand,
    };
    let first = weft::sandbox::Sandbox::new(config.clone()).unwrap();
    first.load_file(&fixture("echo")).await.unwrap();
    let entries = || -> Vec<u64> {
        use std::os::unix::fs::MetadataExt;
        std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().ino()).collect()
    };
    let before = entries();
    assert_eq!(before.len(), 1, "compiling stored one entry");
    let second = weft::sandbox::Sandbox::new(config).unwrap();
    let skill = second.load_file(&fixture("echo")).await.unwrap();
    assert_eq!(entries(), before, "the second sandbox mapped the entry instead of writing a new one");
    assert!(skill.run("[1]", &Default::default()).await.result.is_ok());
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let config = weft::sandbox::SandboxConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        allocation: weft::sandbox::Allocation::OnDemand,
    };
    weft::sandbox::Sandbox::new(config.clone()).unwrap().load_file(&fixture("echo")).await.unwrap();
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"corrupted").unwrap();
    }
    let skill = weft::sandbox::Sandbox::new(config).unwrap().load_file(&fixture("echo")).await.unwrap();
    assert!(skill.run("[1]", &Default::default()).await.result.is_ok());
}

#[test]
fn sandboxes_compiling_the_same_component_at_once_share_one_whole_cache_entry() {
    // Several threads, each with its own sandbox, compile the same component
    // into one cache directory at once, then load it again while the others
    // are still writing: each writer has its own temporary file, so every
    // load maps a whole entry and nothing is left behind.
    let cache = tempfile::tempdir().unwrap();
    let config = weft::sandbox::SandboxConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        allocation: weft::sandbox::Allocation::OnDemand,
    };
    let bytes = std::fs::read(fixture("echo")).unwrap();
    let start = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        for i in 0..4 {
            let (config, bytes, start) = (config.clone(), bytes.clone(), &start);
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    start.wait();
                    for round in 0..3 {
                        let sandbox = weft::sandbox::Sandbox::new(config.clone()).unwrap();
                        let skill = sandbox.load_bytes("echo.wasm", bytes.clone()).await.unwrap();
                        let input = format!("[{i}, {round}]");
                        let report = skill.run(&input, &Default::default()).await;
                        assert_eq!(report.result.unwrap().to_string(), input.replace(' ', ""));
                    }
                });
            });
        }
    });
    let names: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "one entry, no temporary files left: {names:?}");
    assert!(names[0].ends_with(".cwasm"), "{names:?}");
    let config2 = config.clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let skill = rt.block_on(weft::sandbox::Sandbox::new(config2).unwrap().load_bytes("echo.wasm", bytes)).unwrap();
    assert!(rt.block_on(skill.run("[1]", &Default::default())).result.is_ok());
}
