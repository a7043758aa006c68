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
    let declared: std::collections::BTreeSet<&str> = GENERATED
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains("mm_") && l.ends_with(");"))
        .filter_map(|l| l.split('(').next()?.rsplit([' ', '*']).next())
        .collect();
    let listed: std::collections::BTreeSet<&str> = include_str!("../abi-symbols.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        declared, listed,
        "header declarations vs tests/abi-symbols.txt"
    );
}

#[test]
fn every_declaration_carries_its_documentation() {
    let lines: Vec<&str> = GENERATED.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let is_decl = (l.starts_with("#define MM_") || (l.contains("mm_") && l.ends_with(");")))
            && !l.starts_with(' ');
        if is_decl {
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with("*/"),
                "undocumented: {l}"
            );
        }
    }
}
