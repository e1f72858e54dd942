"""The ctypes layer against include/omendb.h: every function declared with the header's types,
every constant equal, every status mapped to its exception class, errors freed."""

import ctypes
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import omendb
from omendb import _ffi, errors
from conftest import BINDING_DIR, REPO_ROOT

HEADER = REPO_ROOT / "include" / "omendb.h"
needs_header = pytest.mark.skipif(not HEADER.is_file(), reason="no include/omendb.h (not a source checkout)")


def header_text() -> str:
    text = HEADER.read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header_functions():
    """name -> (return type, [parameter types]) for every `omendb_*` function declared."""
    decls = {}
    text = re.sub(r"^\s*#.*$", " ", header_text(), flags=re.M)  # preprocessor lines
    for statement in text.split(";"):
        statement = " ".join(re.split(r"[{}]", statement)[-1].split())
        match = re.fullmatch(r"(.*?)\b(omendb_\w+)\s*\((.*)\)", statement)
        if not match:
            continue
        ret, name, params = match.groups()
        types = []
        if params.strip() != "void":
            for param in params.split(","):
                # drop the parameter name (the last identifier)
                types.append(re.sub(r"\b\w+$", "", param.strip()).strip())
        sig = (ret.strip(), types)
        if name in decls:
            assert decls[name] == sig, f"{name} is declared twice with different types"
        decls[name] = sig
    return decls


C_BASE = {
    "void": None,
    "omendb_status": _ffi.omendb_status,
    "uint8_t": ctypes.c_uint8,
    "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64,
    "size_t": ctypes.c_size_t,
    "float": ctypes.c_float,
    "bool": ctypes.c_bool,
    "char": ctypes.c_char,
    "omendb_error": _ffi.omendb_error,
    "omendb_index": _ffi.omendb_index,
    "omendb_options": _ffi.omendb_options,
    "omendb_results": _ffi.omendb_results,
    "omendb_filter": _ffi.omendb_filter,
    "omendb_cursor": _ffi.omendb_cursor,
}


def canon_c(c_type: str) -> str:
    """A C type as '<ctypes base name>' followed by one '*' per pointer level."""
    stars = c_type.count("*")
    base = c_type.replace("*", " ").replace("const", " ").split()
    assert len(base) == 1, f"cannot read C type {c_type!r}"
    assert base[0] in C_BASE, f"no ctypes equivalent for C type {base[0]!r} (extend C_BASE)"
    target = C_BASE[base[0]]
    return ("void" if target is None else target.__name__) + "*" * stars


def canon_ctypes(t) -> str:
    """The same form for a ctypes type; c_char_p counts as char* (same ABI)."""
    if t is None:
        return "void"
    if t is ctypes.c_char_p:
        return "c_char*"
    if isinstance(t, type) and issubclass(t, ctypes._Pointer):
        return canon_ctypes(t._type_) + "*"
    return t.__name__


@needs_header
def test_every_header_function_is_declared_with_its_types():
    functions = header_functions()
    assert len(functions) >= 38, "header parse found too few functions"
    missing = sorted(set(functions) - set(_ffi.SIGNATURES))
    assert not missing, f"functions of omendb.h without a declaration in _ffi.py: {missing}"
    stale = sorted(set(_ffi.SIGNATURES) - set(functions))
    assert not stale, f"_ffi.py declares functions the header does not have: {stale}"
    for name, (c_ret, c_params) in functions.items():
        function = getattr(_ffi.lib, name)
        assert function.argtypes is not None, f"{name} has no argtypes"
        assert canon_ctypes(function.restype) == canon_c(c_ret), f"{name}: restype"
        got = [canon_ctypes(t) for t in function.argtypes]
        want = [canon_c(t) for t in c_params]
        assert got == want, f"{name}: argtypes {got} != header {want}"


