//! Build script: decides the platform backend's capabilities from the *target*
//! (not the host), sets the shared library's SONAME, and generates `mmkit.h`
//! into `OUT_DIR` with cbindgen. It never writes into the source tree; a test
//! compares the generated header with the committed `include/mmkit.h`.

use std::env;
use std::path::PathBuf;

/// Capabilities of the target, as `--cfg` names the backend selects on.
const CAPS: &[&str] = &[
    "mmkit_map_anonymous",     // MAP_ANONYMOUS exists at build time
    "mmkit_map_populate",      // MAP_POPULATE
    "mmkit_map_noreserve",     // MAP_NORESERVE
    "mmkit_map_hugetlb",       // MAP_HUGETLB (explicit huge pages)
    "mmkit_madv_hugepage",     // MADV_HUGEPAGE / MADV_NOHUGEPAGE (THP)
    "mmkit_mremap",            // mremap(2)
    "mmkit_map_noreplace",     // MAP_FIXED_NOREPLACE (Linux 4.17; older kernels take a hint)
    "mmkit_fallocate",         // posix_fallocate(3)
    "mmkit_proc_status",       // /proc/self/status has VmLck
    "mmkit_process_vm",        // process_vm_readv / process_vm_writev
    "mmkit_memfd",             // memfd_create(2)
    "mmkit_seals",             // F_ADD_SEALS on memfds
    "mmkit_pipe2",             // pipe2(O_CLOEXEC)
    "mmkit_o_tmpfile",         // O_TMPFILE on /dev/shm (unnamed tmpfs files)
    "mmkit_shm_anon",          // shm_open(SHM_ANON) (FreeBSD)
    "mmkit_variadic_shm_open", // shm_open(name, oflag, ...) in the libc crate (Apple)
    "mmkit_rlimit_memlock",    // RLIMIT_MEMLOCK (not on illumos/Solaris)
    "mmkit_shm_open",          // shm_open(3) (not on Android: Bionic has no POSIX shared memory)
    "mmkit_statfs_magic",      // fstatfs(2) names the filesystem by magic number (f_type)
    "mmkit_statfs_typename",   // fstatfs(2) names it by name (f_fstypename)
    "mmkit_statvfs_typename",  // fstatvfs(2) names it by name (f_fstypename: NetBSD)
    "mmkit_statvfs_basetype",  // fstatvfs(2) names it by name (f_basetype: illumos, Solaris)
    "mmkit_o_path",            // O_PATH: open a directory one may search but not read
    "mmkit_o_search",          // O_SEARCH: the same, the POSIX way
    "mmkit_rlimit_as",         // RLIMIT_AS (the libc crate has none for OpenBSD)
    "mmkit_partial_mlock",     // a failed mlock may leave part of its range locked (Linux)
    "mmkit_guard_bus_adrerr",  // a page past the end of a mapped file is SIGBUS with BUS_ADRERR
    "mmkit_guard_bus_objerr",  // ... with BUS_OBJERR
    "mmkit_guard_sigbus_prot", // SIGBUS also for protection faults (macOS)
];

/// Capabilities switched off by `MMKIT_DISABLE=map_anonymous,memfd,...` (the
/// names above without `mmkit_`), so the portable fallbacks that other targets
/// use can be built and tested on Linux too.
fn disabled() -> Vec<String> {
    env::var("MMKIT_DISABLE")
        .unwrap_or_default()
        .split(',')
        .map(|s| format!("mmkit_{}", s.trim()))
        .collect()
}

