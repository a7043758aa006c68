//! The committed include/mmkit.h must be exactly what build.rs generates.
//! `make header` (MMKIT_BLESS_HEADER=1) rewrites it from the current sources.

const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/mmkit.h"));

#[test]
fn committed_header_matches_the_generated_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/mmkit.h");
    if std::env::var_os("MMKIT_BLESS_HEADER").is_some() {
        std::fs::write(path, GENERATED).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == GENERATED,
        "include/mmkit.h differs from the header cbindgen generates; run `make header` and commit it"
    );
}

#[test]
fn header_declares_exactly_the_exported_functions() {
    // Declarations, each with whether it sits inside `#if defined(_WIN32)`.
    let mut windows = false;
    let mut declared = std::collections::BTreeSet::new();
    for l in GENERATED.lines() {
        match l {
            "#if defined(_WIN32)" => windows = true,
            "#endif" => windows = false,
            _ if !l.starts_with(' ') && l.contains("mm_") && l.ends_with(");") => {
                if let Some(name) = l
                    .split('(')
                    .next()
                    .and_then(|d| d.rsplit([' ', '*']).next())
                {
                    declared.insert((name, windows));
                }
            }
            _ => {}
        }
    }
    let names = |text: &'static str, windows: bool| {
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(move |l| (l, windows))
    };
    let listed: std::collections::BTreeSet<(&str, bool)> =
        names(include_str!("../abi-symbols.txt"), false)
            .chain(names(include_str!("../abi-symbols-windows.txt"), true))
            .collect();
    assert_eq!(
        declared, listed,
        "header declarations (name, under #if defined(_WIN32)) vs tests/abi-symbols.txt and \
         tests/abi-symbols-windows.txt"
    );
}

#[test]
fn every_declaration_carries_its_documentation() {
    let lines: Vec<&str> = GENERATED.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let is_decl = ((l.starts_with("#define MM_") || l.starts_with("#define MMKIT_VERSION_"))
            || (l.contains("mm_") && l.ends_with(");")))
            && !l.starts_with(' ');
        if is_decl {
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with("*/"),
                "undocumented: {l}"
            );
        }
    }
}

/// The value of `#define NAME VALUE` in the generated header.
fn macro_value(name: &str) -> u32 {
    let prefix = format!("#define {name} ");
    let text = GENERATED
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("the header defines no {name}"));
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .unwrap_or_else(|e| panic!("{name} is {text}: {e}"))
}

#[test]
fn version_macros_are_the_version_mm_version_reports() {
    // SAFETY: mm_version returns a static NUL-terminated string.
    let running = unsafe { std::ffi::CStr::from_ptr(mmkit::ffi::mm_version()) };
    let parts: Vec<u32> = running
        .to_str()
        .unwrap()
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    let (major, minor, patch) = (
        macro_value("MMKIT_VERSION_MAJOR"),
        macro_value("MMKIT_VERSION_MINOR"),
        macro_value("MMKIT_VERSION_PATCH"),
    );
    assert_eq!(parts, [major, minor, patch], "mm_version() is {running:?}");
    assert_eq!(
        macro_value("MMKIT_VERSION_NUM"),
        (major << 16) | (minor << 8) | patch
    );
}