@needs_header
def test_constants_match_the_header():
    text = header_text()
    constants = dict(re.findall(r"#define\s+(OMENDB_\w+)\s+(.+)", text))
    constants.pop("OMENDB_H", None)
    constants.update(re.findall(r"\b(OMENDB_STATUS_\w+)\s*=\s*(\d+)", text))
    assert "OMENDB_STATUS_OUT_OF_RANGE" in constants and "OMENDB_NO_KEY" in constants
    for name, value in constants.items():
        value = value.strip()
        if value == "UINT64_MAX":
            expected = 2**64 - 1
        elif value == "SIZE_MAX":
            expected = ctypes.c_size_t(-1).value
        elif value.startswith('"'):
            expected = value.strip('"')
        else:
            expected = int(value)
        assert getattr(_ffi, name) == expected, name


def test_every_status_has_its_exception_class():
    statuses = {name: value for name, value in vars(_ffi).items() if name.startswith("OMENDB_STATUS_")}
    for name, value in statuses.items():
        assert _ffi.status_name(value) == name
        if value == _ffi.OMENDB_STATUS_OK:
            continue
        cls = errors.for_status(value)
        assert cls is not errors.OmenDBError, name
        assert cls.status == value and cls.status_name == name
    assert _ffi.status_name(999) == "OMENDB_STATUS_UNKNOWN"
    assert errors.for_status(999) is errors.OmenDBError
    assert issubclass(omendb.KeyNotFoundError, KeyError)
    assert issubclass(omendb.OutOfRangeError, IndexError)
    for cls in (omendb.InvalidArgumentError, omendb.DimensionMismatchError, omendb.NonFiniteError,
                omendb.ZeroVectorError, omendb.InvalidKeyError, omendb.InvalidUtf8Error, omendb.DuplicateKeyError):
        assert issubclass(cls, ValueError) and issubclass(cls, omendb.OmenDBError)


def test_check_raises_with_status_and_message():
    lib = _ffi.lib
    index = _ffi.IndexPtr()
    err = _ffi.ErrorPtr()
    _ffi.check(lib.omendb_index_create(None, ctypes.byref(index), ctypes.byref(err)), err)
    try:
        status = lib.omendb_index_remove(index, 5, ctypes.byref(err))
        assert status == _ffi.OMENDB_STATUS_KEY_NOT_FOUND and err
        assert lib.omendb_error_code(err) == status
        with pytest.raises(omendb.KeyNotFoundError) as info:
            _ffi.check(status, err, "context")
        assert info.value.status == _ffi.OMENDB_STATUS_KEY_NOT_FOUND
        assert info.value.status_name == "OMENDB_STATUS_KEY_NOT_FOUND"
        assert info.value.message.startswith("context: ") and "5" in info.value.message
        # success leaves err NULL and check is silent
        found = ctypes.c_bool(True)
        _ffi.check(lib.omendb_index_contains(index, 5, ctypes.byref(found), ctypes.byref(err)), err)
        assert not err and found.value is False
    finally:
        lib.omendb_index_free(index)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_errors_are_freed():
    """200,000 failed calls through check(): a leaked omendb_error (~100 bytes each) would grow
    memory by ~20 MB."""
    lib = _ffi.lib
    index = _ffi.IndexPtr()
    _ffi.check(lib.omendb_index_create(None, ctypes.byref(index), None), None)
    try:
        def burn(times):
            for _ in range(times):
                err = _ffi.ErrorPtr()
                try:
                    _ffi.check(lib.omendb_index_remove(index, 1, ctypes.byref(err)), err)
                except omendb.KeyNotFoundError:
                    pass
        burn(20_000)  # warm up allocator
        before = _rss_bytes()
        burn(200_000)
        assert _rss_bytes() - before < 5 * 2**20
    finally:
        lib.omendb_index_free(index)


