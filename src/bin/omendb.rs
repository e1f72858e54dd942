//! `omendb`: build an index file from vectors, search it, describe it, benchmark it.
//!
//! ```text
//! omendb build  --metric cosine --input base.fvecs -o index.omendb [--m 16 --ef-construction 200]
//! omendb search index.omendb --queries q.fvecs -k 10 [--ef 64] [--load]
//! omendb info   index.omendb
//! omendb bench  index.omendb --queries q.fvecs --groundtruth gt.ivecs [-k 10 --ef 16,32,64,128,256] [--load]
//! ```
//! `search` and `bench` open the index file memory-mapped and read-only (`Index::open`: fast,
//! records paged in on demand); `--load` reads it into memory instead (`Index::load`).
//! Vectors come from TEXMEX `.fvecs` / `.bvecs` files or NumPy `.npy` files (little-endian
//! float32, 2-D, C order). `build` keys record i (0-based row) as the u64 key i, which is what
//! `.ivecs` ground truth files list.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use omendb::storage::format::{self, FileSource};
use omendb::filter::Filter;
use omendb::index::SearchRequest;
use omendb::quant::Dtype;
use omendb::{Index, IndexOptions, KeyRef, Keys, Metric};

#[derive(Parser)]
#[command(name = "omendb", version, about = "OmenDB index files: build, search, info, bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an index from a vector file and save it.
    Build(BuildArgs),
    /// Search an index for the nearest records of each query; prints one line per query:
    /// its number, then key:distance pairs, nearest first.
    Search {
        /// The index file.
        index: PathBuf,
        /// Query vectors (.fvecs, .bvecs or .npy).
        #[arg(long)]
        queries: PathBuf,
        /// Hits per query.
        #[arg(short, default_value_t = 10)]
        k: usize,
        /// Beam width (default: the index's ef_search).
        #[arg(long)]
        ef: Option<usize>,
        /// Only records whose metadata matches this filter (the filter language of the C
        /// API, for example 'genre = "jazz" AND year >= 2000').
        #[arg(long)]
        filter: Option<String>,
        /// Search at most this many queries.
        #[arg(long)]
        limit: Option<usize>,
        /// Read the index into memory instead of mapping the file.
        #[arg(long)]
        load: bool,
    },
    /// Describe an index file: format version, options, counts and section sizes.
    Info {
        /// The index file.
        index: PathBuf,
    },
    /// Serve durable collections over HTTP/JSON: runs `omendb-server` (installed beside this
    /// tool) with the arguments that follow, e.g. `omendb serve --data DIR --http 127.0.0.1:7700`.
    Serve {
        /// The arguments of omendb-server (see `omendb-server --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure recall@k and queries per second over a sweep of ef.
    Bench {
        /// The index file.
        index: PathBuf,
        /// Query vectors (.fvecs, .bvecs or .npy).
        #[arg(long)]
        queries: PathBuf,
        /// Exact neighbours of each query (.ivecs of row numbers, as `build` keys them).
        #[arg(long)]
        groundtruth: PathBuf,
        /// Neighbours counted for recall.
        #[arg(short, default_value_t = 10)]
        k: usize,
        /// The beam widths to try, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "10,16,32,64,128,256")]
        ef: Vec<usize>,
        /// Read the index into memory instead of mapping the file.
        #[arg(long)]
        load: bool,
    },
}

/// The options of `omendb build`.
#[derive(clap::Args)]
struct BuildArgs {
    /// Distance: l2 (squared Euclidean; also euclidean), ip (1 - dot; also dot) or cosine
    /// (1 - cos; also cos, angular).
    #[arg(long, default_value = "l2")]
    metric: String,
    /// How the graph stores vectors: f32, f16, int8, binary or pq (the others than f32 keep
    /// the full vectors too and re-rank with them: distances stay exact).
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// f32 only: bits (8 or 4; 0 = none) of the neighbour codes, a code of each vector that
    /// searches and builds score neighbours with: faster, for 1.1-1.2x the memory (see README,
    /// Quantization).
    #[arg(long, default_value_t = 0)]
    neighbor_codes: u8,
    /// Vectors: .fvecs, .bvecs or .npy (float32, 2-D, C order).
    #[arg(long)]
    input: PathBuf,
    /// The index file to write.
    #[arg(short = 'o', long)]
    output: PathBuf,
    /// Links per node on the upper layers (layer 0 gets 2 * m).
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// Beam width while inserting.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Default beam width of searches, stored in the file.
    #[arg(long, default_value_t = 64)]
    ef_search: usize,
    /// Records per batch (each batch is inserted on all cores).
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Read at most this many vectors.
    #[arg(long)]
    limit: Option<usize>,
}

