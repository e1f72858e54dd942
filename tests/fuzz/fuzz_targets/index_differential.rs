//! libFuzzer entry for `index_differential`; the body (and what it checks) is in `../bodies/index_differential.rs`,
//! shared with the stable replay test `tests/fuzz_replay.rs`.
#![no_main]

#[path = "../bodies/index_differential.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
