"""The :class:`Region` type: one mapping, its lock, its copies in and out (internal).

How a mapping outlives a region while views of it are alive is in
:mod:`mmkit._keeper`; the functions that make regions are in :mod:`mmkit._map`.
"""

from __future__ import annotations

import _thread
import ctypes
import errno as _errno
import operator
import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple, Union, overload

from . import _copies, _keeper, _lib, _search
from ._args import _U32_MAX, Buffer, _bool, _bytes_of, _int, _options, _plain_slice, _size
from ._errors import error as _error, invalid, read_only
from ._constants import (
    _MS_ASYNC, _MS_INVALIDATE, _MS_SYNC, EXEC, GUARD, LIBRARY_PATH, READ, SEAL_GROW,
    SEAL_SHRINK, SEAL_WRITE, WRITE, __version__,
)
from ._keeper import _KEEPER_BASE, _arm_keeper, _array_copy, _keeper_refs
from ._procmaps import mapped_file_size as _mapped_file_size

if TYPE_CHECKING:
    import threading

# The C lock threading.RLock() returns, without its Python wrapper. (Under
# gevent's monkey-patching threading.RLock would be a greenlet lock instead;
# no Region method yields while holding its lock, so the C lock serves.)
_RLock = _thread.RLock

_lib_c = _lib.lib
_mm_unmap = _lib_c.mm_unmap  # (one global load on the close path)

# Assigned, not imported: CPython (3.11, 3.12) compiles ``name.method()`` on
# a name bound by an import as an attribute load (a bound method made per
# call) rather than a method call; close() and view() call these.
_UNMAP_WHEN_FREED = _keeper._UNMAP_WHEN_FREED
_KEEPER_TEMPLATE = _keeper._KEEPER_TEMPLATE


def _require(name: str) -> Callable[..., int]:
    if not _lib.has(name):
        raise NotImplementedError(
            "%s() is not in the loaded mmkit library (%s, version %s)"
            % (name, LIBRARY_PATH, __version__))
    fn: Callable[..., int] = getattr(_lib_c, name)
    return fn