type CliResult<T> = Result<T, String>;

/// `println!` for the tool's reports: a reader of standard output that went away
/// (`omendb info f | head -3`) ends the program quietly, as it does any Unix tool, instead of
/// a panic; another write error ends it with a message.
macro_rules! say {
    ($($arg:tt)*) => { say_line(format_args!($($arg)*)) };
}

fn say_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(line).and_then(|()| stdout.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("omendb: error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Build(args) => build(args),
        Command::Search { index, queries, k, ef, filter, limit, load } => {
            search(&index, &queries, k, ef, filter.as_deref(), limit, load)
        }
        Command::Info { index } => info(&index),
        Command::Serve { args } => serve(&args),
        Command::Bench { index, queries, groundtruth, k, ef, load } => bench(&index, &queries, &groundtruth, k, &ef, load),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omendb: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build(args: BuildArgs) -> CliResult<()> {
    let BuildArgs { metric, dtype, neighbor_codes, input, output, m, ef_construction, ef_search, batch, limit } = args;
    let (input, output) = (input.as_path(), output.as_path());
    let metric = Metric::from_name(&metric).map_err(|e| e.to_string())?;
    let dtype = Dtype::from_name(&dtype).map_err(|e| e.to_string())?;
    // Before the build, not after it: the save's own error would name its temporary file.
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(format!("cannot write {}: the directory {} does not exist", output.display(), parent.display()));
    }
    let (data, dim) = read_vectors(input, limit)?;
    let n = data.len() / dim.max(1);
    let options = IndexOptions { dim, metric, dtype, m, ef_construction, ef_search, neighbor_codes, ..IndexOptions::default() };
    let index = Index::new(options).map_err(|e| e.to_string())?;
    let batch = batch.max(1);
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("{spinner} inserting [{bar:40}] {human_pos}/{human_len} vectors, {msg}, eta {eta}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    let start = Instant::now();
    for first in (0..n).step_by(batch) {
        let end = (first + batch).min(n);
        let keys: Vec<u64> = (first as u64..end as u64).collect();
        index
            .add(Keys::U64(&keys), &data[first * dim..end * dim])
            .map_err(|e| format!("vectors {first}..{end}: {e}"))?;
        bar.inc((end - first) as u64);
        bar.set_message(format!("{:.0} vectors/s", end as f64 / start.elapsed().as_secs_f64().max(1e-9)));
    }
    bar.finish_and_clear();
    let built = start.elapsed();
    index.save(output).map_err(|e| e.to_string())?;
    let bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    say!(
        "built {} vectors of dim {dim} ({}) in {:.1} s; saved {} ({:.1} MiB) in {:.1} s",
        n,
        metric.name(),
        built.as_secs_f64(),
        output.display(),
        bytes as f64 / (1 << 20) as f64,
        (start.elapsed() - built).as_secs_f64()
    );
    Ok(())
}

/// The index at `path`: memory-mapped read-only, or read into memory with `load`.
fn open(path: &Path, load: bool) -> CliResult<Index> {
    let opened = if load { Index::load(path) } else { Index::open(path) };
    opened.map_err(|e| format!("{}: {e}", path.display()))
}

fn key_text(k: KeyRef<'_>) -> String {
    k.to_string_plain()
}

fn search(index: &Path, queries: &Path, k: usize, ef: Option<usize>, filter: Option<&str>, limit: Option<usize>, load: bool) -> CliResult<()> {
    let filter = filter.map(Filter::parse).transpose().map_err(|e| format!("--filter: {e}"))?;
    let index = open(index, load)?;
    let (queries, dim) = read_vectors(queries, limit)?;
    if dim != index.dim() {
        return Err(format!("the queries have {dim} dimensions, the index {}", index.dim()));
    }
    use std::fmt::Write;
    let mut out = String::new();
    for (i, q) in queries.chunks_exact(dim).enumerate() {
        let _ = write!(out, "{i}");
        index
            .search_visit(q, SearchRequest { k, ef, filter: filter.as_ref() }, |key, d| {
                let _ = write!(out, "\t{}:{d}", key_text(key));
            })
            .map_err(|e| format!("query {i}: {e}"))?;
        out.push('\n');
    }
    write_stdout(&out)
}

/// Writes `text` to standard output. A reader that went away (`omendb search ... | head -1`)
/// is not an error: the output was not wanted any more, as for any Unix tool.
fn write_stdout(text: &str) -> CliResult<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write the results: {e}")),
        _ => Ok(()),
    }
}

