"""The functions that make regions: map_anon, map_file, map_fd, map_shareable (internal)."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import sys
from typing import Any, Optional, Union

from . import _lib, _region
from ._args import _SIZE_MAX, _U64_MAX, PathType, _fd, _name, _options, _path, _size
from ._constants import (
    CREATE, DEVZERO, EXCL, GUARD, HUGEPAGES, NORESERVE, POPULATE, PRIVATE, READ, SHARED, WRITE,
)
from ._region import _error, _require

# Assigned, not imported: CPython compiles ``Region._adopt(...)`` on an
# imported name as an attribute load, not a method call (see _region.py).
Region = _region.Region

_lib_c = _lib.lib
_c_void_p = ctypes.c_void_p
_PRIVATE_RW = READ | WRITE | PRIVATE  # map_anon's default
# ... as the ctypes object the call takes: passed as it is, with no conversion
# (c_uint32's from_param costs 55-80 ns; see _lib._c_size_checked).
_PRIVATE_RW_ARG = ctypes.c_uint32(_PRIVATE_RW)
_mm_map_anon = _lib_c.mm_map_anon

# MM_GUARD where the library has the guard (mm_check tells); a library from
# before it would refuse the bit (EINVAL), so guard=True maps unguarded there
# and Region.guarded says so.
_GUARD = GUARD if _lib.has("mm_check") else 0


def _adopt_out(rc: int, out: ctypes.c_void_p,
               filename: Optional[Union[str, bytes]] = None,
               length: Optional[int] = None, direct: bool = False,
               guarded: bool = False) -> Region:
    if rc < 0:
        raise _error(rc, filename)
    if not out.value:
        raise OSError(_errno.EIO, "mmkit returned success without a region")
    return Region._adopt(out.value, length, direct, guarded)


def _anon_flags(length: int, flags: int) -> Region:
    """``mm_map_anon`` with a raw ``MM_*`` flag word (for mmkit.mmap; no checks here)."""
    out = ctypes.c_void_p()
    rc = _lib_c.mm_map_anon(length, flags, ctypes.byref(out))
    return _adopt_out(rc, out, None, length, True)


def _fd_flags(fd: int, offset: int, length: int, flags: int) -> Region:
    """``mm_map_fd`` with a raw ``MM_*`` flag word (for mmkit.mmap; no checks here),
    guarded where the library has the guard."""
    out = ctypes.c_void_p()
    rc = _lib_c.mm_map_fd(fd, offset, length, flags | _GUARD, ctypes.byref(out))
    return _adopt_out(rc, out, None, length or None, False, bool(_GUARD))


def map_anon(length: int, *, shared: bool = False, populate: bool = False,
             hugepages: bool = False, devzero: bool = False,
             noreserve: bool = False) -> Region:
    """Map ``length`` bytes of zero-filled anonymous memory, readable and writable.

    ``shared=True`` makes writes visible to forked children (``MAP_SHARED``);
    otherwise children get a copy-on-write copy.  ``populate`` prefaults it,
    ``hugepages`` uses huge pages where possible (never failing for lack of
    them), ``devzero`` maps ``/dev/zero`` instead of ``MAP_ANONYMOUS``,
    ``noreserve`` does not reserve swap.  ``len(r) == length``; ``length`` 0
    is OSError (EINVAL).
    """
    # The common call (an int length, no options) skips the general checks.
    n = length if type(length) is int and 0 <= length <= _SIZE_MAX else _size(length, "length")
    if shared is False and populate is False and hugepages is False and devzero is False \
            and noreserve is False:
        flags: Any = _PRIVATE_RW_ARG
    elif type(shared) is bool and type(populate) is bool and type(hugepages) is bool \
            and type(devzero) is bool and type(noreserve) is bool:
        flags = (READ | WRITE | (SHARED if shared else PRIVATE) | (POPULATE if populate else 0)
                 | (HUGEPAGES if hugepages else 0) | (DEVZERO if devzero else 0)
                 | (NORESERVE if noreserve else 0))
    else:
        flags = READ | WRITE | _options(
            (shared, "shared", SHARED, PRIVATE),
            (populate, "populate", POPULATE, 0),
            (hugepages, "hugepages", HUGEPAGES, 0),
            (devzero, "devzero", DEVZERO, 0),
            (noreserve, "noreserve", NORESERVE, 0),
        )
    out = _c_void_p()
    rc = _mm_map_anon(n, flags, out)  # (ctypes passes out by reference)
    h = out.value
    if rc < 0 or not h:
        return _adopt_out(rc, out)  # raises
    return Region._adopt(h, n, True)


def map_file(path: PathType, offset: int = 0, length: int = 0, *, write: bool = False,
             shared: bool = True, create: bool = False, exclusive: bool = False,
             populate: bool = False, guard: bool = True) -> Region:
    """Map ``length`` bytes of the file at ``path`` from ``offset`` (0: to the end of the file).

    ``path`` is str, bytes or os.PathLike.  ``offset`` need not be
    page-aligned.  ``write=True`` maps read-write: with ``shared=True`` writes
    reach the file (see :meth:`Region.sync`), with ``shared=False`` they are
    private copy-on-write.  ``create=True`` creates the file (mode 0600) if
    missing and grows it to ``offset + length``; ``exclusive=True`` with it
    fails with FileExistsError if the file exists.  An empty file gives a
    region of length 0; ``offset`` past the end of the file is OSError
    (EINVAL).  The file is closed before this returns.

    ``guard=True`` (the default, ``MM_GUARD``): a page the file loses to a
    truncation never raises SIGBUS, whatever touches it (a view, a numpy
    array): it reads zeros, and :meth:`Region.check`, ``r[a:b]`` and
    :meth:`Region.read` over it raise ``OSError(EFAULT)``.  ``guard=False``
    maps as the standard :mod:`mmap` does.  A library without the guard
    (no ``mm_check``) maps unguarded; :attr:`Region.guarded` tells.
    """
    encoded = _path(path)
    # The name errors carry, had now: a PathLike is asked once, before the call.
    filename = encoded if isinstance(path, bytes) else os.fsdecode(encoded)
    off = _size(offset, "offset", _U64_MAX)
    n = _size(length, "length")
    flags = READ | _options(
        (write, "write", WRITE, 0),
        (shared, "shared", SHARED, PRIVATE),
        (create, "create", CREATE, 0),
        (exclusive, "exclusive", EXCL, 0),
        (populate, "populate", POPULATE, 0),
        (guard, "guard", _GUARD, 0),
    )
    out = ctypes.c_void_p()
    rc = _lib_c.mm_map_file(encoded, off, n, flags, ctypes.byref(out))
    return _adopt_out(rc, out, filename, n or None, False, bool(flags & GUARD))


def map_fd(fd: Union[int, Any], offset: int = 0, length: int = 0, *, write: bool = False,
           shared: bool = True, guard: bool = True) -> Region:
    """Map ``length`` bytes (0: to the end) of the open descriptor ``fd`` from ``offset``.

    ``fd`` is an int or an object with ``fileno()``; it is neither closed nor
    kept.  A write-shared mapping of a descriptor opened read-only is
    PermissionError (EACCES).  ``guard`` as for :func:`map_file`.
    """
    d = _fd(fd)
    off = _size(offset, "offset", _U64_MAX)
    n = _size(length, "length")
    flags = READ | _options((write, "write", WRITE, 0), (shared, "shared", SHARED, PRIVATE),
                            (guard, "guard", _GUARD, 0))
    out = ctypes.c_void_p()
    rc = _map_descriptor(d, off, n, flags, ctypes.byref(out))
    return _adopt_out(rc, out, None, n or None, False, bool(flags & GUARD))


def _descriptor_mapper(platform: str, lib: Any, msvcrt: Any = None) -> Any:
    """The call that maps a descriptor of this Python: ``mm_map_fd``, or on
    Windows ``mm_map_handle`` of the descriptor's HANDLE.  A descriptor
    number belongs to a C runtime: Python's is the UCRT, mmkit.dll's msvcrt
    (MinGW), whose descriptor of the same number is another file or none;
    a HANDLE is the process's own (see mm_map_handle(3))."""
    if platform != "win32":
        return lib.mm_map_fd
    get_osfhandle = msvcrt.get_osfhandle

    def map_handle(d: int, off: int, n: int, flags: int, out: Any) -> int:
        try:
            handle = get_osfhandle(d)
        except OSError:
            return -_errno.EBADF
        return int(lib.mm_map_handle(handle, off, n, flags, out))

    return map_handle


