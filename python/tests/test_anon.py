"""Anonymous mappings: zero fill, flags, fork sharing and copy-on-write, /dev/zero."""

import ctypes
import struct

import pytest

import mmkit
from conftest import run_in_child


def test_zero_filled_exact_length():
    with mmkit.map_anon(10000) as r:
        assert len(r) == 10000
        assert r[:] == bytes(10000)
        assert r.address != 0 and r.address % mmkit.PAGE_SIZE == 0
        assert r.writable
        flags = r.flags
        assert flags & mmkit.READ and flags & mmkit.WRITE
        assert flags & mmkit.PRIVATE and not flags & mmkit.SHARED
        assert not flags & mmkit.DEVZERO


def test_shared_flag_reported():
    with mmkit.map_anon(1, shared=True) as r:
        assert r.flags & mmkit.SHARED and not r.flags & mmkit.PRIVATE
        assert len(r) == 1


def test_shared_anon_seen_by_child():
    with mmkit.map_anon(4096, shared=True) as r:
        r[0:4] = struct.pack("i", 1)

        def child():
            if struct.unpack("i", r[0:4])[0] != 1:
                return 3
            r[0:4] = struct.pack("i", 2)
            r[100:105] = b"child"
            return 0

        assert run_in_child(child) == 0
        assert struct.unpack("i", r[0:4])[0] == 2
        assert r[100:105] == b"child"


def test_private_anon_is_copy_on_write():
    with mmkit.map_anon(4096) as r:
        r[0:6] = b"parent"

        def child():
            if r[0:6] != b"parent":
                return 3
            r[0:6] = b"child!"
            return 0 if r[0:6] == b"child!" else 4

        assert run_in_child(child) == 0
        assert r[0:6] == b"parent"


def test_child_may_close_its_copy():
    r = mmkit.map_anon(4096, shared=True)
    r[0] = 7

    def child():
        r[0] = 8
        r.close()
        return 0

    assert run_in_child(child) == 0
    assert r[0] == 8 and not r.closed
    r.close()


@pytest.mark.parametrize("shared", [True, False])
def test_devzero(shared):
    with mmkit.map_anon(8192, shared=shared, devzero=True) as r:
        assert r.flags & mmkit.DEVZERO
        assert r[:] == bytes(8192)
        r[8000:8003] = b"abc"
        assert r[8000:8003] == b"abc"
        if shared:
            def child():
                r[0] = 42
            assert run_in_child(child) == 0
            assert r[0] == 42


def test_populate_hugepages_noreserve():
    with mmkit.map_anon(1 << 20, populate=True) as r:
        assert len(r) == 1 << 20
        assert r[-1] == 0
    # Never fails *because* no huge pages are available.
    with mmkit.map_anon(4 << 20, hugepages=True) as r:
        r[0] = 1
        assert r[0] == 1 and len(r) == 4 << 20
    with mmkit.map_anon(1 << 30, noreserve=True) as r:
        r[len(r) - 1] = 5
        assert r[-1] == 5


def test_zero_length_is_einval():
    with pytest.raises(OSError) as info:
        mmkit.map_anon(0)
    assert info.value.errno == 22
    assert "mm_map_anon" in info.value.strerror


_64_BIT = ctypes.sizeof(ctypes.c_size_t) == 8


@pytest.mark.skipif(not _64_BIT, reason="a 64-bit size_t")
@pytest.mark.parametrize("length", [(1 << 64) - 1, 1 << 63])
def test_anon_length_reaches_the_library_whole(length):
    # mm_map_anon's length is declared c_void_p in mmkit._lib (a faster
    # conversion than c_size_t's): every bit of a size_t must still arrive, as
    # the library's message, which names the value it got, shows.
    with pytest.raises(OSError) as info:
        mmkit.map_anon(length)
    assert info.value.errno == 12
    assert "len %d " % length in info.value.strerror


@pytest.mark.skipif(not _64_BIT, reason="a 64-bit size_t")
def test_anon_length_over_32_bits_is_mapped_whole():
    length = (1 << 32) + 4096   # (never touched: no memory is used)
    try:
        r = mmkit.map_anon(length, noreserve=True)
    except OSError as e:
        if e.errno != 12:
            raise
        pytest.skip("this machine will not reserve 4 GiB (overcommit mode 2?): %s" % e)
    with r:
        assert mmkit._lib.lib.mm_len(r._handle) == length
        r[length - 1] = 7
        assert r[length - 1] == 7


def test_anon_argument_types():
    with pytest.raises(TypeError):
        mmkit.map_anon("x")
    with pytest.raises(TypeError):
        mmkit.map_anon(b"4096")
    with pytest.raises(TypeError):
        mmkit.map_anon(1.5)
    with pytest.raises(TypeError):
        mmkit.map_anon(True)
    with pytest.raises(TypeError):
        mmkit.map_anon(None)
    with pytest.raises(ValueError):
        mmkit.map_anon(-1)
    with pytest.raises(OverflowError):
        mmkit.map_anon(1 << 64)
    with pytest.raises(TypeError):
        mmkit.map_anon(4096, shared="yes")
    with pytest.raises(TypeError):
        mmkit.map_anon(4096, devzero=None)
    with pytest.raises(TypeError):
        mmkit.map_anon(4096, True)          # keyword-only flags
    with mmkit.map_anon(4096, shared=1, populate=0) as r:  # ints are bool-ish
        assert r.flags & mmkit.SHARED


@pytest.mark.filterwarnings("ignore:.*multi-threaded.*:DeprecationWarning")
def test_fork_while_another_thread_holds_the_region_lock():
    import threading
    with mmkit.map_anon(4096, shared=True) as r:
        held = threading.Event()
        release = threading.Event()

        def holder():
            with r._lock:               # as if a call were in progress at fork()
                held.set()
                release.wait(30)

        t = threading.Thread(target=holder)
        t.start()
        held.wait(30)
        try:
            def child():
                r[0] = 5                # would deadlock on an inherited held lock
                r.close()
            assert run_in_child(child) == 0
        finally:
            release.set()
            t.join()
        assert r[0] == 5


def test_fork_from_inside_a_region_method_leaves_it_its_lock():
    # A fork from code run inside a method (a signal handler, a profiler):
    # the child goes on with that method, which releases the lock it holds.
    with mmkit.map_anon(4096, shared=True) as r:
        def child():
            r._lock.release()           # the method ends
            r[0] = 6
            r.close()
        with r._lock:                   # as if a call were in progress at fork()
            assert run_in_child(child) == 0
        assert r[0] == 6
