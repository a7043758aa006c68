"""The guard (MM_GUARD, issue 17): a file truncated under a guarded region never
kills the interpreter; the loss reads zeros and is reported as OSError(EFAULT).

Every truncation happens in a forked child (conftest.run_in_child), so an
unguarded region's SIGBUS kills only the child, whose signal is asserted.
"""

import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import mmkit
from conftest import child_env, has, run_in_child

PAGE = mmkit.PAGE_SIZE

needs_guard = pytest.mark.skipif(not has("mm_check"), reason="the library has no guard "
                                 "(mm_check)")

try:
    import numpy
except ImportError:  # pragma: no cover -- the venv has numpy
    numpy = None


def _efault(fn):
    """fn() raises OSError(EFAULT); returns its message."""
    try:
        fn()
    except OSError as exc:
        assert exc.errno == errno.EFAULT, exc
        return str(exc)
    raise AssertionError("no OSError(EFAULT)")


# --- the flag, the defaults, the properties --------------------------------------


def test_guard_is_mm_guard():
    assert mmkit.GUARD == 0x8000


@needs_guard
def test_file_fd_and_shareable_are_guarded_by_default(data_file):
    path, _ = data_file
    with mmkit.map_file(path) as r:
        assert r.guarded and r.flags & mmkit.GUARD
        assert r.check() is None
    with open(path, "rb") as f, mmkit.map_fd(f) as r:
        assert r.guarded
    if has("mm_map_shareable"):
        with mmkit.map_shareable("guard", PAGE) as r:
            assert r.guarded
            assert r.check() is None


@needs_guard
def test_guard_false_and_anonymous_are_not_guarded(data_file):
    path, _ = data_file
    with mmkit.map_file(path, guard=False) as r:
        assert not r.guarded and not r.flags & mmkit.GUARD
        assert r.check() is None          # an unguarded region records nothing
    with open(path, "rb") as f, mmkit.map_fd(f, guard=False) as r:
        assert not r.guarded
    with mmkit.map_anon(PAGE) as r:
        assert not r.guarded
        assert r.check() is None
    if has("mm_map_shareable"):
        with mmkit.map_shareable("guard", PAGE, guard=False) as r:
            assert not r.guarded


def test_guard_argument_is_checked_before_any_call(data_file):
    path, _ = data_file
    with pytest.raises(TypeError):
        mmkit.map_file(path, guard="yes")
    with pytest.raises(TypeError):
        mmkit.map_fd(0, guard=None)
    with pytest.raises(TypeError):
        mmkit.map_shareable("x", PAGE, guard=1.0)


@needs_guard
def test_closed_region_guarded_and_check_are_value_error(data_file):
    r = mmkit.map_file(data_file[0])
    r.close()
    with pytest.raises(ValueError):
        r.guarded
    with pytest.raises(ValueError):
        r.check()


@pytest.mark.skipif(has("mm_check"), reason="mm_check is present (tested above)")
def test_without_mm_check_maps_unguarded_and_check_is_not_implemented(data_file):
    with mmkit.map_file(data_file[0]) as r:
        assert not r.guarded
        with pytest.raises(NotImplementedError):
            r.check()


# --- a file truncated under the mapping, in a child -------------------------------


def _truncated(path, guard=True, write=False):
    """A region over the 3-page-plus file, which is then cut to one page."""
    r = mmkit.map_file(path, write=write, guard=guard)
    os.truncate(path, PAGE)
    return r


@needs_guard
def test_guarded_view_reads_zeros_then_every_copy_reports_the_loss(data_file):
    path, data = data_file

    def child():
        r = _truncated(path)
        with r.view() as v:
            assert v[0:16] == data[0:16]             # the page the file still has
            assert v[PAGE] == 0 and v[2 * PAGE + 5] == 0   # lost: zeros, no SIGBUS
            assert bytes(v[PAGE:2 * PAGE]) == bytes(PAGE)
        assert "lost" in _efault(r.check)
        _efault(lambda: r[PAGE:PAGE + 8])
        _efault(lambda: r[PAGE + 1])
        _efault(lambda: r.read(PAGE, 16))
        _efault(lambda: r.read())                   # the whole region holds lost pages
        _efault(lambda: r[::2])
        assert r[0:16] == data[0:16]                # a range without a lost page is fine
        assert r.read(0, PAGE) == data[:PAGE]
        assert r[PAGE - 1] == data[PAGE - 1]
        r.close()
        return 0

    assert run_in_child(child) == 0


@needs_guard
def test_guarded_copy_finds_the_loss_itself(data_file):
    # No view touched the lost pages first: the copy meets them and reports them.
    path, data = data_file

    def child():
        r = _truncated(path)
        assert r.check() is None                    # truncation alone is not seen
        _efault(lambda: r[2 * PAGE:2 * PAGE + 64])
        _efault(r.check)
        assert r[:PAGE] == data[:PAGE]
        return 0

    assert run_in_child(child) == 0


