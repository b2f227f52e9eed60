"""Tests of the package itself: which library it loads and what it says when it
finds none, its version, the generated ctypes mirror checked against a C
compiler's view of include/connman.h, and the hand-written layer checked
against the mirror."""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import os
import shutil
import subprocess
import tempfile
import textwrap
import unittest

from flaky import EXAMPLES, INSTALLED, PKG_ROOT, REPO, TIMEOUT, FlakyEcho, run_python

import connman
from connman import _callbacks, _ffi, _loader

HEADER = os.path.join(REPO, "include", "connman.h")


class TestLoading(unittest.TestCase):
    def test_the_package_under_test(self):
        package_dir = os.path.dirname(os.path.abspath(connman.__file__))
        if INSTALLED:
            # The installed wheel, with its bundled library, never the tree's.
            self.assertNotEqual(package_dir, os.path.join(PKG_ROOT, "connman"))
            self.assertIsNone(_loader.source_tree())
            if not os.environ.get("CONNMAN_LIBRARY"):
                self.assertEqual(
                    connman.library_path(), os.path.join(package_dir, "libconnman.so")
                )
        else:
            self.assertEqual(package_dir, os.path.join(PKG_ROOT, "connman"))
            self.assertEqual(_loader.source_tree(), REPO)

    def test_versions_are_cargo_toml_s(self):
        # _version.py is generated from Cargo.toml; the library reports the
        # crate's version, so both come from the same place.
        self.assertEqual(connman.__version__, connman.version())

    def test_override_is_authoritative(self):
        out = run_python(
            "-c",
            "import connman\n"
            "try:\n"
            "    connman.version()\n"
            "except connman.LibraryNotFoundError as e:\n"
            "    print('not found:', e)\n",
            CONNMAN_LIBRARY="/nonexistent/libconnman.so",
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("not found: cannot load libconnman from CONNMAN_LIBRARY", out.stdout)

    def test_a_library_without_connman_functions_is_refused(self):
        libc = ctypes.util.find_library("c")
        if libc is None:
            self.skipTest("no libc to offer")
        out = run_python(
            "-c",
            "import connman\ntry:\n    connman.version()\n"
            "except connman.LibraryNotFoundError as e:\n    print(e)\n",
            CONNMAN_LIBRARY=libc,
        )
        self.assertIn("not the libconnman this package needs", out.stdout, out.stderr)

    def test_not_found_messages(self):
        # A copy of the package with no library next to it and none on the
        # system: installed (not in a source tree), and in place in a tree
        # without a build.
        with tempfile.TemporaryDirectory() as tmp:
            site = os.path.join(tmp, "site-packages")
            tree = os.path.join(tmp, "checkout")
            shutil.copytree(
                os.path.dirname(connman.__file__),
                os.path.join(site, "connman"),
                ignore=shutil.ignore_patterns("*.so", "__pycache__"),
            )
            os.makedirs(os.path.join(tree, "include"))
            shutil.copy(os.path.join(REPO, "Cargo.toml"), tree)
            shutil.copy(HEADER, os.path.join(tree, "include"))
            shutil.copytree(
                os.path.join(site, "connman"), os.path.join(tree, "bindings", "python", "connman")
            )
            probe = (
                "import connman\ntry:\n    connman.connect(7, '127.0.0.1', object())\n"
                "except connman.LibraryNotFoundError as e:\n    print(e)\n"
            )
            env = {"CONNMAN_LIBRARY": "", "LD_LIBRARY_PATH": "", "CARGO_TARGET_DIR": ""}
            installed = subprocess.run(
                ["python3", "-I", "-c", f"import sys; sys.path.insert(0, {site!r})\n" + probe],
                capture_output=True, text=True, timeout=TIMEOUT, env=dict(os.environ, **env),
                cwd=tmp,
            )
            in_tree = subprocess.run(
                ["python3", "-I", "-c",
                 f"import sys; sys.path.insert(0, {os.path.join(tree, 'bindings', 'python')!r})\n"
                 + probe],
                capture_output=True, text=True, timeout=TIMEOUT, env=dict(os.environ, **env),
                cwd=tmp,
            )
        if "find_library('connman') found none" not in installed.stdout:
            self.skipTest(f"a libconnman is installed on this system: {installed.stdout}")
        self.assertIn("has no bundled libconnman.so: reinstall it with `pip install", installed.stdout)
        self.assertIn(os.path.join(site, "connman", "libconnman.so"), installed.stdout)
        self.assertNotIn("target", installed.stdout)
        self.assertIn(f"Build it with `cargo build` in {tree}", in_tree.stdout)
        for profile in ("debug", "release"):
            self.assertIn(os.path.join(tree, "target", profile, "libconnman.so"), in_tree.stdout)

    def test_in_tree_the_most_recent_build_wins(self):
        paths = _loader.candidates()
        if INSTALLED:
            self.assertEqual(paths, [os.path.join(os.path.dirname(connman.__file__), "libconnman.so")])
            return
        existing = [p for p in paths if os.path.exists(p)]
        self.assertEqual(existing, sorted(existing, key=lambda p: -os.path.getmtime(p)))
        self.assertEqual(len(paths), 3)


class TestMirror(unittest.TestCase):
    """_ffi.py is generated from the header (.ci/run checks it is current); here
    a C compiler checks what it says: every struct's size and every field's
    offset, and every constant's value."""

    def test_layouts_and_constants_match_the_c_compiler(self):
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            self.skipTest("no C compiler")
        structs = [
            v for v in vars(_ffi).values()
            if isinstance(v, type) and issubclass(v, ctypes.Structure) and v.__module__ == _ffi.__name__
        ]
        consts = {k: v for k, v in vars(_ffi).items() if k.startswith("CONNMAN_") and isinstance(v, int)}
        self.assertGreaterEqual(len(structs), 6)
        self.assertIn("CONNMAN_OK", consts)
        lines = []
        expected = []
        for s in structs:
            lines.append(f'printf("{s.__name__} %zu\\n", sizeof(struct {s.__name__}));')
            expected.append(f"{s.__name__} {ctypes.sizeof(s)}")
            for name, _ in s._fields_:
                lines.append(
                    f'printf("{s.__name__}.{name} %zu\\n", offsetof(struct {s.__name__}, {name}));'
                )
                expected.append(f"{s.__name__}.{name} {getattr(s, name).offset}")
        for name, value in consts.items():
            lines.append(f'printf("{name} %lld\\n", (long long)({name}));')
            expected.append(f"{name} {value}")
        body = "\n    ".join(lines)
        src = (
            f'#include <stddef.h>\n#include <stdio.h>\n#include "connman.h"\n'
            f"int main(void) {{\n    {body}\n    return 0;\n}}\n"
        )
        with tempfile.TemporaryDirectory() as tmp:
            c_file, exe = os.path.join(tmp, "layout.c"), os.path.join(tmp, "layout")
            with open(c_file, "w") as f:
                f.write(src)
            built = subprocess.run(
                [cc, "-std=c99", "-I", os.path.dirname(HEADER), c_file, "-o", exe],
                capture_output=True, text=True, timeout=60,
            )
            self.assertEqual(built.returncode, 0, built.stderr + src)
            out = subprocess.run([exe], capture_output=True, text=True, check=True, timeout=10)
        self.assertEqual(out.stdout.split("\n")[:-1], expected)

    def test_every_function_is_declared_on_the_loaded_library(self):
        lib = connman._loader.lib()
        for name, restype, argtypes in _ffi.FUNCTIONS:
            fn = getattr(lib, name)
            self.assertIs(fn.restype, restype, name)
            self.assertEqual(tuple(fn.argtypes), argtypes, name)


class TestHandWrittenLayer(unittest.TestCase):
    """What is written by hand over the mirror covers all of it."""

    def _constants(self, prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: v for k, v in vars(_ffi).items() if k.startswith(prefix)}

    def test_error_codes_and_classes(self):
        codes = self._constants("CONNMAN_ERR_")
        self.assertEqual({c.name: c.value for c in connman.ErrorCode if c.name != "OK"}, codes)
        for value in codes.values():
            err = connman._errors.error(value)
            self.assertIsNot(type(err), connman.ConnmanError, f"no class for code {value}")

    def test_states(self):
        self.assertEqual({s.name: s.value for s in connman.State}, self._constants("CONNMAN_STATE_"))

    def test_options_stats_and_pool_stats_fields(self):
        # Every C field but the reserved room for later versions, in C order;
        # Stats adds the errno and EAI names next to their numbers.
        for ours, theirs in (
            (connman.Options, _ffi.connman_options),
            (connman.Stats, _ffi.connman_stats),
            (connman.PoolStats, _ffi.connman_pool_stats),
        ):
            names = [f.name for f in dataclasses.fields(ours)]
            self.assertNotIn("reserved", names)
            self.assertEqual(
                [n for n in names if n not in connman._connection.DERIVED_STATS],
                [name for name, _ in theirs._fields_ if name != "reserved"],
                ours.__name__,
            )
        self.assertIn("reserved", dict(_ffi.connman_options._fields_))
        with self.assertRaises(TypeError):
            connman._options.to_c({"reserved": 0})

    def test_handler_callbacks_installed(self):
        class OnlyData(connman.Handler):
            def on_data(self, conn: connman.Connection, data: bytes) -> None:
                pass

        class Duck:
            def on_reset(self, conn: connman.Connection) -> None:
                pass

        h = _callbacks.c_handler(1, OnlyData())
        self.assertTrue(h.on_data)
        # Always: on_close drops the table entry; on_connect and on_reconnect
        # wake Connection.wait_connected.
        for name in ("on_close", "on_connect", "on_reconnect"):
            self.assertTrue(getattr(h, name), name)
        self.assertFalse(h.on_reset)  # left NULL: the library never takes the GIL for it
        d = _callbacks.c_handler(2, Duck())
        self.assertTrue(d.on_reset)
        self.assertFalse(d.on_data)


class TestExamples(unittest.TestCase):
    def test_quickstart_prints_the_echo(self):
        server = FlakyEcho()
        try:
            out = run_python(os.path.join(EXAMPLES, "quickstart.py"), "--port", str(server.port))
        finally:
            server.close()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("echo: b'hello, connman'", out.stdout)
        self.assertIn("closed", out.stdout)

    def test_echo_server_example(self):
        script = textwrap.dedent(
            f"""
            import subprocess, sys
            server = subprocess.Popen(
                [sys.executable, {os.path.join(EXAMPLES, 'echo_server.py')!r}, "--port", "0"],
                stdout=subprocess.PIPE, text=True)
            port = server.stdout.readline().rsplit(":", 1)[-1].strip()
            quick = subprocess.run(
                [sys.executable, {os.path.join(EXAMPLES, 'quickstart.py')!r}, "--port", port],
                capture_output=True, text=True, timeout=30)
            server.terminate()
            server.wait()
            print(quick.stdout, quick.stderr)
            """
        )
        out = run_python("-c", script)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("echo: b'hello, connman'", out.stdout)


if __name__ == "__main__":
    unittest.main()