/// Runs `omendb-server` from this tool's own directory (where `make install` and cargo put
/// both), or from PATH, with `args`; its exit status becomes ours.
fn serve(args: &[String]) -> CliResult<()> {
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join("omendb-server")));
    let program = beside.filter(|p| p.is_file()).unwrap_or_else(|| PathBuf::from("omendb-server"));
    let status = std::process::Command::new(&program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {}: {e} (build it with `cargo build --release -p omendb-server`, or `make install`)", program.display()))?;
    if status.success() {
        Ok(())
    } else {
        std::process::exit(status.code().unwrap_or(1))
    }
}

fn info(path: &Path) -> CliResult<()> {
    if path.is_dir() {
        // A durable index's directory: its state as it stands (snapshot + log), as JSON.
        let index = Index::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        say!("directory       {}", path.display());
        let stats = serde_json::to_string_pretty(&index.stats()).map_err(|e| e.to_string())?;
        say!("{stats}");
        return Ok(());
    }
    let source = FileSource::open(path).map_err(|e| e.to_string())?;
    let layout = format::read_layout(&source).map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = &layout.meta;
    let o = &meta.options;
    say!("file            {}", path.display());
    say!("format version  {}", layout.version);
    say!("file size       {} bytes", layout.file_len);
    say!("dim             {}", meta.dim);
    say!("metric          {}", o.metric.name());
    if o.dtype == Dtype::F32 && o.neighbor_codes != 0 {
        say!("dtype           f32 ({}-bit neighbour codes)", o.neighbor_codes);
    } else if o.dtype == Dtype::F32 {
        say!("dtype           f32");
    } else {
        say!("dtype           {} (searches re-rank {} x k candidates at full precision)", o.dtype.name(), o.rerank);
    }
    say!("records         {}", meta.records);
    say!(
        "slots           {} ({} free, {} removed awaiting repair)",
        meta.slots,
        layout.section(b"FREE").len / 4,
        layout.section(b"DELS").len / 4
    );
    say!(
        "key kind        {}",
        match meta.key_kind {
            None => "none (no record added yet)",
            Some(omendb::KeyKind::U64) => "u64",
            Some(omendb::KeyKind::Str) => "string",
        }
    );
    say!("m / m0          {} / {}", o.m, meta.m0);
    say!("ef_construction {}", o.ef_construction);
    say!("ef_search       {}", o.ef_search);
    say!("seed            {:#x}", o.seed);
    say!("entry point     {}", meta.entry.map_or("none".into(), |(id, l)| format!("slot {id}, level {l}")));
    match &meta.record_layout {
        Some(l) => say!(
            "record layout   {} bytes: vector at 0, links at {}, upper lists at {}, lock/level/state at {}",
            l.stride, l.links, l.upper, l.lock
        ),
        None => say!("record layout   format 1: NODE and VECS sections (open loads it into memory)"),
    }
    say!("sections:");
    for s in &layout.sections {
        say!("  {}  offset {:>12}  {:>12} bytes  crc32c {:08x}", s.name(), s.offset, s.len, s.crc);
    }
    // Checks every checksum and every record (as open does), which the lines above do not.
    let start = Instant::now();
    let index = Index::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let opened = start.elapsed();
    let (fields, texts) = index.payload_summary();
    say!("metadata fields {}{}", fields.len(), if fields.is_empty() { String::new() } else { format!(" ({})", fields.join(", ")) });
    say!("texts           {texts} records have one");
    let stats = index.stats();
    say!("levels          {} (records per top layer)", stats["levels"]);
    say!("layer-0 degree  {:.2} links a record (mean)", stats["mean_layer0_degree"].as_f64().unwrap_or(0.0));
    say!("memory          {} (bytes by part, loaded: {})", stats["memory"]["total"], stats["memory"]);
    say!("check           ok: every checksum and record checked; opened memory-mapped in {:.1} ms", opened.as_secs_f64() * 1e3);
    Ok(())
}

