"""The package's constants against the C header mmkit.h.

Two headers are read: the repository's (include/mmkit.h, which cbindgen
generates from the Rust sources) and, when the tests run through make
($MMKIT_PREFIX set), the one staged with the library under test
($MMKIT_PREFIX/include/mmkit.h).  Every ``#define MM_NAME value`` of a header
must be in the package as ``mmkit.NAME`` with that value, unless listed below;
every ``MM_*`` constant the package exposes must be in the header.
"""

import ast
import os
import re

import pytest

import mmkit
from mmkit import _constants
from conftest import PYTHON_DIR

REPO_HEADER = os.path.join(os.path.dirname(PYTHON_DIR), "include", "mmkit.h")

# MM_* of the header that the package keeps private, under another name.
PRIVATE = {
    "MM_SYNC": "_MS_SYNC",              # Region.sync(wait=True)
    "MM_ASYNC": "_MS_ASYNC",            # Region.sync(wait=False)
    "MM_INVALIDATE": "_MS_INVALIDATE",  # Region.sync(invalidate=True)
}

# MM_* of the header that the package deliberately lacks: name -> why.
ABSENT: "dict[str, str]" = {}

# Public constants of the package that are not MM_* of the header.
NOT_FROM_THE_HEADER = {"PAGE_SIZE"}          # mm_page_size() at import
PROT_ALIASES = {"PROT_NONE": None, "PROT_READ": "MM_READ", "PROT_WRITE": "MM_WRITE",
                "PROT_EXEC": "MM_EXEC"}     # None: 0, no access


def _headers():
    found = [pytest.param(REPO_HEADER, id="repo")]
    prefix = os.environ.get("MMKIT_PREFIX")
    if prefix:
        found.append(pytest.param(os.path.join(prefix, "include", "mmkit.h"), id="staged"))
    return found


_DEFINE = re.compile(r"^\s*#\s*define\s+(MM_\w+)\s+(.*?)\s*(?:/\*.*|//.*)?$")
_CAST = re.compile(r"\(\s*(?:u?int(?:8|16|32|64)_t|unsigned(?:\s+int)?|int|size_t)\s*\)")
_SUFFIX = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b")


def _value(text, known):
    """The integer a cbindgen #define value spells: a literal, maybe cast,
    suffixed or parenthesised, or |, <<, + ... of those and earlier MM_*."""
    expr = _SUFFIX.sub(r"\1", _CAST.sub("", text))

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name) and node.id in known:
            return known[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Invert)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else ~v
        ops = {ast.BitOr: lambda a, b: a | b, ast.BitAnd: lambda a, b: a & b,
               ast.LShift: lambda a, b: a << b, ast.Add: lambda a, b: a + b,
               ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b}
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError("cannot read the value %r" % text)

    return ev(ast.parse(expr, mode="eval"))


def read_header(path):
    """{MM_NAME: value} of every ``#define MM_*`` in the header at ``path``."""
    assert os.path.isfile(path), "no header at %s" % path
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    defines = {}
    for line in lines:
        m = _DEFINE.match(line)
        if m:
            assert m.group(1) not in defines, "%s defined twice in %s" % (m.group(1), path)
            defines[m.group(1)] = _value(m.group(2), defines)
    # nothing skipped: every line that defines an MM_* name was read
    assert len(defines) == sum(1 for line in lines if re.match(r"\s*#\s*define\s+MM_", line))
    return defines


def _package_mm_names():
    """The public names of the package that stand for an MM_* of the header."""
    return {name for name in mmkit.__all__
            if name.isupper() and isinstance(getattr(mmkit, name), int)
            and name not in NOT_FROM_THE_HEADER and name not in PROT_ALIASES}


@pytest.mark.parametrize("header", _headers())
def test_every_mm_constant_of_the_header_is_in_the_package_with_its_value(header):
    defines = read_header(header)
    assert "MM_READ" in defines and len(defines) >= 20, defines
    for name, value in defines.items():
        if name in ABSENT:
            assert not hasattr(mmkit, name[3:]), "%s is listed as absent" % name
        elif name in PRIVATE:
            assert getattr(_constants, PRIVATE[name]) == value, name
        else:
            assert name[3:] in mmkit.__all__, "%s of mmkit.h is not mmkit.%s" % (name, name[3:])
            assert getattr(mmkit, name[3:]) == value, (name, getattr(mmkit, name[3:]), value)


@pytest.mark.parametrize("header", _headers())
def test_every_mm_constant_of_the_package_is_in_the_header(header):
    defines = read_header(header)
    names = _package_mm_names()
    assert "READ" in names and "SEAL_WRITE" in names
    for name in names:
        assert "MM_" + name in defines, "mmkit.%s is not MM_%s of mmkit.h" % (name, name)
        assert getattr(mmkit, name) == defines["MM_" + name], name
    for mm_name, private in PRIVATE.items():
        assert mm_name in defines, "%s (mmkit._constants.%s) is not in mmkit.h" % (
            mm_name, private)


@pytest.mark.parametrize("header", _headers())
def test_prot_constants_are_the_header_s_access_flags(header):
    defines = read_header(header)
    for name, mm_name in PROT_ALIASES.items():
        assert getattr(mmkit, name) == (0 if mm_name is None else defines[mm_name]), name


def test_the_exceptions_are_real():
    # The lists above name only what the package really treats so.
    for mm_name, private in PRIVATE.items():
        assert isinstance(getattr(_constants, private), int)
        assert not hasattr(mmkit, mm_name[3:]), mm_name
    assert not set(ABSENT) & set(PRIVATE)
    assert mmkit.PAGE_SIZE == int(mmkit._lib.lib.mm_page_size())


def test_the_header_reader_reads_what_cbindgen_may_write():
    known = {}
    for text, value in (("16", 16), ("0x10", 16), ("16U", 16), ("0x10u", 16),
                        ("(uint32_t)16", 16), ("(1 << 4)", 16), ("((uint32_t)1 << 4)", 16),
                        ("(MM_A | 2)", 3)):
        known["MM_A"] = 1
        assert _value(text, known) == value, text
    with pytest.raises(ValueError):
        _value("mm_page_size()", known)
