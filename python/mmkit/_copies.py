"""A region's copies in and out, and what its memory may be touched with
(internal): the methods :class:`mmkit.Region` takes as ``_memory``,
``_access``, ``_read_bytes`` and ``_write_bytes``. Call with the region's lock
held.
"""

from __future__ import annotations

import ctypes
import errno as _errno
from typing import TYPE_CHECKING, Optional

from . import _lib
from ._constants import EXEC, READ, WRITE
from ._errors import error as _error, read_only
from ._procmaps import kernel_prot as _kernel_prot

if TYPE_CHECKING:
    from ._region import Region

_lib_c = _lib.lib

# mm_check after a direct copy of a guarded region (see mmkit._lib.check_fast).
_mm_check = _lib.check_fast


def memory(self: Region) -> Optional[memoryview]:
    """The region's memory as a plain ``'B'`` memoryview, for the direct copies
    of a guarded region, or None where they may not be made: not guarded (a
    lost page would SIGBUS), empty, not readable as a whole, or after a
    protect() of part of it (a page without access would SIGSEGV).  Not an
    export: made and dropped under the lock (close, resize, protect drop it)."""
    mv = self._mv
    if mv is None:
        if not self._guarded or self._partly or not self._len \
                or not self._mm_flags() & READ:
            return None
        arr = (ctypes.c_ubyte * self._len).from_address(self._address())
        mv = self._mv = memoryview(arr).cast("B")
    return mv

def access(self: Region, start: int, length: int, unknown: int = 0) -> int:
    """The protection (READ/WRITE/EXEC) every page of ``[start, start+length)``
    has: ``mm_flags``, or after a protect() of part of the region the
    kernel's (``unknown`` where it cannot tell); no WRITE once sealed."""
    prot: Optional[int]
    if self._partly and length:
        prot = _kernel_prot(self._address() + start, length)
        if prot is None:
            prot = unknown
    else:
        prot = self._mm_flags() & (READ | WRITE | EXEC)
    return prot & ~WRITE if self._write_sealed else prot

def read_bytes(self: Region, offset: int, n: int) -> bytes:
    """Copy ``n`` bytes out from ``offset``: OSError(EFAULT) for a page that
    is gone or protected against reading, never a signal (with ``mm_read``).

    A guarded region is read directly (a lost page reads zeros there, never
    SIGBUS), then ``mm_check`` asked once; only when the region reports a
    loss is the range read again with ``mm_read``, which tells whether this
    range holds a lost page (OSError(EFAULT)) or not (its bytes)."""
    h = self._check_open()
    mv = self._mv if self._mv is not None else self._memory()
    if mv is not None and offset + n <= self._len:
        data = mv[offset:offset + n].tobytes()
        if _mm_check(h) == 0:
            return data
    if _lib.has("mm_read"):
        buf = ctypes.create_string_buffer(n)
        rc = _lib_c.mm_read(h, offset, buf, n)
        if rc < 0:
            raise _error(rc)
        return buf.raw
    if offset + n > self._len:  # callers pass checked ranges; keep it safe anyway
        raise IndexError("range [%d, %d) outside the region" % (offset, offset + n))
    if n and not self._access(offset, n) & READ:
        raise OSError(_errno.EFAULT, "the range [%d, %d) is protected against reading "
                      "(see Region.protect)" % (offset, offset + n))
    return ctypes.string_at(self._address() + offset, n) if n else b""

def write_bytes(self: Region, offset: int, data: bytes) -> None:
    """Copy ``data`` in at ``offset``: ReadOnlyError (a TypeError and a
    PermissionError(EACCES)) when the region or a page of the range may
    not be written, OSError(EFAULT) for a page that is gone or
    inaccessible (with ``mm_write``)."""
    h = self._check_open()
    n = len(data)
    if self._write_sealed:
        raise read_only("the region is sealed against writing")
    mv = self._mv if self._mv is not None else self._memory()
    if mv is not None and offset + n <= self._len and self._mm_flags() & WRITE:
        # Guarded and writable as a whole: a direct copy, then the loss check
        # (a loss elsewhere: mm_write again tells whether this range holds one).
        mv[offset:offset + n] = data
        if _mm_check(h) == 0:
            return
    if _lib.has("mm_write"):
        rc = _lib_c.mm_write(h, offset, data, n)
        if rc < 0:
            error = _error(rc)
            if rc == -_errno.EACCES:
                raise read_only(error.strerror or "the region may not be written")
            # EFAULT on pages mm_read can read: protected, not gone
            if rc == -_errno.EFAULT and _lib.has("mm_read") and \
                    _lib_c.mm_read(h, offset, ctypes.create_string_buffer(n), n) == 0:
                raise read_only("the range [%d, %d) is protected against writing "
                                "(see Region.protect)" % (offset, offset + n))
            raise error
        return
    if offset + n > self._len:
        raise IndexError("range [%d, %d) outside the region" % (offset, offset + n))
    access = self._access(offset, n)
    if n and not access & READ:
        raise OSError(_errno.EFAULT, "the range [%d, %d) is not accessible (see "
                      "Region.protect)" % (offset, offset + n))
    if not access & WRITE:
        raise read_only("the range [%d, %d) may not be written" % (offset, offset + n))
    if n:
        ctypes.memmove(self._address() + offset, data, n)
