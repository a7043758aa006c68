"""A drop-in for the standard :mod:`mmap` module, built on :class:`mmkit.Region`.

Change one import line::

    import mmkit.mmap as mmap        # was: import mmap

and the program gets the same names (the ``mmap`` class, ``PAGESIZE``,
``ALLOCATIONGRANULARITY``, ``ACCESS_*``, ``MAP_*``, ``PROT_*``, ``MADV_*``,
``error``), with the same constructor (``fileno, length, flags, prot,
access, offset``, and ``trackfd`` where the running Python has it), methods,
return values and exceptions as the standard module of the running Python
(CPython's own ``Lib/test/test_mmap.py`` passes against it, see
``python/tests/run_cpython_test_mmap.py``).

What differs, on purpose:

* Every file mapping is guarded (``MM_GUARD``), and every read and write the
  object makes itself -- ``m[i]``, ``m[a:b]``, ``read``, ``read_byte``,
  ``readline``, ``write``, ``write_byte``, ``move``, ``find`` and ``rfind``,
  iteration -- reports a lost page: where the standard module dies of
  SIGBUS (the file was truncated behind the mapping) or SIGSEGV (a
  ``PROT_NONE`` mapping), they raise ``OSError(EFAULT)``.  On a guarded
  mapping ``m[i]``, ``m[a:b]``, ``read`` and ``readline`` copy the memory
  itself without a lock and then read the region's loss count (see
  :mod:`mmkit._copies`); elsewhere they use the library's fault-safe copies
  (``mm_read``/``mm_write``).  (``find`` on anonymous memory, which nothing
  can truncate, searches it in place.)
* Buffer exports (``memoryview(m)``, ``numpy.frombuffer(m)``, ``re.search``;
  Python 3.12+) touch the memory directly: on a truncated file they read
  zeros where the standard module dies of SIGBUS (the guard).
* Growing a shared anonymous mapping (``mmap(-1, n).resize(2 * n)``) raises
  ``ValueError``: the standard module of 3.13 and earlier grows it and then
  dies of SIGBUS on the new pages (later versions raise the same ValueError).
* ``resize(0)`` raises ``OSError(EINVAL)`` *before* truncating the file (the
  standard module truncates it, then fails).  Anonymous memory that grows
  reads zeros past its old length (the standard module's ``mremap`` can show
  bytes left there before an earlier shrink).
* Only regular files are mapped (a device such as ``/dev/zero`` is
  ``OSError(ENODEV)``), and ``MAP_*`` flags the library cannot honour
  (``MAP_32BIT``, ``MAP_HUGETLB``, ...) are ``OSError(ENOTSUP)``.
* ``madvise(MADV_DONTNEED | MADV_FREE | MADV_REMOVE, ...)`` discards only the
  whole pages inside the range (the standard module, the pages covering it).
* On Python 3.11 and earlier there is no Python-level buffer protocol:
  ``memoryview(m)`` and ``re.search(pattern, m)`` raise TypeError there.
"""

from __future__ import annotations

import os as _os
import sys as _sys
from typing import TYPE_CHECKING, Any, Iterator, Optional

from . import _search, _stdmmap
from ._args import _as_ssize, _bytes_of, _c_int, _c_ssize, _c_ubyte, _has_index, _SSIZE_MAX
from ._errors import invalid
from ._copies import _LOCKLESS
from ._map import _fd_flags
from ._region import Region, release_view
from ._mmap_new import _MMAPS, new as _new
from ._stdmmap import (
    ACCESS_COPY as _ACCESS_COPY, ACCESS_DEFAULT as _ACCESS_DEFAULT, ACCESS_NAMES as _ACCESS_NAMES,
    ACCESS_READ as _ACCESS_READ, ACCESS_WRITE as _ACCESS_WRITE, MAP_SHARED as _MAP_SHARED,
    PAGESIZE as _PAGESIZE, PROT_READ as _PROT_READ, PROT_WRITE as _PROT_WRITE,
    _get, _line_from, _LINE, _NL, _put, _slice_parts,
)

