//! libFuzzer entry for `log_replay`; the body (and what it checks) is in `../bodies/log_replay.rs`,
//! shared with the stable replay test `tests/fuzz_replay.rs`.
#![no_main]

#[path = "../bodies/log_replay.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
