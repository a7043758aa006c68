"""Unix memory mapping over the mmkit C library (ctypes).

A thin, typed module over ``libmmkit``: anonymous memory, file mappings,
descriptor mappings and shareable (memfd) memory, each returned as a
:class:`Region`.

    >>> import mmkit
    >>> with mmkit.map_anon(4096, shared=True) as r:
    ...     r[0:5] = b"hello"
    ...     bytes(r[0:5])
    b'hello'

``Region.view()`` gives a zero-copy :class:`memoryview` (format ``'B'``,
read-only unless the region is writable) that ``numpy.frombuffer`` can wrap
while sharing the memory.  ``r[i]``, ``r[a:b]`` and ``r.read()`` / ``r.write()``
copy bytes in and out; with a library that has ``mm_read`` / ``mm_write`` those
copies are fault-safe (a truncated file gives ``OSError(EFAULT)``, not SIGBUS).

Errors:

* a failure of the library raises :class:`OSError` with ``errno`` set and the
  library's ``mm_last_error()`` text as the message, so ``FileNotFoundError``,
  ``PermissionError``, ``FileExistsError``, ``IsADirectoryError``... come for
  free;
* a wrong Python type is :class:`TypeError`; a negative size or offset is
  :class:`ValueError`, raised before any call into the library;
* ``close()`` (or ``resize()``) while a view or an array over it is alive is
  :class:`BufferError`, and so are ``close()``, ``resize()`` and ``protect()``
  from code that runs inside another method of the same region (a signal
  handler, a finalizer); any use of a closed region is :class:`ValueError`;
* arguments are converted (``__index__``, buffer exports) before a method
  uses the region, so one that closes it gives :class:`ValueError`;
* functions of the C contract that the loaded library does not export yet
  raise :class:`NotImplementedError`.

The library is found through ``$MMKIT_LIBRARY`` (a path), then a copy bundled
in the package (``mmkit/_lib/libmmkit.so``), then the system's library path,
then ``pkg-config --variable=libdir mmkit``.  :data:`LIBRARY_PATH` tells which
one was loaded.
"""

from __future__ import annotations

import _thread
import ctypes
import errno as _errno
import functools
import operator
import os
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple, Union, overload

from . import _lib

# The C lock threading.RLock() returns, without its Python wrapper. (Under
# gevent's monkey-patching threading.RLock would be a greenlet lock instead;
# no Region method yields while holding its lock, so the C lock serves.)
_RLock = _thread.RLock

__all__ = [
    "Region", "map_anon", "map_file", "map_fd", "map_shareable",
    "PAGE_SIZE", "LIBRARY_PATH", "__version__",
    "READ", "WRITE", "EXEC", "SHARED", "PRIVATE", "POPULATE", "HUGEPAGES",
    "NORESERVE", "DEVZERO", "CREATE", "EXCL",
    "PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_EXEC",
    "ADV_NORMAL", "ADV_RANDOM", "ADV_SEQUENTIAL", "ADV_WILLNEED", "ADV_DONTNEED",
    "ADV_HUGEPAGE", "ADV_NOHUGEPAGE",
    "SEAL_SHRINK", "SEAL_GROW", "SEAL_WRITE",
]

# --- constants (values fixed by the C header mmkit.h) ------------------------

READ = 0x1          #: MM_READ -- also a protection for :meth:`Region.protect`
WRITE = 0x2         #: MM_WRITE
EXEC = 0x4          #: MM_EXEC
SHARED = 0x10       #: MM_SHARED -- as reported by :attr:`Region.flags`
PRIVATE = 0x20      #: MM_PRIVATE
POPULATE = 0x100    #: MM_POPULATE
HUGEPAGES = 0x200   #: MM_HUGEPAGES -- set in flags only when huge pages were really requested
NORESERVE = 0x400   #: MM_NORESERVE
DEVZERO = 0x1000    #: MM_DEVZERO -- set in flags when /dev/zero served an anonymous region
CREATE = 0x2000     #: MM_CREATE
EXCL = 0x4000       #: MM_EXCL

PROT_NONE = 0       #: no access, for :meth:`Region.protect`
PROT_READ = READ    #: readable
PROT_WRITE = WRITE  #: writable
PROT_EXEC = EXEC    #: executable

_MS_SYNC = 0x1
_MS_ASYNC = 0x2
_MS_INVALIDATE = 0x4

