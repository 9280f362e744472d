//! libFuzzer's entry for the check in `fuzz/checks/csv_parse.rs`, which the normal test suite also
//! replays over `fuzz/corpus/csv_parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/csv_parse.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
