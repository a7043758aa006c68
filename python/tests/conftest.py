"""Shared fixtures for the mmkit tests.

The package is imported from the source tree (python/), with the library
named by $MMKIT_LIBRARY (python/run-tests.sh sets it).  When
$MMKIT_TEST_LINES is set, one `PASS: name` / `FAIL: name: why` / `SKIP: name:
why` line per test is printed at the end, for the top-level test summary.
"""

import os
import sys
import traceback

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

import mmkit  # noqa: E402
from mmkit import _lib  # noqa: E402


def has(name):
    """True when the loaded C library exports `name`."""
    return _lib.has(name)


def run_in_child(fn):
    """Run fn() in a forked child; return its exit status (fn's int result, 0, or 99 on error)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            result = fn()
            code = 0 if result is None else int(result)
        except BaseException:
            try:
                traceback.print_exc()
            except BaseException:
                pass
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def child_env(**overrides):
    """os.environ for a subprocess that imports mmkit from the source tree."""
    env = dict(os.environ)
    extra = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PYTHON_DIR + (os.pathsep + extra if extra else "")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.fixture
def data_file(tmp_path):
    """A 3-page-plus file with a recognisable byte pattern; returns (path, bytes)."""
    data = bytes((i * 7 + 3) % 256 for i in range(3 * mmkit.PAGE_SIZE + 123))
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    return path, data


# --- PASS/FAIL lines -------------------------------------------------------------

_results = {}


def pytest_runtest_logreport(report):
    name = report.nodeid
    if report.failed:
        why = report.longreprtext.strip().splitlines()
        reason = why[-1] if why else "failed"
        _results[name] = ("FAIL", "%s (%s)" % (reason, report.when))
    elif report.skipped and name not in _results:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
        reason = str(reason)
        if reason.startswith("Skipped: "):
            reason = reason[len("Skipped: "):]
        _results[name] = ("SKIP", reason)
    elif report.when == "call" and report.passed and name not in _results:
        _results[name] = ("PASS", "")


def pytest_terminal_summary(terminalreporter):
    if not os.environ.get("MMKIT_TEST_LINES"):
        return
    tag = os.environ.get("MMKIT_TEST_TAG")  # the same tests under another Python
    for name, (outcome, why) in _results.items():
        line = "%s: python/tests/%s" % (outcome, name.split("tests/", 1)[-1])
        if tag:
            line += " [%s]" % tag
        if outcome != "PASS":
            line += ": " + " ".join(why.split())
        terminalreporter.write_line(line)


class Index:
    """An integer argument whose conversion (``__index__``) runs ``action`` first."""

    def __init__(self, value, action):
        self.value, self.action = value, action

    def __index__(self):
        self.action()
        return self.value


def attempts_inside(event, name, calls, run):
    """Call ``run()`` under a profiler that, at the first profiler ``event``
    of a function named ``name`` (code run inside a method, as a signal
    handler or finalizer may be), tries each of ``calls`` once: "refused" for
    a BufferError, "done" otherwise. Returns run's result and the outcomes."""
    outcome = []

    def profiler(frame, ev, arg):
        if ev == event and frame.f_code.co_name == name and not outcome:
            for call in calls:
                try:
                    call()
                    outcome.append("done")
                except BufferError:
                    outcome.append("refused")
    sys.setprofile(profiler)
    try:
        result = run()
    finally:
        sys.setprofile(None)
    return result, outcome