ADV_NORMAL = 0      #: MM_ADV_NORMAL, for :meth:`Region.advise`
ADV_RANDOM = 1      #: MM_ADV_RANDOM
ADV_SEQUENTIAL = 2  #: MM_ADV_SEQUENTIAL
ADV_WILLNEED = 3    #: MM_ADV_WILLNEED
ADV_DONTNEED = 4    #: MM_ADV_DONTNEED
ADV_HUGEPAGE = 5    #: MM_ADV_HUGEPAGE
ADV_NOHUGEPAGE = 6  #: MM_ADV_NOHUGEPAGE

SEAL_SHRINK = 0x1   #: MM_SEAL_SHRINK, for :meth:`Region.seal`
SEAL_GROW = 0x2     #: MM_SEAL_GROW
SEAL_WRITE = 0x4    #: MM_SEAL_WRITE

_lib_c = _lib.lib

PAGE_SIZE = int(_lib_c.mm_page_size())
"""The system page size in bytes (``mm_page_size()``)."""

__version__ = _lib.c_string(_lib_c.mm_version())
"""The version of the loaded C library (``mm_version()``), ``"MAJOR.MINOR.PATCH"``."""

LIBRARY_PATH = _lib.LIBRARY_PATH
"""The path or name the shared library was loaded from."""

_SIZE_MAX = (1 << (8 * ctypes.sizeof(ctypes.c_size_t))) - 1
_U64_MAX = (1 << 64) - 1
_U32_MAX = (1 << 32) - 1

PathType = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Buffer = Any  # any object supporting the buffer protocol (bytes, bytearray, memoryview, ...)


# --- argument checking ---------------------------------------------------------

def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError("%s must be an integer, not %r" % (name, type(value).__name__))
    return operator.index(value)


def _size(value: Any, name: str, maximum: int = _SIZE_MAX) -> int:
    n = _int(value, name)
    if n < 0:
        raise ValueError("%s must not be negative (got %d)" % (name, n))
    if n > maximum:
        raise OverflowError("%s is too large (got %d, at most %d)" % (name, n, maximum))
    return n


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    raise TypeError("%s must be a bool, not %r" % (name, type(value).__name__))


def _options(*options: Tuple[Any, str, int, int]) -> int:
    """Flag bits from keyword options: (value, name, bit if true, bit if false)."""
    bits = 0
    for value, name, if_true, if_false in options:
        bits |= if_true if _bool(value, name) else if_false
    return bits


def _path(path: Any) -> bytes:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError("path must be str, bytes or os.PathLike, not %r" % type(path).__name__)
    encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise ValueError("path contains an embedded null byte")
    return encoded


def _name(name: Any) -> bytes:
    if isinstance(name, str):
        encoded = name.encode("utf-8")
    elif isinstance(name, bytes):
        encoded = name
    else:
        raise TypeError("name must be str or bytes, not %r" % type(name).__name__)
    if b"\0" in encoded:
        raise ValueError("name contains an embedded null byte")
    return encoded


def _fd(fd: Any) -> int:
    if isinstance(fd, bool):
        raise TypeError("fd must be an integer or have a fileno() method, not 'bool'")
    if hasattr(type(fd), "__index__"):
        value = operator.index(fd)
    elif hasattr(fd, "fileno"):
        value = fd.fileno()
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("fileno() returned a non-integer")
    else:
        raise TypeError("fd must be an integer or have a fileno() method, not %r"
                        % type(fd).__name__)
    if not -(1 << 31) <= value < (1 << 31):
        raise OverflowError("fd out of range: %d" % value)
    return value


