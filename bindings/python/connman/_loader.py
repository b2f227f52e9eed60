"""Finding and loading libconnman.

Where the library is looked for, in order:

1. ``$CONNMAN_LIBRARY``, if set: only there (an explicit choice never falls back).
2. ``libconnman.so`` inside this package: the copy ``pip install`` builds and
   bundles. When the package is used in place from a connman source tree
   (``PYTHONPATH=bindings/python``), the libraries ``cargo build`` and
   ``cargo build --release`` made (``$CARGO_TARGET_DIR`` or ``target/``, then
   ``debug/`` and ``release/``) compete with it: the most recently built wins.
3. The system's libraries (``ctypes.util.find_library("connman")``).

Every library is checked to export every function of the header this package
was generated from before it is used.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from typing import Callable, cast

from . import _ffi

LIBRARY_ENV = "CONNMAN_LIBRARY"
LIBRARY_FILE = "libconnman.so"  # the crate is Linux-only (epoll)
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class LibraryNotFoundError(OSError):
    """libconnman could not be found or loaded; the message says what to do and
    names every place looked."""


def source_tree() -> str | None:
    """The connman repository this package is used from in place, if it is
    (``<repo>/bindings/python/connman``), else None (an installed package)."""
    repo = os.path.normpath(os.path.join(PACKAGE_DIR, os.pardir, os.pardir, os.pardir))
    markers = ("Cargo.toml", os.path.join("include", "connman.h"))
    if all(os.path.isfile(os.path.join(repo, m)) for m in markers):
        return repo
    return None


def candidates() -> list[str]:
    """The files to try after ``$CONNMAN_LIBRARY``, in order (existing or not)."""
    bundled = os.path.join(PACKAGE_DIR, LIBRARY_FILE)
    repo = source_tree()
    if repo is None:
        return [bundled]
    target = os.path.join(repo, os.environ.get("CARGO_TARGET_DIR") or "target")
    built = [os.path.join(target, profile, LIBRARY_FILE) for profile in ("debug", "release")]
    paths = [bundled, *built]

    def age(path: str) -> float:
        try:
            return -os.path.getmtime(path)
        except OSError:
            return 0.0  # missing: after every existing file, in the order above

    return sorted(paths, key=age)


def _open(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    missing = [name for name, _, _ in _ffi.FUNCTIONS if not hasattr(lib, name)]
    if missing:
        raise OSError(
            f"not the libconnman this package needs: it lacks {', '.join(missing)} "
            "(an older or a different library)"
        )
    for name, restype, argtypes in _ffi.FUNCTIONS:
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def _advice(repo: str | None) -> str:
    if repo is not None:
        return (
            f"Build it with `cargo build` in {repo}, install the package with "
            f"`pip install {os.path.join(repo, 'bindings', 'python')}`, or set "
            f"{LIBRARY_ENV}=/path/to/{LIBRARY_FILE}."
        )
    return (
        f"This installation of connman has no bundled {LIBRARY_FILE}: reinstall it with "
        "`pip install <connman checkout>/bindings/python` (which builds the library "
        f"with cargo), or set {LIBRARY_ENV}=/path/to/{LIBRARY_FILE}."
    )


def _load() -> tuple[ctypes.CDLL, str]:
    env = os.environ.get(LIBRARY_ENV)
    if env:
        try:
            return _open(env), env
        except OSError as e:
            raise LibraryNotFoundError(
                f"cannot load libconnman from {LIBRARY_ENV}={env!r}: {e}"
            ) from e
    looked = [f"{LIBRARY_ENV} (not set)"]
    for path in candidates():
        if not os.path.exists(path):
            looked.append(f"{path} (no such file)")
            continue
        try:
            return _open(path), path
        except OSError as e:
            looked.append(f"{path} (cannot load: {e})")
    found = ctypes.util.find_library("connman")
    if found:
        try:
            return _open(found), found
        except OSError as e:
            looked.append(f"system library {found!r} (cannot load: {e})")
    else:
        looked.append("the system's libraries (ctypes.util.find_library('connman') found none)")
    places = "".join(f"\n  - {place}" for place in looked)
    raise LibraryNotFoundError(f"cannot find libconnman. {_advice(source_tree())} Looked at:{places}")


_lock = threading.Lock()
_lib: _ffi.Library | None = None
_lib_path: str | None = None
_on_load: list[Callable[[], None]] = []


def on_load(hook: Callable[[], None]) -> None:
    """Runs ``hook()`` once the library is loaded (at once if it already is)."""
    with _lock:
        if _lib is None:
            _on_load.append(hook)
            return
    hook()


def lib() -> _ffi.Library:
    """The loaded library (loaded on first use)."""
    global _lib, _lib_path
    loaded = _lib
    if loaded is not None:
        return loaded
    with _lock:
        if _lib is None:
            cdll, _lib_path = _load()
            _lib = cast(_ffi.Library, cdll)
            for hook in _on_load:
                hook()
            _on_load.clear()
        return _lib


def library_path() -> str:
    """Where the C library was loaded from (loading it if needed)."""
    lib()
    assert _lib_path is not None
    return _lib_path
