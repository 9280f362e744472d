//! Any text as an LDAP distinguished name (RFC 4514) and as a search filter (RFC 4515): parsing
//! never panics; a DN that parses normalizes to a form that parses back to itself.

use tenure_sources::ldap::config::filter_is_valid;
use tenure_sources::ldap::dn::Dn;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(dn) = Dn::parse(text) {
        let normal = dn.normalized();
        let again = Dn::parse(&normal).unwrap_or_else(|e| panic!("{normal:?} from {text:?}: {e}"));
        assert_eq!(again.normalized(), normal, "from {text:?}");
        let _ = dn.org_units();
    }
    let _ = filter_is_valid(text);
}
