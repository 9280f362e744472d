//! Why an LDAP sync failed, worded for whoever runs the directory, and whether trying again
//! unchanged may help.

/// Result codes are RFC 4511 Appendix A:
/// <https://www.rfc-editor.org/rfc/rfc4511#appendix-A>
#[derive(Debug, thiserror::Error)]
pub enum LdapSourceError {
    #[error("LDAP source misconfigured: {reason}")]
    Config { reason: String },
    #[error("cannot read the CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    /// Result code 49. Trying again with the same password only risks locking the account.
    #[error(
        "the directory rejected the bind as {bind_dn}: invalid credentials (wrong DN or password, or the account is locked or expired){detail}"
    )]
    InvalidCredentials { bind_dn: String, detail: String },
    #[error("cannot reach the directory at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the directory at {url} did not answer {operation} within {secs} s")]
    Timeout { url: String, operation: String, secs: u64 },
    #[error("TLS with {url} failed: {reason}")]
    Tls { url: String, reason: String },
    #[error("base DN {base:?} does not exist on the server{detail}")]
    NoSuchBase { base: String, detail: String },
    #[error("filter {filter:?} is invalid: {reason}")]
    BadFilter { filter: String, reason: String },
    /// Result code 4, or 11 (Active Directory's MaxPageSize/MaxResultSetSize).
    #[error(
        "the server's size limit stopped the search of {base:?}: {text} (raise the bind account's limit, or check the paging)"
    )]
    SizeLimit { base: String, text: String },
    #[error(
        "search of {base:?} returned more than {limit} entries (max_entries); narrow the filter or raise the limit"
    )]
    TooManyEntries { base: String, limit: usize },
    #[error("the directory answered {operation} with {code} ({name}): {text}")]
    Server { operation: String, code: u32, name: &'static str, text: String, retryable: bool },
    #[error("the directory sent a malformed response to {operation}: {reason}")]
    Protocol { operation: String, reason: String },
    /// The data itself is wrong for Tenure (no key, no email, a duplicate key ...).
    #[error("entry {dn:?}: {reason}")]
    Entry { dn: String, reason: String },
    #[error("groups {first:?} and {second:?} both have the name {name:?}; group names must be unique")]
    DuplicateGroup { name: String, first: String, second: String },
    #[error("entries {first:?} and {second:?} have the same key {key:?}")]
    DuplicateKey { key: String, first: String, second: String },
    #[error("the saved incremental cursor {cursor:?} is unusable: {reason}")]
    Cursor { cursor: String, reason: String },
}

impl LdapSourceError {
    /// Whether running the same sync again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => true,
            Self::Server { retryable, .. } => *retryable,
            Self::Config { .. }
            | Self::CaFile { .. }
            | Self::InvalidCredentials { .. }
            | Self::Tls { .. }
            | Self::NoSuchBase { .. }
            | Self::BadFilter { .. }
            | Self::SizeLimit { .. }
            | Self::TooManyEntries { .. }
            | Self::Protocol { .. }
            | Self::Entry { .. }
            | Self::DuplicateGroup { .. }
            | Self::DuplicateKey { .. }
            | Self::Cursor { .. } => false,
        }
    }
}

/// The RFC 4511 name of a result code, for messages.
pub(crate) fn result_name(code: u32) -> &'static str {
    match code {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        17 => "undefinedAttributeType",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        54 => "loopDetect",
        80 => "other",
        87 => "filterError",
        _ => "unknown",
    }
}
