//! Replays the seed corpus of the fuzz targets over this crate's parsers (`fuzz/corpus/<target>`),
//! with the very checks the targets run (`fuzz/checks/<target>.rs`): on the stable toolchain, in
//! the normal test suite, so a corpus entry (a seed, or a crash a fuzz run found and committed)
//! keeps failing the build until its bug is fixed.

#[path = "../../../fuzz/checks/csv_parse.rs"]
mod csv_parse;
#[path = "../../../fuzz/checks/ldap_parse.rs"]
mod ldap_parse;

/// Runs `check` over every file of the target's corpus; a panic names the file.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no seeds", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("fuzz check {target} fails on {}", file.display());
        }
    }
}

#[test]
fn csv_parse_corpus() {
    replay("csv_parse", csv_parse::check);
}

#[test]
fn ldap_parse_corpus() {
    replay("ldap_parse", ldap_parse::check);
}
