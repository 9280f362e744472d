//! Replays the seed corpus of the fuzz targets over this crate's parsers (`fuzz/corpus/<target>`),
//! with the very checks the targets run (`fuzz/checks/<target>.rs`): on the stable toolchain, in
//! the normal test suite, so a corpus entry (a seed, or a crash a fuzz run found and committed)
//! keeps failing the build until its bug is fixed.

#[path = "../../../fuzz/checks/filter_parse.rs"]
mod filter_parse;
#[path = "../../../fuzz/checks/patch_apply.rs"]
mod patch_apply;
#[path = "../../../fuzz/checks/patch_path.rs"]
mod patch_path;

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn filter_parse_corpus() {
    replay("filter_parse", filter_parse::check);
}

#[test]
fn patch_path_corpus() {
    replay("patch_path", patch_path::check);
}

#[test]
fn patch_apply_corpus() {
    replay("patch_apply", patch_apply::check);
}
