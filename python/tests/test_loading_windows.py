"""The loader's choices on Windows, tested on any machine (issue 19).

Python on Windows cannot run here, so the choice is tested where it is made:
:func:`mmkit._locate.candidates` takes the platform as a parameter, and
:func:`mmkit._lib.load_library` takes the platform, the package's directory
and the function that opens a path (here a fake that records the paths and
loads only those it is told to).  ``ctypes.util.find_library`` and pkg-config
are replaced where a test reaches them.  The ELF and macOS orders are pinned
beside Windows's, to show that the platform changes the names and nothing else.
"""

import ctypes.util
import os

import pytest

from mmkit import _lib, _locate

WINDOWS = "win32"


class Opener:
    """Stands in for ``_lib._open``: records every path, loads only ``accept``."""

    def __init__(self, *accept):
        self.accept = set(accept)
        self.calls = []

    def __call__(self, path):
        self.calls.append(path)
        if path in self.accept:
            return "<cdll %s>" % path
        raise OSError("fake: cannot load %s" % path)


def must_not_run(*args):
    raise AssertionError("called with %r" % (args,))


def bundle(pkg_dir, name):
    """Put an (empty) library called ``name`` in ``pkg_dir/_lib``; return its path."""
    lib_dir = pkg_dir / "_lib"
    lib_dir.mkdir(exist_ok=True)
    (lib_dir / name).write_bytes(b"")
    return str(lib_dir / name)


def load(tmp_path, opener, env=None, platform=WINDOWS):
    return _lib.load_library({} if env is None else env, platform=platform,
                             pkg_dir=str(tmp_path), opener=opener)


def tried(excinfo):
    """The lines after "Tried:" in the loader's error."""
    return [line.strip() for line in str(excinfo.value).split("Tried:\n", 1)[1].split("\n")]


# -- the order, as data -----------------------------------------------------------------------

def test_windows_order_without_mmkit_library(tmp_path):
    assert _locate.candidates(WINDOWS, {}, str(tmp_path)) == [
        ("bundled", os.path.join(str(tmp_path), "_lib", "mmkit.dll")),
        ("system", "mmkit.dll"),         # LoadLibraryExW, the default safe search
        ("find_library", "mmkit.dll"),   # PATH
    ]


def test_windows_empty_mmkit_library_counts_as_unset(tmp_path):
    assert (_locate.candidates(WINDOWS, {"MMKIT_LIBRARY": ""}, str(tmp_path))
            == _locate.candidates(WINDOWS, {}, str(tmp_path)))


def test_windows_mmkit_library_is_the_only_candidate(tmp_path):
    path = r"C:\Program Files\mmkit\bin\mmkit.dll"
    assert _locate.candidates(WINDOWS, {"MMKIT_LIBRARY": path}, str(tmp_path)) == [
        ("MMKIT_LIBRARY", path)]


def test_windows_never_names_a_so_a_dylib_or_pkg_config(tmp_path):
    found = _locate.candidates(WINDOWS, {}, str(tmp_path))
    assert "pkg-config" not in [how for how, _ in found]
    for _, what in found:
        assert os.path.basename(what) == "mmkit.dll", what


def test_elf_order_is_unchanged(tmp_path):
    lib_dir = os.path.join(str(tmp_path), "_lib")
    linux = _locate.candidates("linux", {}, str(tmp_path))
    assert linux == [
        ("bundled", os.path.join(lib_dir, "libmmkit.so")),
        ("bundled", os.path.join(lib_dir, "libmmkit.so.0")),
        ("system", "libmmkit.so.0"), ("system", "libmmkit.so"),
        ("find_library", "mmkit"),
        ("pkg-config", "libmmkit.so.0"), ("pkg-config", "libmmkit.so"),
    ]
    for platform in ("freebsd14", "netbsd10", "sunos5"):
        assert _locate.candidates(platform, {}, str(tmp_path)) == linux


def test_macos_order(tmp_path):
    assert _locate.candidates("darwin", {}, str(tmp_path)) == [
        ("bundled", os.path.join(str(tmp_path), "_lib", "libmmkit.dylib")),
        ("system", "libmmkit.0.dylib"), ("system", "libmmkit.dylib"),
        ("find_library", "mmkit"),
        ("pkg-config", "libmmkit.0.dylib"), ("pkg-config", "libmmkit.dylib"),
    ]


