"""Build hook: the package holds libomendb itself, built from the Rust sources by cargo through
setuptools-rust (a bare cdylib, no Python extension module: `omendb/_ffi.py` loads it with
ctypes). The Rust sources are the repository's (two folders up) in a checkout, and `rust/`
in an sdist, which carries a copy of them (see `SdistWithRust`), so the sdist builds anywhere
cargo does. The library is stripped (under 2 MB instead of 15), and the wheel is tagged
py3-none-<platform>: any Python 3 can load it. CI retags it manylinux with auditwheel.

The version is read from Cargo.toml, so the package and the C library agree.
"""

import os
import re
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.sdist import sdist
from setuptools_rust import Binding, RustExtension, Strip
from setuptools_rust.build import build_rust

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent

if sys.platform == "darwin":
    LIBRARY_NAME = "libomendb.dylib"
elif sys.platform == "win32":
    LIBRARY_NAME = "omendb.dll"
else:
    LIBRARY_NAME = "libomendb.so"

#: What cargo needs to build the library, relative to the Rust root: copied into an sdist's
#: rust/ folder. benches/*.rs because Cargo.toml declares them ([[bench]]); tests are left out.
RUST_FILES = ["Cargo.toml", "Cargo.lock", "build.rs", "cbindgen.toml", "include/omendb.h", "benches/*.rs"]
RUST_TREES = ["src"]


def rust_root() -> Path:
    """The folder holding Cargo.toml: $OMENDB_SOURCE_DIR, an sdist's rust/, or the checkout."""
    for candidate in (os.environ.get("OMENDB_SOURCE_DIR"), HERE / "rust", HERE.parent.parent):
        if candidate and (Path(candidate) / "Cargo.toml").is_file():
            return Path(candidate).resolve()
    sys.exit(f"omendb: no Cargo.toml in {HERE / 'rust'} or {HERE.parent.parent}; set OMENDB_SOURCE_DIR")


def cargo_version() -> str:
    text = (rust_root() / "Cargo.toml").read_text(encoding="utf-8")
    match = re.search(r'^\[package\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S)
    if not match:
        sys.exit("omendb: no [package] version in Cargo.toml")
    return match.group(1)


def without_table(toml: str, table: str) -> str:
    """``toml`` without the top-level ``[table]`` and its keys (up to the next table)."""
    out, skipping = [], False
    for line in toml.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped == f"[{table}]"
        if not skipping:
            out.append(line)
    return "".join(out)


class SdistWithRust(sdist):
    """An sdist that carries the Rust sources in rust/ (a checkout keeps them two folders up,
    where an sdist cannot reach)."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        root = rust_root()
        target = Path(base_dir) / "rust"
        for pattern in RUST_FILES:
            for path in sorted(root.glob(pattern)):
                name = path.relative_to(root)
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / name)
        # The repository's Cargo.toml names the workspace members beside the library (the
        # server), which the sdist does not carry: the sdist's crate stands alone.
        manifest = target / "Cargo.toml"
        manifest.write_text(without_table(manifest.read_text(encoding="utf-8"), "workspace"), encoding="utf-8")
        for tree in RUST_TREES:
            shutil.copytree(root / tree, target / tree)


class BuildLibrary(build_rust):
    """Names the library as the C library is named (``libomendb.so``), not as an extension
    module (``libomendb.cpython-311-x86_64-linux-gnu.so``): it is not one, and any Python 3
    loads the same file (``_ffi.py`` looks for this name)."""

    def get_dylib_ext_path(self, ext, target_fname):
        return os.path.join(os.path.dirname(super().get_dylib_ext_path(ext, target_fname)), LIBRARY_NAME)


class PlatformWheel(bdist_wheel):
    """A platform wheel (it ships a native library) that any Python 3 can use."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


# Not the checkout's target/release: a stripped build there would replace the library that
# `make` and the tests use, and each would rebuild after the other.
# setuptools-rust runs cargo and rustc with exactly this environment when one is given, so it
# is the whole environment plus the target directory (None: the environment as it is).
CARGO_ENV = None if "CARGO_TARGET_DIR" in os.environ else {**os.environ, "CARGO_TARGET_DIR": str(rust_root() / "target" / "python")}

setup(
    version=cargo_version(),
    rust_extensions=[
        RustExtension(
            "omendb.libomendb",
            path=str(rust_root() / "Cargo.toml"),
            binding=Binding.NoBinding,
            strip=Strip.All,
            # The library alone: the `cli` feature's crates (clap, indicatif, npyz) are the
            # omendb tool's.
            args=["--no-default-features"],
            env=CARGO_ENV,
        )
    ],
    cmdclass={"sdist": SdistWithRust, "build_rust": BuildLibrary, "bdist_wheel": PlatformWheel},
    zip_safe=False,
)