def _windows_msvcrt() -> Any:
    import msvcrt  # type: ignore[import-not-found]  # Windows only
    return msvcrt


_map_descriptor = _descriptor_mapper(sys.platform, _lib_c,
                                     _windows_msvcrt() if sys.platform == "win32" else None)


def map_shareable(name: Union[str, bytes], length: int, *, guard: bool = True) -> Region:
    """Shared memory of ``length`` bytes that unrelated processes can map (``mm_map_shareable``).

    Backed by ``memfd_create`` on Linux (``name`` is only a label).  The
    region keeps a descriptor (:attr:`Region.fd`) to pass to another process,
    which maps it with :func:`map_fd` ``(fd, write=True)``; :meth:`Region.seal`
    restricts what peers may do.  NotImplementedError if the library lacks
    ``mm_map_shareable``.  ``guard`` as for :func:`map_file` (a peer that
    shrinks the object cannot kill this process).
    """
    encoded = _name(name)
    n = _size(length, "length")
    flags = READ | WRITE | SHARED | _options((guard, "guard", _GUARD, 0))
    fn = _require("mm_map_shareable")
    out = ctypes.c_void_p()
    rc = fn(encoded, n, flags, ctypes.byref(out))
    return _adopt_out(rc, out, None, n, False, bool(flags & GUARD))