@pytest.mark.parametrize("platform, name", [
    ("win32", "mmkit.dll"), ("darwin", "libmmkit.dylib"),
    ("linux", "libmmkit.so"), ("freebsd14", "libmmkit.so"),
])
def test_the_name_setup_bundles_is_the_first_one_looked_for(tmp_path, platform, name):
    # setup.py names the bundled copy _locate.bundled_name(sys.platform)
    # (test_loading.py::test_setup_bundles_under_the_platform_s_name).
    assert _locate.bundled_name(platform) == name
    assert _locate.candidates(platform, {}, str(tmp_path))[0] == (
        "bundled", os.path.join(str(tmp_path), "_lib", name))


# -- the loader walking it --------------------------------------------------------------------

def test_windows_loads_the_bundled_dll_first(tmp_path, monkeypatch):
    dll = bundle(tmp_path, "mmkit.dll")
    monkeypatch.setattr(ctypes.util, "find_library", must_not_run)
    opener = Opener(dll)
    assert load(tmp_path, opener) == ("<cdll %s>" % dll, dll)
    assert opener.calls == [dll]


def test_windows_skips_a_bundled_so(tmp_path, monkeypatch):
    for name in ("libmmkit.so", "libmmkit.so.0", "libmmkit.dylib"):
        bundle(tmp_path, name)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    opener = Opener()
    with pytest.raises(OSError) as excinfo:
        load(tmp_path, opener)
    assert opener.calls == ["mmkit.dll"]
    assert not [line for line in tried(excinfo) if "libmmkit" in line]


def test_windows_dll_search_then_find_library_on_path(tmp_path, monkeypatch):
    on_path = str(tmp_path / "bin" / "mmkit.dll")
    asked = []
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: asked.append(name) or on_path)
    monkeypatch.setattr(_lib, "_pkg_config_libdir", must_not_run)
    opener = Opener(on_path)
    assert load(tmp_path, opener) == ("<cdll %s>" % on_path, on_path)
    assert opener.calls == ["mmkit.dll", on_path]
    assert asked == ["mmkit.dll"]    # not "mmkit": a file called so on PATH would shadow it


def test_windows_find_library_result_is_loaded_by_absolute_path(tmp_path, monkeypatch):
    # find_library joins each PATH entry with the name: an entry "" gives a
    # bare "mmkit.dll", which the safe search would not look for in the
    # current directory.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "mmkit.dll")
    here = str(tmp_path / "mmkit.dll")
    opener = Opener(here)
    assert load(tmp_path / "pkg", opener)[1] == here
    assert opener.calls == ["mmkit.dll", here]


