#!/usr/bin/env python3
"""Turns the newest results of benches/compare/run.py into BENCHMARKS.md (tables) and
benches/compare/plots/<dataset>-single.png / -batch.png (recall against QPS per library).

    python benches/compare/report.py [--results DIR] [--out BENCHMARKS.md] [--files F.json ...]
    python benches/compare/report.py --interleaved [--datasets npl-ir,...] [--files F.json ...]

``--interleaved`` only redraws plots/<dataset>-interleaved.png for every data set (or those of
--datasets) from its newest results/interleaved-<dataset>-*.json: recall@10 against single-thread
QPS (thread CPU time, log scale), one line per library / configuration name in the file
(``omendb+neighbor_codes=8`` is a line of its own); BENCHMARKS.md is left alone.

Per dataset it takes the newest full run (no --nbase / --nq), or the newest subsampled one when no
full run exists (marked as such); for insert throughput the newest insert-*.json. Per dataset it
also shows the newest interleaved-<dataset>-*.json of interleaved.py (single-thread QPS by thread
CPU time, plot <dataset>-interleaved.png) and, per library and settings, the newest
memory-<dataset>-*.json of memory.py (full runs preferred over --n subsamples). The section
"## Engine notes" of an existing BENCHMARKS.md, and everything after it, is kept as it is.

Headline numbers are ratios to hnswlib inside one run: each library's QPS at recall@10 = 0.95 is
read off its QPS-against-recall curve by linear interpolation between the two ef points around
0.95 (ef in sweep order).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NOTES_HEADING = "## Engine notes"
BASELINE = "hnswlib"
LIB_ORDER = ["omendb", "hnswlib", "usearch", "faiss"]
STYLE = {"omendb": ("tab:red", "o"), "hnswlib": ("tab:blue", "s"), "usearch": ("tab:green", "^"), "faiss": ("tab:purple", "D")}


# ---------------------------------------------------------------------------------------------
# choosing files


def load(path: Path) -> Dict[str, Any]:
    doc = json.loads(path.read_text())
    doc["_file"] = path
    return doc


def newest(results: Path) -> Tuple[Dict[str, Dict[str, Any]], Optional[Dict[str, Any]]]:
    """Newest full run per dataset (else newest subsampled), and the newest insert run."""
    by_ds: Dict[str, List[Dict[str, Any]]] = {}
    inserts: List[Dict[str, Any]] = []
    for p in sorted(results.glob("*.json")):
        try:
            doc = load(p)
        except (OSError, ValueError):
            continue
        if doc.get("kind") == "insert":
            inserts.append(doc)
        elif doc.get("kind") == "ann":
            by_ds.setdefault(doc["dataset"], []).append(doc)
    chosen = {}
    for ds, docs in by_ds.items():
        docs.sort(key=lambda d: d["timestamp"])
        full = [d for d in docs if not d["config"].get("subsampled")]
        chosen[ds] = (full or docs)[-1]
    inserts.sort(key=lambda d: d["timestamp"])
    return chosen, (inserts[-1] if inserts else None)


def kind_of(doc: Dict[str, Any]) -> Optional[str]:
    """run.py and memory.py write a "kind"; interleaved.py's files are known by their fields."""
    if doc.get("kind"):
        return doc["kind"]
    if "rows" in doc and "at_target" in doc and "dataset" in doc:
        return "interleaved"
    return None


def stamp_of(doc: Dict[str, Any]) -> str:
    """The run's UTC timestamp: the document's own, else the one ending the file name."""
    return doc.get("timestamp") or doc["_file"].stem.rsplit("-", 1)[-1]


def newest_extra(results: Path) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, List[Dict[str, Any]]]]:
    """Newest interleaved run per dataset; newest memory run per dataset and library label
    (a full run if there is one, else the newest --n subsample)."""
    inter: Dict[str, Dict[str, Any]] = {}
    mem: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for p in sorted(results.glob("*.json")):
        if not p.name.startswith(("interleaved-", "memory-")):
            continue
        try:
            doc = load(p)
        except (OSError, ValueError):
            continue
        kind = kind_of(doc)
        if kind == "interleaved":
            ds = doc["dataset"]
            if ds not in inter or stamp_of(doc) > stamp_of(inter[ds]):
                inter[ds] = doc
        elif kind == "memory":
            mem.setdefault((doc["dataset"], memory_label(doc)), []).append(doc)
    memory: Dict[str, List[Dict[str, Any]]] = {}
    for (ds, _), docs in mem.items():
        docs.sort(key=stamp_of)
        full = [d for d in docs if not d.get("config", {}).get("subsampled")]
        memory.setdefault(ds, []).append((full or docs)[-1])
    return inter, memory


