"""Where the mmkit shared library may be, per platform (internal; pure).

Nothing here loads a library, runs a program or looks at a file: the platform
(a ``sys.platform`` value), the environment and the package's directory are
parameters, so that the order for every platform -- Windows included -- is
tested on any machine (``tests/test_loading_windows.py``).  :mod:`mmkit._lib`
walks the list and loads the first candidate that opens; ``setup.py`` takes
:func:`bundled_name` from here (by path, without importing the package), so
the file it puts into ``mmkit/_lib/`` is the one the loader looks for.

A candidate is ``(how, what)``:

``("MMKIT_LIBRARY", path)``
    the path in ``$MMKIT_LIBRARY``; when that variable is set (and not
    empty) it is the only candidate.
``("bundled", path)``
    a copy inside the package, ``<pkg_dir>/_lib/<name>``, tried when the
    file exists.
``("system", name)``
    a bare file name, found by the platform's own search: ``dlopen`` on ELF
    systems and macOS, ``LoadLibraryExW`` with the default safe search on
    Windows (see :mod:`mmkit._lib`).
``("find_library", name)``
    what ``ctypes.util.find_library(name)`` returns, if anything: ``"mmkit"``
    (``ldconfig``, ``gcc``, ``ld``; on macOS ``dyld``'s paths); on Windows
    ``"mmkit.dll"``, the first one on ``PATH``.  Given ``"mmkit"`` there,
    find_library would return a file called just ``mmkit`` (a script, a Unix
    program) from an earlier ``PATH`` directory and never see the DLL.
``("pkg-config", name)``
    the file ``name`` in ``pkg-config --variable=libdir mmkit``; not on
    Windows, where a ``libdir`` holds the import libraries (``libmmkit.dll.a``,
    ``mmkit.lib``) and the DLL is installed in ``bin/``, the directory that
    ``PATH`` names and ``find_library`` searches.
"""

from __future__ import annotations

import os
from typing import List, Mapping, Tuple

MMKIT_LIBRARY = "MMKIT_LIBRARY"
BUNDLED = "bundled"
SYSTEM = "system"
FIND_LIBRARY = "find_library"
PKG_CONFIG = "pkg-config"

Candidate = Tuple[str, str]

# platform -> (bundled file names, system file names, find_library's name); the
# first bundled name is the one setup.py gives the copy it bundles.  Cargo names
# a cdylib ``mmkit`` ``libmmkit.so`` on ELF systems, ``libmmkit.dylib`` on macOS
# and ``mmkit.dll`` on Windows (windows-gnu and windows-msvc alike, no ``lib``);
# ``make install`` adds the ELF SONAME ``libmmkit.so.0``; ``libmmkit.0.dylib``
# is the usual versioned name of a macOS install.
_WINDOWS = (("mmkit.dll",), ("mmkit.dll",), "mmkit.dll")
_MACOS = (("libmmkit.dylib",), ("libmmkit.0.dylib", "libmmkit.dylib"), "mmkit")
_ELF = (("libmmkit.so", "libmmkit.so.0"), ("libmmkit.so.0", "libmmkit.so"), "mmkit")


def _names(platform: str) -> Tuple[Tuple[str, ...], Tuple[str, ...], str]:
    if platform == "win32":
        return _WINDOWS
    if platform == "darwin":
        return _MACOS
    return _ELF  # Linux, the BSDs, illumos: ELF shared objects


def bundled_name(platform: str) -> str:
    """The file name of the library bundled in ``mmkit/_lib/`` on ``platform``."""
    return _names(platform)[0][0]


def candidates(platform: str, env: Mapping[str, str], pkg_dir: str) -> List[Candidate]:
    """The ordered ``(how, what)`` the loader tries on ``platform`` (a ``sys.platform``).

    ``env`` is the environment (for ``MMKIT_LIBRARY``), ``pkg_dir`` the
    directory of the ``mmkit`` package.  See the module docstring.
    """
    explicit = env.get("MMKIT_LIBRARY")
    if explicit:
        return [(MMKIT_LIBRARY, explicit)]
    bundled, system, short = _names(platform)
    found: List[Candidate] = [(BUNDLED, os.path.join(pkg_dir, "_lib", name)) for name in bundled]
    found += [(SYSTEM, name) for name in system]
    found.append((FIND_LIBRARY, short))
    if platform != "win32":
        found += [(PKG_CONFIG, name) for name in system]
    return found
