"""Run CPython's own Lib/test/test_mmap.py, unmodified, against mmkit.mmap.

    python3 python/tests/run_cpython_test_mmap.py [PYTHON ...]
    python3 python/tests/run_cpython_test_mmap.py --newest 3.12   (prints "X.Y PATH")

For every Python found (the arguments; else ``$MMKIT_TEST_PYTHONS``, a
``:``-separated list; else every pyenv version and ``python3`` on the PATH),
3.9 or later and with its ``test`` package, one child process runs
``test.test_mmap`` with ``sys.modules["mmap"] = mmkit.mmap`` set before the
test imports it -- from a fresh temporary directory (the test's files go
there), ``PYTHONPATH`` at ``python/`` and ``MMKIT_LIBRARY`` as given (the
staged library: python/run-tests.sh sets it).

Prints, per Python, ``PASS: cpython test_mmap X.Y.Z (N tests, S skipped)`` or
``FAIL: ...`` with the failed tests, one ``SKIP: ...`` line per skipped test
with its reason, then the side-by-side comparison with the standard module
under the same Python (pymmap_compat.py; ``PASS: mmkit.mmap side by side
with mmap X.Y.Z (N operations)``), and exits 1 when anything failed (0 when
no Python was found: nothing to check).

The one failure accepted: on Python 3.11 and earlier, test_basic's
``re.search(..., m)`` needs the buffer protocol, which Python classes have only
from 3.12 (PEP 688).  When test_basic fails there with that TypeError on that
line, and for no other reason, it is reported as a SKIP line saying so.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
TIMEOUT = int(os.environ.get("MMKIT_TEST_MMAP_TIMEOUT", "600"))
COMPAT_STEPS = 2000

# --- the child: one interpreter, one run ------------------------------------------


def _child() -> int:
    import traceback
    import unittest

    import mmkit.mmap
    sys.modules["mmap"] = mmkit.mmap
    from test import test_mmap
    if test_mmap.mmap is not mmkit.mmap:
        print(json.dumps({"error": "test_mmap imported %r, not mmkit.mmap" % test_mmap.mmap}))
        return 1

    outcomes = []

    def accepted(test, err):
        """3.11's test_basic: a TypeError from re.search over the mmap, nothing else."""
        if sys.version_info >= (3, 12) or test.id().split(".")[-1] != "test_basic":
            return False
        exc_type, _, tb = err
        frames = traceback.extract_tb(tb)
        return (exc_type is TypeError and bool(frames)
                and any(f.name == "test_basic" and "re.search" in (f.line or "")
                        for f in frames[-2:]))

    class Result(unittest.TestResult):
        def addSuccess(self, test):
            super().addSuccess(test)
            outcomes.append((test.id(), "pass", ""))

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            outcomes.append((test.id(), "skip", reason))

        def _bad(self, test, err, kind):
            if accepted(test, err):
                outcomes.append((test.id(), "skip", "expected failure on Python < 3.12: "
                                 "re.search over an mmap needs the buffer protocol, which "
                                 "Python classes have from 3.12 (PEP 688)"))
            else:
                outcomes.append((test.id(), kind,
                                 "".join(traceback.format_exception(*err))[-1500:]))

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self._bad(test, err, "fail")

        def addError(self, test, err):
            super().addError(test, err)
            self._bad(test, err, "error")

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is not None:
                self._bad(subtest, err, "fail")

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            outcomes.append((test.id(), "pass", "expected failure"))

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            outcomes.append((test.id(), "fail", "unexpected success"))

    suite = unittest.defaultTestLoader.loadTestsFromModule(test_mmap)
    suite.run(Result())
    # The side-by-side comparison with the standard module (pymmap_compat.py).
    sys.path.insert(0, HERE)
    import pymmap_compat
    stats = {}
    problems = pymmap_compat.compare(0, COMPAT_STEPS, stats=stats)
    print(json.dumps({"version": sys.version.split()[0], "outcomes": outcomes,
                      "compat": {"problems": problems, "steps": stats.get("steps", 0)}}))
    return 0


# --- the parent: find the Pythons, run each, report ----------------------------------