def _bytes_of(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError("a bytes-like object is required, not %r" % type(data).__name__) from None
    with view:
        return view.tobytes()


def _plain_slice(key: slice) -> slice:
    """``key`` with int (or None) bounds: any ``__index__`` runs now, before the lock."""
    start, stop, step = key.start, key.stop, key.step
    if (start is None or type(start) is int) and (stop is None or type(stop) is int) \
            and (step is None or type(step) is int):
        return key
    return slice(*(None if p is None else operator.index(p) for p in (start, stop, step)))


def _error(rc: int, filename: Optional[Union[str, bytes]] = None) -> OSError:
    """Build the OSError for a negative return ``rc``; call right after the failure."""
    message = _lib.last_error() or os.strerror(-rc)
    if filename is not None:
        return OSError(-rc, message, filename)
    return OSError(-rc, message)


def _require(name: str) -> Callable[..., int]:
    if not _lib.has(name):
        raise NotImplementedError(
            "%s() is not in the loaded mmkit library (%s, version %s)"
            % (name, LIBRARY_PATH, __version__))
    fn: Callable[..., int] = getattr(_lib_c, name)
    return fn


def _kernel_prot(address: int, length: int) -> Optional[int]:
    """The protection every page of ``[address, address+length)`` has, as
    ``/proc/self/maps`` tells; None where it cannot (no such file, a hole)."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return None
    at, end = address - address % PAGE_SIZE, address + length
    prot = READ | WRITE | EXEC
    for line in lines:  # in address order
        span, perms = line.split(None, 2)[:2]
        lo, hi = (int(x, 16) for x in span.split(b"-"))
        if hi <= at:
            continue
        if lo > at:
            return None
        prot &= ((READ if perms[0:1] == b"r" else 0) | (WRITE if perms[1:2] == b"w" else 0)
                 | (EXEC if perms[2:3] == b"x" else 0))
        at = hi
        if at >= end:
            return prot
    return None


# --- Region --------------------------------------------------------------------

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
    other uses.
    """

    __slots__ = ("_handle", "_lock", "_ptr", "_len", "_flags", "_partly", "_keep",
                 "_arr_type", "_write_sealed", "__weakref__")

    if TYPE_CHECKING:  # attribute types, for type checkers only
        _handle: Optional[int]
        _lock: "threading.RLock"
        _ptr: Optional[int]        # None until first needed (see _address)
        _len: int
        _flags: Optional[int]      # None until first needed (see _mm_flags)
        _partly: bool              # protect() of part of it: mm_flags is not every page's
        _keep: Optional[Any]       # once a view is made: see _KEEPER_TEMPLATE
        _arr_type: Optional[Any]   # a ctypes array type of the region's length
        _write_sealed: bool

    def __init__(self) -> None:
        """Not callable: regions come from the ``map_*`` functions."""
        raise TypeError("Region objects are made by mmkit.map_anon(), map_file(), "
                        "map_fd() or map_shareable()")

    @classmethod
    def _adopt(cls, handle: int, length: Optional[int] = None) -> "Region":
        """Own ``handle``.  ``length`` (the usable length) spares the library
        call that would tell it; the address and the flags are asked for when
        first needed."""
        self = object.__new__(cls)
        self._handle = handle
        self._lock = _RLock()
        self._keep = None
        self._arr_type = None
        self._write_sealed = False
        self._ptr = None
        self._flags = None
        self._partly = False
        _REGIONS[id(self)] = weakref.ref(self)
        self._len = int(_lib_c.mm_len(handle)) if length is None else length
        return self

    def __del__(self) -> None:
        # A region never closed is unmapped when collected (never while a
        # view is alive: views hold the region).  Not at interpreter exit,
        # which unmaps everything anyway, in an order objects cannot see.
        try:
            _REGIONS.pop(id(self), None)
            h = self._handle
            if h is None or sys.is_finalizing():
                return
            if self._keep is not None:
                # Views were made: the keeper unmaps when it is freed, after
                # the region and every view (see _KEEPER_TEMPLATE).
                if h not in _UNMAP_WHEN_FREED:
                    _arm_keeper(self)  # (view() was interrupted before it could)
                return
            self._handle = None
            _lib_c.mm_unmap(h)
        except Exception:  # pragma: no cover -- half-built object, or shutdown
            pass

    def _refresh(self) -> None:
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

    def _access(self, start: int, length: int, unknown: int = 0) -> int:
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

    def _range(self, offset: Any, length: Any) -> Tuple[int, int]:
        return _size(offset, "offset"), _size(length, "length")

    def _read_bytes(self, offset: int, n: int) -> bytes:
        """Copy ``n`` bytes out from ``offset``: OSError(EFAULT) for a page that
        is gone or protected against reading, never a signal (with ``mm_read``)."""
        h = self._check_open()
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

    def _write_bytes(self, offset: int, data: bytes) -> None:
        """Copy ``data`` in at ``offset``: PermissionError (EACCES) when the
        region or a page of the range may not be written, OSError(EFAULT) for
        a page that is gone or inaccessible (with ``mm_write``)."""
        h = self._check_open()
        n = len(data)
        if self._write_sealed:
            raise PermissionError(_errno.EACCES, "the region is sealed against writing")
        if _lib.has("mm_write"):
            rc = _lib_c.mm_write(h, offset, data, n)
            if rc < 0:
                error = _error(rc)
                # EFAULT on pages mm_read can read: protected, not gone
                if rc == -_errno.EFAULT and _lib.has("mm_read") and \
                        _lib_c.mm_read(h, offset, ctypes.create_string_buffer(n), n) == 0:
                    raise PermissionError(_errno.EACCES, "the range [%d, %d) is protected "
                                          "against writing (see Region.protect)"
                                          % (offset, offset + n))
                raise error
            return
        if offset + n > self._len:
            raise IndexError("range [%d, %d) outside the region" % (offset, offset + n))
        access = self._access(offset, n)
        if n and not access & READ:
            raise OSError(_errno.EFAULT, "the range [%d, %d) is not accessible (see "
                          "Region.protect)" % (offset, offset + n))
        if not access & WRITE:
            raise PermissionError(_errno.EACCES, "the range [%d, %d) may not be written"
                                  % (offset, offset + n))
        if n:
            ctypes.memmove(self._address() + offset, data, n)

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
        behind the mapping raises SIGBUS and kills the interpreter, as with
        :mod:`mmap`, until the guard (``MM_GUARD``) lands; ``r[a:b]`` /
        :meth:`read` are the fault-safe way when the library has ``mm_read``.  PermissionError
        while a page is protected against reading (or, after protect() of
        part of the region, where the system cannot tell).
        """
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

        TypeError when the region, or a page of the range, may not be written.
        """
        if isinstance(key, slice):
            key, data = _plain_slice(key), _bytes_of(value)
        else:
            key = key if type(key) is int else _int(key, "index")
            byte = value if type(value) is int else _int(value, "value")
            if not 0 <= byte <= 255:
                raise ValueError("byte must be in range(0, 256)")
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
            try:
                self._write_bytes(start, data)
            except PermissionError as e:
                raise TypeError("cannot modify a read-only mmkit.Region (%s)" % e.strerror) from None

    def read(self, offset: int = 0, n: Optional[int] = None) -> bytes:
        """Copy ``n`` bytes from ``offset`` (to the end when ``n`` is None) with ``mm_read``.

        Fault-safe: if the file under the mapping was truncated, or a page is
        protected against reading, the result is ``OSError(EFAULT)`` instead of
        SIGBUS or SIGSEGV; a range outside the region is ``OSError(EINVAL)``.
        NotImplementedError if the library lacks ``mm_read``.
        """
        off = _size(offset, "offset")
        size = None if n is None else _size(n, "n")
        with self._lock:
            self._check_open()
            _require("mm_read")
            return self._read_bytes(off, max(0, self._len - off) if size is None else size)

    def write(self, offset: int, data: Buffer) -> None:
        """Copy the bytes-like ``data`` into the region at ``offset`` with ``mm_write``.

        Fault-safe like :meth:`read`; writing a read-only region, or a page
        protected against writing, is ``PermissionError`` (EACCES) -- the bytes
        before such a page may have been written --, a range outside the region
        ``OSError(EINVAL)``.  NotImplementedError if the library lacks ``mm_write``.
        """
        off = _size(offset, "offset")
        payload = _bytes_of(data)
        with self._lock:
            self._check_open()
            _require("mm_write")
            self._write_bytes(off, payload)

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
        ``PROT_EXEC``.  Both ends must fall on page boundaries of the mapping or
        at the ends of the region (else OSError EINVAL).  Taking access away
        while a view is alive raises BufferError (the view would fault).  After
        it, reading a page without access is OSError(EFAULT) and writing a page
        without write access PermissionError (TypeError for ``r[...] = ``), as
        the library's copies tell; :meth:`view` refuses while a page is
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
            if off < end <= self._len and self._live_exports():
                # Views were made with the access every page has now (it cannot
                # have been reduced since); unknown counts as read-write.
                if self._access(0, self._len, READ | WRITE) & ~effective & (READ | WRITE):
                    raise BufferError("cannot reduce the protection of a region while "
                                      "views of it are alive")
            partly = self._partly
            self._partly = True  # a failed mprotect may have changed some pages
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
            rc = fn(h, n)
            if rc < 0:
                raise _error(rc)
            self._arr_type = None
            self._refresh()  # new pages have the protection mm_flags tells

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
        can never SIGBUS its readers.  After ``SEAL_WRITE`` the region is
        read-only; asking for it while a view is alive raises BufferError.
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
            if bits & SEAL_WRITE and self._live_exports():
                raise BufferError("cannot seal a region against writing while views of "
                                  "it are alive")
            rc = fn(h, bits)
            if rc < 0:
                raise _error(rc)
            self._flags = int(_lib_c.mm_flags(h))
            if bits & SEAL_WRITE:
                self._write_sealed = True

    def close(self) -> None:
        """Unmap the region (``mm_unmap``).  Closing twice is a no-op.

        Raises BufferError, and leaves the region open, while a view of it
        (or a numpy array or cast made from one) is alive, or when called by
        code that runs inside another method of the region (a signal handler,
        a finalizer).
        """
        if self._lock._is_owned():  # (_not_inside, inline: the map/close loop is measured)
            self._not_inside("close")
        with self._lock:
            h = self._handle
            if h is None:
                return
            if self._keep is not None:
                live = self._live_exports()
                if live:
                    raise BufferError("cannot close a region while %d view(s) of it "
                                      "(memoryview or array) are alive" % live)
                _UNMAP_WHEN_FREED.pop(h, None)  # unmapped here, errors reported
                self._keep = None
            self._handle = None
            self._arr_type = None
            rc = _lib_c.mm_unmap(h)
            if rc < 0:
                raise _error(rc)

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


# Every live region, by id (a Region's __del__ takes it out before the id can
# be reused): cheaper than a WeakSet on the map/close path.
_REGIONS: "dict[int, weakref.ReferenceType[Region]]" = {}

# The mapping of a region that has views is unmapped by a *keeper*, an object
# held by the region and by every view's array, when the keeper is freed: by a
# callback of a weakref to it.  The keeper is a fresh code object -- an object
# that supports weak references and that the garbage collector does not track.
# That matters: the collector clears weakrefs to the objects of a garbage
# cycle, running their callbacks, *before* the __del__ methods that may keep
# some of those objects (a view) alive.  An untracked keeper is never part of
# a cycle: it is freed only when the last region or view holding it is freed
# for good, after the collector knows none is kept.  CPython also saves and
# restores a pending exception around such callbacks.  The keeper's reference
# count is the number of views alive (see _live_exports).
# (Were code objects ever tracked, a keeper could be collected with a cycle
# and unmap before a finalizer in it keeps a view: the limitation this design
# removes, no worse.  test_region.py checks they are not.)
_KEEPER_TEMPLATE = compile("None", "<mmkit mapping keeper>", "eval")
# handle -> the weakref whose callback unmaps it
_UNMAP_WHEN_FREED: "dict[int, weakref.ReferenceType[Any]]" = {}


def _keeper_refs(holder: Any) -> int:
    # The same code measures a region and the probe below: any references the
    # interpreter itself adds (argument, stack) are the same for both.
    return sys.getrefcount(holder._keep)


class _Probe:
    __slots__ = ("_keep",)


_probe = _Probe()
_probe._keep = _KEEPER_TEMPLATE.replace()
_KEEPER_BASE = _keeper_refs(_probe)  # held by its owner only
del _probe


def _arm_keeper(region: "Region") -> None:
    """Unmap ``region``'s handle when its keeper is freed."""
    h = region._handle
    _UNMAP_WHEN_FREED[h] = weakref.ref(region._keep, functools.partial(_keeper_freed, h))


def _keeper_freed(h: int, ref: Any) -> None:
    # The keeper is freed: no region or view holds it, so unmapping is safe
    # even at interpreter exit.  The unmap comes first (a Ctrl-C between two
    # steps must not lose it); a weakref callback cannot raise, so a Ctrl-C
    # caught here is delivered again.
    try:
        if _UNMAP_WHEN_FREED.get(h) is ref:
            try:
                _lib_c.mm_unmap(h)
            finally:
                del _UNMAP_WHEN_FREED[h]
    except KeyboardInterrupt:
        _thread.interrupt_main()
    except BaseException:  # pragma: no cover -- interpreter shutdown
        pass


def _array_copy(arr: Any, memo: Any = None) -> bytes:
    return bytes(arr)


def _after_fork_in_child() -> None:
    # A forked child has only the forking thread: a region lock another thread
    # held at fork() time would never be released there.  Give the child's
    # copies fresh locks (the child may use or unmap its copies).
    for ref in list(_REGIONS.values()):
        region = ref()
        if region is not None:
            region._lock = _RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --- mapping functions -----------------------------------------------------------

def _adopt_out(rc: int, out: ctypes.c_void_p,
               filename: Optional[Union[str, bytes]] = None,
               length: Optional[int] = None) -> Region:
    if rc < 0:
        raise _error(rc, filename)
    if not out.value:
        raise OSError(_errno.EIO, "mmkit returned success without a region")
    return Region._adopt(out.value, length)


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
    bool_ = bool
    if shared is False and populate is False and hugepages is False and devzero is False \
            and noreserve is False:
        flags = READ | WRITE | PRIVATE
    elif type(shared) is bool_ and type(populate) is bool_ and type(hugepages) is bool_ \
            and type(devzero) is bool_ and type(noreserve) is bool_:
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
    out = ctypes.c_void_p()
    rc = _lib_c.mm_map_anon(n, flags, out)  # (ctypes passes it by reference)
    h = out.value
    if rc < 0 or not h:
        return _adopt_out(rc, out)  # raises
    return Region._adopt(h, n)


def map_file(path: PathType, offset: int = 0, length: int = 0, *, write: bool = False,
             shared: bool = True, create: bool = False, exclusive: bool = False,
             populate: bool = False) -> Region:
    """Map ``length`` bytes of the file at ``path`` from ``offset`` (0: to the end of the file).

    ``path`` is str, bytes or os.PathLike.  ``offset`` need not be
    page-aligned.  ``write=True`` maps read-write: with ``shared=True`` writes
    reach the file (see :meth:`Region.sync`), with ``shared=False`` they are
    private copy-on-write.  ``create=True`` creates the file (mode 0600) if
    missing and grows it to ``offset + length``; ``exclusive=True`` with it
    fails with FileExistsError if the file exists.  An empty file gives a
    region of length 0; ``offset`` past the end of the file is OSError
    (EINVAL).  The file is closed before this returns.
    """
    encoded = _path(path)
    off = _size(offset, "offset", _U64_MAX)
    n = _size(length, "length")
    flags = READ | _options(
        (write, "write", WRITE, 0),
        (shared, "shared", SHARED, PRIVATE),
        (create, "create", CREATE, 0),
        (exclusive, "exclusive", EXCL, 0),
        (populate, "populate", POPULATE, 0),
    )
    out = ctypes.c_void_p()
    rc = _lib_c.mm_map_file(encoded, off, n, flags, ctypes.byref(out))
    return _adopt_out(rc, out, os.fspath(path), n or None)


def map_fd(fd: Union[int, Any], offset: int = 0, length: int = 0, *, write: bool = False,
           shared: bool = True) -> Region:
    """Map ``length`` bytes (0: to the end) of the open descriptor ``fd`` from ``offset``.

    ``fd`` is an int or an object with ``fileno()``; it is neither closed nor
    kept.  A write-shared mapping of a descriptor opened read-only is
    PermissionError (EACCES).
    """
    d = _fd(fd)
    off = _size(offset, "offset", _U64_MAX)
    n = _size(length, "length")
    flags = READ | _options((write, "write", WRITE, 0), (shared, "shared", SHARED, PRIVATE))
    out = ctypes.c_void_p()
    rc = _lib_c.mm_map_fd(d, off, n, flags, ctypes.byref(out))
    return _adopt_out(rc, out, None, n or None)


def map_shareable(name: Union[str, bytes], length: int) -> Region:
    """Shared memory of ``length`` bytes that unrelated processes can map (``mm_map_shareable``).

    Backed by ``memfd_create`` on Linux (``name`` is only a label).  The
    region keeps a descriptor (:attr:`Region.fd`) to pass to another process,
    which maps it with :func:`map_fd` ``(fd, write=True)``; :meth:`Region.seal`
    restricts what peers may do.  NotImplementedError if the library lacks
    ``mm_map_shareable``.
    """
    encoded = _name(name)
    n = _size(length, "length")
    fn = _require("mm_map_shareable")
    out = ctypes.c_void_p()
    rc = fn(encoded, n, READ | WRITE | SHARED, ctypes.byref(out))
    return _adopt_out(rc, out, None, n)
