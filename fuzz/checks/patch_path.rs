//! Any text as a PATCH path: parsing never panics, and what parses prints back to itself.

use tenure_scim::PatchPath;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(path) = PatchPath::parse(text) {
        assert_eq!(PatchPath::parse(&path.to_string()).as_ref(), Ok(&path));
    }
}