fn caps_for(os: &str) -> Vec<&'static str> {
    let linux_like = matches!(os, "linux" | "android");
    let bsd_like = matches!(
        os,
        "freebsd" | "openbsd" | "netbsd" | "dragonfly" | "macos" | "ios"
    );
    let solaris_like = matches!(os, "illumos" | "solaris");
    let mut caps = Vec::new();
    if linux_like || bsd_like || solaris_like {
        caps.push("mmkit_map_anonymous");
    }
    if linux_like {
        caps.extend([
            "mmkit_map_populate",
            "mmkit_map_noreserve",
            "mmkit_map_hugetlb",
            "mmkit_madv_hugepage",
            "mmkit_proc_status",
            "mmkit_process_vm",
            "mmkit_memfd",
            "mmkit_seals",
        ]);
    }
    // posix_fallocate: NetBSD has it but the libc crate binds it not; there
    // the blocks are allocated by writing zeros.
    if linux_like || matches!(os, "freebsd" | "dragonfly") || solaris_like {
        caps.push("mmkit_fallocate");
    }
    if linux_like || bsd_like {
        caps.push("mmkit_rlimit_memlock");
    }
    if solaris_like {
        caps.push("mmkit_map_noreserve");
    }
    if linux_like || solaris_like || matches!(os, "freebsd" | "openbsd" | "netbsd" | "dragonfly") {
        caps.push("mmkit_pipe2");
    }
    if linux_like {
        caps.push("mmkit_o_tmpfile");
        caps.push("mmkit_map_noreplace");
    }
    if os == "freebsd" {
        caps.push("mmkit_shm_anon");
    }
    if matches!(os, "macos" | "ios") {
        caps.push("mmkit_variadic_shm_open");
    }
    // Bionic has mremap, but the libc crate binds it (and MREMAP_*) for
    // glibc and musl Linux only; Android grows by copying.
    if os == "linux" {
        caps.push("mmkit_mremap");
    }
    if os != "android" {
        caps.push("mmkit_shm_open");
    }
    if linux_like {
        caps.push("mmkit_statfs_magic");
    } else if matches!(os, "freebsd" | "openbsd" | "dragonfly" | "macos" | "ios") {
        caps.push("mmkit_statfs_typename");
    } else if os == "netbsd" {
        caps.push("mmkit_statvfs_typename");
    } else if solaris_like {
        caps.push("mmkit_statvfs_basetype");
    }
    if linux_like || os == "freebsd" {
        caps.push("mmkit_o_path");
    } else if matches!(os, "netbsd" | "macos" | "ios") || solaris_like {
        caps.push("mmkit_o_search");
    }
    if os != "openbsd" {
        caps.push("mmkit_rlimit_as");
    }
    // mlock marks the range's kernel mappings locked one by one, then faults
    // the pages in, and undoes neither when a step fails; msync with
    // MS_ASYNC|MS_INVALIDATE does nothing but answer EBUSY on locked memory.
    if linux_like {
        caps.push("mmkit_partial_mlock");
    }
    // The guard (MM_GUARD): the signal and si_code each kernel raises for an
    // access to a page past the end of a mapped file, read in its sources.
    // Linux: filemap_fault/shmem VM_FAULT_SIGBUS -> BUS_ADRERR (hardware
    // memory errors are BUS_MCEERR_AR/AO). NetBSD: uvm_fault EINVAL ->
    // BUS_ADRERR. macOS: KERN_MEMORY_ERROR -> SIGBUS, and XNU gives every
    // SIGBUS BUS_ADRERR, protection faults (KERN_PROTECTION_FAILURE) included
    // (the guard repairs only pages the kernel says cannot be read, and none
    // in a region with protected parts). FreeBSD:
    // vm_fault_trap KERN_OUT_OF_BOUNDS -> BUS_OBJERR (DragonFly assumed the
    // same). OpenBSD: uvm_fault EIO -> BUS_OBJERR. illumos: FC_OBJERR ->
    // BUS_OBJERR (BUS_ADRERR there is FC_HWERR, a hardware error).
    if linux_like || matches!(os, "netbsd" | "macos" | "ios") {
        caps.push("mmkit_guard_bus_adrerr");
    } else if matches!(os, "freebsd" | "dragonfly" | "openbsd") || solaris_like {
        caps.push("mmkit_guard_bus_objerr");
    }
    if matches!(os, "macos" | "ios") {
        caps.push("mmkit_guard_sigbus_prot");
    }
    let off = disabled();
    caps.retain(|c| !off.iter().any(|d| d == c));
    caps
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-env-changed=MMKIT_DISABLE");

    let os = env::var("CARGO_CFG_TARGET_OS").expect("cargo sets CARGO_CFG_TARGET_OS");
    for cap in CAPS {
        // (One colon: Cargo 1.77, the rust-version, refuses the `cargo::`
        // form in a package whose rust-version is 1.77; 1.80 and later read both.)
        println!("cargo:rustc-check-cfg=cfg({cap})");
    }
    for cap in caps_for(&os) {
        println!("cargo:rustc-cfg={cap}");
    }

    // The shared library's ABI name: bumped only when the C ABI breaks.
    match os.as_str() {
        "macos" | "ios" => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/libmmkit.0.dylib")
        }
        "windows" => {}
        _ => println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmmkit.so.0"),
    }

    generate_header();
}