fn bench(index: &Path, queries: &Path, groundtruth: &Path, k: usize, efs: &[usize], load: bool) -> CliResult<()> {
    let start = Instant::now();
    let index = open(index, load)?;
    say!("{} in {:.1} ms", if load { "loaded" } else { "opened (memory-mapped)" }, start.elapsed().as_secs_f64() * 1e3);
    let (queries, dim) = read_vectors(queries, None)?;
    if dim != index.dim() {
        return Err(format!("the queries have {dim} dimensions, the index {}", index.dim()));
    }
    let nq = queries.len() / dim;
    let truth = read_ivecs(groundtruth)?;
    if truth.len() < nq {
        return Err(format!("{} ground truth rows for {nq} queries", truth.len()));
    }
    if let Some(i) = truth[..nq].iter().position(|t| t.len() < k) {
        return Err(format!("ground truth row {i} lists fewer than k = {k} neighbours"));
    }
    let stored = |id: i64| u64::try_from(id).is_ok_and(|key| index.contains(KeyRef::U64(key)));
    if let Some((i, bad)) = truth[..nq].iter().enumerate().find_map(|(i, t)| t[..k].iter().find(|&&id| !stored(id)).map(|b| (i, *b))) {
        eprintln!(
            "omendb: warning: ground truth row {i} names row {bad}, which the index does not hold ({} records): is it the ground truth of this data?",
            index.len()
        );
    }
    let kth_distance = kth_true_distances(&index, &queries, dim, &truth[..nq], k);
    let mut best_recall = 0.0f64;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    say!("{nq} queries, k = {k}, {} records, dim {dim}", index.len());
    say!("{:>6}  {:>10}  {:>14}  {:>16}", "ef", "recall@k", "QPS 1 thread", format!("QPS {threads} threads"));
    for &ef in efs {
        // One thread, one query at a time.
        let mut found: Vec<Vec<(u64, f32)>> = Vec::with_capacity(nq);
        let start = Instant::now();
        for q in queries.chunks_exact(dim) {
            let mut row = Vec::with_capacity(k);
            index
                .search_visit(q, SearchRequest::new(k, Some(ef)), |key, d| row.push((key_number(key), d)))
                .map_err(|e| e.to_string())?;
            found.push(row);
        }
        let single = nq as f64 / start.elapsed().as_secs_f64();
        // All cores, one batch.
        let mut sinks: Vec<Vec<u64>> = vec![Vec::new(); nq];
        let start = Instant::now();
        index
            .search_batch(&queries, SearchRequest::new(k, Some(ef)), &mut sinks, |row, _, key, _| row.push(key_number(key)))
            .map_err(|e| e.to_string())?;
        let batch = nq as f64 / start.elapsed().as_secs_f64();
        let mut hits = 0usize;
        for ((f, t), kth) in found.iter().zip(&truth).zip(&kth_distance) {
            let t = &t[..k];
            // A hit: one of the k true neighbours, or as near as the k-th of them (a tie,
            // which the ground truth's order settles arbitrarily), as ann-benchmarks counts.
            hits += f.iter().filter(|(key, d)| t.contains(&(*key as i64)) || kth.is_some_and(|kth| *d <= kth + TIE_TOLERANCE * kth.abs().max(1.0))).count();
        }
        let recall = hits as f64 / (nq * k) as f64;
        best_recall = best_recall.max(recall);
        say!("{ef:>6}  {recall:>10.4}  {single:>14.0}  {batch:>16.0}");
    }
    if best_recall < 0.1 {
        eprintln!(
            "omendb: warning: recall stays below 0.1 at every ef: {} does not look like the ground truth of this index \
             (it must list, for each query, the row numbers in the build input of its nearest vectors)",
            groundtruth.display()
        );
    }
    Ok(())
}

