"""sync, lock/unlock, advise, protect."""

import errno
import resource
import subprocess
import sys

import pytest

import mmkit
from conftest import child_env

ADVICE = ["ADV_NORMAL", "ADV_RANDOM", "ADV_SEQUENTIAL", "ADV_WILLNEED", "ADV_DONTNEED",
          "ADV_HUGEPAGE", "ADV_NOHUGEPAGE"]


def test_constants():
    assert (mmkit.READ, mmkit.WRITE, mmkit.EXEC) == (1, 2, 4)
    assert (mmkit.PROT_NONE, mmkit.PROT_READ, mmkit.PROT_WRITE, mmkit.PROT_EXEC) == (0, 1, 2, 4)
    assert (mmkit.SHARED, mmkit.PRIVATE) == (0x10, 0x20)
    assert (mmkit.POPULATE, mmkit.HUGEPAGES, mmkit.NORESERVE) == (0x100, 0x200, 0x400)
    assert (mmkit.DEVZERO, mmkit.CREATE, mmkit.EXCL) == (0x1000, 0x2000, 0x4000)
    assert [getattr(mmkit, n) for n in ADVICE] == list(range(7))
    assert (mmkit.SEAL_SHRINK, mmkit.SEAL_GROW, mmkit.SEAL_WRITE) == (1, 2, 4)


def test_sync_on_anon_is_a_no_op():
    with mmkit.map_anon(4096) as r:
        r.sync()
        r.sync(0, 4096, wait=False)
        r.sync(100, 10, invalidate=True)


def test_sync_out_of_range(data_file):
    path, data = data_file
    with mmkit.map_file(path, write=True) as r:
        with pytest.raises(OSError) as info:
            r.sync(len(data) + 1)
        assert info.value.errno == errno.EINVAL


def test_lock_unlock():
    with mmkit.map_anon(4 * mmkit.PAGE_SIZE) as r:
        try:
            r.lock(0, mmkit.PAGE_SIZE)
        except OSError as e:       # refused: the message must say why
            assert "RLIMIT_MEMLOCK" in e.strerror
        else:
            r.unlock(0, mmkit.PAGE_SIZE)
        r.unlock()
        with pytest.raises(OSError) as info:
            r.lock(0, 8 * mmkit.PAGE_SIZE)
        assert info.value.errno == errno.EINVAL


def test_lock_refusal_names_rlimit_memlock():
    code = ("import resource, mmkit\n"
            "resource.setrlimit(resource.RLIMIT_MEMLOCK, (65536, 65536))\n"
            "import os\n"
            "if os.geteuid() == 0:\n"
            "    try:\n"
            "        os.setgid(65534); os.setuid(65534)  # root may lock anything: drop it\n"
            "    except OSError:\n"
            "        pass\n"
            "r = mmkit.map_anon(1 << 22)\n"
            "try:\n    r.lock()\n    print('LOCKED')\n"
            "except OSError as e:\n    print(e.errno, e.strerror)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode().strip()
    if out == "LOCKED":
        pytest.skip("this process may lock beyond RLIMIT_MEMLOCK (CAP_IPC_LOCK)")
    code_, _, message = out.partition(" ")
    assert int(code_) in (errno.ENOMEM, errno.EPERM, errno.EAGAIN)
    assert "RLIMIT_MEMLOCK" in message and "65536" in message
    assert resource.RLIMIT_MEMLOCK


@pytest.mark.parametrize("name", ADVICE)
def test_advise(name, data_file):
    path, _ = data_file
    with mmkit.map_anon(2 << 20) as r, mmkit.map_file(path) as f:
        for region in (r, f):
            try:
                region.advise(getattr(mmkit, name))
                region.advise(getattr(mmkit, name), 0, 100)
            except OSError as e:
                # advice the platform or the mapping lacks
                assert e.errno in (errno.ENOTSUP, errno.EINVAL), e


def test_dontneed_zeroes_private_anon():
    with mmkit.map_anon(4096) as r:
        r[0] = 9
        r.advise(mmkit.ADV_DONTNEED)
        assert r[0] == 0


def test_protect_read_only_then_back():
    page = mmkit.PAGE_SIZE
    with mmkit.map_anon(3 * page) as r:
        r[0] = 1
        r.protect(mmkit.PROT_READ)
        assert not r.writable
        with r.view() as v:
            assert v.readonly and v[0] == 1
        with pytest.raises(TypeError):
            r[0] = 2
        r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)
        assert r.writable
        r[0] = 2
        assert r[0] == 2
        # only the middle page
        r.protect(mmkit.PROT_READ, page, page)
        assert not r.writable
        r[0] = 3
        r[2 * page] = 3
        with pytest.raises(TypeError):
            r[page] = 3
        with r.view() as v:
            assert v.readonly
        r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE, page, page)
        assert r.writable


def test_protect_none_refuses_access_instead_of_crashing():
    # The copies say what mm_read / mm_write say: EFAULT for a page that
    # cannot be touched; view() refuses (touching it would be SIGSEGV).
    page = mmkit.PAGE_SIZE
    with mmkit.map_anon(2 * page) as r:
        r.protect(mmkit.PROT_NONE, page, page)
        assert r[0] == 0                        # first page still readable
        for call in (lambda: r[page], lambda: r[:], lambda: r.__setitem__(page, 1)):
            with pytest.raises(OSError) as info:
                call()
            assert info.value.errno == errno.EFAULT
        with pytest.raises(PermissionError):
            r.view()
        r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)
        r[page] = 1
        assert r[page] == 1


def test_protect_with_live_view():
    with mmkit.map_anon(4096) as r:
        v = r.view()
        with pytest.raises(BufferError):
            r.protect(mmkit.PROT_READ)
        with pytest.raises(BufferError):
            r.protect(mmkit.PROT_NONE)
        r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)    # giving nothing away is fine
        v[0] = 1
        v.release()
        r.protect(mmkit.PROT_READ)


def test_protect_unaligned_is_einval():
    with mmkit.map_anon(3 * mmkit.PAGE_SIZE) as r:
        with pytest.raises(OSError) as info:
            r.protect(mmkit.PROT_READ, 100, 100)
        assert info.value.errno == errno.EINVAL
        assert r.writable


def test_protect_write_on_shared_readonly_file(data_file):
    path, _ = data_file
    with mmkit.map_file(path) as r:
        with pytest.raises(PermissionError):
            r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)
        assert not r.writable
