//! libFuzzer's entry for the check in `fuzz/checks/patch_path.rs`, which the normal test suite also
//! replays over `fuzz/corpus/patch_path`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/patch_path.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
