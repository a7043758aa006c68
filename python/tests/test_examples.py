"""The ported examples, alone and against the C programs in $MMKIT_EXAMPLES."""

import os
import subprocess
import sys

import pytest

from conftest import PYTHON_DIR, child_env

EXAMPLES = os.path.join(PYTHON_DIR, "examples")
ANON = os.path.join(EXAMPLES, "anon_mmap.py")
CAT = os.path.join(EXAMPLES, "map_cat.py")


def run(argv, stdin=b""):
    proc = subprocess.run(argv, input=stdin, env=c_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def c_env():
    env = child_env()
    lib = os.environ.get("MMKIT_LIBRARY")
    if lib:   # the C programs find libmmkit.so.0 beside the library the tests use
        libdir = os.path.dirname(os.path.realpath(lib))
        env["LD_LIBRARY_PATH"] = libdir + (":" + env["LD_LIBRARY_PATH"]
                                           if env.get("LD_LIBRARY_PATH") else "")
    return env


def c_example(name):
    directory = os.environ.get("MMKIT_EXAMPLES")
    if not directory:
        pytest.skip("MMKIT_EXAMPLES is not set (no C examples to compare with)")
    path = os.path.join(directory, name)
    if not os.access(path, os.X_OK):
        pytest.skip("C example %s is missing" % path)
    return path


@pytest.fixture
def cat_files(tmp_path):
    files = []
    contents = [b"first line\n", b"", bytes(range(256)) * 40 + b"tail",
                b"no newline at end", b"\0" * 5000]
    for i, data in enumerate(contents):
        p = tmp_path / ("f%d" % i)
        p.write_bytes(data)
        files.append((str(p), data))
    return files


def test_anon_mmap_output():
    rc, out, err = run([sys.executable, ANON])
    assert rc == 0, err
    assert out.decode().splitlines() == ["backend: MAP_ANONYMOUS", "Child started, value = 1",
                                         "In parent, value = 2"]
    rc, out, err = run([sys.executable, ANON, "--devzero"])
    assert rc == 0, err
    assert out.decode().splitlines() == ["backend: /dev/zero", "Child started, value = 1",
                                         "In parent, value = 2"]


def test_anon_mmap_usage():
    rc, out, err = run([sys.executable, ANON, "--bogus"])
    assert rc == 2 and out == b""
    assert err.decode() == "usage: anon_mmap [--devzero]\n"


@pytest.mark.parametrize("args", [[], ["--devzero"], ["--bogus"], ["--devzero", "x"]])
def test_anon_mmap_matches_c(args):
    binary = c_example("anon_mmap")
    assert run([sys.executable, ANON] + args) == run([binary] + args)


def test_map_cat_is_cat(cat_files):
    rc, out, err = run([sys.executable, CAT] + [p for p, _ in cat_files])
    assert rc == 0 and err == b""
    assert out == b"".join(d for _, d in cat_files)


def test_map_cat_errors_and_goes_on(cat_files, tmp_path):
    missing = str(tmp_path / "missing")
    argv = [cat_files[0][0], missing, cat_files[2][0], str(tmp_path), cat_files[3][0]]
    rc, out, err = run([sys.executable, CAT] + argv)
    assert rc == 1
    assert out == cat_files[0][1] + cat_files[2][1] + cat_files[3][1]
    lines = err.decode().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("map_cat: %s: " % missing) and "No such file" in lines[0]
    assert lines[1].startswith("map_cat: %s: " % tmp_path)


def test_map_cat_stdin_and_devices(cat_files):
    rc, out, err = run([sys.executable, CAT, cat_files[0][0], "-", "/dev/null"], stdin=b"in\n")
    assert rc == 0, err
    assert out == cat_files[0][1] + b"in\n"
    rc, out, err = run([sys.executable, CAT], stdin=b"only stdin")
    assert (rc, out) == (0, b"only stdin")


def test_map_cat_empty_only(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert run([sys.executable, CAT, str(empty), str(empty)]) == (0, b"", b"")


def test_map_cat_matches_c(cat_files, tmp_path):
    binary = c_example("map_cat")
    argv = [p for p, _ in cat_files] + [str(tmp_path / "missing"), str(tmp_path), "-",
                                       "/dev/null", cat_files[2][0]]
    py = run([sys.executable, CAT] + argv, stdin=b"from stdin\n")
    c = run([binary] + argv, stdin=b"from stdin\n")
    assert py[0] == c[0] == 1
    assert py[1] == c[1]
    assert py[2] == c[2]