_std = _stdmmap.std
globals().update(_stdmmap.CONSTANTS)  # PAGESIZE, ACCESS_*, MAP_*, PROT_*, MADV_* ...
error = OSError

if TYPE_CHECKING:  # the names type checkers cannot see in the update above (Linux's)
    PAGESIZE: int
    ALLOCATIONGRANULARITY: int
    ACCESS_DEFAULT: int
    ACCESS_READ: int
    ACCESS_WRITE: int
    ACCESS_COPY: int
    MAP_SHARED: int
    MAP_PRIVATE: int
    MAP_ANON: int
    MAP_ANONYMOUS: int
    MAP_DENYWRITE: int
    MAP_EXECUTABLE: int
    MAP_POPULATE: int
    MAP_STACK: int
    PROT_READ: int
    PROT_WRITE: int
    PROT_EXEC: int
    MADV_NORMAL: int
    MADV_RANDOM: int
    MADV_SEQUENTIAL: int
    MADV_WILLNEED: int
    MADV_DONTNEED: int
    MADV_FREE: int
    MADV_REMOVE: int
    MADV_DONTFORK: int
    MADV_DOFORK: int
    MADV_HWPOISON: int
    MADV_MERGEABLE: int
    MADV_UNMERGEABLE: int
    MADV_HUGEPAGE: int
    MADV_NOHUGEPAGE: int
    MADV_DONTDUMP: int
    MADV_DODUMP: int

__all__ = sorted(_stdmmap.CONSTANTS) + ["error", "mmap"]

_CLOSED = "mmap closed or invalid"
_NOARG: Any = object()  # "not given": None is a TypeError where the standard module says so
_V = _sys.version_info
_SEEK_RETURNS = _V >= (3, 13)          # seek() returns the new position
_HAS_TRACKFD = _V >= (3, 13)           # trackfd=, seekable()
_SIZE_OF_ANON = _V >= (3, 14)          # size() of an anonymous map is its length
_FLUSH_TO_END = _V >= (3, 14)          # flush(offset) flushes from offset to the end
_CHUNK = 1 << 20
# read() and readline() copy without the lock (see mmap._commit)
_POSITION_LOCKLESS = _V >= (3, 11) and _LOCKLESS




