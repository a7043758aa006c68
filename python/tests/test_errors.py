"""Every error kind: OSError subclasses from the library, TypeError, ValueError."""

import errno
import os
import socket
import subprocess
import sys

import pytest

import mmkit
from conftest import child_env


def test_file_not_found(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as info:
        mmkit.map_file(missing)
    e = info.value
    assert e.errno == errno.ENOENT
    assert e.filename == str(missing)
    assert "mm_map_file" in e.strerror and str(missing) in e.strerror


def test_permission_denied_write_shared_readonly_fd(data_file):
    path, _ = data_file
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(PermissionError) as info:
            mmkit.map_fd(fd, write=True, shared=True)
        assert info.value.errno == errno.EACCES
        assert info.value.strerror
    finally:
        os.close(fd)


def test_permission_denied_file(data_file):
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    path, _ = data_file
    os.chmod(path, 0o400)
    with pytest.raises(PermissionError):
        mmkit.map_file(path, write=True)


def test_a_directory_is_enodev(tmp_path):
    # Not a regular file: ENODEV (the contract), as the standard mmap gives
    # for a directory's descriptor; the message says what it is.
    for kwargs in ({}, {"write": True}, {"write": True, "create": True}):
        with pytest.raises(OSError) as info:
            mmkit.map_file(tmp_path, **kwargs)
        assert info.value.errno == errno.ENODEV, kwargs
        assert "is a directory" in info.value.strerror


def test_offset_past_end_is_einval(data_file):
    path, data = data_file
    with pytest.raises(OSError) as info:
        mmkit.map_file(path, len(data) + 1)
    assert info.value.errno == errno.EINVAL
    assert type(info.value) is mmkit.InvalidArgument  # an OSError(EINVAL) and a ValueError
    with pytest.raises(OSError) as info:
        mmkit.map_file(path, 0, len(data) + 1)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError) as info:
        mmkit.map_file(path, 4097, len(data))
    assert info.value.errno == errno.EINVAL


def test_unmappable_files_are_enodev():
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    with pytest.raises(OSError) as info:
        mmkit.map_file("/dev/null")
    assert info.value.errno == errno.ENODEV


def test_fifo_is_a_clean_error(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # In a subprocess with a timeout: opening a FIFO must not block.
    code = ("import mmkit, sys\n"
            "try:\n    mmkit.map_file(sys.argv[1])\n"
            "except OSError as e:\n    print(e.errno)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(fifo)], env=child_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode()
    assert int(proc.stdout) == errno.ENODEV


def test_pipe_and_socket_fds_are_clean_errors():
    rfd, wfd = os.pipe()
    try:
        with pytest.raises(OSError) as info:
            mmkit.map_fd(rfd)
        assert info.value.errno > 0
    finally:
        os.close(rfd)
        os.close(wfd)
    a, b = socket.socketpair()
    with a, b:
        with pytest.raises(OSError):
            mmkit.map_fd(a)


def test_bad_fd():
    with pytest.raises(OSError) as info:
        mmkit.map_fd(-1)
    assert info.value.errno == errno.EBADF
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as info:
        mmkit.map_fd(r)
    assert info.value.errno == errno.EBADF


def test_value_errors_before_any_call(data_file):
    path, _ = data_file
    with pytest.raises(ValueError):
        mmkit.map_file(path, -1)
    with pytest.raises(ValueError):
        mmkit.map_file(path, 0, -5)
    with pytest.raises(ValueError):
        mmkit.map_fd(0, -1)
    with pytest.raises(ValueError):
        mmkit.map_fd(0, 0, -1)
    with pytest.raises(ValueError):
        mmkit.map_file(str(path) + "\0x")
    with pytest.raises(ValueError):
        mmkit.map_file(b"a\0b")
    with mmkit.map_anon(4096) as r:
        for call in (lambda: r.sync(-1), lambda: r.sync(0, -1), lambda: r.lock(-1),
                     lambda: r.unlock(0, -1), lambda: r.advise(0, -1),
                     lambda: r.protect(mmkit.PROT_READ, -4096), lambda: r.protect(-1)):
            with pytest.raises(ValueError):
                call()
        assert mmkit._lib.last_error() is not None


def test_type_errors(data_file):
    path, _ = data_file
    for bad in (3.5, 3, None, ["a"]):
        with pytest.raises(TypeError):
            mmkit.map_file(bad)
    with pytest.raises(TypeError):
        mmkit.map_file(path, "0")
    with pytest.raises(TypeError):
        mmkit.map_file(path, 0, 1.0)
    with pytest.raises(TypeError):
        mmkit.map_file(path, write="no")
    with pytest.raises(TypeError):
        mmkit.map_file(path, 0, 0, True)
    with pytest.raises(TypeError):
        mmkit.map_fd("3")
    with pytest.raises(TypeError):
        mmkit.map_fd(3.0)
    with pytest.raises(TypeError):
        mmkit.map_fd(True)
    with pytest.raises(TypeError):
        mmkit.map_shareable(3, 4096)
    with mmkit.map_anon(4096) as r:
        with pytest.raises(TypeError):
            r.sync("0")
        with pytest.raises(TypeError):
            r.sync(wait="yes")
        with pytest.raises(TypeError):
            r.advise("random")
        with pytest.raises(TypeError):
            r.protect(None)
        with pytest.raises(TypeError):
            r["a"]
        with pytest.raises(TypeError):
            r[0] = b"x"
        with pytest.raises(TypeError):
            r[0:1] = 5
        with pytest.raises(TypeError):
            r[0:1] = "x"
        with pytest.raises(TypeError):
            r.write(0, "text")
    with pytest.raises(TypeError):
        mmkit.Region()


def test_library_einval_carries_message():
    with mmkit.map_anon(4096) as r:
        with pytest.raises(OSError) as info:
            r.sync(0, 8192)
        assert info.value.errno == errno.EINVAL
        assert info.value.strerror.startswith("mm_sync")
        with pytest.raises(OSError) as info:
            r.advise(99)
        assert info.value.errno == errno.EINVAL
        assert "mm_advise" in info.value.strerror
