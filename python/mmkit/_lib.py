"""Locating, loading and declaring the mmkit C library (internal).

The shared library is looked for, in this order (the list of candidates per
platform is :func:`mmkit._locate.candidates`, pure and tested for every
platform):

1. ``$MMKIT_LIBRARY`` -- a path to the shared library.  When the variable is
   set (and not empty) it is the *only* candidate: a wrong path is an error,
   never a silent fallback to some other copy.
2. A copy bundled inside the package: ``mmkit/_lib/libmmkit.so`` (then
   ``libmmkit.so.0``), ``mmkit/_lib/libmmkit.dylib`` on macOS,
   ``mmkit/_lib/mmkit.dll`` on Windows (put there by ``pip install``, which
   compiles it, see ``python/setup.py``).
3. The system's library search path: ``libmmkit.so.0`` then ``libmmkit.so``
   through ``dlopen`` (``LD_LIBRARY_PATH``, ``ld.so.cache``), on macOS
   ``libmmkit.0.dylib`` then ``libmmkit.dylib``; then
   ``ctypes.util.find_library("mmkit")``.
4. pkg-config: ``pkg-config --variable=libdir mmkit`` (not on Windows).

On Windows (``sys.platform == "win32"``) step 3 is ``mmkit.dll`` by bare
name, then the ``mmkit.dll`` that ``find_library("mmkit.dll")`` finds on
``PATH``.  Since Python 3.8, ctypes loads a bare name with ``LoadLibraryExW``
and the default *safe* search: the application's directory (``python.exe``'s),
``System32`` and the directories given to :func:`os.add_dll_directory` --
never ``PATH`` nor the current directory.  ``find_library`` does search
``PATH``, and its result is loaded by absolute path, so a ``mmkit.dll``
installed in a ``bin/`` directory on ``PATH`` is still found.  A DLL loaded by
path also has its own directory searched for the DLLs it depends on, and a
Rust cdylib built for ``x86_64-pc-windows-gnu`` imports system DLLs only (the
standard library's ``kernel32``, ``ntdll``, ``msvcrt``, ``bcryptprimitives``,
``userenv``, ``ws2_32``, an ``api-ms-win-core`` set; libgcc and winpthreads
are linked statically): no :func:`os.add_dll_directory` is needed for the
bundled copy.  pkg-config is skipped there: its ``libdir`` holds the import
libraries (``libmmkit.dll.a``); the DLL goes to ``bin/``, which is on ``PATH``.

Every platform loads with :class:`ctypes.CDLL`: the functions are ``extern
"C"``, the C calling convention (cdecl).  :class:`ctypes.WinDLL` would call
them as ``stdcall``, which on 32-bit x86 Windows leaves the stack unbalanced;
on x64 and ARM64 Windows there is one convention and the two are the same.

When nothing loads, :class:`OSError` is raised naming every candidate tried
and why each one failed.

Every symbol used gets its ``argtypes`` and ``restype``.  Strings owned by the
library (``mm_last_error``, ``mm_version``) are returned as ``c_void_p`` and
copied with :func:`ctypes.string_at`, never as ``c_char_p``.  The functions of
the contract that a library may not have yet (``mm_read``, ``mm_write``,
``mm_resize``, ``mm_map_shareable``, ``mm_fd``, ``mm_seal``, ``mm_check``,
``mm_lost_counter``) are declared only when present; :func:`has` tells which
ones are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from . import _locate

__all__ = ["lib", "has", "load_library", "LIBRARY_PATH", "REQUIRED", "OPTIONAL"]

_c_region = ctypes.c_void_p                       # mm_region * (opaque)
_c_region_out = ctypes.POINTER(ctypes.c_void_p)   # mm_region ** (out-param)
# A size_t that the map/close loop passes (mm_map_anon's length), declared as
# a pointer: ctypes defines its own c_size_t as the unsigned integer type of
# sizeof(void *), and every ABI it runs on passes the two alike, but c_void_p
# converts a Python int in a specialised from_param, 55-80 ns faster than
# c_size_t's generic one (3.11-3.13, BENCHMARKS.md "Figure 6's private loop").
# Only for a caller that has checked the value is an int in range: c_void_p
# would also take None or bytes.
_c_size_checked = ctypes.c_void_p

# name: (restype, argtypes)
REQUIRED: Dict[str, Tuple[object, List[object]]] = {
    "mm_map_anon": (ctypes.c_int, [_c_size_checked, ctypes.c_uint32, _c_region_out]),
    "mm_map_file": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_uint64, ctypes.c_size_t,
                                   ctypes.c_uint32, _c_region_out]),
    "mm_map_fd": (ctypes.c_int, [ctypes.c_int, ctypes.c_uint64, ctypes.c_size_t,
                                 ctypes.c_uint32, _c_region_out]),
    "mm_unmap": (ctypes.c_int, [_c_region]),
    "mm_ptr": (ctypes.c_void_p, [_c_region]),
    "mm_len": (ctypes.c_size_t, [_c_region]),
    "mm_flags": (ctypes.c_uint32, [_c_region]),
    "mm_page_size": (ctypes.c_size_t, []),
    "mm_last_error": (ctypes.c_void_p, []),
    "mm_version": (ctypes.c_void_p, []),
    "mm_sync": (ctypes.c_int, [_c_region, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_uint32]),
    "mm_lock": (ctypes.c_int, [_c_region, ctypes.c_size_t, ctypes.c_size_t]),
    "mm_unlock": (ctypes.c_int, [_c_region, ctypes.c_size_t, ctypes.c_size_t]),
    "mm_advise": (ctypes.c_int, [_c_region, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int]),
    "mm_protect": (ctypes.c_int, [_c_region, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_uint32]),
}

OPTIONAL: Dict[str, Tuple[object, List[object]]] = {
    "mm_read": (ctypes.c_int, [_c_region, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]),
    "mm_write": (ctypes.c_int, [_c_region, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]),
    "mm_resize": (ctypes.c_int, [_c_region, ctypes.c_size_t]),
    "mm_map_shareable": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
                                        _c_region_out]),
    "mm_fd": (ctypes.c_int, [_c_region]),
    "mm_seal": (ctypes.c_int, [_c_region, ctypes.c_uint32]),
    "mm_check": (ctypes.c_int, [_c_region]),
    # Windows only: mapping by HANDLE (see mmkit._map._descriptor_mapper).
    "mm_map_handle": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t,
                                     ctypes.c_uint32, _c_region_out]),
    "mm_handle": (ctypes.c_int, [_c_region, ctypes.POINTER(ctypes.c_void_p)]),
    "mm_lost_counter": (ctypes.c_void_p, [_c_region]),
}

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _declare(cdll: ctypes.CDLL) -> None:
    missing = [name for name in REQUIRED if not hasattr(cdll, name)]
    if missing:
        raise OSError("%s lacks required symbol(s): %s"
                      % (getattr(cdll, "_name", "library"), ", ".join(missing)))
    for table in (REQUIRED, OPTIONAL):
        for name, (restype, argtypes) in table.items():
            if table is OPTIONAL and not hasattr(cdll, name):
                continue
            fn = getattr(cdll, name)
            fn.restype = restype
            fn.argtypes = argtypes


def _open(path: str) -> ctypes.CDLL:
    # CDLL everywhere, WinDLL nowhere: the library's functions use the C
    # calling convention (cdecl), see the module docstring.
    cdll = ctypes.CDLL(path)
    _declare(cdll)
    return cdll


def _pkg_config_libdir(environ: Mapping[str, str]) -> Tuple[Optional[str], str]:
    """Return (libdir or None, description of what happened)."""
    exe = environ.get("PKG_CONFIG") or "pkg-config"
    try:
        proc = subprocess.run([exe, "--variable=libdir", "mmkit"], env=dict(environ),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=20, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, "%s could not be run (%s)" % (exe, exc)
    out = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or not out:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return None, "%s --variable=libdir mmkit failed (%s)" % (
            exe, err[0] if err else "exit status %d" % proc.returncode)
    return out, "%s --variable=libdir mmkit -> %s" % (exe, out)


class _Resolver:
    """Turns a candidate of :func:`mmkit._locate.candidates` into what to open.

    :meth:`resolve` gives ``(path, label)``: ``path`` is what to hand to
    ``CDLL`` (``None`` when there is nothing to open, ``label`` then says
    why), ``label`` names the candidate in the error.  pkg-config runs once,
    at its first candidate.
    """

    def __init__(self, platform: str, env: Mapping[str, str]) -> None:
        self.platform = platform
        self.env = env
        self.libdir: Optional[Tuple[Optional[str], str]] = None

    def resolve(self, how: str, what: str) -> Tuple[Optional[str], str]:
        if how == _locate.BUNDLED and not os.path.exists(what):
            return None, "%s (no such file)" % what
        if how == _locate.SYSTEM:
            search = "the default DLL search" if self.platform == "win32" else "dlopen"
            return what, "%s via %s" % (what, search)
        if how == _locate.FIND_LIBRARY:
            return self._find_library(what)
        if how == _locate.PKG_CONFIG:
            return self._pkg_config(what)
        return what, what  # MMKIT_LIBRARY, bundled: a path

    def _find_library(self, name: str) -> Tuple[Optional[str], str]:
        found = ctypes.util.find_library(name)
        if not found:
            return None, "ctypes.util.find_library(%r) (nothing found)" % name
        if self.platform == "win32":
            # A PATH entry of "" or "." gives a bare "mmkit.dll", which
            # LoadLibraryExW would look for in the safe directories only.  On
            # ELF systems the result is a SONAME, for dlopen to find by name.
            found = os.path.abspath(found)
        return found, "%s via ctypes.util.find_library" % found

    def _pkg_config(self, name: str) -> Tuple[Optional[str], str]:
        if self.libdir is None:
            self.libdir = _pkg_config_libdir(self.env)
        libdir, what = self.libdir
        if libdir is None:
            return None, what
        path = os.path.join(libdir, name)
        if not os.path.exists(path):
            return None, "%s from %s (no such file)" % (path, what)
        return path, "%s from %s" % (path, what)


def load_library(environ: Optional[Mapping[str, str]] = None, *, platform: Optional[str] = None,
                 pkg_dir: Optional[str] = None,
                 opener: Callable[[str], ctypes.CDLL] = _open) -> Tuple[ctypes.CDLL, str]:
    """Find and load the mmkit shared library; return ``(cdll, how_found)``.

    ``environ`` defaults to :data:`os.environ`, ``platform`` to
    :data:`sys.platform`, ``pkg_dir`` to this package's directory; ``opener``
    loads one path (``CDLL`` and the declarations).  See the module docstring
    for the search order.  Raises :class:`OSError` naming every candidate tried.
    """
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    resolver = _Resolver(plat, env)
    tried: List[str] = [] if env.get("MMKIT_LIBRARY") else ["$MMKIT_LIBRARY (not set)"]
    for how, what in _locate.candidates(plat, env, _PKG_DIR if pkg_dir is None else pkg_dir):
        if how == _locate.MMKIT_LIBRARY:
            try:
                return opener(what), what
            except OSError as exc:
                raise OSError("mmkit: cannot load the library named by MMKIT_LIBRARY=%s: %s"
                              % (what, exc)) from None
        path, label = resolver.resolve(how, what)
        if path is None:
            if label not in tried:  # a failed pkg-config is said once
                tried.append(label)
            continue
        try:
            return opener(path), path
        except OSError as exc:
            tried.append("%s (%s)" % (label, exc))

    raise OSError("mmkit: cannot find the mmkit shared library; set MMKIT_LIBRARY to its "
                  "path, install the package with a bundled copy, or install libmmkit. "
                  "Tried:\n  " + "\n  ".join(tried))


lib, LIBRARY_PATH = load_library()


# Which optional functions this library has, found once with hasattr on the CDLL.
_PRESENT = frozenset(name for name in list(REQUIRED) + list(OPTIONAL) if hasattr(lib, name))


def has(name: str) -> bool:
    """True when the loaded library exports the C function ``name``."""
    if name in REQUIRED or name in OPTIONAL:
        return name in _PRESENT
    return hasattr(lib, name)


def _check_fast() -> "Callable[..., int]":
    # mm_check after a direct copy of a guarded region (only such regions make
    # one: a library without mm_check maps none, see mmkit._map).  Through
    # PyDLL: the GIL is kept over this short call that cannot block (it saves
    # the release and the re-acquisition, about a tenth of r[i]).
    if not has("mm_check"):
        return lambda h: 0
    fn = getattr(ctypes.PyDLL(LIBRARY_PATH), "mm_check")
    fn.restype, fn.argtypes = ctypes.c_int, [_c_region]
    result: "Callable[..., int]" = fn
    return result


check_fast = _check_fast()
"""``mm_check(handle)`` for the hot paths (0 where the library has no guard)."""

# A count that is never 0: what lost_count gives where the library has no
# mm_lost_counter, so that a check of it always asks the library.
_ALWAYS_ASK = memoryview((ctypes.c_size_t * 1)(1)).cast("B").cast("N").toreadonly()

# Whether this processor keeps loads in order (x86), so that a copy of the
# memory followed by a load of the count sees a loss another thread's fault
# found (the handler counts the page before it maps the zeros). Elsewhere
# (arm64, POWER, RISC-V) the count could be read before the copy's loads
# without a fence, which Python cannot issue: there the check asks mm_check,
# which fences (see mm_lost_counter(3) in man/mm_check.3).
# (os.uname, not platform.machine: that runs a WMI query on Windows, where
# PROCESSOR_ARCHITECTURE names the process's architecture, as emulated.)
_MACHINE = os.uname().machine if hasattr(os, "uname") \
    else os.environ.get("PROCESSOR_ARCHITECTURE", "")
_LOADS_IN_ORDER = _MACHINE.lower() in (
    "x86_64", "amd64", "x64", "i386", "i486", "i586", "i686", "x86",
    "i86pc")  # (illumos: x86 too)


def lost_count(handle: int) -> memoryview:
    """The guarded region's count of lost pages as a read-only one-item
    memoryview (format ``'N'``, size_t): ``view[0]`` is one load, no call
    (``mm_lost_counter``; the count is static storage, so reading it can
    never fault, but it is this region's only until ``mm_unmap``).  Where the
    library has no ``mm_lost_counter``, or the processor may read the count
    before the copy that came first (see ``_LOADS_IN_ORDER``), a count that
    is never 0: every check then asks ``mm_check``."""
    if not _LOADS_IN_ORDER or not has("mm_lost_counter"):
        return _ALWAYS_ASK
    address = lib.mm_lost_counter(handle)
    arr = (ctypes.c_char * ctypes.sizeof(ctypes.c_size_t)).from_address(address)
    return memoryview(arr).cast("B").cast("N").toreadonly()


def c_string(ptr: Optional[int]) -> str:
    """Copy a NUL-terminated string owned by the library (``None`` → ``""``)."""
    if not ptr:
        return ""
    return ctypes.string_at(ptr).decode("utf-8", "replace")


def last_error() -> str:
    """``mm_last_error()`` of the calling thread, copied."""
    return c_string(lib.mm_last_error())

