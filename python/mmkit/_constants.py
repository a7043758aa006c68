"""The constants of the C contract, and what the loaded library tells (internal).

The ``MM_*`` values are fixed by the C header ``mmkit.h``;
``python/tests/test_constants.py`` checks every one against it.  The page
size, version and path come from the library :mod:`mmkit._lib` loaded.
"""

from . import _lib

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
GUARD = 0x8000      #: MM_GUARD -- the default of map_file/map_fd/map_shareable; see Region.check

PROT_NONE = 0       #: no access, for :meth:`Region.protect`
PROT_READ = READ    #: readable
PROT_WRITE = WRITE  #: writable
PROT_EXEC = EXEC    #: executable

# MM_SYNC, MM_ASYNC, MM_INVALIDATE: chosen by Region.sync(wait=, invalidate=)
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

PAGE_SIZE = int(_lib.lib.mm_page_size())
"""The system page size in bytes (``mm_page_size()``)."""

__version__ = _lib.c_string(_lib.lib.mm_version())
"""The version of the loaded C library (``mm_version()``), ``"MAJOR.MINOR.PATCH"``."""

LIBRARY_PATH = _lib.LIBRARY_PATH
"""The path or name the shared library was loaded from."""
