"""Functions of the contract the library may not have yet.

mm_read, mm_write, mm_resize, mm_map_shareable, mm_fd, mm_seal: while the
loaded library lacks one, the Python method raises NotImplementedError;
once it is there, the real behaviour is tested.
"""

import errno
import os

import pytest

import mmkit
from conftest import has, run_in_child

ENOTSUP = {errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)}


def need(name):
    if not has(name):
        pytest.skip("%s is not in the library yet (NotImplementedError tested)" % name)


# --- absent: NotImplementedError ------------------------------------------------

@pytest.mark.parametrize("name", ["mm_read", "mm_write", "mm_resize", "mm_fd", "mm_seal",
                                  "mm_map_shareable"])
def test_absent_function_raises_not_implemented(name):
    if has(name):
        pytest.skip("%s is present (its behaviour is tested below)" % name)
    with mmkit.map_anon(4096) as r:
        calls = {
            "mm_read": lambda: r.read(0, 1),
            "mm_write": lambda: r.write(0, b"x"),
            "mm_resize": lambda: r.resize(8192),
            "mm_fd": lambda: r.fd,
            "mm_seal": lambda: r.seal(mmkit.SEAL_GROW),
            "mm_map_shareable": lambda: mmkit.map_shareable("x", 4096),
        }
        with pytest.raises(NotImplementedError) as info:
            calls[name]()
        assert name in str(info.value)
        # and nothing pretends: indexing still works through the view
        r[0:3] = b"abc"
        assert r[0:3] == b"abc"


# --- mm_read / mm_write ------------------------------------------------------------

def test_read_write_roundtrip():
    need("mm_read")
    need("mm_write")
    with mmkit.map_anon(10000) as r:
        r.write(5000, b"hello")
        r.write(0, bytearray(b"ab"))
        r.write(9998, memoryview(b"yz"))
        assert r.read(5000, 5) == b"hello"
        assert r.read(0, 2) == b"ab"
        assert r.read(9998) == b"yz"
        assert r.read(10000) == b""
        assert len(r.read()) == 10000
        assert r.read(0, 0) == b""
        assert r[5000:5005] == b"hello"


def test_read_write_out_of_range():
    need("mm_read")
    need("mm_write")
    with mmkit.map_anon(100) as r:
        for call in (lambda: r.read(0, 101), lambda: r.read(101, 0), lambda: r.read(50, 51),
                     lambda: r.write(99, b"ab"), lambda: r.write(101, b"")):
            with pytest.raises(OSError) as info:
                call()
            assert info.value.errno == errno.EINVAL
        with pytest.raises(ValueError):
            r.read(-1, 1)
        with pytest.raises(ValueError):
            r.read(0, -1)
        with pytest.raises(ValueError):
            r.write(-1, b"a")


def test_write_read_only_region_is_eacces(data_file):
    need("mm_write")
    path, data = data_file
    with mmkit.map_file(path) as r:
        with pytest.raises(PermissionError) as info:
            r.write(0, b"x")
        assert info.value.errno == errno.EACCES
    assert path.read_bytes() == data


def test_read_after_truncation_is_efault(data_file):
    need("mm_read")
    path, data = data_file
    with mmkit.map_file(path) as r:
        assert r.read(0, 10) == data[:10]
        os.truncate(path, 0)
        with pytest.raises(OSError) as info:
            r.read(0, 10)
        assert info.value.errno == errno.EFAULT
        with pytest.raises(OSError) as info:
            r[len(r) - 1]                      # r[i] uses mm_read: no SIGBUS
        assert info.value.errno == errno.EFAULT
        with pytest.raises(OSError) as info:
            r[0:100]
        assert info.value.errno == errno.EFAULT


def test_write_after_truncation_is_efault(data_file):
    need("mm_write")
    path, _ = data_file
    with mmkit.map_file(path, write=True) as r:
        os.truncate(path, 0)
        with pytest.raises(OSError) as info:
            r.write(mmkit.PAGE_SIZE, b"x")
        assert info.value.errno == errno.EFAULT
        with pytest.raises(OSError) as info:
            r[mmkit.PAGE_SIZE] = 1
        assert info.value.errno == errno.EFAULT


# --- mm_resize ---------------------------------------------------------------------

def test_resize_private_anon_keeps_bytes():
    need("mm_resize")
    with mmkit.map_anon(100) as r:
        r[0:5] = b"hello"
        r[99] = 9
        r.resize(3 * mmkit.PAGE_SIZE + 7)
        assert len(r) == 3 * mmkit.PAGE_SIZE + 7
        assert r[0:5] == b"hello" and r[99] == 9
        assert r[100:] == bytes(len(r) - 100)
        with r.view() as v:
            assert len(v) == len(r)
        r.resize(3)
        assert len(r) == 3 and r[:] == b"hel"
        with pytest.raises(OSError) as info:
            r.resize(0)
        assert info.value.errno == errno.EINVAL
        with pytest.raises(ValueError):
            r.resize(-1)