class Region:
    """One memory mapping made by :func:`map_anon`, :func:`map_file`,
    :func:`map_fd` or :func:`map_shareable`.

    ``len(r)`` is the usable length; ``r[i]`` / ``r[a:b]`` read bytes,
    ``r[a:b] = data`` writes them (same length, as with :mod:`mmap`);
    :meth:`view` gives a zero-copy :class:`memoryview`.  A region is a context
    manager; :meth:`close` unmaps it, and a region never closed is unmapped
    when it is garbage-collected (never while a view of it is still alive:
    views keep the region alive).

    Thread safety: every method may be called from any thread; a per-region
    lock serialises them, so :meth:`close` and :meth:`resize` never race with
    other uses.  (``r[i]``, ``r[a:b]`` and :meth:`read` of a guarded region
    read its memory without the lock and check after; see
    :mod:`mmkit._copies`.)
    """

    __slots__ = ("_handle", "_lock", "_ptr", "_len", "_flags", "_partly", "_keep",
                 "_arr_type", "_direct", "_guarded", "_mv", "_marr", "_lost",
                 "__weakref__")

    if TYPE_CHECKING:  # attribute types, for type checkers only
        _handle: Optional[int]
        _lock: "threading.RLock"
        _ptr: Optional[int]        # None until first needed (see _address)
        _len: int
        _flags: Optional[int]      # None until first needed (see _mm_flags)
        _partly: bool              # protect() of part of it: mm_flags is not every page's
        _keep: Optional[Any]       # once a view is made: see mmkit._keeper
        _arr_type: Optional[Any]   # a ctypes array type of the region's length
        _direct: bool              # anonymous memory: no one can take a page away
        _guarded: bool             # mapped with MM_GUARD: a lost page reads zeros, no SIGBUS
        _mv: Optional[memoryview]  # guarded and readable: the memory itself (see _memory)
        _marr: Optional[Any]       # the ctypes array _mv was made of (see _drop_memory)
        _lost: memoryview          # the loss count, _lost[0] (set with _mv; see _lib.lost_count)

    def __init__(self) -> None:
        """Not callable: regions come from the ``map_*`` functions."""
        raise TypeError("Region objects are made by mmkit.map_anon(), map_file(), "
                        "map_fd() or map_shareable()")

    @classmethod
    def _adopt(cls, handle: int, length: Optional[int] = None,
               direct: bool = False, guarded: bool = False) -> "Region":
        """Own ``handle``.  ``length`` (the usable length) spares the library
        call that would tell it; the address and the flags are asked for when
        first needed.  ``direct``: anonymous memory, which nothing backs that
        another process could truncate (see mmkit._search).  ``guarded``:
        mapped with ``MM_GUARD`` (a file, descriptor or shareable region)."""
        self = object.__new__(cls)
        self._handle = handle
        self._direct = direct
        self._guarded = guarded
        self._mv = None
        self._marr = None
        self._lock = lock = _RLock()
        self._keep = None
        self._arr_type = None
        self._ptr = None
        self._flags = None
        self._partly = False
        _LOCKS_add(lock)
        self._len = int(_lib_c.mm_len(handle)) if length is None else length
        return self

    def __del__(self) -> None:
        # A region never closed is unmapped when collected (never while a
        # view is alive: views hold the region).  Not at interpreter exit,
        # which unmaps everything anyway, in an order objects cannot see.
        try:
            _LOCKS.discard(self._lock)
            h = self._handle
            if h is None or sys.is_finalizing():
                return
            if self._keep is not None:
                # Views were made: the keeper unmaps when it is freed, after
                # the region and every view (see mmkit._keeper).
                if h not in _UNMAP_WHEN_FREED:
                    _arm_keeper(self)  # (view() was interrupted before it could)
                return
            if self._marr is not None and _copies._marr_refs(self) > _copies._MARR_BASE:
                # A slice of the memory outlives the region (code run inside
                # a read kept it: a profiler, a monitoring callback): the
                # mapping stays, never unmapped under it (this one region
                # is leaked).
                return
            self._handle = None
            _mm_unmap(h)
        except Exception:  # pragma: no cover -- half-built object, or shutdown
            pass

    def _refresh(self) -> None:
        # (after _drop_memory: _mv is None)
        h = self._handle
        self._ptr = _lib_c.mm_ptr(h) or 0
        self._len = int(_lib_c.mm_len(h))
        self._flags = int(_lib_c.mm_flags(h))

    def _address(self) -> int:
        """``mm_ptr``, asked once (call on an open region)."""
        p = self._ptr
        if p is None:
            p = self._ptr = _lib_c.mm_ptr(self._handle) or 0
        return p

    def _mm_flags(self) -> int:
        """``mm_flags``, asked once until something changes them (call on an open region)."""
        f = self._flags
        if f is None:
            f = self._flags = int(_lib_c.mm_flags(self._handle))
        return f

    # -- internal helpers (call with self._lock held) --

    # The copies and the memory they may touch (mmkit._copies).
    _memory = _copies.memory
    _drop_memory = _copies.drop_memory
    _access = _copies.access
    _read_bytes = _copies.read_bytes
    _write_bytes = _copies.write_bytes

    def _check_open(self) -> int:
        h = self._handle
        if h is None:
            raise ValueError("operation on a closed mmkit.Region")
        return h

    def _not_inside(self, what: str) -> None:
        # Every argument is converted before a method takes the lock, but code
        # can still run while one holds it (a profiler, a signal handler, a
        # finalizer): it must not close, resize or protect the region under it.
        if self._lock._is_owned():
            raise BufferError("cannot %s a region from code run inside one of its own "
                              "methods (a signal handler, finalizer or profiler)" % what)

    def _live_exports(self) -> int:
        # Every view's array holds the keeper, as does the region: the other
        # references to it are views not yet freed, whatever the collector
        # or a finalizer did with them.  (Anything else holding it, such as a
        # debugger's saved locals, can only make this refuse, never allow.)
        return 0 if self._keep is None else _keeper_refs(self) - _KEEPER_BASE

    def _range(self, offset: Any, length: Any) -> Tuple[int, int]:
        return _size(offset, "offset"), _size(length, "length")

    # -- public API --

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._handle is None

    @property
    def address(self) -> int:
        """The address of the first byte (``mm_ptr``); 0 for an empty region."""
        with self._lock:
            self._check_open()
            return self._address()

    @property
    def flags(self) -> int:
        """The ``MM_*`` flags in effect (``mm_flags``): e.g. ``r.flags & mmkit.DEVZERO``
        tells that ``/dev/zero`` served an anonymous region."""
        with self._lock:
            self._check_open()
            return self._mm_flags()

    @property
    def writable(self) -> bool:
        """True when the whole region may be written through :meth:`view` and ``r[a:b] = ...``."""
        with self._lock:
            self._check_open()
            return bool(self._access(0, self._len) & WRITE)

    @property
    def guarded(self) -> bool:
        """True when the region is guarded (``MM_GUARD`` in :attr:`flags`): a page
        its file or shared object loses to a truncation reads zeros, never SIGBUS,
        and :meth:`check` tells the loss.  Anonymous regions are never guarded
        (nothing can take their pages away)."""
        with self._lock:
            self._check_open()
            return bool(self._mm_flags() & GUARD)

    def check(self) -> None:
        """Raise ``OSError(EFAULT)`` when the region lost pages (``mm_check``).

        A guarded region's page counts as lost once an access found it gone (its
        file was truncated behind the mapping): it reads zeros from then on and
        writes to it never reach the file.  The message names how many pages and
        the offset of the first.  Returns None otherwise, and always for a region
        that is not guarded.  NotImplementedError if the library lacks ``mm_check``.
        """
        with self._lock:
            h = self._check_open()
            rc = _require("mm_check")(h)
            if rc < 0:
                raise _error(rc)

    def __len__(self) -> int:
        """The usable length in bytes (``mm_len``)."""
        with self._lock:
            self._check_open()
            return self._len

    def __repr__(self) -> str:
        """Address, length and flags, or ``closed``."""
        with self._lock:  # no close() in between: the handle stays valid
            if self._handle is None:
                return "<mmkit.Region closed>"
            return "<mmkit.Region address=0x%x length=%d flags=0x%x>" % (
                self._address(), self._len, self._mm_flags())

    def view(self) -> memoryview:
        """Return a zero-copy :class:`memoryview` of the whole region.

        The format is ``'B'`` (unsigned bytes); the view is read-only unless
        the region is writable (writing a read-only view raises TypeError).
        ``numpy.frombuffer(r.view(), dtype=numpy.uint8)`` shares the memory.
        While any view -- or a cast, slice or array made from it -- is alive,
        :meth:`close` and :meth:`resize` raise :class:`BufferError`; release
        views with ``del`` or ``view.release()`` (or a ``with`` block).
        Touching a view (or an array over it) of a file that was truncated
        behind the mapping reads zeros on a guarded region (:attr:`guarded`,
        see :meth:`check`); on an unguarded one it raises SIGBUS and kills the
        interpreter, as with :mod:`mmap`.  PermissionError
        while a page is protected against reading (or, after protect() of
        part of the region, where the system cannot tell).  BufferError from
        code run inside one of the region's own methods (a profiler, a signal
        handler): a resize may be half done there.
        """
        self._not_inside("view")
        with self._lock:
            self._check_open()
            n = self._len
            access = self._access(0, n)
            writable = bool(access & WRITE)
            if n == 0:
                return memoryview(bytearray()) if writable else memoryview(b"")
            if not access & READ:
                raise PermissionError(_errno.EACCES, "part of the region is protected "
                                      "against reading; protect() it readable first")
            arr_type: Any = self._arr_type
            if arr_type is None:
                arr_type = type("RegionBytes", (ctypes.c_ubyte * n,), {
                    "__module__": "mmkit",
                    # a copy owns its bytes: not a view (it would carry _keep)
                    "__copy__": _array_copy, "__deepcopy__": _array_copy})
                self._arr_type = arr_type
            arr = arr_type.from_address(self._address())
            arr._region = self  # every view keeps the region alive ...
            if self._keep is None:
                # Owned first, armed after: an exception in between can leave
                # it unarmed (armed again here or by __del__), never armed
                # and dropped (which would unmap an open region).
                self._keep = _KEEPER_TEMPLATE.replace()
            if self._handle not in _UNMAP_WHEN_FREED:
                _arm_keeper(self)
            arr._keep = self._keep  # ... and the mapping, until it is freed
            view = memoryview(arr).cast("B")
            return view if writable else view.toreadonly()

    @overload
    def __getitem__(self, key: int) -> int: ...
    @overload
    def __getitem__(self, key: slice) -> bytes: ...

    def __getitem__(self, key: Union[int, slice]) -> Union[int, bytes]:
        """``r[i]`` is the byte at ``i`` (an int); ``r[a:b:c]`` is a bytes copy."""
        # A guarded region whose memory is made (see _memory): the bytes
        # themselves, without the lock, then the loss count (mmkit._copies
        # tells why that is safe: both views raise ValueError once released).
        # Only int keys and slices of int (or None) bounds and no step:
        # nothing to convert, so no code of the caller's runs in between.
        mv = self._mv
        if mv is not None:
            lost = self._lost
            kind = type(key)
            if kind is int:
                try:
                    b: int = mv[key]
                    if not lost[0]:
                        return b
                except IndexError:
                    raise IndexError("mmkit.Region index out of range") from None
                except ValueError:  # released: closed, resized or protected meanwhile
                    pass
            elif kind is slice \
                    and (type(key.start) is int or key.start is None) \
                    and (type(key.stop) is int or key.stop is None) and key.step is None:
                try:
                    data = mv[key].tobytes()
                    if not lost[0]:
                        return data
                except ValueError:
                    pass
        # Arguments are converted before the lock (their __index__ may close
        # or resize the region), as in every method.
        if type(key) is not int:
            key = _plain_slice(key) if isinstance(key, slice) else _int(key, "index")
        with self._lock:
            self._check_open()
            n = self._len
            if type(key) is slice:
                start, stop, step = key.indices(n)
                rng = range(start, stop, step)
                if len(rng) == 0:
                    return b""
                if step == 1:
                    return self._read_bytes(start, stop - start)
                lo, hi = min(rng[0], rng[-1]), max(rng[0], rng[-1])
                span = self._read_bytes(lo, hi - lo + 1)
                rel_stop: Optional[int] = rng[-1] - lo + (1 if step > 0 else -1)
                if rel_stop is not None and rel_stop < 0:
                    rel_stop = None
                return span[rng[0] - lo:rel_stop:step]
            i = key
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError("mmkit.Region index out of range")
            return self._read_bytes(i, 1)[0]

    def __setitem__(self, key: Union[int, slice], value: Any) -> None:
        """``r[i] = byte`` (0..255) or ``r[a:b:c] = data`` (exactly as many bytes).

        :class:`ReadOnlyError` (a TypeError) when the region, or a page of the
        range, may not be written; IndexError for an index outside the region
        or a slice of another length; :class:`InvalidArgument` for a byte
        outside 0..255.
        """
        if isinstance(key, slice):
            key, data = _plain_slice(key), _bytes_of(value)
        else:
            key = key if type(key) is int else _int(key, "index")
            byte = value if type(value) is int else _int(value, "value")
            if not 0 <= byte <= 255:
                raise invalid("byte must be in range(0, 256)")
            data = bytes((byte,))
        with self._lock:
            self._check_open()
            n = self._len
            if type(key) is slice:
                start, stop, step = key.indices(n)
                rng = range(start, stop, step)
                if len(data) != len(rng):
                    raise IndexError("mmkit.Region slice assignment is wrong size "
                                     "(%d bytes for %d)" % (len(data), len(rng)))
                if rng and step != 1:
                    lo, hi = min(rng[0], rng[-1]), max(rng[0], rng[-1])
                    span = bytearray(self._read_bytes(lo, hi - lo + 1))
                    for j, b in zip(rng, data):
                        span[j - lo] = b
                    start, data = lo, bytes(span)
            else:
                start = key + n if key < 0 else key
                if not 0 <= start < n:
                    raise IndexError("mmkit.Region index out of range")
            self._write_bytes(start, data)

    def read(self, offset: int = 0, n: Optional[int] = None) -> bytes:
        """Copy ``n`` bytes from ``offset`` (to the end when ``n`` is None) with ``mm_read``.

        Fault-safe: if the file under the mapping was truncated, or a page is
        protected against reading, the result is ``OSError(EFAULT)`` instead of
        SIGBUS or SIGSEGV; a range outside the region is :class:`InvalidArgument`
        (a ValueError and an ``OSError(EINVAL)``).
        NotImplementedError if the library lacks ``mm_read``.
        """
        off = offset if type(offset) is int and offset >= 0 else _size(offset, "offset")
        size = n if n is None or type(n) is int and n >= 0 else _size(n, "n")
        mv = self._mv
        if mv is not None and size is not None and off + size <= self._len:
            # Guarded, without the lock, as in __getitem__.
            lost = self._lost
            try:
                data = mv[off:off + size].tobytes()
                if not lost[0]:
                    return data
            except ValueError:
                pass
        with self._lock:
            self._check_open()
            _require("mm_read")
            if size is not None and (off > self._len or size > self._len - off):
                # Refused before a buffer of `size` bytes is made.
                raise invalid("mm_read: range [%d, %d) is outside the region (%d bytes)"
                              % (off, off + size, self._len))
            return self._read_bytes(off, max(0, self._len - off) if size is None else size)

    def write(self, offset: int, data: Buffer) -> None:
        """Copy the bytes-like ``data`` into the region at ``offset`` with ``mm_write``.

        Fault-safe like :meth:`read`; writing a read-only region, or a page
        protected against writing, is :class:`ReadOnlyError` (a TypeError and a
        ``PermissionError(EACCES)``) -- the bytes before such a page may have
        been written --, a range outside the region :class:`InvalidArgument`.  NotImplementedError if the library lacks ``mm_write``.
        """
        off = _size(offset, "offset")
        payload = _bytes_of(data)
        with self._lock:
            self._check_open()
            _require("mm_write")
            self._write_bytes(off, payload)

    def _find(self, sub: Buffer, start: int, end: Optional[int], reverse: bool) -> int:
        needle = _bytes_of(sub)
        lo = _size(start, "start")
        hi = None if end is None else _size(end, "end")
        with self._lock:
            self._check_open()
            n = self._len
            if hi is None:
                hi = n
            if lo > hi or hi > n:
                raise invalid("range [%d, %d) is not inside the region (%d bytes)" % (lo, hi, n))
            if reverse:
                return _search.rfind(self, needle, lo, hi)
            return _search.find(self, needle, lo, hi)

    def find(self, sub: Buffer, start: int = 0, end: Optional[int] = None) -> int:
        """The lowest offset in ``[start, end)`` (``end`` None: to the end) where
        the bytes-like ``sub`` starts, or -1; an empty ``sub`` is found at ``start``.

        At C speed, never a Python loop or a copy of the whole range: libc's
        ``memmem`` on the memory itself for anonymous memory (nothing can
        truncate it) and, for ``find``, a guarded region (then ``mm_check``),
        else on windows copied with the fault-safe ``mm_read`` --
        a page of a file truncated behind the mapping is ``OSError(EFAULT)``,
        not SIGBUS.  A range not inside the region (``start > end``, ``end`` past
        the end, a negative value) is :class:`InvalidArgument`.
        """
        return self._find(sub, start, end, False)

    def rfind(self, sub: Buffer, start: int = 0, end: Optional[int] = None) -> int:
        """The highest offset in ``[start, end)`` where ``sub`` starts, or -1 (an
        empty ``sub`` is found at ``end``); as :meth:`find` otherwise."""
        return self._find(sub, start, end, True)

    def size(self) -> int:
        """The size now of what backs the region: the file (it may have grown or
        shrunk since it was mapped), the shareable object, or for anonymous
        memory its own length.

        A region of :func:`map_file` or :func:`map_fd` keeps no descriptor: the
        file is found through ``/proc/self/maps`` (its device, inode and path).
        OSError when it cannot be: ENOENT when the file was deleted, ESTALE
        when its path now names another file, EBADF for an empty region (it
        maps no page), ENOTSUP without ``/proc``.
        """
        with self._lock:
            h = self._check_open()
            if self._direct:
                return self._len
            if _lib.has("mm_fd"):
                fd = _lib_c.mm_fd(h)
                if fd >= 0:
                    return os.fstat(fd).st_size
            if not self._len:
                raise OSError(_errno.EBADF, "an empty region maps no page to find its "
                                            "file by, and keeps no descriptor")
            return _mapped_file_size(self._address())

    if sys.version_info >= (3, 12):
        def __buffer__(self, flags: int, /) -> memoryview:
            """``memoryview(r)``, ``numpy.frombuffer(r)``, ``re.search(p, r)``
            (Python 3.12+, PEP 688): the same zero-copy view as :meth:`view`,
            with its rules (BufferError from :meth:`close` while it is alive;
            zeros on a truncated file when guarded, SIGBUS when not)."""
            operator.index(flags)
            return self.view()

        def __release_buffer__(self, view: memoryview, /) -> None:
            """Release a view of this region (as :meth:`__buffer__` gave)."""
            release_view(self, view)

    def sync(self, offset: int = 0, length: int = 0, *, wait: bool = True,
             invalidate: bool = False) -> None:
        """Flush ``[offset, offset+length)`` to the file (``msync``; length 0: to the end).

        ``wait=True`` is ``MS_SYNC`` (the bytes are in the file when this returns),
        ``wait=False`` is ``MS_ASYNC``; ``invalidate=True`` adds ``MS_INVALIDATE``.
        Succeeds and does nothing on an anonymous region.
        """
        off, n = self._range(offset, length)
        flags = _MS_SYNC if _bool(wait, "wait") else _MS_ASYNC
        if _bool(invalidate, "invalidate"):
            flags |= _MS_INVALIDATE
        with self._lock:
            h = self._check_open()
            rc = _lib_c.mm_sync(h, off, n, flags)
            if rc < 0:
                raise _error(rc)

    def lock(self, offset: int = 0, length: int = 0) -> None:
        """``mlock`` the pages covering ``[offset, offset+length)`` (length 0: to the end).

        A refusal because of ``RLIMIT_MEMLOCK`` raises OSError whose message
        names the limit and the bytes asked.
        """
        off, n = self._range(offset, length)
        with self._lock:
            h = self._check_open()
            rc = _lib_c.mm_lock(h, off, n)
            if rc < 0:
                raise _error(rc)

    def unlock(self, offset: int = 0, length: int = 0) -> None:
        """``munlock`` the pages covering ``[offset, offset+length)`` (length 0: to the end)."""
        off, n = self._range(offset, length)
        with self._lock:
            h = self._check_open()
            rc = _lib_c.mm_unlock(h, off, n)
            if rc < 0:
                raise _error(rc)

    def advise(self, advice: int, offset: int = 0, length: int = 0) -> None:
        """``madvise`` the range with one of the ``ADV_*`` constants (length 0: to the end).

        Advice the platform lacks raises OSError (ENOTSUP).
        """
        adv = _int(advice, "advice")
        if not -(1 << 31) <= adv < (1 << 31):
            raise OverflowError("advice out of range: %d" % adv)
        off, n = self._range(offset, length)
        with self._lock:
            h = self._check_open()
            rc = _lib_c.mm_advise(h, off, n, adv)
            if rc < 0:
                raise _error(rc)

    def protect(self, prot: int, offset: int = 0, length: int = 0) -> None:
        """Change the protection of ``[offset, offset+length)`` (length 0: to the end).

        ``prot`` is ``PROT_NONE`` or an OR of ``PROT_READ``, ``PROT_WRITE``,
        ``PROT_EXEC``.  Both ends must fall on page boundaries of the mapping
        (huge page boundaries for a region of explicit huge pages, see
        ``mm_map_anon(3)``) or at the ends of the region (else OSError
        EINVAL).  Taking access away
        while a view is alive raises BufferError (the view would fault).  After
        it, reading a page without access is OSError(EFAULT) and writing a page
        without write access :class:`ReadOnlyError` (a TypeError and a
        PermissionError), as the library's copies tell; :meth:`view` refuses while a page is
        unreadable.  Pages a later :meth:`resize` adds get the protection the
        whole region had last (what ``mm_flags`` tells), as the library gives them.
        """
        p = _size(prot, "prot", _U32_MAX)
        off, n = self._range(offset, length)
        self._not_inside("protect")
        with self._lock:
            h = self._check_open()
            end = self._len if n == 0 else off + n
            effective = p | READ if p & WRITE else p
            live = self._live_exports()
            # Views were made with the access every page has now (it cannot
            # have been reduced since); unknown counts as read-write.
            reduces = off < end <= self._len and bool(live or self._marr is not None) \
                and bool(self._access(0, self._len, READ | WRITE) & ~effective & (READ | WRITE))
            if reduces and live:
                raise BufferError("cannot reduce the protection of a region while "
                                  "views of it are alive")
            # Made again, if it may be, for the new protection; a copy under
            # way refuses a protect that takes access away.  _partly stays
            # set: a failed mprotect may have changed some pages.
            partly = self._drop_memory("protect" if reduces else None)
            rc = _lib_c.mm_protect(h, off, n, p)
            self._flags = None  # mm_flags follows a protect of the whole region
            if rc < 0:
                if rc == -_errno.EINVAL:
                    self._partly = partly  # refused before any page changed
                raise _error(rc)
            if off == 0 and end == self._len:
                self._partly = False

    def resize(self, length: int) -> None:
        """Grow or shrink the region to ``length`` bytes (``mm_resize``); the address may change.

        Private anonymous and shareable regions keep their bytes and gain
        zeros; growing a shared anonymous region is OSError (ENOTSUP).
        BufferError while views are alive; NotImplementedError if the library
        lacks ``mm_resize``.
        """
        n = _size(length, "length")
        self._not_inside("resize")
        with self._lock:
            h = self._check_open()
            fn = _require("mm_resize")
            if self._live_exports():
                raise BufferError("cannot resize a region while views of it are alive")
            # Until the new mapping is known, code run inside (a profiler, a
            # signal handler) reads through the library, never the memory.
            partly = self._drop_memory("resize")
            try:
                rc = fn(h, n)
                if rc < 0:
                    raise _error(rc)
                self._arr_type = None
                self._refresh()  # new pages have the protection mm_flags tells
            finally:
                self._partly = partly

    @property
    def fd(self) -> int:
        """The descriptor the region keeps (``mm_fd``), e.g. of a :func:`map_shareable` region.

        It belongs to the region and is closed with it; ``os.dup`` it to keep
        it longer.  OSError (EBADF) for a region that keeps none;
        NotImplementedError if the library lacks ``mm_fd``.
        """
        with self._lock:
            h = self._check_open()
            fn = _require("mm_fd")
            rc = fn(h)
            if rc < 0:
                raise _error(rc)
            return int(rc)

    def fileno(self) -> int:
        """Same as :attr:`fd` (so a region can be passed where a file object is expected)."""
        return self.fd

    def seal(self, seals: int = 0, *, shrink: bool = False, grow: bool = False,
             write: bool = False) -> None:
        """Seal a :func:`map_shareable` region (``mm_seal``, Linux).

        ``seals`` is an OR of ``SEAL_SHRINK``, ``SEAL_GROW``, ``SEAL_WRITE``; the
        keyword flags add the same bits.  A region sealed against shrinking
        can never SIGBUS its readers.  ``SEAL_WRITE`` forbids new writable
        mappings of the object (a peer's ``map_fd(r.fd, write=True)`` is
        PermissionError) and writes through its descriptor; it is a
        future-write seal, so this region, its views, and writable mappings
        made before it keep writing (the contract, as ``mm_seal``).
        OSError (ENOTSUP) where sealing is not supported; NotImplementedError
        if the library lacks ``mm_seal``.
        """
        bits = _size(seals, "seals", _U32_MAX) | _options(
            (shrink, "shrink", SEAL_SHRINK, 0),
            (grow, "grow", SEAL_GROW, 0),
            (write, "write", SEAL_WRITE, 0),
        )
        with self._lock:
            h = self._check_open()
            fn = _require("mm_seal")
            rc = fn(h, bits)
            if rc < 0:
                raise _error(rc)
            self._flags = int(_lib_c.mm_flags(h))

    def close(self) -> None:
        """Unmap the region (``mm_unmap``).  Closing twice is a no-op.

        Raises BufferError, and leaves the region open, while a view of it
        (or a numpy array or cast made from one) is alive, or when called by
        code that runs inside another method of the region (a signal handler,
        a finalizer).
        """
        lock = self._lock
        if lock._is_owned():  # (_not_inside, inline: the map/close loop is measured)
            self._not_inside("close")
        with lock:
            h = self._handle
            if h is None:
                return
            if self._keep is not None or self._marr is not None:
                self._let_go(h)
            self._handle = None
            self._arr_type = None
            rc = _mm_unmap(h)
            if rc < 0:
                raise _error(rc)

    def _let_go(self, h: int) -> None:
        """close(), before anything changes: BufferError while a view is alive or
        a copy of the memory is under way; then the views' keeper and the
        memory view are let go (the lock held)."""
        if self._keep is not None:
            live = self._live_exports()
            if live:
                raise BufferError("cannot close a region while %d view(s) of it "
                                  "(memoryview or array) are alive" % live)
        if self._marr is not None:
            self._drop_memory("close")
        if self._keep is not None:
            _UNMAP_WHEN_FREED.pop(h, None)  # unmapped by close, errors reported
            self._keep = None

    def __enter__(self) -> "Region":
        """Return the region itself (ValueError if it is closed)."""
        with self._lock:
            self._check_open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """:meth:`close` the region."""
        self.close()

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Refused: a mapping cannot be pickled (TypeError)."""
        raise TypeError("cannot pickle or copy an mmkit.Region")

    def __copy__(self) -> "Region":
        """Refused: two objects must never own one mapping (TypeError)."""
        raise TypeError("cannot copy an mmkit.Region")

    def __deepcopy__(self, memo: Any) -> "Region":
        """Refused, like :meth:`__copy__` (TypeError)."""
        raise TypeError("cannot copy an mmkit.Region")


def release_view(region: Optional[Region], view: Any) -> None:
    """``__release_buffer__``: release ``view`` if it is a view of ``region``
    (TypeError for a non-memoryview, ValueError for another object's view,
    nothing for a view already released), as CPython's own wrapper does."""
    if not isinstance(view, memoryview):
        raise TypeError("expected a memoryview object")
    try:
        exporter = view.obj
    except ValueError:  # released already
        return
    if region is None or getattr(exporter, "_region", None) is not region:
        raise ValueError("memoryview's buffer is not this object")
    view.release()


# The lock of every live region (a Region's __del__ takes it out): cheaper on
# the map/close path than a registry of the regions themselves.
_LOCKS: "set[Any]" = set()
_LOCKS_add = _LOCKS.add


def _after_fork_in_child() -> None:
    # A forked child has only the forking thread: a region lock another thread
    # held at fork() time would never be released there.  Make those free
    # again (the child may use or unmap its copies); a lock the forking
    # thread holds stays held, for the method it is in to release.
    for lock in list(_LOCKS):
        if not lock._is_owned():
            lock._at_fork_reinit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
