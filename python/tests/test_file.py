"""File and descriptor mappings."""

import errno
import os
import pathlib

import pytest

import mmkit
from conftest import run_in_child


def test_read_whole_file(data_file):
    path, data = data_file
    with mmkit.map_file(path) as r:
        assert len(r) == len(data)
        assert r[:] == data
        assert r[5] == data[5] and r[-1] == data[-1]
        assert not r.writable
        assert r.flags & mmkit.SHARED and not r.flags & mmkit.WRITE
        with r.view() as v:
            assert v.readonly and bytes(v) == data


@pytest.mark.parametrize("kind", ["str", "bytes", "pathlib", "pathlike"])
def test_path_types(data_file, kind):
    path, data = data_file

    class P:
        def __fspath__(self):
            return str(path)

    arg = {"str": str(path), "bytes": os.fsencode(str(path)),
           "pathlib": pathlib.Path(path), "pathlike": P()}[kind]
    with mmkit.map_file(arg) as r:
        assert r[:] == data


def test_mapping_outlives_descriptor(data_file):
    path, data = data_file
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    r = mmkit.map_file(path)
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before  # the file was closed
    assert r[:] == data
    r.close()


def test_write_shared_and_sync(data_file):
    path, data = data_file
    with mmkit.map_file(path, write=True) as r:
        assert r.writable and r.flags & mmkit.WRITE
        r[10:15] = b"HELLO"
        r[len(r) - 1] = 0xEE
        r.sync()
        r.sync(0, 100, wait=False)
        r.sync(4096, 10, invalidate=True)
        r.sync(wait=False, invalidate=True)
    expected = bytearray(data)
    expected[10:15] = b"HELLO"
    expected[-1] = 0xEE
    assert path.read_bytes() == bytes(expected)


def test_write_shared_seen_by_other_mapping(data_file):
    path, _ = data_file
    with mmkit.map_file(path, write=True) as w, mmkit.map_file(path) as r:
        w[0:3] = b"xyz"
        assert r[0:3] == b"xyz"


def test_private_write_not_in_file(data_file):
    path, data = data_file
    with mmkit.map_file(path, write=True, shared=False) as r:
        assert r.flags & mmkit.PRIVATE
        r[0:5] = b"PRIV!"
        assert r[0:5] == b"PRIV!"
        r.sync()
    assert path.read_bytes() == data
    # A read-only private mapping works on a read-only file.
    os.chmod(path, 0o400)
    with mmkit.map_file(path, write=True, shared=False) as r:
        r[0] = 1


def test_private_file_fork_copy_on_write(data_file):
    path, data = data_file
    with mmkit.map_file(path, write=True, shared=False) as r:
        def child():
            r[0:2] = b"cc"
        assert run_in_child(child) == 0
        assert r[0:2] == data[0:2]


def test_create_mode_0600(tmp_path):
    path = tmp_path / "new.bin"
    old = os.umask(0o022)
    try:
        with mmkit.map_file(path, 0, 10000, write=True, create=True, exclusive=True) as r:
            assert len(r) == 10000
            assert r[:] == bytes(10000)
            r[9999] = 9
    finally:
        os.umask(old)
    st = os.stat(path)
    assert st.st_mode & 0o777 == 0o600
    assert st.st_size == 10000
    assert path.read_bytes()[-1] == 9
    with pytest.raises(FileExistsError) as info:
        mmkit.map_file(path, 0, 10, write=True, create=True, exclusive=True)
    assert info.value.errno == errno.EEXIST
    assert info.value.filename == str(path)
    # create without exclusive opens the existing file
    with mmkit.map_file(path, 0, 100, write=True, create=True) as r:
        assert r[99] == 0 and len(r) == 100


def test_create_grows_file(tmp_path):
    path = tmp_path / "grow.bin"
    path.write_bytes(b"abc")
    with mmkit.map_file(path, 4096, 4096, write=True, create=True) as r:
        r[0:3] = b"def"
    assert os.path.getsize(path) == 8192
    content = path.read_bytes()
    assert content[:3] == b"abc" and content[4096:4099] == b"def"


def test_exclusive_without_create_is_einval(data_file):
    path, _ = data_file
    with pytest.raises(OSError) as info:
        mmkit.map_file(path, exclusive=True)
    assert info.value.errno == errno.EINVAL


def test_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with mmkit.map_file(path) as r:
        assert len(r) == 0
        assert r[:] == b""
        with r.view() as v:
            assert len(v) == 0 and v.format == "B"
        with pytest.raises(IndexError):
            r[0]
    with open(path, "rb") as f, mmkit.map_fd(f) as r:
        assert len(r) == 0


def test_offset_at_end_is_empty(data_file):
    path, data = data_file
    with mmkit.map_file(path, len(data)) as r:
        assert len(r) == 0


@pytest.mark.parametrize("offset", [1, 4095, 4096, 4097, 5000])
def test_unaligned_offsets(data_file, offset):
    path, data = data_file
    with mmkit.map_file(path, offset) as r:
        assert len(r) == len(data) - offset
        assert r[:] == data[offset:]
    with mmkit.map_file(path, offset, 100) as r:
        assert r[:] == data[offset:offset + 100]
        with r.view() as v:
            assert bytes(v) == data[offset:offset + 100]


def test_unaligned_offset_write(data_file):
    path, data = data_file
    with mmkit.map_file(path, 4097, 10, write=True) as r:
        r[:] = b"0123456789"
        r.sync()
    assert path.read_bytes()[4097:4107] == b"0123456789"
    assert path.read_bytes()[:4097] == data[:4097]


def test_map_fd(data_file):
    path, data = data_file
    fd = os.open(path, os.O_RDWR)
    try:
        with mmkit.map_fd(fd, 4097, 50, write=True) as r:
            assert r[:] == data[4097:4147]
            r[0] = 0xAB
        with mmkit.map_fd(fd) as r:
            assert r[4097] == 0xAB and len(r) == len(data)
        os.fstat(fd)  # neither closed ...
    finally:
        os.close(fd)
    with open(path, "rb") as f:           # ... nor needed: file objects work too
        with mmkit.map_fd(f, shared=False) as r:
            assert r[0:10] == data[0:10]


def test_map_fd_private_write_of_readonly_fd(data_file):
    path, data = data_file
    fd = os.open(path, os.O_RDONLY)
    try:
        with mmkit.map_fd(fd, write=True, shared=False) as r:
            r[0:2] = b"zz"
    finally:
        os.close(fd)
    assert path.read_bytes() == data
