"""What ``import mmkit`` gives: the public names, frozen.

Issue 18 added ``InvalidArgument`` and ``ReadOnlyError`` (and the ``mmap``
submodule, a drop-in for the standard module).

The names were taken from ``dir(mmkit)`` of the single-file package, before
it was split into modules (issue 16).  That file also showed the modules and
typing names it imported (``ctypes``, ``functools``, ``operator``, ``os``,
``sys``, ``threading``, ``weakref``, ``annotations``, ``TYPE_CHECKING``,
``Any``, ``Callable``, ``Optional``, ``Tuple``, ``Union``, ``overload``): never
part of the API, and gone.
"""

import pickle
import types

import mmkit

ALL = [
    "Region", "map_anon", "map_file", "map_fd", "map_shareable",
    "InvalidArgument", "ReadOnlyError",                       # issue 18
    "PAGE_SIZE", "LIBRARY_PATH", "__version__",
    "READ", "WRITE", "EXEC", "SHARED", "PRIVATE", "POPULATE", "HUGEPAGES",
    "NORESERVE", "DEVZERO", "CREATE", "EXCL", "GUARD",
    "PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_EXEC",
    "ADV_NORMAL", "ADV_RANDOM", "ADV_SEQUENTIAL", "ADV_WILLNEED", "ADV_DONTNEED",
    "ADV_HUGEPAGE", "ADV_NOHUGEPAGE",
    "SEAL_SHRINK", "SEAL_GROW", "SEAL_WRITE",
]

# dir(mmkit) without underscore: __all__ (but __version__) and two type aliases.
PUBLIC = {
    "ADV_DONTNEED", "ADV_HUGEPAGE", "ADV_NOHUGEPAGE", "ADV_NORMAL", "ADV_RANDOM",
    "ADV_SEQUENTIAL", "ADV_WILLNEED", "Buffer", "CREATE", "DEVZERO", "EXCL", "EXEC",
    "GUARD", "HUGEPAGES", "InvalidArgument", "LIBRARY_PATH", "NORESERVE", "PAGE_SIZE", "POPULATE",
    "PRIVATE",
    "PROT_EXEC", "PROT_NONE", "PROT_READ", "PROT_WRITE", "PathType", "READ", "ReadOnlyError", "Region",
    "SEAL_GROW", "SEAL_SHRINK", "SEAL_WRITE", "SHARED", "WRITE",
    "map_anon", "map_fd", "map_file", "map_shareable", "mmap",
}


def test_all_is_as_it_was():
    assert mmkit.__all__ == ALL
    namespace = {}
    exec("from mmkit import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(ALL)


def test_the_public_names_are_as_they_were():
    assert {name for name in dir(mmkit) if not name.startswith("_")} == PUBLIC


def test_the_private_names_are_the_package_s_modules():
    private = [name for name in dir(mmkit) if name.startswith("_") and not name.startswith("__")]
    for name in private:
        assert isinstance(getattr(mmkit, name), types.ModuleType), name


def test_the_api_is_named_mmkit():
    # repr, help() and pickling by reference say mmkit.Region, as before the split.
    for obj in (mmkit.Region, mmkit.map_anon, mmkit.map_file, mmkit.map_fd,
                mmkit.map_shareable, mmkit.InvalidArgument, mmkit.ReadOnlyError):
        assert obj.__module__ == "mmkit", obj
        assert pickle.loads(pickle.dumps(obj)) is obj
    assert repr(mmkit.Region) == "<class 'mmkit.Region'>"
    with mmkit.map_anon(mmkit.PAGE_SIZE) as r:
        assert repr(r).startswith("<mmkit.Region address=0x")
        with r.view() as v:
            assert type(v.obj).__module__ == "mmkit"