@needs_guard
def test_guarded_writes_to_a_lost_page_raise_and_never_reach_the_file(data_file):
    path, data = data_file

    def child():
        r = _truncated(path, write=True)
        _efault(lambda: r.__setitem__(slice(PAGE, PAGE + 3), b"abc"))
        _efault(lambda: r.write(2 * PAGE, b"xyz"))
        _efault(lambda: r.__setitem__(PAGE + 7, 1))
        with r.view() as v:
            v[PAGE + 100] = 42                       # lands in the private zero page
        r[0:3] = b"abc"                              # the page the file still has
        r.sync(0, PAGE)
        r.close()
        with open(path, "rb") as f:
            content = f.read()
        assert content == b"abc" + data[3:PAGE], len(content)
        return 0

    assert run_in_child(child) == 0


@needs_guard
@pytest.mark.skipif(numpy is None, reason="numpy is not installed")
def test_numpy_array_over_a_guarded_view_survives_truncation(data_file):
    path, data = data_file

    def child():
        r = _truncated(path)
        a = numpy.frombuffer(r.view(), dtype=numpy.uint8)
        assert int(a[:PAGE].sum()) == sum(data[:PAGE])
        assert int(a[PAGE:].sum()) == 0              # every lost page: zeros
        _efault(r.check)
        del a
        r.close()
        return 0

    assert run_in_child(child) == 0


@needs_guard
def test_shareable_shrunk_by_a_peer_reads_zeros(tmp_path):
    if not has("mm_map_shareable"):
        pytest.skip("no mm_map_shareable")

    def child():
        r = mmkit.map_shareable("guard", 2 * PAGE)
        r[0:2] = b"ok"
        os.ftruncate(r.fd, 0)                        # what a peer may do
        with r.view() as v:
            assert v[0] == 0 and v[PAGE + 1] == 0
        _efault(r.check)
        _efault(lambda: r[0:2])
        r.close()
        return 0

    assert run_in_child(child) == 0


def test_unguarded_region_still_dies_of_sigbus(data_file):
    path, _ = data_file

    def child():
        import faulthandler
        faulthandler.disable()                       # (no traceback in the output)
        r = _truncated(path, guard=False)
        with r.view() as v:
            v[2 * PAGE]                              # SIGBUS: the child dies here
        return 3

    assert run_in_child(child) == -signal.SIGBUS


def test_unguarded_copies_still_raise_instead_of_dying(data_file):
    if not has("mm_read"):
        pytest.skip("no mm_read")
    path, _ = data_file

    def child():
        r = _truncated(path, guard=False)
        _efault(lambda: r[2 * PAGE:2 * PAGE + 8])
        assert r.check() is None if has("mm_check") else True
        return 0

    assert run_in_child(child) == 0


# --- Python's faulthandler ----------------------------------------------------------

_SCRIPT = textwrap.dedent("""
    import faulthandler, os, sys
    {before}
    import mmkit
    path = sys.argv[1]
    r = mmkit.map_file(path)
    {after}
    os.truncate(path, mmkit.PAGE_SIZE)
    with r.view() as v:
        assert v[2 * mmkit.PAGE_SIZE] == 0
    try:
        r.check()
    except OSError as exc:
        print("EFAULT" if exc.errno == 14 else exc)
""")


def _script(path, before="", after=""):
    return subprocess.run([sys.executable, "-c", _SCRIPT.format(before=before, after=after),
                           str(path)], env=child_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)


@needs_guard
def test_faulthandler_enabled_before_the_first_guarded_map_survives(data_file):
    # As under pytest (-X faulthandler): faulthandler's handler is installed
    # first, the guard's at the first guarded map, so the guard sees the fault
    # first and repairs it.
    proc = _script(data_file[0], before="faulthandler.enable()")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip() == "EFAULT"


@needs_guard
def test_faulthandler_enabled_in_a_child_of_pytest_survives(data_file):
    # Here faulthandler was enabled by pytest before any guarded map, and
    # enabling it again is a no-op: the guard keeps its place.
    import faulthandler
    path, _ = data_file

    def child():
        faulthandler.enable()
        r = _truncated(path)
        with r.view() as v:
            assert v[2 * PAGE] == 0
        _efault(r.check)
        return 0

    assert run_in_child(child) == 0


# --- the direct copies of a guarded region ------------------------------------------


