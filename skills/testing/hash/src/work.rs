//! The work itself, shared with the benchmark so that the native baseline
//! runs exactly the same code (`host/benches/weft.rs` includes this file).

use sha2::{Digest, Sha256};

/// SHA-256 of `mib` MiB of deterministic pseudo-random bytes, as hex.
pub fn hash_generated(mib: u32) -> String {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; 1 << 20];
    let mut hasher = Sha256::new();
    for _ in 0..mib {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        hasher.update(&chunk);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
