//! The on-disk cache of compiled components.
//!
//! A compiled component is keyed by a hash of its bytes, weft's version and
//! the engine's compatibility hash, so a second process (or a second run of
//! `weft`) maps the compiled code from disk instead of compiling again. A
//! cache entry that cannot be used is recompiled and replaced.

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

fn store(path: &Path, component: &Component) -> std::io::Result<()> {
    let dir = path.parent().expect("cache entries live in a directory");
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize().map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp =
        dir.join(format!(".{}.{}.tmp", std::process::id(), path.file_name().unwrap_or_default().to_string_lossy()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The default cache directory: `$WEFT_CACHE_DIR`, else the user's cache
/// directory (`~/.cache/weft/compiled` on Linux).
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WEFT_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("weft").join("compiled"))
}
