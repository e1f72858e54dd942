//! The `omendb` command-line tool end to end: build from .fvecs, .bvecs and .npy, info,
//! search, bench against brute-force ground truth, and clear errors for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_omendb");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "omendb {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str], needle: &str) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "omendb {args:?} should fail");
    assert!(err.contains(needle), "omendb {args:?}: {err:?} lacks {needle:?}");
}

fn vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n * dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn write_fvecs(path: &Path, data: &[f32], dim: usize) {
    let mut b = Vec::new();
    for row in data.chunks_exact(dim) {
        b.extend_from_slice(&(dim as i32).to_le_bytes());
        row.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
    }
    std::fs::write(path, b).unwrap();
}

/// A version 1 `.npy` file of `rows` x `dim` values already encoded in `body`.
fn write_npy_bytes(path: &Path, rows: usize, dim: usize, descr: &str, fortran: bool, body: &[u8]) {
    let order = if fortran { "True" } else { "False" };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': ({rows}, {dim}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(body);
    std::fs::write(path, b).unwrap();
}

/// `data` as little-endian float32 in C order, the header saying `descr`.
fn write_npy(path: &Path, data: &[f32], dim: usize, descr: &str) {
    let body: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_npy_bytes(path, data.len() / dim, dim, descr, false, &body);
}

fn write_npy_f64(path: &Path, data: &[f32], dim: usize) {
    let body: Vec<u8> = data.iter().flat_map(|x| f64::from(*x).to_le_bytes()).collect();
    write_npy_bytes(path, data.len() / dim, dim, "<f8", false, &body);
}

/// The same array in column-major order (as `np.asfortranarray` saves it).
fn write_npy_fortran(path: &Path, data: &[f32], dim: usize) {
    let rows = data.len() / dim;
    let body: Vec<u8> = (0..dim).flat_map(|j| (0..rows).flat_map(move |i| data[i * dim + j].to_le_bytes())).collect();
    write_npy_bytes(path, rows, dim, "<f4", true, &body);
}

