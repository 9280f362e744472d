//! Active Directory's `objectGUID`: 16 bytes on the wire, shown by Microsoft's tools as a GUID
//! string whose first three groups are little-endian (the `GUID` struct's `Data1` u32, `Data2`
//! and `Data3` u16) and the last two are the remaining bytes in order.
//! <https://learn.microsoft.com/en-us/windows/win32/adschema/a-objectguid>,
//! <https://learn.microsoft.com/en-us/windows/win32/api/guiddef/ns-guiddef-guid>

/// The canonical (lower-case) string of a 16-byte `objectGUID`, or `None` if it is not 16 bytes.
pub fn render(bytes: &[u8]) -> Option<String> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn mixed_endian_rendering() {
        // The GUID {01234567-89ab-cdef-0123-456789abcdef} as AD stores it.
        let wire = [0x67, 0x45, 0x23, 0x01, 0xab, 0x89, 0xef, 0xcd, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        assert_eq!(super::render(&wire).as_deref(), Some("01234567-89ab-cdef-0123-456789abcdef"));
        assert_eq!(super::render(&wire[..15]), None);
    }
}
