"""The standard mmap module's terms, in mmkit's (internal; for :mod:`mmkit.mmap`).

The standard module of the running Python and its constants; how its
constructor's arguments become a :class:`Region` (``mmap(fileno, length,
flags, prot, access, offset)``: the same conversions, checks, messages and
order as CPython's ``new_mmap_object``); and ``madvise``.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import operator as _operator
import importlib as _importlib
import os as _os
import stat as _stat
import sys as _sys
from typing import Any, NamedTuple, Optional

from ._args import _c_int, _c_longlong, _c_ssize, _has_index, _SSIZE_MAX
from ._constants import (
    ADV_DONTNEED, ADV_HUGEPAGE, ADV_NOHUGEPAGE, ADV_NORMAL, ADV_RANDOM, ADV_SEQUENTIAL,
    ADV_WILLNEED, EXEC, NORESERVE, POPULATE, PRIVATE, READ, SHARED, WRITE,
)
from ._errors import invalid
from ._map import _anon_flags, _fd_flags
from ._region import Region


def _standard_module() -> Any:
    """The standard mmap module, even when ``sys.modules["mmap"]`` is mmkit.mmap."""
    current = _sys.modules.get("mmap")
    if current is not None and getattr(current, "__name__", None) == "mmap":
        return current
    saved = _sys.modules.pop("mmap", None)
    try:
        return _importlib.import_module("mmap")
    finally:
        if saved is not None:
            _sys.modules["mmap"] = saved


std = _standard_module()

# The standard module's constants, as it has them on this platform.
CONSTANTS = {name: getattr(std, name) for name in dir(std) if name.isupper()}

PAGESIZE: int = std.PAGESIZE
GRANULARITY: int = std.ALLOCATIONGRANULARITY
ACCESS_DEFAULT, ACCESS_READ, ACCESS_WRITE, ACCESS_COPY = 0, 1, 2, 3
ACCESS_NAMES = ("ACCESS_DEFAULT", "ACCESS_READ", "ACCESS_WRITE", "ACCESS_COPY")
PROT_READ: int = std.PROT_READ
PROT_WRITE: int = std.PROT_WRITE
PROT_EXEC: int = getattr(std, "PROT_EXEC", 0)
MAP_SHARED: int = std.MAP_SHARED
MAP_PRIVATE: int = std.MAP_PRIVATE
MAP_ANONYMOUS: int = getattr(std, "MAP_ANONYMOUS", 0)
# Flags with an MM_* equivalent, and flags the kernel (nearly) ignores.
_MAP_TO_MM = {getattr(std, name): mm for name, mm in (("MAP_POPULATE", POPULATE),
                                                      ("MAP_NORESERVE", NORESERVE))
              if hasattr(std, name)}
_MAP_IGNORED = 0
for _name in ("MAP_DENYWRITE", "MAP_EXECUTABLE", "MAP_STACK"):
    _MAP_IGNORED |= getattr(std, _name, 0)
# madvise(): the advice the library names (it keeps DONTNEED inside the range) ...
_MADV_TO_ADV = {getattr(std, name): adv for name, adv in (
    ("MADV_NORMAL", ADV_NORMAL), ("MADV_RANDOM", ADV_RANDOM),
    ("MADV_SEQUENTIAL", ADV_SEQUENTIAL), ("MADV_WILLNEED", ADV_WILLNEED),
    ("MADV_DONTNEED", ADV_DONTNEED), ("MADV_HUGEPAGE", ADV_HUGEPAGE),
    ("MADV_NOHUGEPAGE", ADV_NOHUGEPAGE)) if hasattr(std, name)}
# ... and the advice passed to madvise() as it is, but for these, which discard pages
_MADV_DISCARD = {getattr(std, n) for n in ("MADV_FREE", "MADV_REMOVE") if hasattr(std, n)}


def _libc_madvise() -> Any:
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):  # pragma: no cover
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return fn


_madvise = _libc_madvise()


class Spec(NamedTuple):
    """A constructor call, checked: what to map and how."""
    fd: int
    size: int
    offset: int
    access: int
    trackfd: bool
    anon: bool
    mm: int                       # the MM_* flag word
    protect_after: Optional[int]  # the protection to set once mapped (PROT_NONE, exec-only)


def _mm_flags(flags: int, prot: int) -> "tuple[int, Optional[int]]":
    """The MM_* word for ``flags``/``prot``, and the protection to set after
    mapping when the library cannot map with it (no read, no write)."""
    share = flags & (MAP_SHARED | MAP_PRIVATE)
    if share == MAP_SHARED:
        mm = SHARED
    elif share == MAP_PRIVATE:
        mm = PRIVATE
    else:
        raise invalid("mmap flags %#x must have exactly one of MAP_SHARED and MAP_PRIVATE"
                      % flags)
    rest = flags & ~(MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | _MAP_IGNORED)
    for bit, extra in _MAP_TO_MM.items():
        if rest & bit:
            mm |= extra
            rest &= ~bit
    if rest:
        raise OSError(_errno.ENOTSUP, "mmkit.mmap cannot map with the flag bits %#x" % rest)
    unknown = prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)
    if unknown:
        raise invalid("unknown protection bits %#x" % unknown)
    mm |= (READ if prot & PROT_READ else 0) | (WRITE if prot & PROT_WRITE else 0) \
        | (EXEC if prot & PROT_EXEC else 0)
    if not mm & (READ | WRITE):  # PROT_NONE or PROT_EXEC alone: map readable, then protect
        return mm | READ, mm & EXEC
    return mm, None


def parse(fileno: Any, length: Any, flags: Any, prot: Any, access: Any, offset: Any,
          trackfd: Any) -> Spec:
    """The constructor's arguments, converted and checked as the standard module does."""
    fd = _c_int(fileno)
    map_size = _c_ssize(length)
    flags, prot, access = _c_int(flags), _c_int(prot), _c_int(access)
    offset = _c_longlong(offset)
    trackfd = bool(trackfd)
    if map_size < 0:
        raise OverflowError("memory mapped length must be positive")
    if offset < 0:
        raise OverflowError("memory mapped offset must be positive")
    if access != ACCESS_DEFAULT and (flags != MAP_SHARED or prot != PROT_WRITE | PROT_READ):
        raise ValueError("mmap can't specify both access and flags, prot.")
    if access == ACCESS_READ:
        flags, prot = MAP_SHARED, PROT_READ
    elif access == ACCESS_WRITE:
        flags, prot = MAP_SHARED, PROT_READ | PROT_WRITE
    elif access == ACCESS_COPY:
        flags, prot = MAP_PRIVATE, PROT_READ | PROT_WRITE
    elif access == ACCESS_DEFAULT:
        if prot & PROT_READ and prot & PROT_WRITE:
            pass
        elif prot & PROT_WRITE:
            access = ACCESS_WRITE
        else:
            access = ACCESS_READ
    else:
        raise ValueError("mmap invalid access parameter.")
    _sys.audit("mmap.__new__", fd, map_size, access, offset)
    if fd != -1:
        try:
            st: Optional[_os.stat_result] = _os.fstat(fd)
        except OSError:
            st = None
        if st is not None and _stat.S_ISREG(st.st_mode):
            if map_size == 0:
                if st.st_size == 0:
                    raise ValueError("cannot mmap an empty file")
                if offset >= st.st_size:
                    raise ValueError("mmap offset is greater than file size")
                if st.st_size - offset > _SSIZE_MAX:
                    raise ValueError("mmap length is too large")
                map_size = st.st_size - offset
            elif offset > st.st_size or st.st_size - offset < map_size:
                raise ValueError("mmap length is greater than file size")
    mm, protect_after = _mm_flags(flags, prot)
    return Spec(fd, map_size, offset, access, trackfd, fd == -1 or bool(flags & MAP_ANONYMOUS),
                mm, protect_after)