def memory_label(doc: Dict[str, Any]) -> str:
    """"omendb+OMENDB_HUGEPAGE=0": the library and its settings, spelled as interleaved.py's --libs."""
    return "+".join([doc["lib"]] + [f"{k}={v}" for k, v in sorted(doc.get("settings", {}).items())])


def lib_rank(name: str) -> Tuple[int, int, str]:
    """LIB_ORDER by the library part of a label; plain library before its variants."""
    rank = {n: i for i, n in enumerate(LIB_ORDER)}
    base = name.split("+", 1)[0].split("@", 1)[0]  # "omendb@PATH": another build of omendb
    return (rank.get(base, 99), int(name != base), name)


def ordered(results: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    rank = {n: i for i, n in enumerate(LIB_ORDER)}
    return sorted(results, key=lambda r: rank.get(r["lib"], 99))


# ---------------------------------------------------------------------------------------------
# numbers


def at_recall(sweep: List[Dict[str, Any]], key: str, target: float) -> Tuple[Optional[float], str]:
    """QPS (``key``) at recall ``target`` by linear interpolation along the ef sweep.

    Returns (value, flag): flag "" when interpolated; ">=" when even the smallest ef is above the
    target (the value at the smallest ef, a lower bound); "max<" when no ef reaches it (None)."""
    pts = sorted(sweep, key=lambda p: p["ef"])
    if not pts:
        return None, "max<"
    if pts[0]["recall"] >= target:
        return pts[0][key], ">="
    for a, b in zip(pts, pts[1:]):
        if a["recall"] < target <= b["recall"]:
            t = (target - a["recall"]) / (b["recall"] - a["recall"])
            return a[key] + t * (b[key] - a[key]), ""
    return None, "max<"


INTERLEAVED_TARGET = 0.95  # interleaved.py's --target default; its files do not record the value


def interleaved_at(doc: Dict[str, Any], name: str, target: float) -> Optional[float]:
    """Thread-CPU QPS of ``name`` at recall ``target``: the file's own at_target when it is for this
    target, else interpolated as interleaved.py does (points sorted by recall, None when no two
    neighbouring points bracket the target)."""
    doc_target = doc.get("target", INTERLEAVED_TARGET)
    if abs(doc_target - target) < 1e-12 and name in doc.get("at_target", {}):
        return doc["at_target"][name]
    pts = sorted((r["recall"], r["qps_thread_cpu"]) for r in doc["rows"] if r["lib"] == name)
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= target <= r1:
            w = 0.0 if r1 == r0 else (target - r0) / (r1 - r0)
            return q0 + w * (q1 - q0)
    return None


def interleaved_libs(doc: Dict[str, Any]) -> List[str]:
    names = list(doc.get("builds", {}))
    names += [r["lib"] for r in doc["rows"] if r["lib"] not in names]
    return sorted(names, key=lib_rank)


def fmt_qps(v: Optional[float], flag: str = "") -> str:
    if v is None:
        return "n/a"
    return f"{'≥' if flag == '>=' else ''}{v:,.0f}"


def fmt_ratio(a: Optional[float], b: Optional[float], fa: str = "", fb: str = "") -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    mark = "*" if (fa or fb) else ""
    return f"{a / b:.2f}x{mark}"


def mib(b: Optional[float]) -> str:
    return "n/a" if b is None else f"{b / 2**20:,.1f}"


# ---------------------------------------------------------------------------------------------
# plots


def plot(doc: Dict[str, Any], plots: Path, target: float) -> List[Tuple[str, Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.mkdir(parents=True, exist_ok=True)
    cfg = doc["config"]
    out = []
    for key, label in (("single_qps", "single-thread QPS (one query per call)"),
                       ("batch_qps", f"batched QPS ({cfg['threads']} threads, all queries in one call)")):
        fig, ax = plt.subplots(figsize=(7.5, 5))
        for r in ordered(doc["results"]):
            if not r.get("sweep"):
                continue
            pts = sorted(r["sweep"], key=lambda p: p["ef"])
            color, marker = STYLE.get(r["lib"], (None, "x"))
            ax.plot([p["recall"] for p in pts], [p[key] for p in pts], marker=marker, color=color,
                    label=r["lib"], linewidth=2 if r["lib"] == "omendb" else 1.3, markersize=4)
        ax.axvline(target, color="grey", linestyle="--", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xlabel(f"recall@{cfg['k']}")
        ax.set_ylabel(label)
        sub = " (subsampled)" if cfg.get("subsampled") else ""
        ax.set_title(f"{doc['dataset']}{sub}: n={cfg['n']:,}, d={cfg['dim']}, {cfg['metric']}, "
                     f"M={cfg['M']}, efc={cfg['ef_construction']}\nrun {doc['timestamp']}, up and to the right is better",
                     fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        kind = "single" if key == "single_qps" else "batch"
        path = plots / f"{doc['dataset']}-{kind}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append((kind, path))
    return out


VARIANT_COLORS = ["tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]


def series_label(name: str) -> str:
    """A legend label for an interleaved.py --libs name: settings kept in full
    ("omendb+neighbor_codes=8+efc=100"), a second build's path cut to its file name
    ("omendb@libomendb-84cdc47.so")."""
    head, plus, rest = name.partition("+")
    lib, at, path = head.partition("@")
    return lib + (at + os.path.basename(path) if at else "") + plus + rest


def plot_interleaved(doc: Dict[str, Any], plots: Path, target: float) -> Path:
    """recall@10 against thread-CPU QPS per library (and per settings variant or second build) of
    one interleaved run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    variants = iter(VARIANT_COLORS * 4)
    names = interleaved_libs(doc)
    for name in names:
        pts = sorted((r for r in doc["rows"] if r["lib"] == name), key=lambda p: p["ef"])
        if not pts:
            continue
        lib = name.split("+", 1)[0].split("@", 1)[0]
        color, marker = STYLE.get(lib, (None, "x"))
        if name != lib:  # a settings variant or another build: the library's marker, a colour of its own
            color = next(variants)
        ax.plot([p["recall"] for p in pts], [p["qps_thread_cpu"] for p in pts], marker=marker, color=color,
                label=series_label(name), linewidth=2 if name == "omendb" else 1.3, markersize=4,
                linestyle="-" if name == lib else "--")
    ax.axvline(target, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("single-thread QPS (queries per second of thread CPU time)")
    nq = doc.get("nq")
    data = ""
    if doc.get("n") and doc.get("dim"):
        data = f", n={doc['n']:,}, d={doc['dim']}, {doc.get('metric', '?')}"
        if doc.get("holdout") is not None:
            data += f" ({doc['holdout']:,} docs held out as queries)"
    dirty = " + uncommitted changes" if doc.get("versions", {}).get("omendb_git_dirty_src") else ""
    ax.set_title(f"{doc['dataset']}{data}\nall libraries in one process, interleaved "
                 f"{f'{nq:,}' if isinstance(nq, int) else '?'} queries, M={doc.get('M', '?')}, efc={doc.get('efc', '?')}\n"
                 f"run {stamp_of(doc)}, commit {doc.get('commit') or '?'}{dirty}; up and to the right is better",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8 if len(names) > 4 else None)
    fig.tight_layout()
    path = plots / f"{doc['dataset']}-interleaved.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# markdown


def rel(path: Path, out: Path) -> str:
    return os.path.relpath(path, out.parent)


def run_line(doc: Dict[str, Any], out: Path) -> List[str]:
    m, v = doc["machine"], doc["versions"]
    la = lambda x: "/".join(f"{y:.2f}" for y in x) if x else "?"  # noqa: E731
    vers = ", ".join(f"{k} {v[k]}" for k in ("omendb", "hnswlib", "usearch", "faiss", "numpy") if k in v)
    git = v.get("omendb_git") or "?"
    if v.get("omendb_git_dirty_src"):
        git += " + uncommitted changes"
    return [
        f"Run `{rel(doc['_file'], out)}` ({doc['timestamp']}): {m['cpu_model']}, {m['cores']} cores "
        f"({', '.join(m.get('simd', []))}), load average (1/5/15 min) {la(m.get('loadavg_before'))} before, "
        f"{la(m.get('loadavg_after'))} after. Versions: {vers}; omendb at commit {git}.",
    ]


def ann_section(doc: Dict[str, Any], out: Path, plots: Path, targets: List[float],
                extra: Optional[List[str]] = None) -> List[str]:
    """The dataset's run.py section; ``extra`` (the interleaved and memory sections) goes after the
    run line, before the wall-clock tables."""
    cfg = doc["config"]
    target = targets[0]
    res = {r["lib"]: r for r in doc["results"]}
    ok = [r for r in ordered(doc["results"]) if r.get("sweep")]
    L: List[str] = []
    sub = ""
    if cfg.get("subsampled"):
        sub = (f" — **subsampled run**: first {cfg['n']:,} of {cfg.get('full_n', '?'):,} base vectors, "
               f"{cfg['nq']:,} of {cfg.get('full_nq', '?'):,} queries, ground truth {cfg['ground_truth']}")
    L.append(f"## {doc['dataset']}{sub}")
    L.append("")
    L.append(f"n = {cfg['n']:,} base vectors, d = {cfg['dim']}, metric {cfg['metric']}, {cfg['nq']:,} queries, "
             f"k = {cfg['k']}, M = {cfg['M']}, ef_construction = {cfg['ef_construction']}, {cfg['threads']} threads "
             f"for build and batched search; single-thread QPS over the first {cfg['single_queries']:,} queries; "
             f"each timing best of {cfg.get('repeat', 1)}.")
    L.append("")
    L += run_line(doc, out)
    L.append("")
    for r in doc["results"]:
        if r.get("error"):
            L.append(f"- **{r['lib']} failed**: `{r['error']}`")
    L += extra or []
    base = res.get(BASELINE)

    # headline ratios
    L.append(f"### Ratios to {BASELINE} at recall@{cfg['k']} = {target}")
    L.append("")
    if base is None or not base.get("sweep"):
        L.append(f"({BASELINE} missing from this run: no ratios.)")
    else:
        bs, fbs = at_recall(base["sweep"], "single_qps", target)
        bb, fbb = at_recall(base["sweep"], "batch_qps", target)
        bbuild = base["build"]["wall_s"]
        bmem = base["build"]["bytes_per_vector"]
        L.append(f"| library | single-thread QPS | / {BASELINE} | batched QPS | / {BASELINE} | build s | / {BASELINE} "
                 f"| bytes / vector | / {BASELINE} |")
        L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
        for r in ok:
            s, fs = at_recall(r["sweep"], "single_qps", target)
            b, fb = at_recall(r["sweep"], "batch_qps", target)
            bd = r["build"]
            L.append(f"| {r['lib']} | {fmt_qps(s, fs)} | {fmt_ratio(s, bs, fs, fbs)} | {fmt_qps(b, fb)} | "
                     f"{fmt_ratio(b, bb, fb, fbb)} | {bd['wall_s']:.2f} | {fmt_ratio(bd['wall_s'], bbuild)} | "
                     f"{bd['bytes_per_vector']:,.0f} | {fmt_ratio(bd['bytes_per_vector'], bmem)} |")
        L.append("")
        om = res.get("omendb")
        if om and om.get("sweep"):
            s, fs = at_recall(om["sweep"], "single_qps", target)
            b, fb = at_recall(om["sweep"], "batch_qps", target)
            L.append(f"- **omendb / {BASELINE} single-thread QPS at recall {target} = {fmt_ratio(s, bs, fs, fbs)}**")
            L.append(f"- **omendb / {BASELINE} batched QPS at recall {target} = {fmt_ratio(b, bb, fb, fbb)}**")
            L.append(f"- omendb / {BASELINE} build time = {fmt_ratio(om['build']['wall_s'], bbuild)} (lower is faster; "
                     f"build CPU time ratio {fmt_ratio(om['build']['cpu_s'], base['build']['cpu_s'])}, which other work "
                     f"on the machine disturbs less)")
            L.append(f"- omendb / {BASELINE} memory (RSS growth per vector) = "
                     f"{fmt_ratio(om['build']['bytes_per_vector'], bmem)} (lower is smaller)")
            others = [r for r in ok if r["lib"] not in ("omendb", BASELINE)]
            if others:
                parts = []
                for r in others:
                    rs, frs = at_recall(r["sweep"], "single_qps", target)
                    rb, frb = at_recall(r["sweep"], "batch_qps", target)
                    parts.append(f"{r['lib']}: single {fmt_ratio(s, rs, fs, frs)}, batched {fmt_ratio(b, rb, fb, frb)}, "
                                 f"build {fmt_ratio(om['build']['wall_s'], r['build']['wall_s'])}, "
                                 f"memory {fmt_ratio(om['build']['bytes_per_vector'], r['build']['bytes_per_vector'])}")
                L.append(f"- omendb / other peers: " + "; ".join(parts))
            L.append("")
        L.append("QPS ratios above 1 favour the first library; build and memory ratios below 1 favour it. "
                 "`≥` / `*`: even the smallest ef is above the target recall, so the QPS is the one at the "
                 "smallest ef (a lower bound) and the ratio is approximate; n/a: no ef reaches the target.")
        L.append("")

    if len(targets) > 1:
        L.append("### QPS at other recall levels (interpolated)")
        L.append("")
        L.append("| library | " + " | ".join(f"single @ {t}" for t in targets) + " | "
                 + " | ".join(f"batched @ {t}" for t in targets) + " |")
        L.append("|---|" + "--:|" * (2 * len(targets)))
        for r in ok:
            cells = [fmt_qps(*at_recall(r["sweep"], "single_qps", t)) for t in targets]
            cells += [fmt_qps(*at_recall(r["sweep"], "batch_qps", t)) for t in targets]
            L.append(f"| {r['lib']} | " + " | ".join(cells) + " |")
        L.append("")

    # build and memory
    L.append("### Build and memory")
    L.append("")
    L.append("| library | build s (wall) | build CPU s | vectors / s | RSS growth MiB | peak RSS growth MiB "
             "| bytes / vector | x raw vectors | index's own count MiB |")
    L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in ok:
        b = r["build"]
        L.append(f"| {r['lib']} | {b['wall_s']:.2f} | {b['cpu_s']:.1f} | {b['vectors_per_s']:,.0f} | "
                 f"{mib(b['rss_growth_bytes'])} | {mib(b['rss_peak_growth_bytes'])} | {b['bytes_per_vector']:,.0f} | "
                 f"{b['overhead_ratio']:.2f} | {mib(b.get('index_memory_bytes'))} |")
    L.append("")
    L.append(f"Raw vectors are {cfg['dim'] * 4} bytes each (float32). RSS growth = resident set after the build "
             "minus before it (`/proc/self/statm`, after `malloc_trim`), so it includes allocator slack; the last "
             "column is what the library itself reports, where it has such a call.")
    L.append("")

    # plots
    for kind, path in plot(doc, plots, target):
        L.append(f"![{doc['dataset']} {kind}]({rel(path, out)})")
    L.append("")

    # sweep
    L.append("<details><summary>Full ef sweep</summary>")
    L.append("")
    L.append(f"| library | ef | recall@{cfg['k']} | single-thread QPS | latency µs | batched QPS |")
    L.append("|---|--:|--:|--:|--:|--:|")
    for r in ok:
        for p in sorted(r["sweep"], key=lambda p: p["ef"]):
            L.append(f"| {r['lib']} | {p['ef']} | {p['recall']:.4f} | {p['single_qps']:,.0f} | "
                     f"{p['single_latency_us']:.1f} | {p['batch_qps']:,.0f} |")
    L.append("")
    L.append("</details>")
    L.append("")
    return L


def load_text(m: Dict[str, Any], d: Dict[str, Any]) -> str:
    la = lambda x: "/".join(f"{y:.2f}" for y in x)  # noqa: E731
    before = m.get("loadavg_before") or d.get("loadavg_before")
    after = m.get("loadavg_after") or d.get("loadavg_after")
    if not before and not after:
        return "load average not recorded"
    return (f"load average (1/5/15 min) {la(before) if before else '?'} before, "
            f"{la(after) if after else '?'} after")


def commit_text(doc: Dict[str, Any]) -> str:
    v = doc.get("versions", {})
    git = doc.get("commit") or v.get("omendb_git")
    if not git:
        return "omendb commit not recorded in the file"
    return f"omendb at commit {git}{' + uncommitted changes' if v.get('omendb_git_dirty_src') else ''}"


def interleaved_section(doc: Dict[str, Any], out: Path, plots: Path, target: float) -> List[str]:
    names = interleaved_libs(doc)
    builds = doc.get("builds", {})
    m = doc.get("machine", {})
    L = ["### Interleaved single-thread QPS (thread CPU time)", ""]
    L.append(f"`benches/compare/interleaved.py`: all libraries in one process, the same "
             f"{doc.get('nq', '?'):,} queries sent to each library in turn in small chunks, each library timed by "
             f"its calling thread's CPU time, which other processes cannot inflate; builds timed by process CPU "
             f"time on all threads. QPS at recall@10 = {target} by linear interpolation between the two sweep "
             f"points around it; ratios to {BASELINE} within this one run.")
    L.append("")
    L.append(f"Run `{rel(doc['_file'], out)}` ({stamp_of(doc)}): {m.get('cpu_model', '?')}, {m.get('cores', '?')} cores "
             f"({', '.join(m.get('simd', []))}), {load_text(m, doc)}; {commit_text(doc)}.")
    L.append("")
    base_q = interleaved_at(doc, BASELINE, target) if BASELINE in names else None
    base_cpu = builds.get(BASELINE, {}).get("cpu_s")
    L.append(f"| library | QPS at recall {target} | / {BASELINE} | build CPU s | / {BASELINE} | build wall s |")
    L.append("|---|--:|--:|--:|--:|--:|")
    for n in names:
        q = interleaved_at(doc, n, target)
        b = builds.get(n, {})
        cpu, wall = b.get("cpu_s"), b.get("wall_s")
        L.append(f"| {n} | {fmt_qps(q)} | {fmt_ratio(q, base_q)} | {'n/a' if cpu is None else f'{cpu:.1f}'} | "
                 f"{fmt_ratio(cpu, base_cpu)} | {'n/a' if wall is None else f'{wall:.1f}'} |")
    L.append("")
    if BASELINE not in names:
        L.append(f"({BASELINE} is not in this run: no ratios.)")
        L.append("")
    L.append("QPS ratios above 1 and build ratios below 1 favour the library; n/a: the sweep does not reach "
             "the target recall on both sides. A name with `+VAR=value` is the same library built with that "
             "environment setting. Build wall time is not load-independent.")
    L.append("")
    L.append(f"![{doc['dataset']} interleaved]({rel(plot_interleaved(doc, plots, target), out)})")
    L.append("")
    # the sweep, one row per ef, recall@10 and QPS of each library side by side
    cell = {(r["lib"], r["ef"]): r for r in doc["rows"]}
    efs = sorted({r["ef"] for r in doc["rows"]})
    L.append("| ef | " + " | ".join(f"{n} recall@10 | {n} QPS" for n in names) + " |")
    L.append("|--:|" + "--:|--:|" * len(names))
    for ef in efs:
        cells = []
        for n in names:
            r = cell.get((n, ef))
            cells += ["", ""] if r is None else [f"{r['recall']:.4f}", f"{r['qps_thread_cpu']:,.0f}"]
        L.append(f"| {ef} | " + " | ".join(cells) + " |")
    L.append("")
    return L


def memory_section(docs: List[Dict[str, Any]], out: Path) -> List[str]:
    docs = sorted(docs, key=lambda d: lib_rank(memory_label(d)))
    base = next((d for d in docs if memory_label(d) == BASELINE), None)
    L = ["### Memory per vector (one library per fresh process)", ""]
    L.append("`benches/compare/memory.py LIB DATASET [VAR=value ...]`: resident set before creating the index "
             "and after the build, each after `malloc_trim`, divided by the number of vectors; so it includes "
             "what a library allocates when the index is created, and allocator slack. Newest file per library "
             "and settings; a full run is preferred over a `--n` subsample.")
    L.append("")
    L.append(f"| library | bytes / vector | / {BASELINE} | x raw vectors | n | M / ef_construction | run | commit | load average before / after |")
    L.append("|---|--:|--:|--:|--:|--:|---|---|---|")
    la = lambda x: "/".join(f"{y:.2f}" for y in x) if x else "?"  # noqa: E731
    for d in docs:
        cfg = d.get("config", {})
        raw = d.get("dim", 0) * 4
        n = f"{d['n']:,}" + (f" of {cfg['full_n']:,}" if cfg.get("subsampled") else "")
        ratio = fmt_ratio(d["bytes_per_vector"], base["bytes_per_vector"]) if base else "n/a"
        if base and d is not base and d.get("n") != base.get("n"):
            ratio += " (different n)"
        m = d.get("machine", {})
        L.append(f"| {memory_label(d)} | {d['bytes_per_vector']:,.0f} | {ratio} | "
                 f"{(d['bytes_per_vector'] / raw) if raw else float('nan'):.2f} | {n} | "
                 f"{cfg.get('M', '?')} / {cfg.get('ef_construction', '?')} | [{stamp_of(d)}]({rel(d['_file'], out)}) | "
                 f"{d.get('commit') or '?'} | {la(m.get('loadavg_before'))} / {la(m.get('loadavg_after'))} |")
    L.append("")
    if base is None:
        L.append(f"({BASELINE} has no memory file for this data set: no ratios.)")
        L.append("")
    L.append("Ratios below 1 favour the library. Raw vectors are float32, 4 bytes a dimension.")
    L.append("")
    return L


def insert_section(doc: Dict[str, Any], out: Path) -> List[str]:
    cfg = doc["config"]
    L = ["## Insert throughput", ""]
    L.append(f"Generated data ({cfg['data']}), metric {cfg['metric']}, M = {cfg['M']}, ef_construction = "
             f"{cfg['ef_construction']}. **One at a time**: the first {cfg['single_adds']:,} adds into an empty "
             f"index, one call (one vector) each. **Batch**: one call adding all {cfg['n']:,} vectors to a fresh "
             f"index on {cfg['threads']} threads. Vectors per second; higher is better.")
    L.append("")
    L += run_line(doc, out)
    L.append("")
    libs = [l for l in LIB_ORDER if any(r["lib"] == l for r in doc["results"])]
    libs += sorted({r["lib"] for r in doc["results"]} - set(libs))
    rows = {(r["dim"], r["lib"]): r for r in doc["results"]}
    for key, title in (("single_vps", "one at a time"), ("batch_vps", "batch")):
        L.append(f"| dim ({title}) | " + " | ".join(libs) + f" | omendb / {BASELINE} |")
        L.append("|--:|" + "--:|" * (len(libs) + 1))
        for dim in cfg["dims"]:
            cells = []
            for l in libs:
                r = rows.get((dim, l))
                cells.append("failed" if r is None or r.get("error") else f"{r[key]:,.0f}")
            o, b = rows.get((dim, "omendb")), rows.get((dim, BASELINE))
            ratio = fmt_ratio(o.get(key) if o else None, b.get(key) if b else None)
            L.append(f"| {dim} | " + " | ".join(cells) + f" | {ratio} |")
        L.append("")
    return L


HEADER = """# Benchmarks: OmenDB against hnswlib, USearch and FAISS

<!-- Generated by benches/compare/report.py from benches/compare/results/*.json. Edit the script, not
this text; only the "Engine notes" section at the end is kept across regenerations. -->

**Method.** `benches/compare/run.py` runs the four HNSW libraries on the same machine, in the same
process, one after another, on the same float32 data with the same graph parameters (M = 16, so 32
links on layer 0 for all four; ef_construction = 200): OmenDB through its Python package
(`bindings/python`, ctypes), hnswlib, USearch (f32 storage) and FAISS `IndexHNSWFlat` (cosine in
FAISS = inner product on vectors normalised by the harness, with that normalisation inside the
timings). For each library it measures:

- **build**: one batch add of all base vectors on all cores (wall time, process CPU time), and
  memory as the growth of the resident set (`/proc/self/statm`) across the build, per vector;
- over an **ef sweep** (10 ... 256): **recall@10** on all queries, **single-thread QPS** (one query
  per Python call, first 2,000 queries, one thread) and **batched QPS** (all queries in one call, all
  cores); each search timing is the best of 3 repetitions. All calls go through each library's
  Python binding, so per-call binding overhead is part of the single-query numbers for every
  library alike;
- **insert throughput** on generated data at d = 128, 256, 512, 1536: one-at-a-time adds and one
  batch add.

**Recall** is computed against the exact ground truth shipped with the data sets
(`../shared/data/*/`, brute force in float64), tie-safe: a returned id counts as a hit when its exact
distance to the query (recomputed in float64 from the vectors) is at most the 10th ground-truth
distance plus 1e-4 relative, so any of several equidistant 10th neighbours counts. Missing or repeated
ids are misses.

**Ratios, not absolute numbers.** The benchmark machine has 2 cores shared with other work, so
absolute QPS moves from run to run (the load average before and after each run is recorded). Only
**ratios between libraries within one run** are meaningful. The headline compares each library to
hnswlib at **recall@10 = 0.95**: each library's QPS-against-recall curve is interpolated linearly
between the two ef points around 0.95, and the two QPS values are divided. Build time and memory
ratios are plain ratios of the build measurements.

**Rerun everything** (builds the library, installs the peers into `.venv` if missing, runs both data
sets and the insert mode, regenerates this file and the plots):

```sh
benches/compare/run_all.sh
```

Pieces: `python benches/compare/run.py glove-50-angular [--nbase 20000 --nq 500]` (quick subsampled
run, exact ground truth recomputed), `python benches/compare/run.py --insert`, then
`python benches/compare/report.py`. `run.py --help` lists every option.

**Load-independent measurements.** Under each data set, the sections "Interleaved single-thread
QPS" and "Memory per vector" come from `benches/compare/interleaved.py DATASET --libs
hnswlib,omendb,...` (all libraries in one process, timed by thread CPU time) and
`benches/compare/memory.py LIB DATASET` (one library per fresh process); they are the figures to
quote, the wall-clock tables the broader picture. These runs are not part of `run_all.sh`.
"""

NOTES_DEFAULT = f"""{NOTES_HEADING}

(To be written: what the numbers above say about OmenDB's engine, and what to change.)
"""


def plot_all_interleaved(a: argparse.Namespace, plots: Path, ap: argparse.ArgumentParser) -> None:
    """--interleaved: one plot per data set from its newest interleaved run (or from --files),
    the target line at the recall the run itself used."""
    if a.files:
        inter: Dict[str, Dict[str, Any]] = {}
        for f in a.files:
            doc = load(Path(f).resolve())
            if kind_of(doc) != "interleaved":
                ap.error(f"{f}: not a result of interleaved.py")
            ds = doc["dataset"]
            if ds not in inter or stamp_of(doc) > stamp_of(inter[ds]):
                inter[ds] = doc
    else:
        inter, _ = newest_extra(Path(a.results))
    wanted = [d for d in a.datasets.split(",") if d]
    if wanted:
        missing = [d for d in wanted if d not in inter]
        if missing:
            ap.error(f"no interleaved results for {', '.join(missing)} (have {', '.join(sorted(inter)) or 'none'})")
        inter = {d: inter[d] for d in wanted}
    if not inter:
        print(f"no interleaved-*.json in {a.results}")
        return
    for ds in sorted(inter):
        doc = inter[ds]
        path = plot_interleaved(doc, plots, doc.get("target", INTERLEAVED_TARGET))
        names = ", ".join(interleaved_libs(doc))
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        print(f"{ds}: {doc['_file'].name} -> {shown} ({names})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(HERE / "results"))
    ap.add_argument("--files", nargs="*", help="use these result files instead of the newest ones")
    ap.add_argument("--out", default=str(REPO / "BENCHMARKS.md"))
    ap.add_argument("--plots", default=str(HERE / "plots"))
    ap.add_argument("--targets", default="0.95,0.90,0.99", help="recall levels; the first is the headline")
    ap.add_argument("--interleaved", action="store_true",
                    help="only redraw plots/<dataset>-interleaved.png from the newest interleaved-<dataset>-*.json "
                         "(or from --files); BENCHMARKS.md is not written")
    ap.add_argument("--datasets", default="", help="with --interleaved: only these data sets (comma-separated)")
    a = ap.parse_args()
    out, plots = Path(a.out).resolve(), Path(a.plots).resolve()
    targets = [float(t) for t in a.targets.split(",")]

    if a.interleaved:
        plot_all_interleaved(a, plots, ap)
        return

    if a.files:
        chosen: Dict[str, Dict[str, Any]] = {}
        insert = None
        inter: Dict[str, Dict[str, Any]] = {}
        memory: Dict[str, List[Dict[str, Any]]] = {}
        for f in a.files:
            doc = load(Path(f).resolve())
            kind = kind_of(doc)
            if kind == "insert":
                insert = doc
            elif kind == "interleaved":
                inter[doc["dataset"]] = doc
            elif kind == "memory":
                memory.setdefault(doc["dataset"], []).append(doc)
            elif kind == "ann":
                chosen[doc["dataset"]] = doc
            else:
                ap.error(f"{f}: not a result of run.py, interleaved.py or memory.py")
    else:
        chosen, insert = newest(Path(a.results))
        inter, memory = newest_extra(Path(a.results))

    notes = NOTES_DEFAULT
    if out.exists():
        text = out.read_text()
        i = text.find(NOTES_HEADING)
        if i >= 0:
            notes = text[i:]

    L = [HEADER]
    if not chosen and insert is None and not inter and not memory:
        L.append("(No results yet: run `benches/compare/run_all.sh`.)\n")
    for ds in sorted(set(chosen) | set(inter) | set(memory)):
        extra: List[str] = []
        if ds in inter:
            extra += interleaved_section(inter[ds], out, plots, targets[0])
        if ds in memory:
            extra += memory_section(memory[ds], out)
        if ds in chosen:
            L += ann_section(chosen[ds], out, plots, targets, extra)
        else:  # no run.py result for this data set: only the load-independent sections
            L += [f"## {ds}", ""] + extra
    if insert is not None:
        L += insert_section(insert, out)
    text = "\n".join(L).rstrip() + "\n\n" + notes.rstrip() + "\n"
    out.write_text(text)
    extras = [f"interleaved {ds}" for ds in sorted(inter)] + [f"memory {ds}" for ds in sorted(memory)]
    print(f"wrote {out} ({', '.join(sorted(chosen)) or 'no ANN runs'}{', insert' if insert else ''}"
          f"{''.join(', ' + e for e in extras)}); plots in {plots}")


if __name__ == "__main__":
    main()
