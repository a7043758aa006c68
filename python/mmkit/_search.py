"""Searching a region at C speed: ``find`` and ``rfind`` (internal).

Two ways, chosen per call, neither a Python loop over bytes nor a copy of
the whole range:

* **In place** -- libc's ``memmem`` on the mapped memory itself, through
  ctypes, when no one can take a page of the range away: anonymous memory
  (nothing backs it that another process could truncate), every page of the
  range readable.  Zero-copy.  ``find`` on a guarded region (``MM_GUARD``,
  readable as a whole) too -- a lost page reads as zeros there --, followed
  by ``mm_check``: when the region reports a loss the range is searched again
  the fault-safe way, so that a search over lost pages is ``OSError(EFAULT)``
  as ``mm_read`` makes it, not a result found in zeros.
* **Fault-safe** -- ``mm_read`` copies the range a window at a time
  (``_WINDOW`` bytes, overlapping by ``len(needle) - 1``) into one buffer, and
  ``memmem`` (``bytearray.rfind`` backwards) searches the copy.  A page of a
  file truncated behind the mapping is ``OSError(EFAULT)``, never ``SIGBUS``.
  The copy costs about what the search does; the search itself is glibc's,
  which beats CPython's own ``mmap.find`` (see BENCHMARKS.md, figure 6).

Every function here is called with the region's lock held, on an open
region, with ``0 <= start <= end <= len(region)`` already checked.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import _lib
from ._constants import READ
from ._errors import error as _error

if TYPE_CHECKING:
    from ._region import Region

_lib_c = _lib.lib

_WINDOW = 1 << 20


def _libc_memmem() -> Optional[Callable[..., Optional[int]]]:
    try:
        fn = ctypes.CDLL(None).memmem
    except (OSError, AttributeError):  # pragma: no cover -- a libc without memmem
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    result: Callable[..., Optional[int]] = fn
    return result


_memmem = _libc_memmem()


def in_place(region: "Region", start: int, length: int) -> bool:
    """True when ``[start, start+length)`` can be read in place without any
    fault: memory no one can shrink, every page readable."""
    return region._direct and bool(region._access(start, length) & READ)


def _window(region: "Region", n: int, needle_len: int) -> "tuple[bytearray, Any, int]":
    size = min(n, max(_WINDOW, 2 * needle_len))
    buf = bytearray(size)
    cbuf = (ctypes.c_char * size).from_buffer(buf)
    return buf, cbuf, ctypes.addressof(cbuf)


def _fill(region: "Region", offset: int, cbuf: Any, buf: bytearray, n: int) -> None:
    """Copy ``n`` bytes at ``offset`` into the window, fault-safe."""
    if _lib.has("mm_read"):
        rc = _lib_c.mm_read(region._handle, offset, cbuf, n)
        if rc < 0:
            raise _error(rc)
    else:  # an old library: the region's own checked copy
        buf[:n] = region._read_bytes(offset, n)


def find(region: "Region", needle: bytes, start: int, end: int) -> int:
    """The lowest offset in ``[start, end)`` where ``needle`` starts, or -1."""
    n = len(needle)
    if n == 0:
        return start
    if end - start < n:
        return -1
    if _memmem is not None:
        if in_place(region, start, end - start):
            base = region._address()
            p = _memmem(base + start, end - start, needle, n)
            return -1 if not p else p - base
        if region._memory() is not None:  # guarded: in place, then the loss check
            base = region._address()
            p = _memmem(base + start, end - start, needle, n)
            if _lib.check_fast(region._handle) == 0:
                return -1 if not p else p - base
    buf, cbuf, addr = _window(region, end - start, n)
    pos = start
    while True:
        k = min(len(buf), end - pos)
        _fill(region, pos, cbuf, buf, k)
        if _memmem is not None:
            p = _memmem(addr, k, needle, n)
            i = -1 if not p else p - addr
        else:  # pragma: no cover -- a libc without memmem
            i = buf.find(needle, 0, k)
        if i >= 0:
            return pos + i
        if pos + k >= end:
            return -1
        pos += k - n + 1


def rfind(region: "Region", needle: bytes, start: int, end: int) -> int:
    """The highest offset in ``[start, end)`` where ``needle`` starts, or -1."""
    n = len(needle)
    if n == 0:
        return end
    if end - start < n:
        return -1
    buf, cbuf, _ = _window(region, end - start, n)
    stop = end
    while True:
        lo = max(start, stop - len(buf))
        k = stop - lo
        _fill(region, lo, cbuf, buf, k)
        i = buf.rfind(needle, 0, k)
        if i >= 0:
            return lo + i
        if lo == start:
            return -1
        stop = lo + n - 1
