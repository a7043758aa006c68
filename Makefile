# mmkit — build, install, test.
#
#   make                      build libmmkit.so / libmmkit.a / mmkit.pc / the CMake package (release)
#   make install PREFIX=/usr/local [DESTDIR=...] [LIBDIR=...]
#   make uninstall PREFIX=... [DESTDIR=...]
#   make demo                 build, install into ./build/prefix, compile and run the book's examples
#   make test                 every test: Rust, C against the installed prefix, CMake, examples, Python
#   make test-windows         the Windows build (MinGW cross-build) tested under Wine
#   make install-windows PREFIX=...   the Windows build installed: bin/mmkit.dll, lib/libmmkit.dll.a,
#                             lib/libmmkit.a, include/mmkit.h, mmkit.pc, the CMake package
#   make clean

CARGO      ?= cargo
RUSTC      ?= rustc
CC         ?= cc
PYTHON3    ?= python3
PREFIX     ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
LIBDIR     ?= $(EXEC_PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(EXEC_PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR   ?= $(LIBDIR)/cmake/mmkit
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

VERSION   := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR     := $(firstword $(subst ., ,$(VERSION)))
SOMAJOR   := 0
SONAME    := libmmkit.so.$(SOMAJOR)
REALNAME  := libmmkit.so.$(VERSION)

RELEASE   := target/release
BUILD     := build
STAGE     := $(CURDIR)/$(BUILD)/prefix
EXAMPLES  := $(CURDIR)/$(BUILD)/examples
VENV      := $(CURDIR)/$(BUILD)/venv

.PHONY: all lib install uninstall stage examples demo test test-rust test-c test-cmake test-examples test-packaging \
        test-python test-man test-oom test-windows install-windows check-memory cross-check msrv fuzz bench lint header clean FORCE

all: lib

# cargo decides what is stale; FORCE makes make always ask it.
lib: $(BUILD)/mmkit.pc $(BUILD)/cmake/mmkitConfig.cmake $(BUILD)/cmake/mmkitConfigVersion.cmake
$(RELEASE)/libmmkit.so $(RELEASE)/libmmkit.a: FORCE
	$(CARGO) build --release --lib

# Libs.private comes from rustc itself: what a static libmmkit.a needs.
$(BUILD)/native-static-libs.txt: $(RELEASE)/libmmkit.a
	@mkdir -p $(BUILD)
	$(CARGO) rustc --release --lib --crate-type staticlib -- --print native-static-libs 2>&1 \
	  | sed -n 's/^note: native-static-libs: //p' | tail -n 1 > $@.tmp
	@test -s $@.tmp || { echo "could not learn native-static-libs from rustc" >&2; exit 1; }
	@mv $@.tmp $@

# Regenerated every time: it records PREFIX/LIBDIR, which differ between calls.
$(BUILD)/mmkit.pc: $(BUILD)/native-static-libs.txt FORCE
	@mkdir -p $(BUILD)
	@{ echo 'prefix=$(PREFIX)'; \
	   echo 'exec_prefix=$(EXEC_PREFIX)'; \
	   echo 'libdir=$(LIBDIR)'; \
	   echo 'includedir=$(INCLUDEDIR)'; \
	   echo ''; \
	   echo 'Name: mmkit'; \
	   echo 'Description: The memory-mapping toolbox for Unix and Windows behind one small, stable C ABI'; \
	   echo 'Version: $(VERSION)'; \
	   echo 'Libs: -L$${libdir} -lmmkit'; \
	   echo "Libs.private: $$(cat $(BUILD)/native-static-libs.txt)"; \
	   echo 'Cflags: -I$${includedir}'; } > $@

# The CMake package (find_package(mmkit)) finds every path from where it lies,
# so it records them relative: the prefix as the way up from CMAKEDIR
# (../../.. from lib/cmake/mmkit), LIBDIR, BINDIR (Windows' mmkit.dll) and
# INCLUDEDIR below the prefix. A directory outside PREFIX is recorded as it is.
# The static target's system libraries are Libs.private as a CMake list; the
# pointer size (the version file's check) is the target's, from rustc.
empty :=
space := $(empty) $(empty)
norm_dir = $(patsubst %/,%,$(subst //,/,$(1)))
under_prefix = $(patsubst $(call norm_dir,$(PREFIX))/%,%,$(call norm_dir,$(1)))
up_from = $(subst $(space),/,$(patsubst %,..,$(subst /, ,$(1))))
prefix_from_cmakedir = $(if $(filter /%,$(call under_prefix,$(CMAKEDIR))),$(PREFIX),$(call up_from,$(call under_prefix,$(CMAKEDIR))))
SIZEOF_VOID_P ?= $(shell $(RUSTC) --print cfg $(if $(CARGO_BUILD_TARGET),--target $(CARGO_BUILD_TARGET)) 2>/dev/null \
                   | sed -n 's/^target_pointer_width="\([0-9]*\)"/\1/p' | awk '{print $$1 / 8}')

# Regenerated every time, as mmkit.pc is.
$(BUILD)/cmake/%.cmake: cmake/%.cmake.in $(BUILD)/native-static-libs.txt FORCE
	@mkdir -p $(BUILD)/cmake
	@sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' -e 's|@SOMAJOR@|$(SOMAJOR)|g' \
	     -e 's|@PREFIX_FROM_CMAKEDIR@|$(prefix_from_cmakedir)|g' \
	     -e 's|@LIBDIR@|$(call under_prefix,$(LIBDIR))|g' \
	     -e 's|@BINDIR@|$(call under_prefix,$(BINDIR))|g' \
	     -e 's|@INCLUDEDIR@|$(call under_prefix,$(INCLUDEDIR))|g' \
	     -e "s|@STATIC_LIBS@|$$(tr -s ' ' ';' < $(BUILD)/native-static-libs.txt)|g" \
	     -e 's|@SIZEOF_VOID_P@|$(SIZEOF_VOID_P)|g' $< > $@.tmp
	@if grep -n '@[A-Z_]*@' $@.tmp; then echo "$@: a placeholder is left" >&2; exit 1; fi
	@mv $@.tmp $@

install: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR)
	install -m 0755 $(RELEASE)/libmmkit.so $(DESTDIR)$(LIBDIR)/$(REALNAME)
	ln -sf $(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmmkit.so
	install -m 0644 $(RELEASE)/libmmkit.a $(DESTDIR)$(LIBDIR)/libmmkit.a
	install -m 0644 include/mmkit.h $(DESTDIR)$(INCLUDEDIR)/mmkit.h
	install -m 0644 $(BUILD)/mmkit.pc $(DESTDIR)$(PKGCONFIGDIR)/mmkit.pc
	install -m 0644 $(BUILD)/cmake/mmkitConfig.cmake $(BUILD)/cmake/mmkitConfigVersion.cmake $(DESTDIR)$(CMAKEDIR)/
	if [ -d man ]; then install -d $(DESTDIR)$(MANDIR)/man3 && install -m 0644 man/*.3 $(DESTDIR)$(MANDIR)/man3/; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libmmkit.so $(DESTDIR)$(LIBDIR)/libmmkit.a \
	      $(DESTDIR)$(INCLUDEDIR)/mmkit.h $(DESTDIR)$(PKGCONFIGDIR)/mmkit.pc \
	      $(DESTDIR)$(CMAKEDIR)/mmkitConfig.cmake $(DESTDIR)$(CMAKEDIR)/mmkitConfigVersion.cmake
	if [ -d man ]; then for f in man/*.3; do rm -f $(DESTDIR)$(MANDIR)/man3/$${f#man/}; done; fi

# The Windows build (x86_64-pc-windows-gnu, cross-built with MinGW-w64 into
# target/windows), installed as MinGW and CMake expect: the DLL in BINDIR,
# its import library and the static library in LIBDIR. mmkit.pc and the CMake
# package are made by the rules above, run again with the Windows build's
# directories and target (so Libs.private and the static target's libraries
# are the Windows ones).
WIN_TARGET  := x86_64-pc-windows-gnu
WIN_BUILD   := $(BUILD)/windows
WIN_RELEASE := target/windows/$(WIN_TARGET)/release
WIN_ENV     := CARGO_TARGET_DIR=$(CURDIR)/target/windows CARGO_BUILD_TARGET=$(WIN_TARGET) \
               CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc

install-windows:
	$(WIN_ENV) $(MAKE) --no-print-directory BUILD=$(WIN_BUILD) RELEASE=$(WIN_RELEASE) \
	  $(WIN_RELEASE)/libmmkit.a $(WIN_BUILD)/mmkit.pc $(WIN_BUILD)/cmake/mmkitConfig.cmake \
	  $(WIN_BUILD)/cmake/mmkitConfigVersion.cmake
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR)
	install -m 0755 $(WIN_RELEASE)/mmkit.dll $(DESTDIR)$(BINDIR)/mmkit.dll
	install -m 0644 $(WIN_RELEASE)/libmmkit.dll.a $(WIN_RELEASE)/libmmkit.a $(DESTDIR)$(LIBDIR)/
	install -m 0644 include/mmkit.h $(DESTDIR)$(INCLUDEDIR)/mmkit.h
	install -m 0644 $(WIN_BUILD)/mmkit.pc $(DESTDIR)$(PKGCONFIGDIR)/mmkit.pc
	install -m 0644 $(WIN_BUILD)/cmake/mmkitConfig.cmake $(WIN_BUILD)/cmake/mmkitConfigVersion.cmake $(DESTDIR)$(CMAKEDIR)/

# Install into ./build/prefix, as a user would install into /usr/local.
stage:
	$(MAKE) install PREFIX=$(STAGE) DESTDIR=

# The examples, compiled through pkg-config against the staged prefix only.
examples: stage
	@mkdir -p $(EXAMPLES)
	PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig $(MAKE) -C c-examples OUT=$(EXAMPLES)

demo: examples
	MMKIT_PREFIX=$(STAGE) MMKIT_EXAMPLES=$(EXAMPLES) LD_LIBRARY_PATH=$(STAGE)/lib bash c-examples/demo.sh

# Regenerate the committed header from the current sources.
header:
	MMKIT_BLESS_HEADER=1 $(CARGO) test --test it header::

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# make test: every suite; the summary line counts them all.
test:
	@bash tests/run-all.sh

test-rust:
	$(CARGO) test

test-c: stage
	MMKIT_PREFIX=$(STAGE) bash tests/c/run.sh

# A CMake project built with find_package(mmkit) against the staged prefix,
# shared and static (tests/cmake/; installs cmake when it is missing).
test-cmake: stage
	MMKIT_PREFIX=$(STAGE) bash tests/cmake/run.sh

test-examples: examples
	MMKIT_PREFIX=$(STAGE) MMKIT_EXAMPLES=$(EXAMPLES) bash c-examples/test.sh

# python/run-tests.sh makes build/venv (pytest, numpy) when PYTHON is unset.
test-python: examples
	MMKIT_PREFIX=$(STAGE) MMKIT_EXAMPLES=$(EXAMPLES) MMKIT_LIBRARY=$(STAGE)/lib/libmmkit.so \
	  bash python/run-tests.sh

# The sdist and the py3-none wheel (auditwheel-repaired to manylinux), each
# installed in a fresh venv of every Python present (python/tests/packaging/).
test-packaging:
	bash python/tests/packaging/check.sh

test-man:
	bash man/check.sh

# Every C ABI call with each of its heap allocations failing in turn (an
# LD_PRELOAD shim), plainly and under valgrind: no abort, no leak.
test-oom: stage
	MMKIT_PREFIX=$(STAGE) bash tests/c/oom.sh

# The C tests and every example under valgrind memcheck and built with
# -fsanitize=address,undefined (make test runs it too).
check-memory: examples
	MMKIT_PREFIX=$(STAGE) MMKIT_EXAMPLES=$(EXAMPLES) bash tests/c/check-memory.sh

# The library linted for FreeBSD, macOS, NetBSD, illumos, Android and Windows
# (rustup targets; skipped where a target cannot be installed). make test runs it too.
cross-check:
	bash tests/cross-check.sh

# The library and its tests checked by the Rust of Cargo.toml's rust-version
# (installed with rustup when the network allows; else a SKIP). make test runs it.
msrv:
	bash tests/msrv.sh

# The library cross-built for x86_64-pc-windows-gnu (target/windows) and run
# under Wine in a fresh prefix (build/wine/prefix): the Rust tests, the C API
# test against mmkit.dll and libmmkit.a, the examples that mean something on
# Windows, the DLL's exports, the CMake package. Installs wine, wine64,
# gcc-mingw-w64-x86-64 and cmake with apt-get when missing (as root). Ends
# with "N passed, N failed".
test-windows:
	@bash tests/windows/run.sh

# Many more random ABI call sequences than make test runs.
fuzz:
	PROPTEST_CASES=$${PROPTEST_CASES:-20000} $(CARGO) test --release --test it -- --nocapture proptest_abi::

# Benchmarks against the peers, side by side (see BENCHMARKS.md).
bench: examples
	MMKIT_PREFIX=$(STAGE) MMKIT_EXAMPLES=$(EXAMPLES) MMKIT_LIBRARY=$(STAGE)/lib/libmmkit.so bash bench/run.sh

clean:
	$(CARGO) clean
	rm -rf $(BUILD)

FORCE:
