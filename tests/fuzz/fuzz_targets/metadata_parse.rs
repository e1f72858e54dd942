//! libFuzzer entry for `metadata_parse`; the body (and what it checks) is in `../bodies/metadata_parse.rs`,
//! shared with the stable replay test `tests/fuzz_replay.rs`.
#![no_main]

#[path = "../bodies/metadata_parse.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
