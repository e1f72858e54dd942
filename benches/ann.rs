//! Recall / QPS sweep of the Rust engine on a TEXMEX data folder, for profiling without
//! the Python layer (the side-by-side comparison with peers lives in benches/compare).
//!
//!   cargo bench --bench ann -- ../shared/data/glove-50-angular [n_base] [n_query] [threads]
//!
//! Environment: `M` and `EFC` set the graph (default 16 and 200), `CODES` the neighbour codes'
//! bits (8 or 4; default none), `EFS` the ef values swept. With `--features search-stats`,
//! `VARIANT_LIST=0,1` alternates those variants of a search step under study
//! (`hnsw::search::stats::VARIANT`) on one index, `ROUNDS` times each, one line per run, and
//! `BUILD_VARIANT=N` sets the variant the build runs.
use std::time::Instant;

use omendb::{Index, IndexOptions, Keys, Metric};

/// A comma-separated list of numbers from the environment variable `name`, if set.
fn env_list<T: std::str::FromStr>(name: &str) -> Option<Vec<T>> {
    std::env::var(name).ok().map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
}

fn read_vecs(path: &std::path::Path, limit: usize) -> (Vec<f32>, usize) {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let dim = i32::from_le_bytes(raw[0..4].try_into().unwrap()) as usize;
    let bpv = if path.extension().is_some_and(|e| e == "bvecs") { 1 } else { 4 };
    let rec = 4 + dim * bpv;
    let n = (raw.len() / rec).min(limit);
    let mut out = Vec::with_capacity(n * dim);
    for r in 0..n {
        let body = &raw[r * rec + 4..(r + 1) * rec];
        if bpv == 1 {
            out.extend(body.iter().map(|&b| b as f32));
        } else {
            out.extend(body.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())));
        }
    }
    (out, dim)
}

fn read_ivecs(path: &std::path::Path, limit: usize) -> Vec<Vec<u64>> {
    let raw = std::fs::read(path).unwrap();
    let dim = i32::from_le_bytes(raw[0..4].try_into().unwrap()) as usize;
    raw.chunks_exact(4 * (dim + 1))
        .take(limit)
        .map(|r| r[4..].chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as u64).collect())
        .collect()
}

/// Exact top-10 by brute force, for subsets (whose shipped ground truth no longer holds).
fn brute_force(base: &[f32], queries: &[f32], dim: usize, metric: Metric) -> Vec<Vec<u64>> {
    use rayon::prelude::*;
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    queries
        .par_chunks_exact(dim)
        .map(|q| {
            let qn = norm(q);
            let mut d: Vec<(f32, u64)> = base
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, x)| {
                    let v = match metric {
                        Metric::Cosine => 1.0 - q.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() / (qn * norm(x)),
                        _ => q.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(),
                    };
                    (v, i as u64)
                })
                .collect();
            d.select_nth_unstable_by(10, |a, b| a.0.total_cmp(&b.0));
            d.truncate(10);
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            d.into_iter().map(|p| p.1).collect()
        })
        .collect()
}

fn find(dir: &std::path::Path, stem: &str) -> std::path::PathBuf {
    let f = dir.join(format!("{stem}.fvecs"));
    if f.exists() { f } else { dir.join(format!("{stem}.bvecs")) }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: cargo bench --bench ann -- DATA_DIR [n_base] [n_query] [threads]");
        return;
    };
    let dir = std::path::Path::new(dir);
    let n_base: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
    let n_query: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().ok();
    let (base, dim) = read_vecs(&find(dir, "base"), n_base);
    let (queries, _) = read_vecs(&find(dir, "query"), n_query);
    let n = base.len() / dim;
    let metric = if dir.to_string_lossy().contains("angular") { Metric::Cosine } else { Metric::L2 };
    let truth = if n_base == usize::MAX {
        read_ivecs(&dir.join("groundtruth.ivecs"), n_query)
    } else {
        brute_force(&base, &queries, dim, metric)
    };
    let env_usize = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok());
    let mut options = IndexOptions { metric, ..Default::default() };
    if let Some(m) = env_usize("M") {
        options.m = m;
    }
    if let Some(efc) = env_usize("EFC") {
        options.ef_construction = efc;
    }
    if let Some(bits) = env_usize("CODES") {
        options.neighbor_codes = bits as u8;
    }
    let index = Index::new(options).unwrap();
    let keys: Vec<u64> = (0..n as u64).collect();
    #[cfg(feature = "search-stats")]
    if let Some(v) = env_usize("BUILD_VARIANT") {
        omendb::hnsw::search::stats::VARIANT.store(v as u64, std::sync::atomic::Ordering::Relaxed);
    }
    let t = Instant::now();
    index.add(Keys::U64(&keys), &base).unwrap();
    let build = t.elapsed().as_secs_f64();
    #[cfg(feature = "search-stats")]
    let _ = omendb::hnsw::search::stats::take(); // the build's beams
    println!(
        "{}: n={n} dim={dim} build {build:.2}s on {threads} threads ({:.0} vec/s), {:.0} bytes/vector",
        dir.display(),
        n as f64 / build,
        index.memory_bytes() as f64 / n as f64
    );
    let efs: Vec<usize> = env_list("EFS").unwrap_or_else(|| vec![10, 16, 24, 32, 48, 64, 96, 128, 256]);
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let list: Vec<u64> = env_list("VARIANT_LIST").unwrap_or_else(|| vec![0]);
    let variants = list.len();
    if variants > 1 && !cfg!(feature = "search-stats") {
        eprintln!("VARIANT_LIST needs --features search-stats: without it every variant runs the same code");
        std::process::exit(2);
    }
    let mut runs: Vec<(usize, u64)> = Vec::new();
    for &ef in &efs {
        for _ in 0..rounds {
            runs.extend(list.iter().map(|&v| (ef, v)));
        }
    }
    for (ef, variant) in runs {
        #[cfg(feature = "search-stats")]
        omendb::hnsw::search::stats::VARIANT.store(variant, std::sync::atomic::Ordering::Relaxed);
        let t = Instant::now();
        let mut hits = 0;
        for (q, tr) in queries.chunks_exact(dim).zip(&truth) {
            let mut found = [0u64; 10];
            let mut i = 0;
            index
                .search_visit(q, omendb::index::SearchRequest::new(10, Some(ef)), |k, _| {
                    if let omendb::KeyRef::U64(k) = k {
                        found[i] = k;
                        i += 1;
                    }
                })
                .unwrap();
            hits += found[..i].iter().filter(|f| tr[..10].contains(f)).count();
        }
        let secs = t.elapsed().as_secs_f64();
        let nq = queries.len() / dim;
        let tag = if variants > 1 { format!(" variant={variant}") } else { String::new() };
        println!("ef={ef:4}{tag} recall@10={:.4} single-thread QPS={:.0}", hits as f64 / (10 * nq) as f64, nq as f64 / secs);
        #[cfg(feature = "search-stats")]
        {
            let [beams, expanded, scored, upper] = omendb::hnsw::search::stats::take();
            let b = beams.max(1) as f64;
            println!(
                "         per search: {:.1} expanded, {:.1} scored ({:.2} a node); {:.1} distances above layer 0 (from codes where the codes are one per node)",
                expanded as f64 / b,
                scored as f64 / b,
                scored as f64 / expanded.max(1) as f64,
                upper as f64 / b
            );
        }
    }
}
