"""Finding and loading the C library; declarations; version; documentation."""

import ctypes
import ctypes.util
import os
import pydoc
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

import mmkit
from mmkit import _lib
from conftest import PYTHON_DIR, child_env

IMPORT = "import mmkit; print(mmkit.LIBRARY_PATH)"


def run_python(code, env, cwd=None):
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)


def staged_library():
    path = os.environ.get("MMKIT_LIBRARY")
    if not path or not os.path.isfile(path):
        pytest.skip("MMKIT_LIBRARY does not name an existing file")
    return path


def test_mmkit_library_nonexistent_names_it(tmp_path):
    missing = str(tmp_path / "no-such-libmmkit.so")
    proc = run_python(IMPORT, child_env(MMKIT_LIBRARY=missing))
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "OSError" in err
    assert missing in err
    assert "MMKIT_LIBRARY" in err


def test_mmkit_library_wrong_library_is_rejected():
    libc = ctypes.util.find_library("c")
    if not libc:
        pytest.skip("no libc found by name")
    proc = run_python(IMPORT, child_env(MMKIT_LIBRARY=libc))
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "lacks required symbol" in err and "mm_map_anon" in err


def test_nothing_found_names_everything_tried(tmp_path):
    env = child_env(MMKIT_LIBRARY=None, LD_LIBRARY_PATH=None, DYLD_LIBRARY_PATH=None,
                    PKG_CONFIG_PATH=str(tmp_path), PKG_CONFIG_LIBDIR=str(tmp_path))
    proc = run_python(IMPORT, env)
    if proc.returncode == 0:
        pytest.skip("a libmmkit is installed system-wide: %s" % proc.stdout.decode().strip())
    err = proc.stderr.decode()
    assert "OSError" in err
    for needle in ("MMKIT_LIBRARY", os.path.join("mmkit", "_lib", "libmmkit.so"),
                   "libmmkit.so.0", "find_library", "pkg-config"):
        assert needle in err, (needle, err)


def test_found_through_pkg_config(tmp_path):
    lib = staged_library()
    pcdir = os.path.join(os.path.dirname(lib), "pkgconfig")
    if not os.path.isfile(os.path.join(pcdir, "mmkit.pc")):
        pytest.skip("no mmkit.pc beside MMKIT_LIBRARY")
    if shutil.which("pkg-config") is None:
        pytest.skip("pkg-config is not installed")
    env = child_env(MMKIT_LIBRARY=None, LD_LIBRARY_PATH=None, PKG_CONFIG_PATH=pcdir)
    proc = run_python(IMPORT, env)
    assert proc.returncode == 0, proc.stderr.decode()
    loaded = proc.stdout.decode().strip()
    assert os.path.dirname(loaded) == os.path.dirname(lib)