@needs_guard
def test_direct_copies_read_and_write_the_memory(data_file):
    path, data = data_file
    with mmkit.map_file(path, write=True) as r:
        assert r[5] == data[5] and r[-1] == data[-1]
        assert r[10:20] == data[10:20] and r[-5:] == data[-5:] and r[:] == data
        assert r[5:2] == b"" and r[::3] == data[::3] and r[PAGE:] == data[PAGE:]
        assert r.read(7, 9) == data[7:16] and r.read() == data and r.read(len(r), 0) == b""
        r[0:4] = b"abcd"
        r[4] = 0x65
        r.write(5, b"f")
        assert r[0:6] == b"abcdef"
        with pytest.raises(IndexError, match="index out of range"):
            r[len(r)]
        with pytest.raises(IndexError):
            r[-len(r) - 1]
        with pytest.raises(mmkit.InvalidArgument):
            r.read(len(r), 1)
        with pytest.raises(mmkit.InvalidArgument):
            r[::0]
    with open(path, "rb") as f:
        assert f.read(6) == b"abcdef"


@needs_guard
def test_read_only_guarded_region_refuses_writes(data_file):
    with mmkit.map_file(data_file[0]) as r:
        r[0]                                         # the memory is made
        with pytest.raises(mmkit.ReadOnlyError):
            r[0:1] = b"x"
        with pytest.raises(mmkit.ReadOnlyError):
            r.write(0, b"x")


@needs_guard
def test_closed_and_resized_guarded_regions_drop_the_memory(data_file):
    path, data = data_file
    r = mmkit.map_file(path)
    assert r[0:4] == data[0:4]
    r.close()
    for use in (lambda: r[0], lambda: r[0:4], lambda: r.read(0, 1)):
        with pytest.raises(ValueError):
            use()
    if has("mm_resize"):
        with mmkit.map_file(path, write=True) as r:
            assert r[PAGE] == data[PAGE]
            r.resize(PAGE)
            with pytest.raises(IndexError):
                r[PAGE]
            assert r[:] == data[:PAGE]


@needs_guard
def test_protected_guarded_region_uses_the_library_copies(data_file):
    # A direct copy from a PROT_NONE page would SIGSEGV: in a child, to be safe.
    path, data = data_file

    def child():
        r = mmkit.map_file(path, write=True)
        assert r[0] == data[0]                       # the memory is made
        r.protect(mmkit.PROT_NONE, PAGE, PAGE)       # part of it
        assert r[0:8] == data[0:8] and r[2 * PAGE] == data[2 * PAGE]
        _efault(lambda: r[PAGE])
        _efault(lambda: r[PAGE:PAGE + 2])
        _efault(lambda: r.read(PAGE, 2))
        r.protect(mmkit.PROT_NONE)                   # all of it
        _efault(lambda: r[0])
        _efault(lambda: r[0:4])
        r.protect(mmkit.PROT_READ)
        assert r[0:8] == data[0:8]
        with pytest.raises(mmkit.ReadOnlyError):
            r[0:1] = b"x"
        r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)
        r[0:1] = b"x"
        assert r[0:1] == b"x"
        r.close()
        return 0

    assert run_in_child(child) == 0


@needs_guard
def test_a_loss_elsewhere_does_not_fail_a_copy_of_an_intact_range(data_file):
    path, data = data_file

    def child():
        r = _truncated(path, write=True)
        with r.view() as v:
            v[2 * PAGE]                              # one lost page found
        _efault(r.check)
        assert r[3] == data[3] and r[0:8] == data[0:8] and r.read(8, 8) == data[8:16]
        r[0:2] = b"zz"
        r.write(2, b"y")
        assert r[0:3] == b"zzy"
        _efault(lambda: r[2 * PAGE])
        return 0

    assert run_in_child(child) == 0


@pytest.mark.skipif(sys.version_info < (3, 12), reason="PEP 688 buffers need Python 3.12+")
@needs_guard
def test_mmkit_mmap_buffer_reads_zeros_and_copies_raise(data_file):
    import mmkit.mmap as kmmap
    path, data = data_file

    def child():
        with open(path, "r+b") as f:
            m = kmmap.mmap(f.fileno(), 0)
        os.truncate(path, PAGE)
        with memoryview(m) as v:
            assert v[0] == data[0] and v[2 * PAGE] == 0
        _efault(lambda: m[2 * PAGE])
        _efault(lambda: m[PAGE:PAGE + 4])
        assert m[0:4] == data[0:4]
        m.close()
        return 0

    assert run_in_child(child) == 0


@needs_guard
def test_find_on_a_guarded_region_reports_lost_pages(data_file):
    path, data = data_file

    def child():
        r = _truncated(path)
        _efault(lambda: r.find(b"absent"))           # in place meets zeros, then mm_check
        _efault(lambda: r.rfind(b"absent"))
        needle = data[10:18]
        assert r.find(needle, 0, PAGE) == data.find(needle, 0, PAGE)
        assert r.rfind(needle, 0, PAGE) == data.rfind(needle, 0, PAGE)
        return 0

    assert run_in_child(child) == 0