/// Relative slack when a hit's distance is compared with the k-th true distance.
const TIE_TOLERANCE: f32 = 1e-5;

/// The distance from each query to its k-th true neighbour (the ground truth's row `k - 1`),
/// read from the index, in the units searches return; None where that record is not there.
fn kth_true_distances(index: &Index, queries: &[f32], dim: usize, truth: &[Vec<i64>], k: usize) -> Vec<Option<f32>> {
    let space = omendb::space::Space::new(index.options().metric);
    queries
        .chunks_exact(dim)
        .zip(truth)
        .map(|(q, t)| {
            let stored = u64::try_from(t[k - 1]).ok().and_then(|key| index.get_vector(KeyRef::U64(key)))?;
            let mut q = q.to_vec();
            if index.options().metric == Metric::Cosine {
                let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm == 0.0 {
                    return None;
                }
                q.iter_mut().for_each(|x| *x /= norm);
            }
            Some(space.distance(&q, &stored))
        })
        .collect()
}

/// A key as a row number (u64 keys as they are; a string key that spells a number).
fn key_number(k: KeyRef<'_>) -> u64 {
    match k {
        KeyRef::U64(x) => x,
        KeyRef::Str(s) => s.parse().unwrap_or(u64::MAX),
    }
}

// ---- vector files ----

/// Reads `.fvecs`, `.bvecs` or `.npy` (by extension); returns (row-major floats, dim).
fn read_vectors(path: &Path, limit: Option<usize>) -> CliResult<(Vec<f32>, usize)> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let what = |e: String| format!("{}: {e}", path.display());
    let (data, dim) = match ext.as_str() {
        "fvecs" => parse_vecs(&bytes, 4, limit).map_err(what)?,
        "bvecs" => parse_vecs(&bytes, 1, limit).map_err(what)?,
        "npy" => parse_npy(&bytes, limit).map_err(what)?,
        _ => return Err(format!("{}: unknown vector file type (expected .fvecs, .bvecs or .npy)", path.display())),
    };
    if dim == 0 || data.is_empty() {
        return Err(format!("{}: no vectors", path.display()));
    }
    Ok((data, dim))
}

/// TEXMEX vectors: each record is its dimension (i32) and then `dim` components of
/// `width` bytes (f32 or u8).
fn parse_vecs(bytes: &[u8], width: usize, limit: Option<usize>) -> CliResult<(Vec<f32>, usize)> {
    if bytes.len() < 4 {
        return Err("too short for a .fvecs/.bvecs file".into());
    }
    let dim = i32::from_le_bytes(bytes[..4].try_into().unwrap());
    if dim <= 0 || dim > 1 << 16 {
        return Err(format!("bad dimension {dim} in the first record"));
    }
    let dim = dim as usize;
    let record = 4 + dim * width;
    if !bytes.len().is_multiple_of(record) {
        return Err(format!("{} bytes is not a whole number of {record}-byte records", bytes.len()));
    }
    let n = (bytes.len() / record).min(limit.unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(n * dim);
    for (i, rec) in bytes.chunks_exact(record).take(n).enumerate() {
        if i32::from_le_bytes(rec[..4].try_into().unwrap()) as usize != dim {
            return Err(format!("record {i} has another dimension than the first"));
        }
        if width == 1 {
            out.extend(rec[4..].iter().map(|&b| b as f32));
        } else {
            out.extend(rec[4..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())));
        }
    }
    Ok((out, dim))
}