fn generate_header() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("mmkit.h");

    let mut config = cbindgen::Config {
        language: cbindgen::Language::C,
        include_guard: Some("MMKIT_H".into()),
        no_includes: true,
        sys_includes: vec!["stddef.h".into(), "stdint.h".into()],
        cpp_compat: true,
        documentation: true,
        documentation_style: cbindgen::DocumentationStyle::Doxy,
        usize_is_size_t: true,
        style: cbindgen::Style::Type,
        after_includes: Some(version_macros()),
        header: Some(
            "/*\n \
             * mmkit.h - the memory-mapping toolbox for Unix and Windows behind one small, stable C ABI.\n \
             *\n \
             * Generated from the Rust sources by cbindgen; do not edit by hand.\n \
             * Every function that can fail returns 0 or a negative errno; after a\n \
             * failure mm_last_error() describes it (the message is per thread).\n \
             *\n \
             * Build: cc prog.c $(pkg-config --cflags --libs mmkit)\n \
             * CMake: find_package(mmkit REQUIRED), target_link_libraries(prog mmkit::mmkit)\n \
             */"
            .into(),
        ),
        ..Default::default()
    };
    // Only the C surface: the MM_* constants, the mm_* functions and the opaque
    // mm_region handle. The safe Rust types are not part of the C ABI.
    config.export.exclude = [
        "Flags",
        "SyncFlags",
        "SyncMode",
        "Advice",
        "Region",
        "Error",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // mm_lost_counter's count is an AtomicUsize in Rust, a `volatile size_t`
    // to C: it changes under the reader (the fault handler counts pages).
    config
        .export
        .rename
        .insert("AtomicUsize".into(), "volatile size_t".into());
    // The Windows-only calls (src/ffi/windows.rs) are declared under
    // #if defined(_WIN32): one header for every platform.
    config.defines = [("windows".to_string(), "_WIN32".to_string())]
        .into_iter()
        .collect();
    config.export.item_types = vec![
        cbindgen::ItemType::Constants,
        cbindgen::ItemType::Functions,
        cbindgen::ItemType::OpaqueItems,
    ];
    config.parse.parse_deps = false;

    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen could not generate mmkit.h: {e}"));
    let mut text = Vec::new();
    bindings.write(&mut text);
    let mut text = String::from_utf8(text).expect("cbindgen writes UTF-8");
    // Items cbindgen skips (associated consts of the Rust-only types) leave
    // runs of blank lines behind; keep at most one.
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}

/// The compile-time version macros, from Cargo.toml's version: the header says
/// which version it declares, `mm_version()` which library runs. One byte each
/// for minor and patch, as zlib's `ZLIB_VERNUM` and curl's
/// `LIBCURL_VERSION_NUM` pack theirs, so the number compares in `#if`.
fn version_macros() -> String {
    let part = |name: &str| -> u32 {
        let v = env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"));
        let n = v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"));
        assert!(
            n <= 255,
            "{name}={n}: MMKIT_VERSION_NUM has one byte for each part"
        );
        n
    };
    let (major, minor, patch) = (
        part("CARGO_PKG_VERSION_MAJOR"),
        part("CARGO_PKG_VERSION_MINOR"),
        part("CARGO_PKG_VERSION_PATCH"),
    );
    let num = (major << 16) | (minor << 8) | patch;
    format!(
        "\n\
         /**\n \
         * The major part of the version this header declares, known at compile\n \
         * time (each part is 0 to 255). mm_version() says which library runs,\n \
         * which may be newer: the ABI of one major version only grows.\n \
         */\n\
         #define MMKIT_VERSION_MAJOR {major}\n\
         \n\
         /**\n \
         * The minor part of the header's version (0 to 255).\n \
         */\n\
         #define MMKIT_VERSION_MINOR {minor}\n\
         \n\
         /**\n \
         * The patch part of the header's version (0 to 255).\n \
         */\n\
         #define MMKIT_VERSION_PATCH {patch}\n\
         \n\
         /**\n \
         * The header's version as one number that compares in the preprocessor:\n \
         * (MMKIT_VERSION_MAJOR << 16) | (MMKIT_VERSION_MINOR << 8) | MMKIT_VERSION_PATCH,\n \
         * so 0x000100 is 0.1.0 and 0x010203 is 1.2.3 (as zlib's ZLIB_VERNUM and\n \
         * curl's LIBCURL_VERSION_NUM). For example: #if MMKIT_VERSION_NUM >= 0x000100\n \
         */\n\
         #define MMKIT_VERSION_NUM 0x{num:06x}\n"
    )
}