def map_region(spec: Spec) -> Region:
    """Map what ``spec`` says (after the descriptor was duplicated, as the standard module)."""
    if spec.offset % GRANULARITY:
        raise invalid("mmap offset %d is not a multiple of ALLOCATIONGRANULARITY (%d)"
                      % (spec.offset, GRANULARITY))
    if spec.anon:
        region = _anon_flags(spec.size, spec.mm)
    else:
        region = _fd_flags(spec.fd, spec.offset, spec.size, spec.mm)
    if spec.protect_after is not None:
        try:
            region.protect(spec.protect_after)
        except BaseException:
            region.close()
            raise
    return region


def advise(r: Region, option: int, start: int, length: int, size: int) -> None:
    """``madvise(option)`` of ``[start, start+length)``, the range checked by the caller."""
    with r._lock:
        address = r._address() + start
    if address % PAGESIZE:
        raise invalid("madvise: start %d is not on a page boundary" % start)
    if length == 0:
        return
    adv = _MADV_TO_ADV.get(option)
    if adv is not None:
        r.advise(adv, start, length)
        return
    if option in _MADV_DISCARD and start + length < size:
        length -= (start + length) % PAGESIZE  # whole pages only, as the library does
        if length == 0:
            return
    if _madvise is None:  # pragma: no cover
        raise OSError(_errno.ENOTSUP, "madvise is not available")
    with r._lock:
        r._check_open()
        if _madvise(r._address() + start, length, option) != 0:
            e = ctypes.get_errno()
            raise OSError(e, _os.strerror(e))


# The mmap object's reads and writes (mmkit.mmap).

_NL = b"\n"
_LINE = 256  # the window readline copies first


def _slice_parts(key: slice) -> slice:
    """``PySlice_Unpack``: the bounds as ints (``__index__`` runs now)."""
    parts = []
    for p in (key.start, key.stop, key.step):
        if p is not None and not _has_index(p):
            raise TypeError("slice indices must be integers or None or have an __index__ "
                            "method")
        parts.append(None if p is None else _operator.index(p))
    if parts[2] == 0:
        raise ValueError("slice step cannot be zero")
    return slice(*parts)


def _get(r: Region, offset: int, n: int) -> bytes:
    """``n`` bytes at ``offset``, fault-safe (``mm_read``)."""
    with r._lock:
        return r._read_bytes(offset, n)


def _line_from(mv: memoryview, pos: int) -> bytes:
    """The line at ``pos`` of ``mv`` that the first window did not hold:
    windows 16 times larger each time until a newline or the end."""
    k = _LINE
    while True:
        k *= 16
        chunk = mv[pos:pos + k].tobytes()
        i = chunk.find(_NL) + 1
        if i:
            return chunk[:i]
        if len(chunk) < k:
            return chunk


def _put(r: Region, offset: int, data: bytes) -> None:
    """``data`` at ``offset``, fault-safe (``mm_write``)."""
    with r._lock:
        r._write_bytes(offset, data)
