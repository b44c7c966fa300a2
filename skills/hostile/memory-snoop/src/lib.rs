//! Hostile: tries to read what an earlier instance left in its memory.
//!
//! `{"write": SEED, "mib": N}` grows the linear memory by N MiB and fills
//! it with a pattern made from SEED. `{"read": SEED, "mib": N}` grows it by
//! the same amount and scans the whole linear memory, without writing it,
//! for 4 KiB of that pattern in a row: any found is what a previous instance
//! wrote (this instance holds at most 64 bytes of the pattern itself).
//! Both at once write, then scan the same instance's memory: the probe's
//! own check that it can see the pattern. Answers `{"pages_with_pattern": K}`.

use serde_json::{Value, json};
use weft_guest::SkillError;

const PAGE: usize = 65536;
const RUN: usize = 4096;

/// The pattern's byte at `i`, for `seed`.
fn pattern(seed: u64, i: usize) -> u8 {
    let x = (i as u64).wrapping_add(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8 | 1
}

/// Grows the memory by `mib` MiB; returns where the new pages start.
fn grow(mib: usize) -> Result<usize, SkillError> {
    let pages = mib * 1024 * 1024 / PAGE;
    let old = core::arch::wasm32::memory_grow(0, pages);
    if old == usize::MAX {
        return Err(SkillError::permanent("memory.grow refused"));
    }
    Ok(old * PAGE)
}

/// Tries to read leftovers of an earlier instance.
#[weft_guest::skill(name = "memory-snoop")]
fn run(input: Value) -> Result<Value, SkillError> {
    let mib = input["mib"].as_u64().unwrap_or(8) as usize;
    let write = input["write"].as_u64();
    let read = input["read"].as_u64();
    if write.is_none() && read.is_none() {
        return Err(SkillError::invalid_input("give `write`, `read`, or both"));
    }
    let start = grow(mib)?;
    if let Some(seed) = write {
        for i in 0..mib * 1024 * 1024 {
            // SAFETY: `start..start + mib MiB` is memory this call just grew.
            unsafe { core::ptr::write_volatile((start + i) as *mut u8, pattern(seed, i)) };
        }
    }
    let Some(seed) = read else { return Ok(json!({"wrote_mib": mib})) };
    let end = core::arch::wasm32::memory_size(0) * PAGE;
    let mut found = 0u64;
    // The first page is never a grown page.
    let mut page = PAGE;
    while page + PAGE <= end {
        if holds_pattern(seed, page) {
            found += 1;
        }
        page += PAGE;
    }
    Ok(json!({"pages_with_pattern": found}))
}

/// Whether the page at `base` holds 4 KiB of the pattern at any offset
/// that run 1 could have used (the pattern is indexed from where run 1's
/// grown memory began, which is not known here: try each page alignment).
fn holds_pattern(seed: u64, base: usize) -> bool {
    // SAFETY: `base..base + PAGE` lies inside the linear memory.
    let first = unsafe { core::ptr::read_volatile(base as *const u8) };
    // Find the index in the pattern this byte could have: the pattern's
    // index is a page-aligned offset plus the offset in the page, so try
    // every page index of run 1's region (at most 4096 MiB / 64 KiB).
    for k in 0..65536usize {
        let i = k * PAGE;
        if pattern(seed, i) != first {
            continue;
        }
        let mut all = true;
        for j in 0..RUN {
            // SAFETY: as above.
            if unsafe { core::ptr::read_volatile((base + j) as *const u8) } != pattern(seed, i + j) {
                all = false;
                break;
            }
        }
        if all {
            return true;
        }
    }
    false
}