def _candidates(named=()):
    listed = list(named) or [p for p in os.environ.get("MMKIT_TEST_PYTHONS", "").split(":")
                             if p]
    if listed:
        return listed
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(root, "versions", "*", "bin", "python3")))
    on_path = shutil.which("python3")
    if on_path:
        found.append(on_path)
    return found


def _probe(python):
    """(version tuple, version text) when ``python`` is 3.9+ with test.test_mmap, else None."""
    code = ("import sys, importlib.util\n"
            "ok = sys.version_info >= (3, 9) and "
            "importlib.util.find_spec('test.test_mmap') is not None\n"
            "print(sys.version.split()[0] if ok else '')")
    try:
        out = subprocess.run([python, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.decode().strip()
    if out.returncode != 0 or not text:
        return None
    return tuple(int(x) for x in text.split(".")[:2]), text


def _run(python, version):
    env = dict(os.environ)
    env["PYTHONPATH"] = PYTHON_DIR + (os.pathsep + env["PYTHONPATH"]
                                      if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONHOME", None)
    name = "cpython test_mmap %s" % version
    with tempfile.TemporaryDirectory(prefix="mmkit-test_mmap-") as cwd:
        try:
            proc = subprocess.run([python, os.path.abspath(__file__), "--child"], cwd=cwd,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            print("FAIL: %s: timed out after %d s" % (name, TIMEOUT))
            return False
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        report = None
    if proc.returncode != 0 or not report or "outcomes" not in report:
        why = (report or {}).get("error") or "exit status %d" % proc.returncode
        if proc.returncode < 0:
            why = "killed by signal %d" % -proc.returncode
        print("FAIL: %s: %s" % (name, why))
        sys.stderr.write(proc.stderr.decode("utf-8", "replace")[-3000:])
        return False
    outcomes = report["outcomes"]
    bad = [(t, why) for t, kind, why in outcomes if kind in ("fail", "error")]
    skips = [(t, why) for t, kind, why in outcomes if kind == "skip"]
    for test, why in bad:
        sys.stderr.write("---- %s %s\n%s\n" % (name, test, why))
    if bad:
        print("FAIL: %s: %d of %d failed: %s" % (name, len(bad), len(outcomes),
                                                  ", ".join(t.split(".", 2)[-1] for t, _ in bad)))
    else:
        print("PASS: %s (%d tests, %d skipped)" % (name, len(outcomes), len(skips)))
    for test, why in skips:
        print("SKIP: %s %s: %s" % (name, test.split(".", 2)[-1], " ".join(why.split())))
    compat = report.get("compat") or {}
    cname = "mmkit.mmap side by side with mmap %s" % version
    if compat.get("problems"):
        print("FAIL: %s: %s" % (cname, " | ".join(compat["problems"])[:2000]))
    else:
        print("PASS: %s (%d operations)" % (cname, compat.get("steps", 0)))
    return not bad and not compat.get("problems")


def _newest(at_least):
    """The newest Python found that is ``at_least`` (a (major, minor) tuple) or later."""
    best = None
    for python in _candidates():
        probe = _probe(python)
        if probe and probe[0] >= at_least and (best is None or probe[0] > best[0]):
            best = (probe[0], python)
    return best


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        return _child()
    if sys.argv[1:2] == ["--newest"]:
        # For run-tests.sh: "X.Y PATH" of the newest Python >= sys.argv[2], or nothing.
        found = _newest(tuple(int(x) for x in sys.argv[2].split(".")))
        if found:
            print("%d.%d %s" % (found[0][0], found[0][1], found[1]))
        return 0
    seen = {}
    for python in _candidates(sys.argv[1:]):
        probe = _probe(python)
        if probe is None:
            continue
        version_text = probe[1]
        if version_text not in seen:  # one run per version
            seen[version_text] = python
    if not seen:
        print("run_cpython_test_mmap.py: no Python 3.9+ with its test package found",
              file=sys.stderr)
        return 0
    ok = True
    for version_text, python in sorted(seen.items(),
                                       key=lambda kv: [int(x) for x in kv[0].split(".")[:3]
                                                       if x.isdigit()]):
        ok = _run(python, version_text) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
