"""Concurrency: many threads mapping, writing and closing; one region shared by threads."""

import errno
import threading
import time

import pytest

import mmkit

np = pytest.importorskip("numpy")

THREADS = 8


def run_threads(target, count=THREADS):
    errors = []

    def wrapper(i):
        try:
            target(i)
        except BaseException as e:  # reported below
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert not errors, errors


def test_threads_map_write_close(tmp_path):
    def work(i):
        path = tmp_path / ("t%d.bin" % i)
        for k in range(25):
            pattern = bytes([(i * 31 + k) % 256]) * 1000
            with mmkit.map_anon(8192 + i, shared=bool(k % 2)) as r:
                r[100:1100] = pattern
                assert r[100:1100] == pattern
                a = np.frombuffer(r.view(), dtype=np.uint8)
                assert int(a[100]) == pattern[0]
                a[0] = i
                del a
                assert r[0] == i
            with mmkit.map_file(path, 0, 5000, write=True, create=True) as f:
                f[0:1000] = pattern
                f.sync()
            with mmkit.map_file(path) as f:
                assert f[0:1000] == pattern

    run_threads(work)


def test_error_messages_are_per_thread(tmp_path):
    barrier = threading.Barrier(THREADS)

    def work(i):
        missing = str(tmp_path / ("missing-%d" % i))
        barrier.wait()
        for _ in range(50):
            try:
                mmkit.map_file(missing)
            except FileNotFoundError as e:
                assert missing in e.strerror, (missing, e.strerror)
            else:
                raise AssertionError("mapped a missing file")
            try:
                mmkit.map_anon(0)
            except OSError as e:
                assert e.errno == errno.EINVAL and "mm_map_anon" in e.strerror

    run_threads(work)


def test_threads_share_one_region_while_it_closes():
    r = mmkit.map_anon(THREADS * 4096, shared=True)
    started = threading.Barrier(THREADS + 1)
    unexpected = []

    def work(i):
        base = i * 4096
        started.wait()
        k = 0
        while True:
            k += 1
            try:
                r[base:base + 8] = k.to_bytes(8, "little")
                assert int.from_bytes(r[base:base + 8], "little") == k
                v = r.view()
                v[base + 8] = k % 256
                v.release()
                r.advise(mmkit.ADV_WILLNEED, base, 4096)
                r.sync()
                len(r)
            except ValueError:
                return                      # closed under us: the expected end
            except BaseException as e:
                unexpected.append(repr(e))
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.3)                          # let them work on the region a while
    assert not unexpected, unexpected
    refused = 0
    for _ in range(100000):
        try:
            r.close()
            break
        except BufferError:
            refused += 1                     # a view was alive at that moment
    assert r.closed
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert not unexpected, unexpected
