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
File, descriptor and shareable regions are guarded by default (``guard=True``,
``MM_GUARD``): a page lost to a truncation reads zeros through a view or a numpy
array instead of killing the interpreter, and ``Region.check()`` reports it.

Errors:

* a failure of the library raises :class:`OSError` with ``errno`` set and the
  library's ``mm_last_error()`` text as the message, so ``FileNotFoundError``,
  ``PermissionError``, ``FileExistsError``, ``IsADirectoryError``... come for
  free;
* an out-of-range or invalid argument -- a negative size or offset (checked
  before any call into the library), a range outside the region, anything the
  library refuses with ``EINVAL`` -- raises :class:`InvalidArgument`, which is
  both a :class:`ValueError` and an ``OSError(EINVAL)``;
* a write to a read-only region (or page) raises :class:`ReadOnlyError`, both
  a :class:`TypeError` and a ``PermissionError(EACCES)``, whichever way it is
  written (``r[i] = v``, ``r[a:b] = data``, ``r.write()``);
* a wrong Python type is :class:`TypeError`;
* ``close()`` (or ``resize()``) while a view or an array over it is alive is
  :class:`BufferError`, and so are ``close()``, ``resize()`` and ``protect()``
  from code that runs inside another method of the same region (a signal
  handler, a finalizer); any use of a closed region is :class:`ValueError`;
* arguments are converted (``__index__``, buffer exports) before a method
  uses the region, so one that closes it gives :class:`ValueError`;
* functions of the C contract that the loaded library does not export yet
  raise :class:`NotImplementedError`.

:mod:`mmkit.mmap` is a drop-in for the standard :mod:`mmap` module (``import
mmkit.mmap as mmap``): the same names and behaviour, built on :class:`Region`,
every read and write it makes fault-safe.

The library is found through ``$MMKIT_LIBRARY`` (a path), then a copy bundled
in the package (``mmkit/_lib/libmmkit.so``; ``mmkit.dll`` on Windows), then the
system's library path, then ``pkg-config --variable=libdir mmkit`` (not on
Windows).  :data:`LIBRARY_PATH` tells which one was loaded.
"""

# The package is split by concept (python/README.md, "Layout"); this file
# only gathers the public names.  Nothing else is imported here, so that
# dir(mmkit) holds the public API and the private modules only.
from ._constants import (
    ADV_DONTNEED, ADV_HUGEPAGE, ADV_NOHUGEPAGE, ADV_NORMAL, ADV_RANDOM, ADV_SEQUENTIAL,
    ADV_WILLNEED, CREATE, DEVZERO, EXCL, EXEC, GUARD, HUGEPAGES, LIBRARY_PATH, NORESERVE,
    PAGE_SIZE, POPULATE, PRIVATE, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE, READ, SEAL_GROW,
    SEAL_SHRINK, SEAL_WRITE, SHARED, WRITE, __version__,
)
from ._args import Buffer as Buffer, PathType as PathType  # the types of some arguments
from ._errors import InvalidArgument, ReadOnlyError
from ._region import Region
from ._map import map_anon, map_fd, map_file, map_shareable
from . import mmap  # the drop-in for the standard module (not in __all__: import it by name)

__all__ = [
    "Region", "map_anon", "map_file", "map_fd", "map_shareable",
    "InvalidArgument", "ReadOnlyError",
    "PAGE_SIZE", "LIBRARY_PATH", "__version__",
    "READ", "WRITE", "EXEC", "SHARED", "PRIVATE", "POPULATE", "HUGEPAGES",
    "NORESERVE", "DEVZERO", "CREATE", "EXCL", "GUARD",
    "PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_EXEC",
    "ADV_NORMAL", "ADV_RANDOM", "ADV_SEQUENTIAL", "ADV_WILLNEED", "ADV_DONTNEED",
    "ADV_HUGEPAGE", "ADV_NOHUGEPAGE",
    "SEAL_SHRINK", "SEAL_GROW", "SEAL_WRITE",
]

# Named mmkit.Region, mmkit.map_anon ... (repr, help(), pickling by
# reference), as when they were defined in this file.
Region.__module__ = map_anon.__module__ = map_file.__module__ = map_fd.__module__ = \
    map_shareable.__module__ = __name__
