//! Durable indexes (`Index::open_dir`): reopening gives every acknowledged change; torn and
//! damaged logs; the directory lock; option conflicts; checkpoints; and the kill tests: a
//! child process writes with `SyncMode::Always` and reports each acknowledged call, the parent
//! SIGKILLs it at a random moment and checks the recovered directory against what was
//! acknowledged. `OMENDB_KILL_ROUNDS` sets the number of kills (default 30; RELIABILITY.md
//! gives the full-scale runs).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use omendb::{Durability, Error, Index, IndexOptions, KeyRef, Keys, Metric, Payloads, SyncMode};

const DIM: usize = 8;

/// Held by every test of this file for its whole run. The kill tests spawn child processes;
/// between fork and exec a child holds a copy of every descriptor of this process, a
/// directory's LOCK among them (flock follows the open file, not the process), so a test
/// that closed an index and reopened it at that instant got `Locked`. Run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("omendb-durable-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn options() -> IndexOptions {
    IndexOptions { dim: DIM, metric: Metric::L2, m: 8, ef_construction: 64, ..IndexOptions::default() }
}

fn open(dir: &Path, sync: SyncMode, checkpoint_bytes: u64) -> omendb::Result<Index> {
    let opts = options();
    Index::open_dir(dir, omendb::index::options_must_match(&opts, &[]), Durability { sync, checkpoint_bytes })
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The vector a key gets in the put whose seed is `vseed`.
fn vector_of(key: u64, vseed: u64) -> Vec<f32> {
    let mut s = vseed ^ key.wrapping_mul(0x2545_F491_4F6C_DD1D);
    (0..DIM).map(|_| (splitmix(&mut s) >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect()
}

fn metadata_of(key: u64, vseed: u64) -> String {
    format!(r#"{{"k": {key}, "v": {}, "tags": {{"even": {}}}}}"#, vseed % 1_000_000, key.is_multiple_of(2))
}

/// A word unique to one put of one key (letters only, so every tokenizer keeps it whole).
fn word_of(key: u64, vseed: u64) -> String {
    let mut n = (vseed % 1_000_000) * 100_000 + key % 100_000;
    let mut w = String::from("zq");
    for _ in 0..8 {
        w.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    w
}

/// The text a key gets in the put whose seed is `vseed`.
fn text_of(key: u64, vseed: u64) -> String {
    format!("{} common", word_of(key, vseed))
}

/// One change the child makes, as it reports it.
#[derive(Clone, Debug, PartialEq)]
enum Change {
    Put { upsert: bool, vseed: u64, keys: Vec<u64> },
    Remove(u64),
}

impl Change {
    fn line(&self) -> String {
        match self {
            Change::Put { upsert, vseed, keys } => format!(
                "P {} {vseed} {}",
                *upsert as u8,
                keys.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
            ),
            Change::Remove(k) => format!("R {k}"),
        }
    }

    fn parse(line: &str) -> Change {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "P" => Change::Put {
                upsert: f[1] == "1",
                vseed: f[2].parse().unwrap(),
                keys: f[3].split(',').map(|k| k.parse().unwrap()).collect(),
            },
            "R" => Change::Remove(f[1].parse().unwrap()),
            _ => panic!("bad line {line}"),
        }
    }

    fn run(&self, index: &Index) -> omendb::Result<()> {
        match self {
            Change::Put { upsert, vseed, keys } => {
                let vectors: Vec<f32> = keys.iter().flat_map(|&k| vector_of(k, *vseed)).collect();
                let meta: Vec<String> = keys.iter().map(|&k| metadata_of(k, *vseed)).collect();
                let meta: Vec<Option<&str>> = meta.iter().map(|m| Some(m.as_str())).collect();
                let words: Vec<String> = keys.iter().map(|&k| text_of(k, *vseed)).collect();
                let texts: Vec<Option<&str>> = words.iter().map(|t| Some(t.as_str())).collect();
                let payloads = Payloads { metadata: Some(&meta), texts: Some(&texts) };
                if *upsert {
                    index.upsert_with(Keys::U64(keys), &vectors, payloads)
                } else {
                    index.add_with(Keys::U64(keys), &vectors, payloads)
                }
            }
            Change::Remove(k) => index.remove(KeyRef::U64(*k)),
        }
    }
}

/// What the acknowledged changes leave: key -> the seed of its last put.
type Model = BTreeMap<u64, u64>;

fn apply(model: &mut Model, change: &Change) {
    match change {
        Change::Put { vseed, keys, .. } => keys.iter().for_each(|&k| {
            model.insert(k, *vseed);
        }),
        Change::Remove(k) => {
            model.remove(k);
        }
    }
}

/// Whether `index` holds exactly `model`: the same keys, each with its last vector, metadata
/// and text as given, and its last text's terms (checked for `text_checks` keys by a text
/// search).
fn holds(index: &Index, model: &Model, text_checks: usize) -> Result<(), String> {
    if index.len() != model.len() {
        return Err(format!("{} records, {} acknowledged", index.len(), model.len()));
    }
    for (&k, &vseed) in model {
        let got = index.get_vector(KeyRef::U64(k)).ok_or_else(|| format!("key {k} missing"))?;
        if got != vector_of(k, vseed) {
            return Err(format!("key {k}: not the vector of its last put"));
        }
        let meta: serde_json::Value = serde_json::from_str(&index.metadata(KeyRef::U64(k)).unwrap()).unwrap();
        let want: serde_json::Value = serde_json::from_str(&metadata_of(k, vseed)).unwrap();
        if meta != want {
            return Err(format!("key {k}: metadata {meta}, want {want}"));
        }
        let text = index.text(KeyRef::U64(k));
        if text.as_deref() != Some(&*text_of(k, vseed)) {
            return Err(format!("key {k}: text {text:?}, want {:?}", text_of(k, vseed)));
        }
    }
    for (&k, &vseed) in model.iter().step_by((model.len() / text_checks.max(1)).max(1)).take(text_checks) {
        let mut found = Vec::new();
        index.text_search(&word_of(k, vseed), 3, None, |key, _| found.push(key.to_string_plain())).unwrap();
        if found != [k.to_string()] {
            return Err(format!("key {k}: its text's word finds {found:?}"));
        }
    }
    Ok(())
}

/// The same searches on the recovered index and on one built from the model alone agree.
fn searches_agree(index: &Index, model: &Model) {
    if model.len() < 20 {
        return;
    }
    let fresh = Index::new(options()).unwrap();
    let keys: Vec<u64> = model.keys().copied().collect();
    let vectors: Vec<f32> = model.iter().flat_map(|(&k, &v)| vector_of(k, v)).collect();
    fresh.add(Keys::U64(&keys), &vectors).unwrap();
    let mut same = 0;
    let queries: usize = 30;
    for q in 0..queries {
        let query = vector_of(q as u64, 0xABCD);
        let a: Vec<String> = index.search(&query, 10, Some(200)).unwrap().into_iter().map(|h| h.key).collect();
        let b: Vec<String> = fresh.search(&query, 10, Some(200)).unwrap().into_iter().map(|h| h.key).collect();
        same += a.iter().filter(|k| b.contains(k)).count();
    }
    let overlap = same as f64 / (queries * 10.min(model.len())) as f64;
    assert!(overlap >= 0.95, "searches of the recovered index and a fresh one overlap {overlap:.3}");
}

#[test]
fn reopening_gives_every_change_back() {
    let _serial = serial();
    let dir = temp_dir("reopen");
    let mut model = Model::new();
    let changes = [
        Change::Put { upsert: false, vseed: 1, keys: (0..50).collect() },
        Change::Put { upsert: true, vseed: 2, keys: vec![3, 4, 60] },
        Change::Remove(10),
        Change::Put { upsert: false, vseed: 3, keys: (100..140).collect() },
        Change::Remove(60),
    ];
    {
        let index = open(&dir, SyncMode::Always, 0).unwrap();
        for c in &changes {
            c.run(&index).unwrap();
            apply(&mut model, c);
        }
        // A refused change is not logged.
        assert!(matches!(changes[0].run(&index), Err(Error::DuplicateKey(_))));
        assert!(matches!(Change::Remove(10).run(&index), Err(Error::KeyNotFound(_))));
    }
    let index = open(&dir, SyncMode::Always, 0).unwrap();
    assert_eq!(index.recovery().unwrap().records_replayed, changes.len() as u64);
    holds(&index, &model, 20).unwrap();
    index.check_invariants().unwrap();

    // A checkpoint leaves one snapshot and an empty log, and changes nothing.
    index.checkpoint().unwrap();
    let names = dir_names(&dir);
    assert_eq!(names.iter().filter(|n| n.starts_with("snapshot-")).count(), 1, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("log-")).count(), 1, "{names:?}");
    let after = Change::Put { upsert: true, vseed: 4, keys: vec![1, 2, 200] };
    after.run(&index).unwrap();
    apply(&mut model, &after);
    drop(index);
    let index = open(&dir, SyncMode::Always, 0).unwrap();
    assert_eq!(index.recovery().unwrap().records_replayed, 1);
    holds(&index, &model, 20).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn one_writer_per_directory() {
    let _serial = serial();
    let dir = temp_dir("lock");
    let first = open(&dir, SyncMode::Off, 0).unwrap();
    match open(&dir, SyncMode::Off, 0) {
        Err(Error::Locked(m)) => assert!(m.contains(&std::process::id().to_string()), "{m}"),
        other => panic!("second writer: {:?}", other.map(|_| ())),
    }
    drop(first);
    open(&dir, SyncMode::Off, 0).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stored_options_win_and_conflicts_are_refused() {
    let _serial = serial();
    let dir = temp_dir("options");
    let created = IndexOptions { dim: 4, metric: Metric::Cosine, m: 12, ..IndexOptions::default() };
    drop(Index::open_dir(&dir, omendb::index::options_must_match(&created, &[]), Durability::default()).unwrap());
    // Nothing set: the stored options.
    let defaults = IndexOptions::default();
    let index = Index::open_dir(&dir, omendb::index::options_must_match(&defaults, &[]), Durability::default()).unwrap();
    assert_eq!((index.dim(), index.metric(), index.options().m), (4, Metric::Cosine, 12));
    drop(index);
    // Set and equal: fine; set and different: refused, naming the option.
    let same = IndexOptions { metric: Metric::Cosine, ..IndexOptions::default() };
    drop(Index::open_dir(&dir, omendb::index::options_must_match(&same, &["metric"]), Durability::default()).unwrap());
    match Index::open_dir(&dir, omendb::index::options_must_match(&defaults, &["metric"]), Durability::default()) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("metric") && m.contains("cosine"), "{m}"),
        other => panic!("conflict: {:?}", other.map(|_| ())),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A directory with one snapshot and a log of `n` single-key puts; returns the log's path and
/// the byte offsets where its records end.
fn small_log(dir: &Path, n: u64) -> (PathBuf, Vec<u64>) {
    let index = open(dir, SyncMode::Off, 0).unwrap();
    let log = dir.join(dir_names(dir).into_iter().find(|n| n.starts_with("log-")).unwrap());
    let mut ends = vec![std::fs::metadata(&log).unwrap().len()];
    for i in 0..n {
        Change::Put { upsert: false, vseed: 7, keys: vec![i] }.run(&index).unwrap();
        ends.push(std::fs::metadata(&log).unwrap().len());
    }
    (log, ends)
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn model_of_first(n: usize) -> Model {
    (0..n as u64).map(|k| (k, 7)).collect()
}

#[test]
fn a_log_cut_at_any_byte_keeps_exactly_the_whole_records_before_the_cut() {
    let _serial = serial();
    let dir = temp_dir("torn-src");
    let (log, ends) = small_log(&dir, 4);
    let work = temp_dir("torn");
    let last_records = ends[1];
    for cut in last_records..=*ends.last().unwrap() {
        copy_dir(&dir, &work);
        let name = log.file_name().unwrap();
        std::fs::OpenOptions::new().write(true).open(work.join(name)).unwrap().set_len(cut).unwrap();
        let whole = ends.iter().filter(|&&e| e <= cut).count() - 1;
        let index = open(&work, SyncMode::Off, 0).unwrap();
        let r = index.recovery().unwrap().clone();
        assert_eq!(r.records_replayed, whole as u64, "cut at {cut}");
        assert_eq!(r.bytes_dropped, cut - ends[whole], "cut at {cut}");
        holds(&index, &model_of_first(whole), 0).unwrap();
        // The tail is gone: a write after recovery and a second reopen keep everything.
        Change::Put { upsert: false, vseed: 7, keys: vec![1000] }.run(&index).unwrap();
        drop(index);
        let again = open(&work, SyncMode::Off, 0).unwrap();
        assert_eq!(again.recovery().unwrap().bytes_dropped, 0, "cut at {cut}");
        let mut model = model_of_first(whole);
        model.insert(1000, 7);
        holds(&again, &model, 0).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_flipped_byte_keeps_exactly_the_records_before_it() {
    let _serial = serial();
    let dir = temp_dir("flip-src");
    let (log, ends) = small_log(&dir, 3);
    let bytes = std::fs::read(&log).unwrap();
    let work = temp_dir("flip");
    for at in 0..bytes.len() {
        copy_dir(&dir, &work);
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        std::fs::write(work.join(log.file_name().unwrap()), &damaged).unwrap();
        let index = open(&work, SyncMode::Off, 0).unwrap();
        // Records ending at or before the damaged byte are kept, none from it on.
        let kept = ends.iter().filter(|&&e| e <= at as u64).count().saturating_sub(1);
        let r = index.recovery().unwrap();
        assert_eq!(r.records_replayed, kept as u64, "byte {at}");
        assert!(r.stopped.is_some(), "byte {at}");
        holds(&index, &model_of_first(kept), 0).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn concurrent_writers_share_fsyncs_and_all_survive() {
    let _serial = serial();
    let dir = temp_dir("group");
    let mut model = Model::new();
    {
        let index = open(&dir, SyncMode::Always, 16 << 10).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let index = &index;
                s.spawn(move || {
                    for i in 0..40 {
                        Change::Put { upsert: true, vseed: t, keys: vec![t * 1000 + i, t * 1000 + i + 500] }
                            .run(index)
                            .unwrap();
                    }
                });
            }
        });
        for t in 0..4u64 {
            for i in 0..40 {
                model.insert(t * 1000 + i, t);
                model.insert(t * 1000 + i + 500, t);
            }
        }
    }
    let index = open(&dir, SyncMode::Always, 0).unwrap();
    holds(&index, &model, 20).unwrap();
    index.check_invariants().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batch_and_off_modes_keep_everything_at_close() {
    let _serial = serial();
    for sync in [SyncMode::Batch(Duration::from_millis(5)), SyncMode::Off] {
        let dir = temp_dir("modes");
        let change = Change::Put { upsert: false, vseed: 9, keys: (0..30).collect() };
        {
            let index = open(&dir, sync, 0).unwrap();
            change.run(&index).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let index = open(&dir, sync, 0).unwrap();
        let mut model = Model::new();
        apply(&mut model, &change);
        holds(&index, &model, 5).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---- kill tests ----------------------------------------------------------------------------

/// Runs in the child process (see `kill_and_recover`): opens the directory, then makes random
/// changes until killed, printing `B <change>` before each call and `A` once it returned Ok.
/// With `OMENDB_KILL_CHECKPOINTS`, each change is followed by a checkpoint (`C` before it).
#[test]
#[ignore = "the child process of the kill tests; run by them"]
fn kill_test_child() {
    let dir = PathBuf::from(std::env::var("OMENDB_KILL_DIR").expect("run by the kill tests"));
    let round: u64 = std::env::var("OMENDB_KILL_ROUND").unwrap().parse().unwrap();
    let checkpoints = std::env::var("OMENDB_KILL_CHECKPOINTS").is_ok();
    let index = open(&dir, SyncMode::Always, 32 << 10).unwrap();
    println!("ready");
    let mut rng = round.wrapping_mul(0x9E37_79B9) ^ 0x5EED;
    let mut fresh = 1_000_000 + round * 100_000;
    loop {
        let r = splitmix(&mut rng) % 100;
        let n = 1 + splitmix(&mut rng) % 12;
        let vseed = splitmix(&mut rng) % 1_000_000;
        let change = if r < 45 {
            Change::Put { upsert: true, vseed, keys: (0..n).map(|_| splitmix(&mut rng) % 300).collect::<std::collections::BTreeSet<_>>().into_iter().collect() }
        } else if r < 75 {
            fresh += n;
            Change::Put { upsert: false, vseed, keys: (fresh - n..fresh).collect() }
        } else {
            let k = splitmix(&mut rng) % 300;
            if !index.contains(KeyRef::U64(k)) {
                continue;
            }
            Change::Remove(k)
        };
        println!("B {}", change.line());
        change.run(&index).unwrap();
        println!("A");
        if checkpoints {
            println!("C");
            index.checkpoint().unwrap();
        }
    }
}

fn kill_rounds(default: usize) -> usize {
    std::env::var("OMENDB_KILL_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The parent: `rounds` times, starts the child on the directory, kills it with SIGKILL at a
/// random moment (or, with `during_checkpoint`, a random instant after it began a checkpoint),
/// reopens the directory and checks it against the acknowledged changes.
fn kill_and_recover(name: &str, rounds: usize, during_checkpoint: bool) {
    let dir = temp_dir(name);
    let mut model = Model::new();
    let mut rng = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let seed = rng;
    let (mut with_in_flight, mut acked_total) = (0, 0);
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "kill_test_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env("OMENDB_KILL_DIR", &dir)
            .env("OMENDB_KILL_ROUND", round.to_string())
            .envs(during_checkpoint.then_some(("OMENDB_KILL_CHECKPOINTS", "1")))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill: at a random time after it is ready (sometimes while it still recovers), or
        // after its n-th checkpoint began.
        let mut lines = Vec::new();
        let delay = Duration::from_micros(splitmix(&mut rng) % 150_000);
        let nth_checkpoint = 1 + splitmix(&mut rng) % 20;
        let mut checkpoints_seen = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut ready_at = None;
        loop {
            let line = match rx.recv_timeout(Duration::from_millis(1)) {
                Ok(l) => Some(l),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(_) => panic!("child exited before it was killed (round {round}, seed {seed})"),
            };
            if let Some(l) = &line {
                // libtest prints "test kill_test_child ... " on the same line first.
                if l.ends_with("ready") {
                    ready_at = Some(std::time::Instant::now());
                }
                if l == "C" {
                    checkpoints_seen += 1;
                }
                lines.push(l.clone());
            }
            let due = if during_checkpoint {
                checkpoints_seen >= nth_checkpoint
            } else {
                ready_at.is_some_and(|t| t.elapsed() >= delay) || (round % 10 == 9 && ready_at.is_none())
            };
            if due {
                if during_checkpoint {
                    std::thread::sleep(Duration::from_micros(splitmix(&mut rng) % 2_000));
                }
                break;
            }
            assert!(std::time::Instant::now() < deadline, "child made no progress (round {round}, seed {seed})");
        }
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());

        // What was acknowledged, and the one change that may have been in flight.
        let mut in_flight = None;
        for l in &lines {
            if let Some(c) = l.strip_prefix("B ") {
                in_flight = Some(Change::parse(c));
            } else if l == "A" {
                apply(&mut model, &in_flight.take().expect("A without B"));
                acked_total += 1;
            }
        }
        let index = open(&dir, SyncMode::Always, 32 << 10)
            .unwrap_or_else(|e| panic!("reopening after kill {round} (seed {seed}): {e}"));
        if let Err(exact) = holds(&index, &model, 10) {
            // The call in flight was logged but not acknowledged: it is there whole or not at all.
            let change = in_flight.unwrap_or_else(|| panic!("round {round} (seed {seed}): {exact}"));
            let mut with = model.clone();
            apply(&mut with, &change);
            holds(&index, &with, 10).unwrap_or_else(|e| {
                panic!("round {round} (seed {seed}): neither the acknowledged changes ({exact}) nor them and the one in flight ({e})")
            });
            model = with;
            with_in_flight += 1;
        }
        index.check_invariants().unwrap_or_else(|e| panic!("round {round} (seed {seed}): {e}"));
        if round % 5 == 4 || round + 1 == rounds {
            searches_agree(&index, &model);
        }
    }
    eprintln!(
        "{name}: {rounds} kills, {acked_total} acknowledged changes, {with_in_flight} times the change in flight was kept, {} records at the end",
        model.len()
    );
    assert!(acked_total > rounds, "the child acknowledged only {acked_total} changes in {rounds} rounds");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_change() {
    let _serial = serial();
    kill_and_recover("kill", kill_rounds(30), false);
}

#[test]
fn sigkill_during_checkpoints_loses_no_acknowledged_change() {
    let _serial = serial();
    kill_and_recover("kill-checkpoint", kill_rounds(30) / 2, true);
}

#[test]
fn a_directory_loads_and_opens_beside_its_writer() {
    let _serial = serial();
    let dir = temp_dir("readers");
    let writer = open(&dir, SyncMode::Off, 0).unwrap();
    let mut model = Model::new();
    for (i, c) in [
        Change::Put { upsert: false, vseed: 1, keys: (0..30).collect() },
        Change::Remove(4),
        Change::Put { upsert: true, vseed: 2, keys: vec![5, 40] },
    ]
    .iter()
    .enumerate()
    {
        c.run(&writer).unwrap();
        apply(&mut model, c);
        if i == 1 {
            writer.checkpoint().unwrap();
        }
    }
    // Both see every change so far, take no lock and change no file.
    let before = dir_names(&dir);
    let opened = Index::open(&dir).unwrap();
    assert!(opened.is_read_only());
    holds(&opened, &model, 5).unwrap();
    assert!(opened.add(Keys::U64(&[99]), &vector_of(99, 1)).is_err());
    let loaded = Index::load(&dir).unwrap();
    holds(&loaded, &model, 5).unwrap();
    // A loaded copy is writable and not durable: its changes stay in it.
    loaded.add(Keys::U64(&[99]), &vector_of(99, 1)).unwrap();
    assert!(!writer.contains(KeyRef::U64(99)));
    assert_eq!(dir_names(&dir), before);
    // The writer goes on.
    Change::Remove(5).run(&writer).unwrap();
    drop(writer);
    apply(&mut model, &Change::Remove(5));
    holds(&Index::load(&dir).unwrap(), &model, 5).unwrap();
    // A directory without a snapshot is refused as before.
    let empty = temp_dir("readers-empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(matches!(Index::load(&empty), Err(Error::Io(_))));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn batch_and_filtered_removes_are_logged_as_one_change() {
    let _serial = serial();
    let dir = temp_dir("remove-where");
    let mut model = Model::new();
    {
        let index = open(&dir, SyncMode::Always, 0).unwrap();
        let put = Change::Put { upsert: false, vseed: 3, keys: (0..40).collect() };
        put.run(&index).unwrap();
        apply(&mut model, &put);
        // Keys of even vseed-3 records: metadata "tags.even".
        let even = omendb::filter::Filter::parse("tags.even = TRUE").unwrap();
        assert_eq!(index.count(Some(&even)), 20);
        assert_eq!(index.remove_where(&even).unwrap(), 20);
        assert_eq!(index.count(Some(&even)), 0);
        model.retain(|k, _| k % 2 == 1);
        assert!(matches!(index.remove_batch(Keys::U64(&[1, 2])), Err(Error::KeyNotFound(_))));
        assert_eq!(index.remove_batch(Keys::U64(&[1, 3, 5])).unwrap(), 3);
        for k in [1, 3, 5] {
            model.remove(&k);
        }
        holds(&index, &model, 5).unwrap();
    }
    let index = open(&dir, SyncMode::Always, 0).unwrap();
    assert_eq!(index.recovery().unwrap().records_replayed, 3);
    holds(&index, &model, 5).unwrap();
    index.check_invariants().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn automatic_keys_skip_keys_in_use_and_survive_a_reopen() {
    let _serial = serial();
    let dir = temp_dir("auto-keys");
    {
        let index = open(&dir, SyncMode::Off, 0).unwrap();
        index.add(Keys::U64(&[4]), &vector_of(4, 1)).unwrap();
        // Was: DuplicateKey(4) here, and on every later call.
        assert_eq!(index.add_auto(&[vector_of(0, 1), vector_of(1, 1)].concat(), 2).unwrap(), 5);
        index.add(Keys::U64(&[100]), &vector_of(100, 1)).unwrap();
        assert_eq!(index.add_auto(&vector_of(2, 1), 1).unwrap(), 101);
    }
    let index = open(&dir, SyncMode::Off, 0).unwrap();
    assert_eq!(index.add_auto(&vector_of(3, 1), 1).unwrap(), 102);
    // A saved file with a counter behind its keys (written before this rule) skips them too.
    let stale = Index::new(options()).unwrap();
    stale.add_auto(&vector_of(0, 1), 1).unwrap();
    stale.add(Keys::U64(&[1, 2]), &[vector_of(1, 1), vector_of(2, 1)].concat()).unwrap();
    assert_eq!(stale.add_auto(&vector_of(3, 1), 1).unwrap(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}