/// `.ivecs`: records of (dim: i32, dim x i32).
fn read_ivecs(path: &Path) -> CliResult<Vec<Vec<i64>>> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut rows = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let head = bytes.get(at..at + 4).ok_or_else(|| format!("{}: truncated record", path.display()))?;
        let dim = i32::from_le_bytes(head.try_into().unwrap());
        let body = usize::try_from(dim)
            .ok()
            .and_then(|d| bytes.get(at + 4..at + 4 + d * 4))
            .ok_or_else(|| format!("{}: bad or truncated record at byte {at}", path.display()))?;
        rows.push(body.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect());
        at += 4 + body.len();
    }
    Ok(rows)
}

/// NumPy `.npy` (read by the npyz crate): a 2-D array of floats (16, 32 or 64 bits) or
/// integers, either byte order, C or Fortran order; converted to f32 rows.
fn parse_npy(bytes: &[u8], limit: Option<usize>) -> CliResult<(Vec<f32>, usize)> {
    use npyz::{DType, Order, TypeChar};
    let npy = npyz::NpyFile::new(bytes).map_err(|e| format!("not a readable .npy file: {e}"))?;
    let shape = npy.shape().to_vec();
    let [rows, dim] = shape[..] else {
        return Err(format!("only 2-D arrays (vectors x dimensions) are supported, this one has shape {shape:?}"));
    };
    let (rows, dim) = (usize::try_from(rows).map_err(|e| e.to_string())?, usize::try_from(dim).map_err(|e| e.to_string())?);
    let order = npy.order();
    let DType::Plain(ty) = npy.dtype() else {
        return Err(format!("only arrays of numbers are supported, this one is {}", npy.dtype().descr()));
    };
    let size = ty.size_field();
    let wrong = || format!("only arrays of numbers are supported, this one is {ty}");
    let read = |e: std::io::Error| format!("cannot read the array: {e}");
    let flat: Vec<f32> = match (ty.type_char(), size) {
        (TypeChar::Float, 2) => npy.into_vec::<half::f16>().map_err(read)?.into_iter().map(f32::from).collect(),
        (TypeChar::Float, 4) => npy.into_vec::<f32>().map_err(read)?,
        (TypeChar::Float, 8) => npy.into_vec::<f64>().map_err(read)?.into_iter().map(|x| x as f32).collect(),
        (TypeChar::Int, 1) => npy.into_vec::<i8>().map_err(read)?.into_iter().map(f32::from).collect(),
        (TypeChar::Int, 2) => npy.into_vec::<i16>().map_err(read)?.into_iter().map(f32::from).collect(),
        (TypeChar::Int, 4) => npy.into_vec::<i32>().map_err(read)?.into_iter().map(|x| x as f32).collect(),
        (TypeChar::Int, 8) => npy.into_vec::<i64>().map_err(read)?.into_iter().map(|x| x as f32).collect(),
        (TypeChar::Uint, 1) => npy.into_vec::<u8>().map_err(read)?.into_iter().map(f32::from).collect(),
        (TypeChar::Uint, 2) => npy.into_vec::<u16>().map_err(read)?.into_iter().map(f32::from).collect(),
        (TypeChar::Uint, 4) => npy.into_vec::<u32>().map_err(read)?.into_iter().map(|x| x as f32).collect(),
        (TypeChar::Uint, 8) => npy.into_vec::<u64>().map_err(read)?.into_iter().map(|x| x as f32).collect(),
        _ => return Err(wrong()),
    };
    if flat.len() != rows * dim {
        return Err(format!("shape ({rows}, {dim}) needs {} values, the file has {}", rows * dim, flat.len()));
    }
    let take = rows.min(limit.unwrap_or(usize::MAX));
    let data = match order {
        Order::C => {
            let mut flat = flat;
            flat.truncate(take * dim);
            flat
        }
        // Column-major: element (i, j) is at j * rows + i.
        Order::Fortran => (0..take).flat_map(|i| (0..dim).map(move |j| (i, j))).map(|(i, j)| flat[j * rows + i]).collect(),
    };
    Ok((data, dim))
}
