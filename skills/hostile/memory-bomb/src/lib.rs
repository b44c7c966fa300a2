//! Hostile: allocates 1 MiB blocks, writing every byte, and keeps them all,
//! until the host refuses to grow the linear memory (the allocation failure
//! then aborts: a trap).

use serde_json::Value;
use std::hint::black_box;
use weft_guest::SkillError;

const MIB: usize = 1 << 20;

/// Allocates memory until the host says no.
#[weft_guest::skill(name = "memory-bomb")]
fn run(_input: Value) -> Result<Value, SkillError> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // `vec![0xA5; n]` writes every byte, so the pages are really used.
        let block = vec![0xA5u8; MIB];
        hoard.push(black_box(block));
        black_box(&hoard);
    }
}
