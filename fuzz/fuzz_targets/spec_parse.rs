//! Arbitrary text parsed as a workflow spec, in both formats, and every
//! diagnostic located in the text (file:line:col).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use weft::engine::load::{Format, SpecSource};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let inline = SpecSource::inline(text, common::spec_dir());
    for format in [Format::Toml, Format::Json] {
        let src = SpecSource { format, ..inline.clone() };
        match src.parse() {
            Ok(spec) => {
                // What parsed must serialise again (the journal stores specs).
                let _ = serde_json::to_string(&spec).expect("a parsed spec serialises");
            }
            Err(errs) => {
                for d in &errs.0 {
                    let _ = d.to_string();
                    let at: Vec<String> = d.at.split('.').map(str::to_string).collect();
                    let _ = src.locate(&at);
                }
            }
        }
        // Locating arbitrary key paths must not panic either.
        let keys: Vec<String> = text.lines().take(4).map(str::to_string).collect();
        let _ = src.locate(&keys);
    }
});