def test_resize_refused_with_live_view():
    need("mm_resize")
    with mmkit.map_anon(4096) as r:
        v = r.view()
        with pytest.raises(BufferError):
            r.resize(8192)
        assert len(r) == 4096
        v.release()
        r.resize(8192)
        assert len(r) == 8192


def test_resize_shared_anon_growth_is_enotsup():
    need("mm_resize")
    with mmkit.map_anon(2 * mmkit.PAGE_SIZE, shared=True) as r:
        with pytest.raises(OSError) as info:
            r.resize(4 * mmkit.PAGE_SIZE)
        assert info.value.errno in ENOTSUP
        r[0] = 1
        r.resize(mmkit.PAGE_SIZE)
        assert len(r) == mmkit.PAGE_SIZE and r[0] == 1


def test_resize_file_region(data_file, tmp_path):
    need("mm_resize")
    path, data = data_file
    with mmkit.map_file(path, 4097, 10) as r:
        r.resize(100)
        assert r[:] == data[4097:4197]
        with pytest.raises(OSError) as info:
            r.resize(len(data))                # past the end of the file
        assert info.value.errno == errno.EINVAL
    grown = tmp_path / "grown"
    with mmkit.map_file(grown, 0, 10, write=True, create=True) as r:
        r.resize(3 * mmkit.PAGE_SIZE)
        r[len(r) - 1] = 7
        r.sync()
    assert os.path.getsize(grown) == 3 * mmkit.PAGE_SIZE
    assert grown.read_bytes()[-1] == 7


# --- mm_map_shareable, mm_fd, mm_seal ------------------------------------------------

def test_fd_of_anon_region_is_ebadf():
    need("mm_fd")
    with mmkit.map_anon(4096) as r:
        with pytest.raises(OSError) as info:
            r.fd
        assert info.value.errno == errno.EBADF


def test_shareable_fd_and_peer_mapping():
    need("mm_map_shareable")
    need("mm_fd")
    with mmkit.map_shareable("mmkit-test", 10000) as r:
        assert len(r) == 10000 and r.writable
        r[0:5] = b"share"
        fd = r.fd
        assert fd >= 0 and r.fileno() == fd
        with mmkit.map_fd(fd, write=True) as peer:
            assert peer[0:5] == b"share"
            peer[5:8] = b"!!!"
        assert r[5:8] == b"!!!"

        def child():
            with mmkit.map_fd(fd, write=True) as p:
                p[100] = 42
        assert run_in_child(child) == 0
        assert r[100] == 42
    with pytest.raises(ValueError):
        mmkit.map_shareable("a\0b", 10)
    with pytest.raises(ValueError):
        mmkit.map_shareable("x", -1)


def test_shareable_resize_and_seal():
    need("mm_map_shareable")
    need("mm_seal")
    with mmkit.map_shareable(b"mmkit-seal", 4096) as r:
        r[0] = 1
        if has("mm_resize"):
            r.resize(3 * mmkit.PAGE_SIZE)      # shareable regions can grow
            assert r[0] == 1 and r[-1] == 0
        try:
            r.seal(shrink=True, grow=True)
        except OSError as e:
            assert e.errno in ENOTSUP
            pytest.skip("sealing is not supported here")
        if has("mm_resize"):
            with pytest.raises(PermissionError) as info:
                r.resize(mmkit.PAGE_SIZE)
            assert info.value.errno == errno.EPERM
        r[1] = 2                               # writing is still allowed
        v = r.view()
        r.seal(mmkit.SEAL_WRITE)               # a future-write seal: a live view is fine
        v[2] = 3                               # ... and keeps writing
        v.release()
        # The contract: writable mappings that exist already, this region's
        # included, keep writing; only new writable mappings (and writes
        # through the descriptor) are refused.
        assert r.writable
        r[0] = 5
        r.write(3, b"\x04")
        assert r[0:4] == b"\x05\x02\x03\x04"
        with r.view() as v:
            assert not v.readonly and v[0] == 5
        if has("mm_fd"):
            with pytest.raises(PermissionError):
                mmkit.map_fd(r.fd, write=True)   # peers cannot write
            with mmkit.map_fd(r.fd) as peer:     # but can read what it writes
                r[0] = 6
                assert peer[0:4] == b"\x06\x02\x03\x04"
            with pytest.raises(OSError):
                os.write(r.fd, b"x")              # nor write through the descriptor


def test_seal_anon_region_is_an_error():
    need("mm_seal")
    with mmkit.map_anon(4096) as r:
        with pytest.raises(OSError):
            r.seal(mmkit.SEAL_GROW)
        with pytest.raises(TypeError):
            r.seal("grow")
