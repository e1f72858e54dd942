//! libFuzzer entry for `file_load`; the body (and what it checks) is in `../bodies/file_load.rs`,
//! shared with the stable replay test `tests/fuzz_replay.rs`.
#![no_main]

#[path = "../bodies/file_load.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