def test_found_bundled_in_package(tmp_path):
    lib = staged_library()
    shutil.copytree(os.path.join(PYTHON_DIR, "mmkit"), str(tmp_path / "mmkit"),
                    ignore=shutil.ignore_patterns("__pycache__", "_lib"))
    (tmp_path / "mmkit" / "_lib").mkdir()
    bundled = tmp_path / "mmkit" / "_lib" / "libmmkit.so"
    shutil.copyfile(lib, str(bundled))
    env = child_env(MMKIT_LIBRARY=None, LD_LIBRARY_PATH=None,
                    PKG_CONFIG_PATH=str(tmp_path), PKG_CONFIG_LIBDIR=str(tmp_path))
    env["PYTHONPATH"] = str(tmp_path)
    proc = run_python(IMPORT, env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip() == str(bundled)


def test_every_symbol_declared():
    lib = _lib.lib
    for table in (_lib.REQUIRED, _lib.OPTIONAL):
        for name, (restype, argtypes) in table.items():
            if table is _lib.OPTIONAL and not _lib.has(name):
                continue
            fn = getattr(lib, name)
            assert fn.restype is restype, name
            assert fn.argtypes == argtypes, name
    # Library-owned strings are never c_char_p.
    assert lib.mm_last_error.restype is ctypes.c_void_p
    assert lib.mm_version.restype is ctypes.c_void_p
    assert lib.mm_ptr.restype is ctypes.c_void_p
    assert lib.mm_len.restype is ctypes.c_size_t
    assert lib.mm_flags.restype is ctypes.c_uint32
    assert lib.mm_map_file.argtypes[1] is ctypes.c_uint64
    assert lib.mm_map_anon.argtypes[2] == ctypes.POINTER(ctypes.c_void_p)


def test_version_matches_library():
    raw = ctypes.string_at(_lib.lib.mm_version()).decode()
    assert mmkit.__version__ == raw
    assert re.fullmatch(r"\d+\.\d+\.\d+", mmkit.__version__)
    lib = os.environ.get("MMKIT_LIBRARY")
    pc = os.path.join(os.path.dirname(lib), "pkgconfig") if lib else None
    if pc and os.path.isfile(os.path.join(pc, "mmkit.pc")) and shutil.which("pkg-config"):
        proc = subprocess.run(["pkg-config", "--modversion", "mmkit"],
                              env=dict(os.environ, PKG_CONFIG_PATH=pc),
                              stdout=subprocess.PIPE, timeout=30)
        assert proc.stdout.decode().strip() == mmkit.__version__


def test_page_size():
    assert mmkit.PAGE_SIZE == os.sysconf("SC_PAGE_SIZE")


def test_last_error_is_empty_or_text():
    assert isinstance(_lib.last_error(), str)


def test_documentation_reads_well():
    text = pydoc.render_doc(mmkit, renderer=pydoc.plaintext)
    for name in ("map_anon", "map_file", "map_fd", "map_shareable", "Region", "view",
                 "PAGE_SIZE"):
        assert name in text
    assert mmkit.__doc__ and len(mmkit.__doc__) > 200
    for name in ("map_anon", "map_file", "map_fd", "map_shareable"):
        assert getattr(mmkit, name).__doc__, name
    public = [n for n in dir(mmkit.Region) if not n.startswith("_")]
    for name in public + ["__len__", "__getitem__", "__setitem__"]:
        assert getattr(mmkit.Region, name).__doc__, name
    assert mmkit.Region.__doc__
    for name in mmkit.__all__:
        assert hasattr(mmkit, name), name
    assert os.path.isfile(os.path.join(PYTHON_DIR, "mmkit", "py.typed"))


def _copy_project(dest):
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(os.path.join(PYTHON_DIR, name), str(dest / name))
    shutil.copytree(os.path.join(PYTHON_DIR, "mmkit"), str(dest / "mmkit"),
                    ignore=shutil.ignore_patterns("__pycache__", "_lib"))


def test_setup_bundles_library(tmp_path):
    """The build_py hook copies $MMKIT_BUNDLE into the built package."""
    lib = staged_library()
    pytest.importorskip("setuptools", minversion="61")  # reads [project] in pyproject.toml
    src = tmp_path / "src"
    src.mkdir()
    _copy_project(src)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "-d", str(out)],
                          cwd=str(src), env=dict(os.environ, MMKIT_BUNDLE=lib),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert proc.returncode == 0, proc.stdout.decode()
    bundled = out / "mmkit" / "_lib" / "libmmkit.so"
    assert bundled.is_file()
    with open(lib, "rb") as a:
        assert bundled.read_bytes() == a.read()
    assert (out / "mmkit" / "py.typed").is_file()
    # The built package loads the bundled copy by itself.
    env = child_env(MMKIT_LIBRARY=None, LD_LIBRARY_PATH=None,
                    PKG_CONFIG_PATH=str(tmp_path), PKG_CONFIG_LIBDIR=str(tmp_path))
    env["PYTHONPATH"] = str(out)
    proc = run_python(IMPORT, env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip() == str(bundled)


@pytest.mark.parametrize("platform, name", [("win32", "mmkit.dll"), ("darwin", "libmmkit.dylib")])
def test_setup_bundles_under_the_platform_s_name(tmp_path, platform, name):
    """setup.py names the bundled file for the platform it runs on: mmkit.dll on Windows.

    The child pretends to be on ``platform`` (``sys.platform`` set after
    setuptools is imported, before setup.py runs): build_py only copies files.
    """
    pytest.importorskip("setuptools", minversion="61")  # reads [project] in pyproject.toml
    src = tmp_path / "src"
    src.mkdir()
    _copy_project(src)
    library = tmp_path / "built-library"
    library.write_bytes(b"not really a library")
    out = tmp_path / "out"
    code = ("import runpy, sys\n"
            "import setuptools, setuptools.command.build_py, setuptools.command.sdist\n"
            "sys.platform = %r\n"
            "sys.argv = ['setup.py', '-q', 'build_py', '-d', %r]\n"
            "runpy.run_path('setup.py', run_name='__main__')\n" % (platform, str(out)))
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(src),
                          env=dict(os.environ, MMKIT_BUNDLE=str(library)),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert proc.returncode == 0, proc.stdout.decode()
    assert sorted(os.listdir(str(out / "mmkit" / "_lib"))) == [name]
    assert (out / "mmkit" / "_lib" / name).read_bytes() == library.read_bytes()


def test_setup_without_bundle(tmp_path):
    pytest.importorskip("setuptools", minversion="61")  # reads [project] in pyproject.toml
    src = tmp_path / "src"
    src.mkdir()
    _copy_project(src)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "-d", str(out)],
                          cwd=str(src), env=dict(os.environ, MMKIT_BUNDLE="0"),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert proc.returncode == 0, proc.stdout.decode()
    assert (out / "mmkit" / "__init__.py").is_file()
    assert not (out / "mmkit" / "_lib").exists()


def test_wheel_with_bundled_library(tmp_path):
    lib = staged_library()
    pytest.importorskip("setuptools", minversion="61")  # reads [project] in pyproject.toml
    try:
        import setuptools.command.bdist_wheel  # noqa: F401
    except ImportError:
        pytest.importorskip("wheel")
    src = tmp_path / "src"
    src.mkdir()
    _copy_project(src)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                          env=dict(os.environ, MMKIT_BUNDLE=lib),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert proc.returncode == 0, proc.stdout.decode()
    wheels = list((tmp_path / "dist").glob("mmkit-*.whl"))
    assert len(wheels) == 1
    assert wheels[0].name.startswith("mmkit-0.1.0-py3-none-")
    assert not wheels[0].name.endswith("-any.whl")
    names = zipfile.ZipFile(str(wheels[0])).namelist()
    assert "mmkit/_lib/libmmkit.so" in names
    assert "mmkit/py.typed" in names
