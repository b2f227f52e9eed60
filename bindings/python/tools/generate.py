#!/usr/bin/env python3
"""Writes the two files of the Python package that mirror the Rust crate:

- ``connman/_ffi.py``: the ctypes mirror of ``include/connman.h`` (every constant,
  type, struct layout, callback type and function signature, plus a
  ``typing.Protocol`` of the library's functions for type checkers);
- ``connman/_version.py``: the package version, taken from ``Cargo.toml``.

Usage (from anywhere)::

    python3 bindings/python/tools/generate.py          # rewrite both files
    python3 bindings/python/tools/generate.py --check  # exit 1, with a diff, if stale

``.ci/run`` runs ``--check``, so the mirror can never drift from the header. Needs
pycparser (``pip install -r bindings/python/requirements-dev.txt``) and Python 3.11+
(tomllib). The header is cbindgen's output; the generator understands the C it
emits and stops with an error on anything it does not know, rather than guess.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import keyword
import operator
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pycparser import c_ast, c_parser

PKG = Path(__file__).resolve().parent.parent  # bindings/python
REPO = PKG.parent.parent
HEADER = REPO / "include" / "connman.h"
CARGO_TOML = REPO / "Cargo.toml"
FFI_OUT = PKG / "connman" / "_ffi.py"
VERSION_OUT = PKG / "connman" / "_version.py"
ME = "bindings/python/tools/generate.py"


class GenError(Exception):
    pass


# ---------------------------------------------------------------------------
# Preprocessing: comments, conditionals, #define constants


_COMMENT_OR_STRING = re.compile(
    r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*', re.S
)
_STD_INCLUDES = {"stddef.h", "stdint.h", "stdbool.h", "stdarg.h"}


def _strip_comments(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        s = m.group(0)
        if s.startswith(("/*", "//")):
            return "\n" * s.count("\n") or " "
        return s

    return _COMMENT_OR_STRING.sub(repl, text)


@dataclass
class Define:
    name: str
    value: int | str
    line: int
    literal: str  # how to write the value in Python


def _parse_define_value(name: str, raw: str, known: dict[str, Define]) -> Define | None:
    v = raw.strip()
    while v.startswith("(") and v.endswith(")") and v.count("(") == 1:
        v = v[1:-1].strip()
    cast = re.match(r"^\(\s*[A-Za-z_][A-Za-z0-9_ ]*\)\s*(.+)$", v)
    if cast:
        v = cast.group(1).strip()
    m = re.fullmatch(r"(-?)\s*(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)[uUlL]*", v)
    if m:
        digits = m.group(2)
        if re.fullmatch(r"0[0-7]+", digits):
            digits = "0o" + digits[1:]
        number = int(m.group(1) + digits, 0)
        literal = m.group(1) + digits.lower() if digits[:2].lower() == "0x" else str(number)
        return Define(name, number, 0, literal)
    if re.fullmatch(r'"(?:\\.|[^"\\])*"', v):
        text = ast.literal_eval(v)
        return Define(name, text, 0, repr(text))
    if v in known:
        d = known[v]
        return Define(name, d.value, 0, d.literal)
    return None


def preprocess(text: str) -> tuple[str, list[Define]]:
    """Returns the C declarations (preprocessor lines blanked, line numbers kept)
    and the object-like macros with a constant value, in header order."""
    text = _strip_comments(text.replace("\\\n", " \n"))
    out: list[str] = []
    macros: set[str] = set()
    defines: dict[str, Define] = {}
    stack: list[tuple[bool, bool]] = []  # (this branch is active, some branch was taken)

    def active() -> bool:
        return all(a for a, _ in stack)

    for lineno, line in enumerate(text.split("\n"), 1):
        d = re.match(r"^\s*#\s*(\w+)\s*(.*?)\s*$", line)
        if not d:
            out.append(line if active() else "")
            continue
        out.append("")
        directive, rest = d.group(1), d.group(2)
        if directive in ("ifdef", "ifndef"):
            taken = (rest in macros) == (directive == "ifdef")
            stack.append((taken, taken))
        elif directive == "else":
            if not stack:
                raise GenError(f"line {lineno}: #else without #if")
            _, was_taken = stack.pop()
            stack.append((not was_taken, True))
        elif directive == "endif":
            if not stack:
                raise GenError(f"line {lineno}: #endif without #if")
            stack.pop()
        elif not active():
            continue
        elif directive == "define":
            m = re.match(r"^([A-Za-z_]\w*)(\(?)\s*(.*)$", rest)
            if not m or m.group(2):
                raise GenError(f"line {lineno}: unsupported macro: #define {rest}")
            name, value = m.group(1), m.group(3)
            macros.add(name)
            if not value:
                continue  # a guard or flag macro: no value to mirror
            parsed = _parse_define_value(name, value, defines)
            if parsed is None:
                raise GenError(
                    f"line {lineno}: cannot mirror #define {name} {value} "
                    f"(only integer and string constants are supported: extend {ME})"
                )
            parsed.line = lineno
            defines[name] = parsed
        elif directive == "undef":
            macros.discard(rest)
            defines.pop(rest, None)
        elif directive == "include":
            inc = rest.strip("<>\"")
            if inc not in _STD_INCLUDES:
                raise GenError(f"line {lineno}: unexpected #include {rest} (extend {ME})")
        elif directive == "pragma":
            continue
        else:
            raise GenError(f"line {lineno}: unsupported preprocessor line: {line.strip()}")
    if stack:
        raise GenError("unterminated #if block")
    return "\n".join(out), list(defines.values())


# ---------------------------------------------------------------------------
# C types -> ctypes


@dataclass(frozen=True)
class PyType:
    expr: str  # the ctypes class, as Python code ("c_uint32", "POINTER(connman_conn)")
    cls: str  # that class as a type annotation ("c_uint32", "_Pointer[connman_conn]")
    value: str  # what a struct field or a return value of this type reads as
    arg: str  # what may be passed as an argument of this type


def _scalar(ctype: str, py: str) -> PyType:
    return PyType(ctype, ctype, py, py)


_STD_TYPES = {
    "int8_t": _scalar("c_int8", "int"),
    "int16_t": _scalar("c_int16", "int"),
    "int32_t": _scalar("c_int32", "int"),
    "int64_t": _scalar("c_int64", "int"),
    "uint8_t": _scalar("c_uint8", "int"),
    "uint16_t": _scalar("c_uint16", "int"),
    "uint32_t": _scalar("c_uint32", "int"),
    "uint64_t": _scalar("c_uint64", "int"),
    "size_t": _scalar("c_size_t", "int"),
    "ssize_t": _scalar("c_ssize_t", "int"),
    "intptr_t": _scalar("c_ssize_t", "int"),
    "uintptr_t": _scalar("c_size_t", "int"),
    "ptrdiff_t": _scalar("c_ssize_t", "int"),
    "bool": _scalar("c_bool", "bool"),
}
_BUILTIN_TYPES = {
    ("char",): _scalar("c_char", "bytes"),
    ("signed", "char"): _scalar("c_byte", "int"),
    ("unsigned", "char"): _scalar("c_ubyte", "int"),
    ("short",): _scalar("c_short", "int"),
    ("unsigned", "short"): _scalar("c_ushort", "int"),
    ("int",): _scalar("c_int", "int"),
    ("signed",): _scalar("c_int", "int"),
    ("unsigned",): _scalar("c_uint", "int"),
    ("unsigned", "int"): _scalar("c_uint", "int"),
    ("long",): _scalar("c_long", "int"),
    ("unsigned", "long"): _scalar("c_ulong", "int"),
    ("long", "long"): _scalar("c_longlong", "int"),
    ("unsigned", "long", "long"): _scalar("c_ulonglong", "int"),
    ("float",): _scalar("c_float", "float"),
    ("double",): _scalar("c_double", "float"),
    ("_Bool",): _scalar("c_bool", "bool"),
}
_CHAR_P = PyType("c_char_p", "c_char_p", "bytes | None", "bytes | None")
_VOID_P = PyType("c_void_p", "c_void_p", "int | None", "int | None")
_VOID = PyType("None", "None", "None", "None")
_FN_VALUE = "_CFunctionType"
# Every name the prelude declares, so that pycparser knows them as type names.
_PRELUDE = "".join(f"typedef int {name};" for name in _STD_TYPES)


_BINARY_OPS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "<<": operator.lshift,
    "|": operator.or_,
}


def _pointer(to: PyType) -> PyType:
    return PyType(
        f"POINTER({to.expr})", f"_Pointer[{to.cls}]", f"_Pointer[{to.cls}]", f"_Ptr[{to.cls}]"
    )


@dataclass
class Struct:
    name: str
    fields: list[tuple[str, PyType]] | None = None  # None: declared, not defined
    emitted: bool = False


@dataclass
class Function:
    name: str
    restype: PyType
    params: list[tuple[str, PyType]]


@dataclass
class Mirror:
    defines: list[Define]
    # Output blocks of the types section, in header order.
    blocks: list[str] = field(default_factory=list)
    typedefs: dict[str, PyType] = field(default_factory=dict)
    structs: dict[str, Struct] = field(default_factory=dict)
    functions: list[Function] = field(default_factory=list)
    uses: set[str] = field(default_factory=set)  # names imported from ctypes

    def const(self, node: c_ast.Node) -> int:
        if isinstance(node, c_ast.Constant) and node.type == "int":
            return int(node.value.rstrip("uUlL"), 0)
        if isinstance(node, c_ast.ID):
            for d in self.defines:
                if d.name == node.name and isinstance(d.value, int):
                    return d.value
        if isinstance(node, c_ast.UnaryOp) and node.op == "-":
            return -self.const(node.expr)
        if isinstance(node, c_ast.BinaryOp) and node.op in _BINARY_OPS:
            return _BINARY_OPS[node.op](self.const(node.left), self.const(node.right))
        raise GenError(f"{node.coord}: not an integer constant")

    def use(self, t: PyType) -> PyType:
        for name in re.findall(r"\b(c_\w+|POINTER|CFUNCTYPE)\b", t.expr):
            self.uses.add(name)
        return t

    # -- types ------------------------------------------------------------

    def type_of(self, node: c_ast.Node, fn_name: str) -> PyType:
        """The ctypes type of a declarator. ``fn_name`` names the CFUNCTYPE
        made for a function pointer written inline."""
        if isinstance(node, c_ast.TypeDecl):
            return self.base_type(node.type)
        if isinstance(node, c_ast.PtrDecl):
            inner = node.type
            if isinstance(inner, c_ast.FuncDecl):
                self.emit_fn_type(fn_name, inner)
                return PyType(fn_name, _FN_VALUE, _FN_VALUE, f"{_FN_VALUE} | None")
            if isinstance(inner, c_ast.TypeDecl) and isinstance(inner.type, c_ast.IdentifierType):
                names = tuple(inner.type.names)
                if names == ("char",):
                    return self.use(_CHAR_P)
                if names == ("void",):
                    return self.use(_VOID_P)
            return self.use(_pointer(self.type_of(inner, fn_name)))
        if isinstance(node, c_ast.ArrayDecl):
            item = self.type_of(node.type, fn_name)
            n = self.const(node.dim)
            value = "bytes" if item.expr == "c_char" else f"Array[{item.cls}]"
            return PyType(f"({item.expr} * {n})", f"Array[{item.cls}]", value, value)
        raise GenError(f"{node.coord}: unsupported declarator {type(node).__name__}")

    def base_type(self, node: c_ast.Node) -> PyType:
        if isinstance(node, c_ast.IdentifierType):
            names = tuple(n for n in node.names if n != "const")
            if names == ("void",):
                return _VOID
            if len(names) == 1 and names[0] in self.typedefs:
                return self.typedefs[names[0]]
            if len(names) == 1 and names[0] in _STD_TYPES:
                return self.use(_STD_TYPES[names[0]])
            if names in _BUILTIN_TYPES:
                return self.use(_BUILTIN_TYPES[names])
            raise GenError(f"{node.coord}: unknown type {' '.join(names)}")
        if isinstance(node, c_ast.Struct):
            if node.decls is not None:
                self.define_struct(node.name, node)
            elif node.name not in self.structs:
                raise GenError(f"{node.coord}: struct {node.name} used before it is declared")
            return PyType(node.name, node.name, node.name, node.name)
        if isinstance(node, c_ast.Enum):
            if node.values is not None:
                self.define_enum(node)
            return self.use(_scalar("c_int", "int"))
        raise GenError(f"{node.coord}: unsupported type {type(node).__name__}")

    def params(self, fn: c_ast.FuncDecl, owner: str) -> list[tuple[str, PyType]]:
        out: list[tuple[str, PyType]] = []
        for i, p in enumerate(fn.args.params if fn.args else []):
            if isinstance(p, c_ast.EllipsisParam):
                raise GenError(f"{p.coord}: variadic functions are not supported")
            t = self.type_of(p.type, f"{owner}_{p.name or i}")
            if t is _VOID:
                continue  # f(void)
            name = p.name or f"arg{i}"
            out.append((name + "_" if keyword.iskeyword(name) else name, t))
        return out

    # -- definitions --------------------------------------------------------

    def emit_fn_type(self, name: str, fn: c_ast.FuncDecl) -> None:
        restype = self.type_of(fn.type, name + "_result")
        args = [t.expr for _, t in self.params(fn, name)]
        self.uses.add("CFUNCTYPE")
        self.blocks.append(f"{name} = CFUNCTYPE({', '.join([restype.expr, *args])})\n")

    def define_struct(self, name: str | None, node: c_ast.Struct) -> None:
        if name is None:
            raise GenError(f"{node.coord}: anonymous structs are not supported")
        s = self.structs.setdefault(name, Struct(name))
        if s.fields is not None:
            raise GenError(f"{node.coord}: struct {name} defined twice")
        # The class comes before the callback types of its fields (which may
        # point to it), and its _fields_ after them.
        self.uses.add("Structure")
        slot = len(self.blocks)
        if not s.emitted:
            self.blocks.append("")
        s.fields = []
        for d in node.decls:
            if d.name is None or d.bitsize is not None:
                raise GenError(f"{d.coord}: unnamed or bit fields are not supported")
            if keyword.iskeyword(d.name):
                raise GenError(f"{d.coord}: field {d.name} is a Python keyword")
            s.fields.append((d.name, self.type_of(d.type, f"{name}_{d.name}")))
        if not s.emitted:
            ann = "".join(f"    {f}: {t.value}\n" for f, t in s.fields) or "    pass\n"
            self.blocks[slot] = f"class {name}(Structure):\n{ann}"
            s.emitted = True
        rows = "".join(f'    ("{f}", {t.expr}),\n' for f, t in s.fields)
        self.blocks.append(f"{name}._fields_ = [\n{rows}]\n")

    def declare_struct(self, name: str) -> None:
        s = self.structs.setdefault(name, Struct(name))
        if not s.emitted:
            self.uses.add("Structure")
            self.blocks.append(f"class {name}(Structure):\n    pass  # opaque, or defined below\n")
            s.emitted = True

    def define_enum(self, node: c_ast.Enum) -> None:
        value = -1
        for e in node.values.enumerators:
            value = self.const(e.value) if e.value is not None else value + 1
            self.defines.append(Define(e.name, value, e.coord.line, str(value)))

    def typedef(self, node: c_ast.Typedef) -> None:
        name = node.name
        if name in _STD_TYPES:
            return  # the prelude
        t = node.type
        if isinstance(t, c_ast.PtrDecl) and isinstance(t.type, c_ast.FuncDecl):
            self.typedefs[name] = self.type_of(t, name)
            return
        if isinstance(t, c_ast.TypeDecl) and isinstance(t.type, c_ast.Struct):
            st = t.type
            if st.decls is None:
                if st.name is None:
                    raise GenError(f"{node.coord}: typedef of an anonymous struct declaration")
                self.declare_struct(st.name)
            else:
                self.define_struct(st.name, st)
            if st.name != name:
                self.blocks.append(f"{name} = {st.name}\n")
            self.typedefs[name] = PyType(name, name, name, name)
            return
        target = self.type_of(t, name)
        self.blocks.append(f"{name} = {target.expr}\n")
        self.typedefs[name] = PyType(name, name, target.value, target.arg)

    def top_level(self, node: c_ast.Node) -> None:
        if isinstance(node, c_ast.Typedef):
            self.typedef(node)
        elif isinstance(node, c_ast.Decl) and isinstance(node.type, c_ast.FuncDecl):
            fn = node.type
            restype = self.type_of(fn.type, node.name + "_result")
            self.functions.append(Function(node.name, restype, self.params(fn, node.name)))
        elif isinstance(node, c_ast.Decl) and node.name is None:
            if isinstance(node.type, c_ast.Struct):
                if node.type.decls is None:
                    self.declare_struct(node.type.name)
                else:
                    self.define_struct(node.type.name, node.type)
            elif isinstance(node.type, c_ast.Enum):
                self.define_enum(node.type)
            else:
                raise GenError(f"{node.coord}: unsupported declaration")
        else:
            raise GenError(f"{node.coord}: unsupported top-level declaration (extend {ME})")


# ---------------------------------------------------------------------------
# Output


def _wrap_call(head: str, items: list[str], tail: str, indent: str = "") -> str:
    one = f"{indent}{head}{', '.join(items)}{tail}"
    if len(one) <= 99:
        return one + "\n"
    body = "".join(f"{indent}    {item},\n" for item in items)
    return f"{indent}{head}\n{body}{indent}{tail}\n"


def render_ffi(mirror: Mirror) -> str:
    fn_rows = []
    for f in mirror.functions:
        exprs = [t.expr for _, t in f.params]
        argtypes = f"({', '.join(exprs)}{',' if len(exprs) == 1 else ''})"
        if len(argtypes) > 80:  # one per line
            argtypes = _wrap_call("(", exprs, ")", "        ").strip()
        fn_rows.append(_wrap_call("(", [f'"{f.name}"', f.restype.expr, argtypes], "),", "    "))
    protocol = []
    for f in mirror.functions:
        params = ["self", *(f"{n}: {t.arg}" for n, t in f.params), "/"]
        returns = f") -> {f.restype.value}: ..."
        protocol.append(_wrap_call(f"def {f.name}(", params, returns, "    "))
    defines = sorted(mirror.defines, key=lambda d: d.line)
    consts = "".join(f"{d.name} = {d.literal}\n" for d in defines)
    imports = sorted(mirror.uses, key=lambda n: (n.startswith("c_"), n))
    return f'''"""ctypes mirror of include/connman.h: constants, types, struct layouts,