class mmap:
    """Windows: mmap(fileno, length[, tagname[, access[, offset]]])

    Unix: mmap(fileno, length[, flags[, prot[, access[, offset[, trackfd]]]]])

    Maps length bytes from the file specified by the file descriptor fileno,
    and returns a mmap object.  If length is 0, the maximum length of the map
    will be the current size of the file when mmap is called.
    flags specifies the nature of the mapping. MAP_PRIVATE creates a
    private copy-on-write mapping, so changes to the contents of the mmap
    object will be private to this process, and MAP_SHARED creates a mapping
    that's shared with all other processes mapping the same areas of the file.
    The default value is MAP_SHARED.

    To map anonymous memory, pass -1 as the fileno (both versions).

    (mmkit: a :class:`mmkit.Region` underneath; every read and write this
    object makes is fault-safe -- OSError, not SIGBUS -- see the module's
    documentation for what differs from the standard module.)
    """

    __slots__ = ("_region", "_lock", "_pos", "_seq", "_size", "_fd", "_offset", "_access",
                 "_anon", "_shared", "_mm", "_trackfd", "__weakref__")

    if TYPE_CHECKING:  # attribute types, for type checkers only
        _region: Optional[Region]  # None once closed
        _lock: Any                 # an RLock
        _pos: int
        _seq: Optional[int]        # the position's version; None while a method holds it
        _size: int
        _fd: int                   # the duplicated descriptor (trackfd), or -1
        _offset: int
        _access: int               # ACCESS_*
        _anon: bool
        _shared: bool
        _mm: int                   # the MM_* flag word it was mapped with
        _trackfd: bool

    if _HAS_TRACKFD:
        def __new__(cls, fileno: int, length: int, flags: int = _MAP_SHARED,
                    prot: int = _PROT_WRITE | _PROT_READ, access: int = _ACCESS_DEFAULT,
                    offset: int = 0, *, trackfd: bool = True) -> "mmap":
            return _new(cls, fileno, length, flags, prot, access, offset, trackfd)
    else:
        def __new__(cls, fileno: int, length: int, flags: int = _MAP_SHARED,  # type: ignore
                    prot: int = _PROT_WRITE | _PROT_READ, access: int = _ACCESS_DEFAULT,
                    offset: int = 0) -> "mmap":
            return _new(cls, fileno, length, flags, prot, access, offset, True)

    def __del__(self) -> None:
        try:
            _MMAPS.pop(id(self), None)
            fd = self._fd
            if fd >= 0:
                self._fd = -1
                _os.close(fd)
        except Exception:  # pragma: no cover -- half-built object, or shutdown
            pass

    # -- internal (the object's lock held, unless said) --

    def _valid(self) -> None:
        """``CHECK_VALID`` before the arguments are parsed (no lock: a hint)."""
        if self._region is None:
            raise ValueError(_CLOSED)

    def _open(self) -> Region:
        r = self._region
        if r is None:
            raise ValueError(_CLOSED)
        return r

    def _writable(self) -> None:
        if self._access == _ACCESS_READ:
            raise TypeError("mmap can't modify a readonly memory map.")

    def _not_inside(self, what: str) -> None:
        # Code run inside one of this object's methods (a signal handler, a
        # profiler, a finalizer) must not pull the mapping from under it.
        if self._lock._is_owned():
            raise BufferError("cannot %s an mmap from code run inside one of its own methods"
                              % what)

    def _exports(self, r: Region) -> int:
        with r._lock:
            return r._live_exports()

    # read() and readline() on a guarded mapping copy the memory without the
    # lock: they load _seq, then _pos, copy, and move the position with
    # _commit, under the lock, only when nothing moved it since (_seq only
    # grows: an old value never comes back).  A method that moves the
    # position under the lock holds it from before it reads it until it has
    # stored the new one (_seq None: no lockless read starts, and a commit
    # started before fails).  Python 3.10 and earlier take the lock
    # throughout.

    def _commit(self, seq: int, end: int) -> bool:
        """Move the position to ``end`` when it is still where version ``seq``
        left it.  Under the lock: the test and the stores are one step for
        every other thread, and for code a subclass's attribute hooks or a
        monitoring callback (a BRANCH event between the test and the jump)
        run here: such code that reads this object commits first, and this
        commit then fails."""
        with self._lock:
            if self._seq is seq:
                # The position first, then its version: a reader that loads
                # the new version then loads the new position. (The other
                # order let a reader that ran between the two stores, in a
                # subclass's __setattr__ or at a thread switch, pair the new
                # version with the old position and read a line twice.)
                self._pos = end
                self._seq = seq + 2
                return True
        return False

    def _hold(self) -> Optional[int]:
        """Take the position from the lockless readers (lock held); None when
        a method this one runs inside holds it already."""
        seq, self._seq = self._seq, None  # one line, no call: atomic under the GIL
        return seq

    def _unhold(self, seq: Optional[int]) -> None:
        if seq is not None:
            self._seq = seq + 2

    def _drop_memory(self, r: Region, what: str) -> None:
        """Before the mapping goes (close, resize): BufferError while a
        lockless copy of its memory is under way, before anything changes."""
        if r._marr is not None:
            with r._lock:
                r._partly = r._drop_memory(what)

    # -- the standard interface --

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._region is None

    def close(self, /) -> None:
        """Close the mapping (and the descriptor it keeps).  BufferError while
        a buffer export (a memoryview, a numpy array) is alive."""
        self._not_inside("close")
        with self._lock:
            r = self._region
            if r is not None and self._exports(r):
                raise BufferError("cannot close exported pointers exist")
            if r is not None:
                self._drop_memory(r, "close")
            fd, self._fd = self._fd, -1
            self._region = None
            if fd >= 0:
                _os.close(fd)
            if r is not None:
                r.close()

    def __enter__(self) -> "mmap":
        with self._lock:
            self._open()
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def __len__(self) -> int:
        with self._lock:
            self._open()
            return self._size

    def __repr__(self) -> str:
        # The standard type's name; a subclass's own, as for any heap type.
        name = "mmap.mmap" if type(self) is mmap else type(self).__name__
        with self._lock:
            if self._region is None:
                return "<%s closed=True>" % name
            return "<%s closed=False, access=%s, length=%d, pos=%d, offset=%d>" % (
                name, _ACCESS_NAMES[self._access], self._size, self._pos, self._offset)

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("cannot pickle 'mmap.mmap' object")

    def read_byte(self, /) -> int:
        """The byte at the current position, as an int; the position advances."""
        with self._lock:
            r = self._open()
            held = self._hold()
            try:
                pos = self._pos
                if pos >= self._size:
                    raise ValueError("read byte out of range")
                value = _get(r, pos, 1)[0]
                self._pos = pos + 1
                return value
            finally:
                self._unhold(held)

    def readline(self, /) -> bytes:
        """The bytes from the current position through the next newline (or the end)."""
        # A guarded mapping: the line copied from the memory itself, without
        # the lock (a window of _LINE bytes, larger ones for a longer line),
        # then the loss count, the memory still the region's and the
        # position's commit (see _commit): every call reads the memory as it is
        # now, nothing is kept from one call to the next.
        r = self._region
        if r is not None:
            mv = r._mv
            seq = self._seq
            if mv is not None and seq is not None:  # None: a method holds the position
                lost = r._lost
                pos = self._pos
                try:
                    line = mv[pos:pos + _LINE].tobytes()
                    i = line.find(_NL) + 1
                    if i:
                        line = line[:i]
                    elif len(line) == _LINE:
                        line = _line_from(mv, pos)
                        i = len(line)
                    else:
                        i = len(line)  # the last line
                    ok = not lost[0]
                except ValueError:  # the memory view released (close, resize, protect)
                    pass
                else:
                    if ok and self._commit(seq, pos + i):
                        return line
        return self._readline()

    def _readline(self, /) -> bytes:
        with self._lock:
            r = self._open()
            held = self._hold()
            try:
                pos, size = self._pos, self._size
                parts = []
                at, window = pos, _LINE
                while at < size:
                    n = min(window, size - at)
                    chunk = _get(r, at, n)
                    eol = chunk.find(_NL)
                    if eol >= 0:
                        parts.append(chunk[:eol + 1])
                        break
                    parts.append(chunk)
                    at += n
                    window = min(window * 4, _CHUNK)
                line = b"".join(parts)
                self._pos = pos + len(line)
                return line
            finally:
                self._unhold(held)

    def read(self, n: Any = None, /) -> bytes:
        """Up to ``n`` bytes from the current position (all of them when ``n``
        is None or negative); the position advances."""
        r = self._region
        if r is not None and (n is None or type(n) is int and 0 <= n <= _SSIZE_MAX):
            # A guarded mapping: without the lock, as readline.
            mv = r._mv
            seq = self._seq
            if mv is not None and seq is not None:  # None: a method holds the position
                lost = r._lost
                pos = self._pos
                try:
                    num = self._size - pos
                    if n is not None and n < num:
                        num = n
                    data = mv[pos:pos + num].tobytes() if num > 0 else b""
                    ok = not lost[0]
                except ValueError:  # the memory view released (close, resize, protect)
                    pass
                else:
                    if ok and self._commit(seq, pos + len(data)):
                        return data
        return self._read(n)

    def _read(self, n: Any = None, /) -> bytes:
        self._valid()
        if n is None:
            num = _SSIZE_MAX
        elif _has_index(n):
            num = _as_ssize(n, OverflowError)
        else:
            raise TypeError("argument should be integer or None, not '%s'" % type(n).__name__)
        with self._lock:
            r = self._open()
            held = self._hold()
            try:
                pos, size = self._pos, self._size
                remaining = size - pos if pos < size else 0
                if num < 0 or num > remaining:
                    num = remaining
                data = _get(r, pos, num) if num else b""
                self._pos = pos + num
                return data
            finally:
                self._unhold(held)

    if not _POSITION_LOCKLESS:
        readline = _readline  # type: ignore[assignment]
        read = _read  # type: ignore[assignment]

    def _find(self, reverse: bool, sub: Any, start: Any, end: Any) -> int:
        self._valid()
        needle = _bytes_of(sub)
        lo = None if start is _NOARG else _c_ssize(start)
        hi = None if end is _NOARG else _c_ssize(end)
        with self._lock:
            r = self._open()
            size = self._size
            lo = self._pos if lo is None else lo
            hi = size if hi is None else hi
            lo = min(max(lo + size if lo < 0 else lo, 0), size)
            hi = min(max(hi + size if hi < 0 else hi, 0), size)
            if hi < lo:
                return -1
            with r._lock:
                r._check_open()
                if reverse:
                    return _search.rfind(r, needle, lo, hi)
                return _search.find(r, needle, lo, hi)

    def find(self, sub: Any, start: Any = _NOARG, end: Any = _NOARG, /) -> int:
        """The lowest index of ``sub`` in ``[start, end)`` (default: from the
        current position to the end), or -1.  At C speed (libc ``memmem``)."""
        return self._find(False, sub, start, end)

    def rfind(self, sub: Any, start: Any = _NOARG, end: Any = _NOARG, /) -> int:
        """The highest index of ``sub`` in ``[start, end)``, or -1."""
        return self._find(True, sub, start, end)

    def write(self, data: Any, /) -> int:
        """Write the bytes-like ``data`` at the current position; the position
        advances.  Returns the number of bytes written."""
        self._valid()
        data = _bytes_of(data)
        with self._lock:
            r = self._open()
            self._writable()
            held = self._hold()
            try:
                pos, size = self._pos, self._size
                if pos > size or size - pos < len(data):
                    raise ValueError("data out of range")
                if data:
                    _put(r, pos, data)
                self._pos = pos + len(data)
                return len(data)
            finally:
                self._unhold(held)

    def write_byte(self, byte: Any, /) -> None:
        """Write the byte ``byte`` (0..255) at the current position; the position advances."""
        self._valid()
        value = _c_ubyte(byte)
        with self._lock:
            r = self._open()
            self._writable()
            held = self._hold()
            try:
                pos = self._pos
                if pos >= self._size:
                    raise ValueError("write byte out of range")
                _put(r, pos, bytes((value,)))
                self._pos = pos + 1
            finally:
                self._unhold(held)

    def size(self, /) -> int:
        """The size of the mapped file (``fstat``), not of the mapping."""
        with self._lock:
            self._open()
            fd = self._fd
            if _SIZE_OF_ANON and fd == -1:
                if self._trackfd:
                    return self._size
                raise ValueError("can't get size with trackfd=False")
            return _os.fstat(fd).st_size

    def resize(self, newsize: Any, /) -> None:
        """Resize the mapping -- and the file under it -- to ``newsize`` bytes."""
        self._valid()
        new = _c_ssize(newsize)
        self._not_inside("resize")
        with self._lock:
            r = self._open()
            if self._exports(r):
                raise BufferError("mmap can't resize with extant buffers exported.")
            if not self._trackfd:
                raise ValueError("mmap can't resize with trackfd=False.")
            if self._access not in (_ACCESS_WRITE, _ACCESS_DEFAULT):
                raise TypeError("mmap can't resize a readonly or copy-on-write memory map.")
            if new < 0 or _SSIZE_MAX - new < self._offset:
                raise ValueError("new size out of range")
            if new == 0:
                raise invalid("mmap: cannot resize to 0 bytes (close it instead)")
            if self._anon and self._shared and new > self._size:
                raise ValueError("mmap: can't expand a shared anonymous mapping")
            self._drop_memory(r, "resize")
            if self._fd != -1:
                _os.ftruncate(self._fd, self._offset + new)
            if self._anon:
                r.resize(new)
            else:
                grown = _fd_flags(self._fd, self._offset, new, self._mm)
                self._region = grown
                r.close()
            self._size = new

    def tell(self, /) -> int:
        """The current position."""
        with self._lock:
            self._open()
            return self._pos

    def seek(self, pos: Any, whence: Any = 0, /) -> Optional[int]:
        """Move the position: to ``pos`` (whence 0), ``pos`` past the current
        position (1) or past the end (2)."""
        self._valid()
        dist = _c_ssize(pos)
        how = _c_int(whence)
        with self._lock:
            self._open()
            held = self._hold()
            try:
                if how == 0:
                    where = dist
                elif how == 1:
                    where = self._pos + dist
                elif how == 2:
                    where = self._size + dist
                else:
                    raise ValueError("unknown seek type")
                if where > self._size or where < 0:
                    raise ValueError("seek out of range")
                self._pos = where
            finally:
                self._unhold(held)
            return where if _SEEK_RETURNS else None

    if _HAS_TRACKFD:
        def seekable(self, /) -> bool:
            """True: an mmap can always seek."""
            return True

    def flush(self, offset: Any = 0, size: Any = _NOARG, /) -> None:
        """Write the changes to ``[offset, offset+size)`` back to the file (``msync``)."""
        self._valid()
        off = _c_ssize(offset)
        n = None if size is _NOARG else _c_ssize(size)
        with self._lock:
            r = self._open()
            if n is None or (_FLUSH_TO_END and n == -1):
                n = self._size - off if _FLUSH_TO_END else self._size
            if n < 0 or off < 0 or self._size - off < n:
                raise ValueError("flush values out of range")
            if self._access in (_ACCESS_READ, _ACCESS_COPY):
                return None
            with r._lock:
                if (r._address() + off) % _PAGESIZE:
                    raise invalid("mmap.flush: offset %d is not on a page boundary" % off)
            if n:
                r.sync(off, n)
            return None

    def move(self, dest: Any, src: Any, count: Any, /) -> None:
        """Copy ``count`` bytes from ``src`` to ``dest`` (the ranges may overlap)."""
        self._valid()
        d, s, c = _c_ssize(dest), _c_ssize(src), _c_ssize(count)
        with self._lock:
            r = self._open()
            self._writable()
            size = self._size
            if d < 0 or s < 0 or c < 0 or size - d < c or size - s < c:
                raise ValueError("source, destination, or count out of range")
            if c == 0 or d == s:
                return
            # A window at a time, in the direction that reads every byte before
            # it is overwritten.
            starts = range(0, c, _CHUNK) if d < s else reversed(range(0, c, _CHUNK))
            for at in starts:
                k = min(_CHUNK, c - at)
                _put(r, d + at, _get(r, s + at, k))

    def madvise(self, option: Any, start: Any = 0, length: Any = _NOARG, /) -> None:
        """Advise the kernel about ``[start, start+length)`` (default: to the end)."""
        self._valid()
        opt = _c_int(option)
        st = _c_ssize(start)
        ln = None if length is _NOARG else _c_ssize(length)
        with self._lock:
            r = self._open()
            size = self._size
            if ln is None:
                ln = size
            if st < 0 or st >= size:
                raise ValueError("madvise start out of bounds")
            if ln < 0:
                raise ValueError("madvise length invalid")
            if _SSIZE_MAX - st < ln:
                raise OverflowError("madvise length too large")
            ln = min(ln, size - st)
            _stdmmap.advise(r, opt, st, ln, size)

    # -- subscripts and iteration --

    def __getitem__(self, key: Any, /) -> Any:
        # A guarded mapping: the region's own reads without the lock (its
        # locked way when they cannot be), for an int or a plain slice (int or
        # None bounds, no step: nothing to convert, so no code of the
        # caller's runs, as in the standard module).
        r = self._region
        if r is not None and r._mv is not None and (
                type(key) is int or type(key) is slice
                and (type(key.start) is int or key.start is None)
                and (type(key.stop) is int or key.stop is None) and key.step is None):
            # Under this object's lock: the region's locked way, when its
            # lockless one cannot finish, takes the region's lock, which
            # every other method takes after this one (never the other way
            # round: a deadlock with a thread in seek() or read_byte()).
            with self._lock:
                try:
                    return r[key]
                except (IndexError, ValueError):  # the locked way below says which
                    pass
        self._valid()
        if _has_index(key):
            i = _as_ssize(key, IndexError)
            with self._lock:
                r = self._open()
                if i < 0:
                    i += self._size
                if not 0 <= i < self._size:
                    raise IndexError("mmap index out of range")
                return _get(r, i, 1)[0]
        if not isinstance(key, slice):
            raise TypeError("mmap indices must be integers")
        parts = _slice_parts(key)
        with self._lock:
            r = self._open()
            rng = range(*parts.indices(self._size))
            if not rng:
                return b""
            if rng.step == 1:
                return _get(r, rng.start, len(rng))
            lo, hi = min(rng[0], rng[-1]), max(rng[0], rng[-1])
            if len(rng) * 16 < hi - lo:  # sparse: byte by byte, not the whole span
                return b"".join(_get(r, i, 1) for i in rng)
            span = _get(r, lo, hi - lo + 1)
            return bytes(span[i - lo] for i in rng)

    def __setitem__(self, key: Any, value: Any, /) -> None:
        self._valid()
        self._writable()
        if _has_index(key):
            i = _as_ssize(key, IndexError)
            self._index_in_range(i)
            if not _has_index(value):
                raise TypeError("mmap item value must be an int")
            v = _as_ssize(value, TypeError)
            if not 0 <= v <= 255:
                raise ValueError("mmap item value must be in range(0, 256)")
            with self._lock:
                r = self._open()
                _put(r, self._index_in_range(i), bytes((v,)))
            return
        if not isinstance(key, slice):
            raise TypeError("mmap indices must be integer")
        parts = _slice_parts(key)
        data = _bytes_of(value)
        if len(data) != len(range(*parts.indices(self._size))):
            raise IndexError("mmap slice assignment is wrong size")
        with self._lock:
            r = self._open()
            rng = range(*parts.indices(self._size))
            if len(data) != len(rng):
                raise IndexError("mmap slice assignment is wrong size")
            if not rng:
                return
            if rng.step == 1:
                _put(r, rng.start, data)
                return
            for i, b in zip(rng, data):  # the named bytes only: others may be changing
                _put(r, i, bytes((b,)))

    def __delitem__(self, key: Any, /) -> None:
        self._valid()
        self._writable()
        if _has_index(key):
            self._index_in_range(_as_ssize(key, IndexError))
            raise TypeError("mmap doesn't support item deletion")
        if isinstance(key, slice):
            _slice_parts(key)
            raise TypeError("mmap object doesn't support slice deletion")
        raise TypeError("mmap indices must be integer")

    def _index_in_range(self, i: int) -> int:
        size = self._size
        j = i + size if i < 0 else i
        if not 0 <= j < size:
            raise IndexError("mmap index out of range")
        return j

    def __iter__(self) -> Iterator[bytes]:
        # As the standard type's sequence protocol: length-1 bytes, the length
        # asked at every step.
        i = 0
        while True:
            with self._lock:
                r = self._open()
                if i >= self._size:
                    return
                item = _get(r, i, 1)
            yield item
            i += 1

    def __reversed__(self) -> Iterator[bytes]:
        return self._backwards(len(self))

    def _backwards(self, n: int) -> Iterator[bytes]:
        for i in range(n - 1, -1, -1):
            with self._lock:
                r = self._open()
                if i >= self._size:
                    return
                item = _get(r, i, 1)
            yield item

    # -- the buffer protocol (PEP 688, Python 3.12+) --

    if _V >= (3, 12):
        def __buffer__(self, flags: int, /) -> memoryview:
            """A memoryview of the whole mapping (read-only for ACCESS_READ).

            Touching it -- or a numpy array over it -- where the file was
            truncated behind the mapping still dies of SIGBUS, as with the
            standard module, until the library's guard lands."""
            _c_int(flags)
            with self._lock:
                return self._open().view()

        def __release_buffer__(self, view: memoryview, /) -> None:
            """Release a view :meth:`__buffer__` gave."""
            release_view(self._region, view)


mmap.__module__ = __name__
