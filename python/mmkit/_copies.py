"""A region's copies in and out, and what its memory may be touched with
(internal): the methods :class:`mmkit.Region` takes as ``_memory``,
``_drop_memory``, ``_access``, ``_read_bytes`` and ``_write_bytes``. Call
with the region's lock held.

The memory of a guarded region is also read *without* the lock, by the
fast paths of ``Region.__getitem__``/``read`` and of :mod:`mmkit.mmap`:
``mv = region._mv`` and ``lost = region._lost``, the read, then the loss
count (``lost[0]``, one load; the library counts a lost page before it maps
the zeros, so a reader that copied zeros sees it).  Why that is safe is
:func:`drop_memory`'s part: whatever unmaps, moves or protects the memory
first releases ``_mv`` and ``_lost`` (a reader still holding them gets
ValueError and takes the locked way; so a count read without error is this
mapping's, never one a close freed or a resize changed), and refuses with
BufferError while a slice of the memory is alive (a reader between
``mv[a:b]`` and ``.tobytes()``).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import sys
import sysconfig
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
_ALWAYS_ASK = _lib._ALWAYS_ASK

# The lockless reads rely on the GIL: a memoryview cannot be released while
# one bytecode reads it, and no other thread runs between the loss check and
# what follows.  A free-threaded build (3.13t without its GIL) reads under
# the lock only: the memory view is made for each locked copy, never kept.
# Decided by the build, not by whether the GIL is on at import time (a
# free-threaded build turns it on for a while to import an extension module
# that needs it). And not on 3.9, which switches threads between a slice's
# making and its copy, so that close() would often refuse (BufferError) in
# plain threaded code.
_LOCKLESS: bool = sys.version_info >= (3, 10) and not sysconfig.get_config_var("Py_GIL_DISABLED")


def memory(self: Region) -> Optional[memoryview]:
    """The region's memory as a plain ``'B'`` memoryview, for the direct copies
    of a guarded region, or None where they may not be made: not guarded (a
    lost page would SIGBUS), empty, not readable as a whole, or after a
    protect() of part of it (a page without access would SIGSEGV).  Not an
    export: kept as ``_mv`` (over the ctypes array ``_marr``, with the loss
    count ``_lost`` set first) for the lockless reads; close, resize and
    protect drop it (:func:`drop_memory`)."""
    mv = self._mv
    if mv is None:
        if not self._guarded or self._partly or not self._len \
                or not self._mm_flags() & READ:
            return None
        # A kept array is one a refused drop_memory left: same address and
        # length (nothing was unmapped, moved or resized since).
        arr = self._marr
        if arr is None:
            arr = (ctypes.c_ubyte * self._len).from_address(self._address())
        mv = memoryview(arr).cast("B")
        if not _LOCKLESS:
            return mv
        self._lost = _lib.lost_count(self._handle)
        self._marr = arr
        self._mv = mv  # published last: a reader that sees it sees _lost
    return mv


def _marr_refs(holder: Region) -> int:
    # The same code measures a region and the probe below.
    return sys.getrefcount(holder._marr)


class _Probe:
    __slots__ = ("_marr",)


_probe = _Probe()
_probe._marr = (ctypes.c_ubyte * 1)()
_MARR_BASE = _marr_refs(_probe)  # the array held by its slot only
del _probe


def drop_memory(self: Region, what: Optional[str]) -> bool:
    """Forget ``_mv`` before the memory is unmapped, moved or protected (``what``
    names that: "close", "resize", "protect"), or only changed in kind
    (``what`` None: a protect that takes no access away).

    ``_partly`` is set first, so that from then on :func:`memory` makes no
    view: code run inside this call or the caller's (a profiler, a signal
    handler) reads through the library, which knows the mapping.  The caller
    puts back the value returned once the mapping is settled.
    ``_mv.release()`` next: from then on a lockless reader that loaded it
    gets ValueError from any use of it and takes the locked way, which waits
    for the caller.  An int index is one bytecode, never interrupted by a
    release.  A slice is not: ``mv[a:b]`` made before the release keeps the
    memory until ``.tobytes()`` has copied it, and a finalizer run by that
    slice's allocation (Python 3.11), a profiler's c_call event or a signal
    handler can run code in between -- code that may close the region, or
    let another thread do it.  Such a slice holds the ctypes array ``_marr``
    the view was made of (its buffer's owner) until it is freed, so the
    array's reference count tells whether one is alive: then this raises
    BufferError (as for a live view), nothing changed; the array is kept to
    be checked again next time.  A view whose buffer is held (an export of
    ``_mv`` itself) refuses its release: BufferError too."""
    partly = self._partly
    self._partly = True
    mv = self._mv
    if mv is not None:
        self._mv = None
        try:
            mv.release()
        except BufferError:
            self._mv = mv
            self._partly = partly
            raise BufferError("cannot %s a region while a copy of its memory is under way "
                              "(in another thread, or in code run inside it)"
                              % (what or "protect")) from None
        if self._lost is not _ALWAYS_ASK:
            self._lost.release()
    if what is not None and self._marr is not None:
        if _marr_refs(self) > _MARR_BASE:
            self._partly = partly
            raise BufferError("cannot %s a region while a copy of its memory is under way "
                              "(in another thread, or in code run inside it)" % what)
        self._marr = None
    return partly


def access(self: Region, start: int, length: int, unknown: int = 0) -> int:
    """The protection (READ/WRITE/EXEC) every page of ``[start, start+length)``
    has: ``mm_flags``, or after a protect() of part of the region the
    kernel's (``unknown`` where it cannot tell)."""
    prot: Optional[int]
    if self._partly and length:
        prot = _kernel_prot(self._address() + start, length)
        if prot is None:
            prot = unknown
    else:
        prot = self._mm_flags() & (READ | WRITE | EXEC)
    return prot

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
