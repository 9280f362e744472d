//! Replays the seed corpus of the fuzz targets over this crate's parsers (`fuzz/corpus/<target>`),
//! with the very checks the targets run (`fuzz/checks/<target>.rs`): on the stable toolchain, in
//! the normal test suite, so a corpus entry (a seed, or a crash a fuzz run found and committed)
//! keeps failing the build until its bug is fixed.

#[path = "../../../fuzz/checks/expr_parse.rs"]
mod expr_parse;

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn expr_parse_corpus() {
    replay("expr_parse", expr_parse::check);
}