def test_elf_find_library_result_is_a_soname_for_dlopen(tmp_path, monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libmmkit.so.0.1")
    opener = Opener("libmmkit.so.0.1")
    assert load(tmp_path, opener, platform="linux")[1] == "libmmkit.so.0.1"
    assert opener.calls == ["libmmkit.so.0", "libmmkit.so", "libmmkit.so.0.1"]


def test_windows_wrong_mmkit_library_is_the_only_one_tried(tmp_path, monkeypatch):
    good = bundle(tmp_path, "mmkit.dll")           # never fallen back to
    monkeypatch.setattr(ctypes.util, "find_library", must_not_run)
    wrong = str(tmp_path / "nowhere" / "mmkit.dll")
    opener = Opener(good, "mmkit.dll")
    with pytest.raises(OSError) as excinfo:
        load(tmp_path, opener, env={"MMKIT_LIBRARY": wrong})
    assert opener.calls == [wrong]
    assert "MMKIT_LIBRARY=%s: fake: cannot load %s" % (wrong, wrong) in str(excinfo.value)


def test_windows_error_names_every_candidate(tmp_path, monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(_lib, "_pkg_config_libdir", must_not_run)
    with pytest.raises(OSError) as excinfo:
        load(tmp_path, Opener())
    dll = os.path.join(str(tmp_path), "_lib", "mmkit.dll")
    assert tried(excinfo) == [
        "$MMKIT_LIBRARY (not set)",
        "%s (no such file)" % dll,
        "mmkit.dll via the default DLL search (fake: cannot load mmkit.dll)",
        "ctypes.util.find_library('mmkit.dll') (nothing found)",
    ]


def test_windows_error_says_why_each_copy_found_failed(tmp_path, monkeypatch):
    dll = bundle(tmp_path, "mmkit.dll")
    on_path = str(tmp_path / "bin" / "mmkit.dll")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: on_path)
    with pytest.raises(OSError) as excinfo:
        load(tmp_path, Opener())
    assert tried(excinfo) == [
        "$MMKIT_LIBRARY (not set)",
        "%s (fake: cannot load %s)" % (dll, dll),
        "mmkit.dll via the default DLL search (fake: cannot load mmkit.dll)",
        "%s via ctypes.util.find_library (fake: cannot load %s)" % (on_path, on_path),
    ]


def test_pkg_config_runs_once_and_its_libdir_is_searched(tmp_path, monkeypatch):
    libdir = tmp_path / "prefix"
    libdir.mkdir()
    (libdir / "libmmkit.so").write_bytes(b"")
    runs = []
    monkeypatch.setattr(_lib, "_pkg_config_libdir",
                        lambda env: runs.append(env) or (str(libdir), "fake pkg-config"))
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    opener = Opener()
    with pytest.raises(OSError) as excinfo:
        load(tmp_path, opener, platform="linux")
    so = str(libdir / "libmmkit.so")
    assert opener.calls == ["libmmkit.so.0", "libmmkit.so", so]
    assert len(runs) == 1
    assert tried(excinfo)[-2:] == [
        "%s from fake pkg-config (no such file)" % (libdir / "libmmkit.so.0"),
        "%s from fake pkg-config (fake: cannot load %s)" % (so, so),
    ]


def test_a_failed_pkg_config_is_said_once(tmp_path, monkeypatch):
    monkeypatch.setattr(_lib, "_pkg_config_libdir",
                        lambda env: (None, "pkg-config --variable=libdir mmkit failed (fake)"))
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(OSError) as excinfo:
        load(tmp_path, Opener(), platform="darwin")
    assert tried(excinfo)[-1] == "pkg-config --variable=libdir mmkit failed (fake)"
    assert sum("pkg-config" in line for line in tried(excinfo)) == 1


# --------------------------------------------------------------- map_fd
# A descriptor number belongs to a C runtime: Python's on Windows is the
# UCRT, mmkit.dll's is msvcrt, so map_fd passes the descriptor's HANDLE
# (mm_map_handle), never the number (mm_map_fd would map another file).

from mmkit import _map  # noqa: E402


class FakeLib:
    def __init__(self):
        self.calls = []

    def mm_map_fd(self, *args):
        self.calls.append(("mm_map_fd",) + args)
        return 0

    def mm_map_handle(self, *args):
        self.calls.append(("mm_map_handle",) + args)
        return 0


class FakeMsvcrt:
    def __init__(self, handles):
        self.handles = handles

    def get_osfhandle(self, fd):
        if fd not in self.handles:
            raise OSError(9, "Bad file descriptor")
        return self.handles[fd]


def test_windows_map_fd_maps_the_descriptors_handle_not_its_number():
    lib = FakeLib()
    mapper = _map._descriptor_mapper(WINDOWS, lib, FakeMsvcrt({3: 0x1234}))
    assert mapper(3, 70000, 100, 5, "out") == 0
    assert lib.calls == [("mm_map_handle", 0x1234, 70000, 100, 5, "out")]


def test_windows_map_fd_of_a_closed_descriptor_is_ebadf_before_any_call():
    import errno
    lib = FakeLib()
    mapper = _map._descriptor_mapper(WINDOWS, lib, FakeMsvcrt({}))
    assert mapper(7, 0, 0, 5, "out") == -errno.EBADF
    assert lib.calls == []


@pytest.mark.parametrize("platform", ["linux", "darwin", "freebsd13"])
def test_elsewhere_map_fd_passes_the_number(platform):
    lib = FakeLib()
    mapper = _map._descriptor_mapper(platform, lib)
    assert mapper(3, 0, 0, 5, "out") == 0
    assert lib.calls == [("mm_map_fd", 3, 0, 0, 5, "out")]
