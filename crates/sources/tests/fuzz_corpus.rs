//! Replays the seed corpus of the fuzz targets over this crate's parsers (`fuzz/corpus/<target>`),
//! with the very checks the targets run (`fuzz/checks/<target>.rs`): on the stable toolchain, in
//! the normal test suite, so a corpus entry (a seed, or a crash a fuzz run found and committed)
//! keeps failing the build until its bug is fixed.

#[path = "../../../fuzz/checks/csv_parse.rs"]
mod csv_parse;
#[path = "../../../fuzz/checks/ldap_parse.rs"]
mod ldap_parse;

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn csv_parse_corpus() {
    replay("csv_parse", csv_parse::check);
}

#[test]
fn ldap_parse_corpus() {
    replay("ldap_parse", ldap_parse::check);
}