def test_statuses_only_c_can_produce():
    """NULL_POINTER, BUFFER_TOO_SMALL and OUT_OF_RANGE cannot be reached through Index; provoke
    them with direct C calls, and check the exception classes."""
    lib = _ffi.lib
    byref = ctypes.byref
    err = _ffi.ErrorPtr()
    length = ctypes.c_size_t()
    with pytest.raises(omendb.NullPointerError):
        _ffi.check(lib.omendb_index_len(None, byref(length), byref(err)), err)
    with pytest.raises(omendb.NullPointerError):
        _ffi.check(lib.omendb_index_create(None, None, byref(err)), err)

    index = _ffi.IndexPtr()
    _ffi.check(lib.omendb_index_create(None, byref(index), byref(err)), err)
    try:
        vectors = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
        keys = np.arange(4, dtype=np.uint64)
        _ffi.check(lib.omendb_index_add_batch(index, _ffi.u64_ptr(keys), 4, _ffi.float_ptr(vectors), 4, byref(err)), err)
        labels = np.empty(3, np.uint64)
        dists = np.empty(3, np.float32)
        with pytest.raises(omendb.BufferTooSmallError):
            status = lib.omendb_index_search(index, _ffi.float_ptr(vectors), 1, 4, 5, 0,
                                             _ffi.u64_ptr(labels), _ffi.float_ptr(dists), 3, byref(err))
            _ffi.check(status, err)

        results = _ffi.ResultsPtr()
        _ffi.check(lib.omendb_index_search_results(index, _ffi.float_ptr(vectors), 2, 4, 3, 0, byref(results), byref(err)), err)
        try:
            n = ctypes.c_size_t()
            _ffi.check(lib.omendb_results_num_queries(results, byref(n), byref(err)), err)
            assert n.value == 2
            count = ctypes.c_size_t()
            with pytest.raises(omendb.OutOfRangeError):
                _ffi.check(lib.omendb_results_count(results, 2, byref(count), byref(err)), err)
            key = ctypes.c_uint64()
            _ffi.check(lib.omendb_results_key(results, 1, 0, byref(key), byref(err)), err)
            assert key.value == 1
            distance = ctypes.c_float()
            _ffi.check(lib.omendb_results_distance(results, 1, 0, byref(distance), byref(err)), err)
            assert distance.value == 0.0
            with pytest.raises(omendb.OutOfRangeError):
                _ffi.check(lib.omendb_results_distance(results, 0, 3, byref(distance), byref(err)), err)
            text = ctypes.POINTER(ctypes.c_char)()
            with pytest.raises(omendb.InvalidKeyError):
                _ffi.check(lib.omendb_results_key_str(results, 0, 0, byref(text), None, byref(err)), err)
        finally:
            lib.omendb_results_free(results)
    finally:
        lib.omendb_index_free(index)
    # every _free accepts NULL
    lib.omendb_index_free(None)
    lib.omendb_options_free(None)
    lib.omendb_results_free(None)
    lib.omendb_error_free(None)
    assert lib.omendb_error_code(None) == 0 and lib.omendb_error_message(None) == b""


def test_version():
    assert omendb.version() == omendb.__version__ == _ffi.OMENDB_VERSION
    cargo = REPO_ROOT / "Cargo.toml"
    if cargo.is_file():
        assert f'version = "{omendb.__version__}"' in cargo.read_text()


def _import_with_env(env_value):
    code = "import omendb._ffi as f; print(f.LIBRARY_PATH)"
    env = {"OMENDB_LIB": env_value, "PYTHONPATH": str(BINDING_DIR), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_library_location_env_var_first(tmp_path):
    ok = _import_with_env(str(_ffi.LIBRARY_PATH))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(_ffi.LIBRARY_PATH)
    bad = _import_with_env(str(tmp_path / "missing.so"))
    assert bad.returncode != 0 and "missing.so" in bad.stderr
    paths = _ffi.candidate_paths()
    assert paths[-2] == _ffi.PACKAGE_DIR / _ffi.LIBRARY_NAME
    assert paths[-1] == _ffi.SOURCE_ROOT / "target" / "release" / _ffi.LIBRARY_NAME
