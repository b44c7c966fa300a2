//! A spec through `weft check`: parse, load (and fail to load) the files it
//! names, compile every expression, build the graph, resolve limits.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use weft::engine::{SpecSource, Workflow};

fuzz_target!(|data: &[u8]| {
    if data.len() > common::MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let src = SpecSource::inline(text, common::spec_dir());
    if src.parse().is_err() {
        return;
    }
    let sandbox = common::sandbox();
    let checked = common::runtime().block_on(Workflow::check(sandbox, src));
    match checked {
        Ok(wf) => {
            let _ = wf.digest.len();
            for w in &wf.warnings {
                let _ = w.to_string();
            }
        }
        Err(errs) => {
            assert!(!errs.0.is_empty(), "a refused spec says why");
            for d in &errs.0 {
                let _ = d.to_string();
            }
        }
    }
});
