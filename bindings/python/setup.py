"""Build hook: `pip install ./bindings/python` runs `cargo build --release` in the repository
(two folders up, or $OMENDB_SOURCE_DIR) and puts the shared library inside the `omendb`
package. The wheel is tagged py3-none-<platform>: it holds a native library but no Python
extension module, so it suits every Python 3 version.

The version is read from the repository's Cargo.toml, so the package and the C library agree.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

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


def source_dir() -> Path:
    root = Path(os.environ.get("OMENDB_SOURCE_DIR", HERE.parent.parent)).resolve()
    if not (root / "Cargo.toml").is_file():
        sys.exit(f"omendb: no Cargo.toml in {root}; set OMENDB_SOURCE_DIR to the OmenDB repository")
    return root


def cargo_version() -> str:
    text = (source_dir() / "Cargo.toml").read_text(encoding="utf-8")
    match = re.search(r'^\[package\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S)
    if not match:
        sys.exit("omendb: no [package] version in Cargo.toml")
    return match.group(1)


class BuildWithCargo(build_py):
    """build_py that also builds libomendb with cargo and copies it into the package."""

    def run(self):
        super().run()
        root = source_dir()
        cargo = shutil.which("cargo")
        if cargo is None:
            sys.exit("omendb: `cargo` is needed to build libomendb (https://rustup.rs)")
        subprocess.run([cargo, "build", "--release", "--lib"], cwd=root, check=True)
        target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
        if not target.is_absolute():
            target = root / target
        built = target / "release" / LIBRARY_NAME
        if not built.is_file():
            sys.exit(f"omendb: cargo finished but {built} is missing")
        destination = Path(self.build_lib) / "omendb" / LIBRARY_NAME
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, destination)


class BinaryDistribution(Distribution):
    """Holds a native library: installed to platlib, wheel tagged for the platform."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """A platform wheel (it ships a native library) that any Python 3 can use."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    version=cargo_version(),
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildWithCargo, "bdist_wheel": PlatformWheel},
)
