//! libFuzzer's entry for the check in `fuzz/checks/filter_parse.rs`, which the normal test suite also
//! replays over `fuzz/corpus/filter_parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/filter_parse.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
