//! The on-disk cache of compiled components.
//!
//! A compiled component is keyed by a hash of its bytes, weft's version and
//! the engine's compatibility hash, so a second process (or a second run of
//! `weft`) maps the compiled code from disk instead of compiling again. A
//! cache entry that cannot be used is recompiled and replaced. Each writer
//! writes a temporary file of its own and renames it into place, so writers
//! racing on one entry (threads or processes) never expose a partial file.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components live. `None` disables the cache.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
}

/// A BLAKE3 digest of a component's bytes, as hex.
pub(crate) fn digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Feeds std `Hash` values into BLAKE3 so the engine's compatibility hash
/// becomes part of the key.
struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn finish(&self) -> u64 {
        let mut out = [0u8; 8];
        self.0.finalize_xof().fill(&mut out);
        u64::from_le_bytes(out)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl CompileCache {
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        CompileCache { dir }
    }

    fn entry(&self, engine: &Engine, digest: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut h = Blake3Hasher(blake3::Hasher::new());
        h.write(digest.as_bytes());
        h.write(env!("CARGO_PKG_VERSION").as_bytes());
        engine.precompile_compatibility_hash().hash(&mut h);
        let key = h.0.finalize().to_hex();
        Some(dir.join(format!("{}.cwasm", &key[..32])))
    }

    /// The compiled component for `bytes`: from the cache when present and
    /// usable, else compiled now and stored.
    pub(crate) fn component(&self, engine: &Engine, digest: &str, bytes: &[u8]) -> wasmtime::Result<Component> {
        let entry = self.entry(engine, digest);
        if let Some(path) = &entry
            && path.exists()
        {
            // SAFETY: the cache directory belongs to this user and holds only
            // files this function wrote with `Component::serialize` for an
            // engine with the same compatibility hash; `deserialize_file`
            // still checks the header and refuses mismatched engines.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(c) => return Ok(c),
                Err(_) => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Some(path) = &entry {
            // A cache that cannot be written only costs speed.
            let _ = store(path, &component);
        }
        Ok(component)
    }
}

/// Writes `component` to `path` atomically: into a temporary file of its own
/// in the same directory (so no other writer, thread or process, shares it),
/// then renamed over `path`. A reader sees either no entry or a whole one.
fn store(path: &Path, component: &Component) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("a cache entry has no directory"))?;
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize().map_err(|e| std::io::Error::other(e.to_string()))?;
    // Dropped unpersisted (on any error), the temporary file is removed.
    let mut tmp = tempfile::Builder::new().prefix(".").suffix(".tmp").tempfile_in(dir)?;
    tmp.write_all(&bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The default cache directory: `$WEFT_CACHE_DIR`, else the user's cache
/// directory (`~/.cache/weft/compiled` on Linux).
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WEFT_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("weft").join("compiled"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A small component whose compiled size grows with `funcs`.
    fn component_with(engine: &Engine, funcs: usize) -> Component {
        let body = "(func (result i32) i32.const 7)".repeat(funcs);
        Component::new(engine, wat::parse_str(format!("(component (core module {body}))")).unwrap()).unwrap()
    }

    #[test]
    fn writers_racing_on_one_entry_never_expose_a_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let path = dir.path().join("entry.cwasm");
        // Entries of different sizes, so that two writers sharing a file would
        // leave a mixture or a truncated file behind.
        let components: Vec<Component> = (1..=3).map(|i| component_with(&engine, i * 500)).collect();
        let writing = AtomicBool::new(true);
        std::thread::scope(|s| {
            let writers: Vec<_> = components
                .iter()
                .map(|c| {
                    let path = &path;
                    s.spawn(move || {
                        for _ in 0..15 {
                            store(path, c).expect("every writer stores its entry");
                        }
                    })
                })
                .collect();
            let reader = s.spawn(|| {
                let mut loads = 0;
                // Reads while the writers write, and at least once.
                while writing.load(Ordering::Relaxed) || (loads == 0 && path.exists()) {
                    if path.exists() {
                        // SAFETY: the file was written by `store` for this engine.
                        let loaded = unsafe { Component::deserialize_file(&engine, &path) };
                        loaded.expect("a reader only ever sees a whole entry");
                        loads += 1;
                    }
                }
            });
            let written: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
            writing.store(false, Ordering::Relaxed);
            let read = reader.join();
            assert!(written.iter().all(Result::is_ok), "a writer failed");
            read.expect("the reader never failed");
        });
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("entry.cwasm")], "no temporary file is left behind");
    }
}
