"""Build hook for the mmkit Python package: compile the C library into the wheel.

The Python code is pure (it loads the library through ctypes), so the only
native part is ``libmmkit.so``, built from the Rust crate by setuptools-rust
(``RustExtension`` with ``Binding.NoBinding``: a plain cdylib, no Python
binding) and installed as ``mmkit/_lib/libmmkit.so`` -- ``libmmkit.dylib`` on
macOS, ``mmkit.dll`` on Windows (the name cargo gives the cdylib there, for
windows-gnu and windows-msvc alike; setuptools-rust takes that file, not the
import library beside it).  The name comes from
``mmkit._locate.bundled_name``, read from the source tree without importing
the package, so the loader looks for the file this script writes.  The wheel
is tagged ``py3-none-<platform>``: one wheel per platform serves every Python 3.

Where the crate is:

* in a checkout, ``../Cargo.toml`` (the repository root);
* in an sdist, ``rust/Cargo.toml``: the sdist command copies the crate
  (``Cargo.toml``, ``Cargo.lock``, ``build.rs``, ``src/``, ``include/``, the
  README and licence files) into ``rust/`` of the sdist, since setuptools takes
  no file from outside the project directory.

In a checkout cargo builds into ``../target/python`` unless ``CARGO_TARGET_DIR``
is set (so ``make``'s ``target/release`` is left alone).

``MMKIT_BUNDLE`` changes what goes into the package:

* unset or empty -- compile the library from the crate (needs cargo/rustc);
* a path -- bundle that file instead, compiling nothing (an error if it does
  not exist);
* ``0`` / ``no`` / ``none`` -- bundle nothing: a pure package that finds the
  library at run time (``MMKIT_LIBRARY``, system library path, pkg-config).
"""

import importlib.util
import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))


def _locate_module():
    """mmkit/_locate.py, loaded by path: importing mmkit would load the library."""
    path = os.path.join(HERE, "mmkit", "_locate.py")
    spec = importlib.util.spec_from_file_location("_mmkit_locate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The file name of the bundled library: mmkit/_lib/<LIBRARY_NAME>.
LIBRARY_NAME = _locate_module().bundled_name(sys.platform)

# What the sdist carries of the crate, relative to the crate's directory.
CRATE_FILES = ("Cargo.toml", "Cargo.lock", "build.rs", "README.md",
               "LICENSE", "LICENSE-MIT", "LICENSE-APACHE")
CRATE_DIRS = ("src", "include")


def crate_dir():
    """The Rust crate: rust/ inside an sdist, else the repository root."""
    for candidate in (os.path.join(HERE, "rust"), os.path.join(HERE, os.pardir)):
        if os.path.isfile(os.path.join(candidate, "Cargo.toml")):
            return os.path.abspath(candidate)
    return None


def bundle_choice():
    """("build", None), ("file", path) or ("none", None), from $MMKIT_BUNDLE."""
    choice = os.environ.get("MMKIT_BUNDLE", "").strip()
    if choice.lower() in ("0", "no", "none", "false", "off"):
        return "none", None
    if choice:
        if not os.path.isfile(choice):
            raise SystemExit("MMKIT_BUNDLE=%s: no such file" % choice)
        return "file", os.path.abspath(choice)
    return "build", None


MODE, LIBRARY = bundle_choice()


class BuildPyWithLibrary(build_py):
    """build_py that also copies $MMKIT_BUNDLE into <build_lib>/mmkit/_lib/."""

    def run(self):
        super().run()
        if MODE != "file":
            return
        target_dir = os.path.join(self.build_lib, "mmkit", "_lib")
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, LIBRARY_NAME)
        shutil.copyfile(LIBRARY, target)  # copies the file a symlink names
        os.chmod(target, 0o755)
        self.announce("bundled %s as %s" % (LIBRARY, target), level=2)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if MODE == "file":
            outputs.append(os.path.join(self.build_lib, "mmkit", "_lib", LIBRARY_NAME))
        return outputs


class SdistWithCrate(sdist):
    """sdist that carries the Rust crate in rust/, so the sdist builds alone."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        source = crate_dir()
        if source is None:
            raise SystemExit("mmkit sdist: no Cargo.toml in rust/ or ../")
        dest = os.path.join(base_dir, "rust")
        os.makedirs(dest, exist_ok=True)
        for name in CRATE_FILES:
            path = os.path.join(source, name)
            if os.path.isfile(path):
                shutil.copyfile(path, os.path.join(dest, name))
        for name in CRATE_DIRS:
            shutil.copytree(os.path.join(source, name), os.path.join(dest, name),
                            ignore=shutil.ignore_patterns("target", "__pycache__"))
        self.announce("copied the crate %s into %s" % (source, dest), level=2)


class BinaryDistribution(Distribution):
    """A distribution that carries a native library (platform wheel)."""

    def has_ext_modules(self):
        return MODE != "none"


cmdclass = {"build_py": BuildPyWithLibrary, "sdist": SdistWithCrate}
options = {}

if MODE == "build":
    from setuptools_rust import Binding, RustExtension
    from setuptools_rust.build import build_rust

    class BuildRustPlainName(build_rust):
        """Install the cdylib as mmkit/_lib/libmmkit.so (LIBRARY_NAME), not
        libmmkit.cpython-3X-...so or .pyd: it is no extension module, and one
        file serves every Python."""

        def get_dylib_ext_path(self, ext, target_fname):
            path = super().get_dylib_ext_path(ext, target_fname)
            return os.path.join(os.path.dirname(path), LIBRARY_NAME)

    cmdclass["build_rust"] = BuildRustPlainName
    crate = crate_dir()
    if crate is None:
        raise SystemExit("mmkit: no Rust crate (Cargo.toml) in rust/ or ../; "
                         "set MMKIT_BUNDLE to a built libmmkit.so, or MMKIT_BUNDLE=0")
    if "CARGO_TARGET_DIR" not in os.environ and crate != os.path.join(HERE, "rust"):
        os.environ["CARGO_TARGET_DIR"] = os.path.join(crate, "target", "python")
    options["rust_extensions"] = [
        RustExtension("mmkit._lib.libmmkit", path=os.path.join(crate, "Cargo.toml"),
                      binding=Binding.NoBinding, py_limited_api=False)
    ]

if MODE != "none":
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

setup(cmdclass=cmdclass, distclass=BinaryDistribution, **options)
