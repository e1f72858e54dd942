#!/usr/bin/env bash
# Reruns the whole side-by-side benchmark and regenerates BENCHMARKS.md and the plots:
# builds libomendb.so, installs the peer libraries into .venv when missing, runs
# glove-50-angular and mnist-784-euclidean (full sets) and the insert mode, then report.py.
#
#   benches/compare/run_all.sh [extra run.py options, e.g. --threads 2 --repeat 2]
#
# Environment: PYTHON (default .venv/bin/python), DATASETS (default "glove-50-angular
# mnist-784-euclidean"), SKIP_INSERT=1 to leave out the insert mode, OMENDB_DATA (data folder).
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PYTHON:-.venv/bin/python}
DATASETS=${DATASETS:-"glove-50-angular mnist-784-euclidean"}

echo "== cargo build --release"
cargo build --release

if [ ! -x "$PY" ]; then
    echo "== creating .venv"
    python3 -m venv .venv
    PY=.venv/bin/python
fi
missing=()
for mod in numpy:numpy hnswlib:hnswlib usearch:usearch faiss:faiss-cpu matplotlib:matplotlib psutil:psutil; do
    "$PY" -c "import ${mod%%:*}" 2>/dev/null || missing+=("${mod#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== pip install ${missing[*]}"
    "$PY" -m pip install --quiet "${missing[@]}"
fi

export PYTHONPATH="$PWD/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ds in $DATASETS; do
    echo "== $ds"
    "$PY" benches/compare/run.py "$ds" "$@"
done
if [ "${SKIP_INSERT:-0}" != 1 ]; then
    echo "== insert throughput"
    "$PY" benches/compare/run.py --insert "$@"
fi
echo "== report"
"$PY" benches/compare/report.py
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
