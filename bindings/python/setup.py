"""Builds libconnman from this repository's Rust sources and bundles it.

setuptools-rust runs ``cargo rustc --release`` on the crate at the repository
root (``../../Cargo.toml``; build output in its usual ``target/``) and copies
the cdylib into the package as ``connman/libconnman.so``, the file
``connman/_loader.py`` looks for. There is no Python extension module: ctypes
loads the library, so the wheel is tagged ``py3-none-<platform>`` rather than
for one CPython ABI. Everything else is in pyproject.toml.

Cargo's progress shows with ``pip install -v`` (pip hides a build's output
otherwise): the crate's and each dependency's ``Compiling`` line.
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools_rust import Binding, RustExtension
from setuptools_rust.build import build_rust

CRATE = os.path.join("..", "..", "Cargo.toml")  # setuptools runs in this directory
LIBRARY = "libconnman.so"

if not os.path.isfile(CRATE):
    raise SystemExit(
        f"connman's Python package is built from a connman source checkout: {CRATE} "
        f"(the Rust crate) is missing next to {os.getcwd()}. Build from the checkout: "
        "`pip install <checkout>/bindings/python`."
    )


class build_libconnman(build_rust):
    """Names the library ``libconnman.so`` rather than after a CPython ABI, and
    shows cargo's usual progress (``Compiling ...``) rather than ``cargo -v``'s
    every rustc command line, which setuptools' default verbosity asks for
    (``CARGO_TERM_VERBOSE=true`` brings those back)."""

    def run_for_extension(self, ext: RustExtension) -> None:
        self.verbose = 0  # set by build_ext from setuptools' default of 1
        super().run_for_extension(ext)

    def get_dylib_ext_path(self, ext: RustExtension, target_fname: str) -> str:
        default = super().get_dylib_ext_path(ext, target_fname)
        return os.path.join(os.path.dirname(default), LIBRARY)


class platform_wheel(bdist_wheel):
    """Tags the wheel for the platform only: any Python 3 loads the library."""

    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    rust_extensions=[
        RustExtension(
            "connman.libconnman",
            path=CRATE,
            binding=Binding.NoBinding,
            # Exactly the dependency versions the repository's Cargo.lock pins.
            cargo_manifest_args=["--locked"],
        )
    ],
    cmdclass={"build_rust": build_libconnman, "bdist_wheel": platform_wheel},
)
