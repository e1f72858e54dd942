//! libFuzzer entry for `index_differential`; the body (and what it checks) is in `../bodies/index_differential.rs`,
//! shared with the stable replay test `tests/fuzz_replay.rs`.
#![no_main]

#[path = "../bodies/index_differential.rs"]
mod body;

libfuzzer_sys::fuzz_target!(
    init: {
        // One rayon worker, and it is this thread: the index's parallel loops (batch insert,
        // repair) then run inline here, in the same order as with any one-worker pool, without
        // handing each loop to a second thread that spins in sched_yield once idle. With two
        // fork jobs on two cores those spinning workers took CPU from the jobs themselves.
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .use_current_thread()
            .build_global()
            .expect("the global rayon pool is built once, before any index exists");
    },
    |data: &[u8]| body::run(data)
);