callback types and function signatures, in header order.

Generated from the header by {ME}; do not edit.
After the header changes, run ``python3 {ME}``:
``.ci/run`` fails while this file is not what the generator makes of the header.
Nothing here is public API; include/connman.h documents every item.
"""

from __future__ import annotations

from ctypes import (
{"".join(f"    {n},{chr(10)}" for n in imports)})
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ctypes import Array, _CArgObject, _CData, _CDataType, _CFunctionType, _Pointer
    from typing import TypeAlias, TypeVar

    _CT = TypeVar("_CT", bound=_CData)
    # What a pointer parameter accepts: a pointer, an array, byref(x) or NULL.
    _Ptr: TypeAlias = "_Pointer[_CT] | Array[_CT] | _CArgObject | None"

# ---------------------------------------------------------------------------
# Constants

{consts}

# ---------------------------------------------------------------------------
# Types

{(chr(10) * 2).join(mirror.blocks)}

# ---------------------------------------------------------------------------
# Functions: (name, restype, argtypes), every function of the header once.

FUNCTIONS: tuple[tuple[str, type[_CDataType] | None, tuple[type[_CDataType], ...]], ...] = (
{"".join(fn_rows)})


class Library(Protocol):
    """The loaded library as ctypes calls it, for type checkers."""

{chr(10).join(protocol)}'''


def build_mirror(header_text: str) -> Mirror:
    c_text, defines = preprocess(header_text)
    try:
        tree = c_parser.CParser().parse(_PRELUDE + c_text, str(HEADER))
    except Exception as e:  # pycparser's ParseError carries file:line:col
        raise GenError(f"cannot parse the header: {e}") from e
    mirror = Mirror(defines)
    for node in tree.ext:
        mirror.top_level(node)
    return mirror


def cargo_version(cargo_toml: Path) -> str:
    data = tomllib.loads(cargo_toml.read_text())
    version = data.get("package", {}).get("version")
    if isinstance(version, dict) and version.get("workspace"):
        version = data.get("workspace", {}).get("package", {}).get("version")
    if not isinstance(version, str):
        raise GenError(f"{cargo_toml}: no [package] version")
    return version


def render_version(version: str, mirror: Mirror) -> str:
    parts = dict(zip(("MAJOR", "MINOR", "PATCH"), re.split(r"[.+-]", version)))
    for d in mirror.defines:
        m = re.fullmatch(r"CONNMAN_VERSION_(MAJOR|MINOR|PATCH)", d.name)
        if m and str(d.value) != parts.get(m.group(1)):
            raise GenError(f"the header's {d.name} is {d.value}, but Cargo.toml says {version}")
    return (
        f'"""The package version: Cargo.toml\'s.\n\nGenerated by {ME}; do not edit.\n"""\n\n'
        f'__version__ = "{version}"\n'
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = ap.parse_args(argv)
    try:
        mirror = build_mirror(HEADER.read_text())
        outputs = {
            FFI_OUT: render_ffi(mirror),
            VERSION_OUT: render_version(cargo_version(CARGO_TOML), mirror),
        }
    except GenError as e:
        print(f"{ME}: {e}", file=sys.stderr)
        return 2
    stale = 0
    for path, text in outputs.items():
        old = path.read_text() if path.exists() else ""
        if old == text:
            continue
        rel = path.relative_to(REPO)
        if args.check:
            stale += 1
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(True), text.splitlines(True), f"{rel} (committed)",
                    f"{rel} (generated)",
                )
            )
        else:
            path.write_text(text)
            print(f"wrote {rel}")
    if stale:
        print(f"\n{stale} generated file(s) are stale: run `python3 {ME}` and commit them",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
