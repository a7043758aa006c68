"""Build hook for the mmkit Python package: bundle the C library into the wheel.

``pip install ./python`` (after ``make`` at the top of the repository) copies
``../target/release/libmmkit.so`` into the package as ``mmkit/_lib/libmmkit.so``
so the installed package works without ``MMKIT_LIBRARY``.

``MMKIT_BUNDLE`` controls it:

* unset or empty -- bundle ``../target/release/libmmkit.so`` when it exists,
  else build a pure package that finds the library at run time
  (``MMKIT_LIBRARY``, system library path, pkg-config);
* a path -- bundle that file (an error if it does not exist);
* ``0`` / ``no`` / ``none`` -- never bundle.

A wheel with a bundled library is tagged for the platform (``py3-none-<plat>``).
"""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))


def bundled_library():
    choice = os.environ.get("MMKIT_BUNDLE", "").strip()
    if choice.lower() in ("0", "no", "none", "false", "off"):
        return None
    if choice:
        if not os.path.isfile(choice):
            raise SystemExit("MMKIT_BUNDLE=%s: no such file" % choice)
        return os.path.abspath(choice)
    default = os.path.join(HERE, os.pardir, "target", "release", "libmmkit.so")
    return os.path.abspath(default) if os.path.isfile(default) else None


LIBRARY = bundled_library()


class BuildPyWithLibrary(build_py):
    """build_py that also copies the C library into <build_lib>/mmkit/_lib/."""

    def run(self):
        super().run()
        if LIBRARY is None:
            return
        target_dir = os.path.join(self.build_lib, "mmkit", "_lib")
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, "libmmkit.so")
        shutil.copyfile(LIBRARY, target)  # copies the file a symlink names
        os.chmod(target, 0o755)
        self.announce("bundled %s as %s" % (LIBRARY, target), level=2)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if LIBRARY is not None:
            outputs.append(os.path.join(self.build_lib, "mmkit", "_lib", "libmmkit.so"))
        return outputs


class BinaryDistribution(Distribution):
    """A distribution that carries a native library (platform wheel)."""

    def has_ext_modules(self):
        return LIBRARY is not None


cmdclass = {"build_py": BuildPyWithLibrary}

if LIBRARY is not None:
    try:
        from setuptools.command.bdist_wheel import bdist_wheel
    except ImportError:  # setuptools < 70.1
        try:
            from wheel.bdist_wheel import bdist_wheel
        except ImportError:
            bdist_wheel = None
    if bdist_wheel is not None:
        class BdistWheelAnyPython(bdist_wheel):
            """Platform-specific, but not tied to one Python version or ABI (ctypes only)."""

            def get_tag(self):
                _, _, plat = super().get_tag()
                return "py3", "none", plat

        cmdclass["bdist_wheel"] = BdistWheelAnyPython

setup(cmdclass=cmdclass, distclass=BinaryDistribution)