fn brute_force(base: &[f32], q: &[f32], dim: usize, k: usize) -> Vec<i32> {
    let mut d: Vec<(f32, i32)> = base
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum(), i as i32))
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0));
    d[..k].iter().map(|p| p.1).collect()
}

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn build_info_search_bench() {
    let dir = Dir(std::env::temp_dir().join(format!("omendb-cli-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let p = |name: &str| dir.0.join(name).to_str().unwrap().to_string();
    let (n, dim, nq, k) = (500, 12, 20, 10);
    let base = vectors(n, dim, 1);
    let queries = vectors(nq, dim, 2);
    write_fvecs(Path::new(&p("base.fvecs")), &base, dim);
    write_npy(Path::new(&p("base.npy")), &base, dim, "<f4");
    write_fvecs(Path::new(&p("q.fvecs")), &queries, dim);
    let mut gt = Vec::new();
    for q in queries.chunks_exact(dim) {
        gt.extend_from_slice(&(k as i32).to_le_bytes());
        brute_force(&base, q, dim, k).iter().for_each(|i| gt.extend_from_slice(&i.to_le_bytes()));
    }
    std::fs::write(p("gt.ivecs"), gt).unwrap();

    let built = ok(&["build", "--metric", "l2", "--input", &p("base.fvecs"), "-o", &p("a.omendb"), "--m", "8", "--ef-construction", "100", "--batch", "128"]);
    assert!(built.contains("built 500 vectors of dim 12"), "{built}");
    ok(&["build", "--input", &p("base.npy"), "-o", &p("b.omendb"), "--m", "8"]);

    let info = ok(&["info", &p("a.omendb")]);
    // dim 12 and m0 16: the list ends at 116, so the records pack (format 5, 128-byte records).
    for needle in ["format version  5", "record layout   128 bytes", "lock/level/state at 116", "dim             12", "metric          l2", "records         500", "RECS", "MDAT", "TEXT", "record layout", "check           ok"] {
        assert!(info.contains(needle), "info lacks {needle:?}:\n{info}");
    }

    let hits = ok(&["search", &p("b.omendb"), "--queries", &p("q.fvecs"), "-k", "3", "--ef", "200"]);
    // The same answers whether the file is memory-mapped (the default) or loaded.
    assert_eq!(ok(&["search", &p("b.omendb"), "--queries", &p("q.fvecs"), "-k", "3", "--ef", "200", "--load"]), hits);
    let v1 = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1-small.omendb");
    let info_v1 = ok(&["info", v1]);
    assert!(info_v1.contains("format version  1") && info_v1.contains("VECS") && info_v1.contains("check           ok"), "{info_v1}");
    let lines: Vec<&str> = hits.lines().collect();
    assert_eq!(lines.len(), nq);
    let first: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(first.len(), 4, "{}", lines[0]);
    let want = brute_force(&base, &queries[..dim], dim, 3);
    let got: Vec<i32> = first[1..].iter().map(|h| h.split(':').next().unwrap().parse().unwrap()).collect();
    assert_eq!(got, want);

    let bench = ok(&["bench", &p("a.omendb"), "--queries", &p("q.fvecs"), "--groundtruth", &p("gt.ivecs"), "--ef", "16,500"]);
    let last = bench.lines().last().unwrap();
    let cols: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(cols[0], "500");
    assert!(cols[1].parse::<f64>().unwrap() >= 0.99, "{bench}");

    // Bad input: clear errors, no panics.
    // float64 and Fortran order are read (npyz) and give the same index as float32 in C order.
    write_npy_f64(Path::new(&p("f64.npy")), &base, dim);
    write_npy_fortran(Path::new(&p("fortran.npy")), &base, dim);
    for other in ["f64.npy", "fortran.npy"] {
        ok(&["build", "--input", &p(other), "-o", &p("c.omendb"), "--m", "8"]);
        assert_eq!(ok(&["search", &p("c.omendb"), "--queries", &p("q.fvecs"), "-k", "3", "--ef", "200"]), hits, "{other}");
    }
    fails(&["build", "--input", &p("base.fvecs"), "-o", &p("missing-dir/c.omendb")], "the directory");
    fails(&["build", "--input", &p("gt.txt"), "-o", &p("c.omendb")], "cannot read");
    std::fs::write(p("junk.omendb"), "junk").unwrap();
    fails(&["info", &p("junk.omendb")], "not an OmenDB index file");
    fails(&["search", &p("missing.omendb"), "--queries", &p("q.fvecs")], "cannot open");
    fails(&["build", "--metric", "hamming", "--input", &p("base.fvecs"), "-o", &p("c.omendb")], "metric");
}

/// Issue #25: the vocabulary's aliases, `--dtype`, `--filter`, and a reader that closes the
/// pipe early (`| head -1`) ends the tool quietly.
#[test]
fn dtype_filter_aliases_and_closed_pipes() {
    let dir = Dir(std::env::temp_dir().join(format!("omendb-cli-25-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let p = |name: &str| dir.0.join(name).to_str().unwrap().to_string();
    let (n, dim) = (400, 16);
    let base = vectors(n, dim, 3);
    write_fvecs(Path::new(&p("base.fvecs")), &base, dim);

    let built = ok(&["build", "--metric", "Euclidean", "--dtype", "half", "--input", &p("base.fvecs"), "-o", &p("h.omendb")]);
    assert!(built.contains("(l2)"), "{built}");
    let info = ok(&["info", &p("h.omendb")]);
    assert!(info.contains("metric          l2") && info.contains("dtype") && info.contains("f16"), "{info}");
    // f16 re-ranks at full precision: the nearest of a stored vector is itself, at distance 0.
    let hits = ok(&["search", &p("h.omendb"), "--queries", &p("base.fvecs"), "--limit", "5", "-k", "1"]);
    for (i, line) in hits.lines().enumerate() {
        assert_eq!(line, format!("{i}\t{i}:0"), "{hits}");
    }
    fails(&["build", "--dtype", "float64", "--input", &p("base.fvecs"), "-o", &p("x.omendb")], "f16 (float16, half)");
    // Neighbour codes: written as format 8, named by info, found at distance 0 too.
    ok(&["build", "--neighbor-codes", "8", "--input", &p("base.fvecs"), "-o", &p("c.omendb")]);
    let info = ok(&["info", &p("c.omendb")]);
    assert!(info.contains("format version  8") && info.contains("8-bit neighbour codes"), "{info}");
    let hits = ok(&["search", &p("c.omendb"), "--queries", &p("base.fvecs"), "--limit", "5", "-k", "1"]);
    for (i, line) in hits.lines().enumerate() {
        assert_eq!(line, format!("{i}\t{i}:0"), "{hits}");
    }
    fails(&["build", "--neighbor-codes", "5", "--input", &p("base.fvecs"), "-o", &p("x.omendb")], "0, 4 or 8");
    fails(&["build", "--metric", "hamming", "--input", &p("base.fvecs"), "-o", &p("x.omendb")], "cosine (cos, angular)");

    // Tie-safe recall: every vector twice, so each query has two neighbours at distance 0 and
    // the ground truth's order between them is arbitrary. A ground truth that names the
    // other copy first still gives recall 1.
    let twice: Vec<f32> = base.iter().chain(base.iter()).copied().collect();
    write_fvecs(Path::new(&p("twice.fvecs")), &twice, dim);
    ok(&["build", "--input", &p("twice.fvecs"), "-o", &p("t.omendb")]);
    let queries = &base[..20 * dim];
    write_fvecs(Path::new(&p("tq.fvecs")), queries, dim);
    let mut gt = Vec::new();
    for i in 0..20i32 {
        gt.extend_from_slice(&1i32.to_le_bytes());
        gt.extend_from_slice(&(i + n as i32).to_le_bytes()); // the copy, not the original
    }
    std::fs::write(p("tgt.ivecs"), &gt).unwrap();
    let bench = run(&["bench", &p("t.omendb"), "--queries", &p("tq.fvecs"), "--groundtruth", &p("tgt.ivecs"), "-k", "1", "--ef", "64"]);
    let out = String::from_utf8_lossy(&bench.stdout);
    let cols: Vec<&str> = out.lines().last().unwrap().split_whitespace().collect();
    assert_eq!(cols[1], "1.0000", "{out}");
    // A ground truth of another data set: a warning, not a silent 0.
    let mut wrong = Vec::new();
    for _ in 0..20 {
        wrong.extend_from_slice(&1i32.to_le_bytes());
        wrong.extend_from_slice(&5_000_000i32.to_le_bytes());
    }
    std::fs::write(p("wrong.ivecs"), &wrong).unwrap();
    let bench = run(&["bench", &p("t.omendb"), "--queries", &p("tq.fvecs"), "--groundtruth", &p("wrong.ivecs"), "-k", "1", "--ef", "64"]);
    let err = String::from_utf8_lossy(&bench.stderr);
    assert!(bench.status.success() && err.contains("warning") && err.contains("does not look like the ground truth"), "{err}");

    // A filter over records without metadata matches nothing: every row is empty.
    let filtered = ok(&["search", &p("h.omendb"), "--queries", &p("base.fvecs"), "--limit", "3", "--filter", "genre = \"jazz\""]);
    assert_eq!(filtered, "0\n1\n2\n");
    fails(&["search", &p("h.omendb"), "--queries", &p("base.fvecs"), "--filter", "genre ="], "--filter");

    // The reader takes one line and closes the pipe: no panic, exit status 0.
    for args in [vec!["info", &p("h.omendb")], vec!["search", &p("h.omendb"), "--queries", &p("base.fvecs")]] {
        let mut child = Command::new(BIN).args(&args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let mut first = [0u8; 1];
        use std::io::Read;
        child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !err.contains("panicked"), "{args:?}: {:?} {err}", out.status);
    }
}
