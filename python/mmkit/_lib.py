"""Locating, loading and declaring the mmkit C library (internal).

The shared library is looked for, in this order:

1. ``$MMKIT_LIBRARY`` -- a path to the shared library.  When the variable is
   set (and not empty) it is the *only* candidate: a wrong path is an error,
   never a silent fallback to some other copy.
2. A copy bundled inside the package: ``mmkit/_lib/libmmkit.so`` (put there by
   ``pip install``, which compiles it, see ``python/setup.py``).
3. The system's library search path: ``libmmkit.so.0`` through ``dlopen``
   (``LD_LIBRARY_PATH``, ``ld.so.cache``), then ``ctypes.util.find_library``.
4. pkg-config: ``pkg-config --variable=libdir mmkit``.

When nothing loads, :class:`OSError` is raised naming every candidate tried
and why each one failed.

Every symbol used gets its ``argtypes`` and ``restype``.  Strings owned by the
library (``mm_last_error``, ``mm_version``) are returned as ``c_void_p`` and
copied with :func:`ctypes.string_at`, never as ``c_char_p``.  The functions of
the contract that a library may not have yet (``mm_read``, ``mm_write``,
``mm_resize``, ``mm_map_shareable``, ``mm_fd``, ``mm_seal``, ``mm_check``) are declared only
when present; :func:`has` tells which ones are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
from typing import Callable, Dict, List, Mapping, Optional, Tuple

__all__ = ["lib", "has", "load_library", "LIBRARY_PATH", "REQUIRED", "OPTIONAL"]

_c_region = ctypes.c_void_p                       # mm_region * (opaque)
_c_region_out = ctypes.POINTER(ctypes.c_void_p)   # mm_region ** (out-param)

# name: (restype, argtypes)
REQUIRED: Dict[str, Tuple[object, List[object]]] = {
    "mm_map_anon": (ctypes.c_int, [ctypes.c_size_t, ctypes.c_uint32, _c_region_out]),
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
}

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_BUNDLED_NAMES = ("libmmkit.so", "libmmkit.so.0", "libmmkit.dylib")
_SYSTEM_NAMES = ("libmmkit.so.0", "libmmkit.so", "libmmkit.0.dylib", "libmmkit.dylib")


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


def load_library(environ: Optional[Mapping[str, str]] = None) -> Tuple[ctypes.CDLL, str]:
    """Find and load the mmkit shared library; return ``(cdll, how_found)``.

    ``environ`` defaults to :data:`os.environ`.  See the module docstring for
    the search order.  Raises :class:`OSError` naming every candidate tried.
    """
    env = os.environ if environ is None else environ
    tried: List[str] = []

    explicit = env.get("MMKIT_LIBRARY")
    if explicit:
        try:
            return _open(explicit), explicit
        except OSError as exc:
            raise OSError("mmkit: cannot load the library named by MMKIT_LIBRARY=%s: %s"
                          % (explicit, exc)) from None

    tried.append("$MMKIT_LIBRARY (not set)")

    # A copy bundled inside the package.
    for name in _BUNDLED_NAMES:
        path = os.path.join(_PKG_DIR, "_lib", name)
        if os.path.exists(path):
            try:
                return _open(path), path
            except OSError as exc:
                tried.append("%s (%s)" % (path, exc))
        else:
            tried.append("%s (no such file)" % path)

    # The system's library search path.
    for name in _SYSTEM_NAMES:
        try:
            return _open(name), name
        except OSError as exc:
            tried.append("%s via dlopen (%s)" % (name, exc))
    found = ctypes.util.find_library("mmkit")
    if found:
        try:
            return _open(found), found
        except OSError as exc:
            tried.append("%s via ctypes.util.find_library (%s)" % (found, exc))
    else:
        tried.append("ctypes.util.find_library('mmkit') (nothing found)")

    # pkg-config.
    libdir, what = _pkg_config_libdir(env)
    if libdir is None:
        tried.append(what)
    else:
        for name in _SYSTEM_NAMES:
            path = os.path.join(libdir, name)
            if not os.path.exists(path):
                tried.append("%s from %s (no such file)" % (path, what))
                continue
            try:
                return _open(path), path
            except OSError as exc:
                tried.append("%s from %s (%s)" % (path, what, exc))

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


def c_string(ptr: Optional[int]) -> str:
    """Copy a NUL-terminated string owned by the library (``None`` → ``""``)."""
    if not ptr:
        return ""
    return ctypes.string_at(ptr).decode("utf-8", "replace")


def last_error() -> str:
    """``mm_last_error()`` of the calling thread, copied."""
    return c_string(lib.mm_last_error())

