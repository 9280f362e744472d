//! One bound LDAP connection: connect (LDAPS or StartTLS, the certificate verified against the
//! system roots or a given CA file), simple bind, and bounded paged searches.

use std::sync::Arc;
use std::time::Duration;

use ldap3::asn1::{StructureTag, parse_tag};
use ldap3::controls::RawControl;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::config::LdapConfig;
use super::entry::RawEntry;
use super::error::{LdapSourceError, result_name};
use super::range;

/// Simple Paged Results control, RFC 2696: <https://www.rfc-editor.org/rfc/rfc2696>
const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";

pub struct Connection {
    ldap: Ldap,
    url: String,
    timeout: Duration,
    page_size: i32,
    max_entries: usize,
}

impl Connection {
    /// Connects and binds; the password is sent only over TLS unless plaintext was allowed.
    pub async fn open(config: &LdapConfig) -> Result<Connection, LdapSourceError> {
        let timeout = Duration::from_secs(config.timeout_secs);
        let mut settings = LdapConnSettings::new().set_conn_timeout(timeout).set_starttls(config.starttls);
        let tls = config.url.to_ascii_lowercase().starts_with("ldaps://") || config.starttls;
        if tls {
            settings = settings.set_config(tls_config(config)?);
        }
        let url = config.url.clone();
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &config.url)
            .await
            .map_err(|e| connect_error(&url, config.timeout_secs, e))?;
        ldap3::drive!(conn);
        ldap.with_timeout(timeout);
        let bound = ldap
            .simple_bind(&config.bind_dn, config.password.expose())
            .await
            .map_err(|e| op_error(&url, config.timeout_secs, "the bind", e))?;
        if bound.rc == 49 {
            let detail = if bound.text.is_empty() { String::new() } else { format!("; server says: {}", bound.text) };
            return Err(LdapSourceError::InvalidCredentials { bind_dn: config.bind_dn.clone(), detail });
        }
        check(&url, "the bind", "", bound)?;
        // Page sizes are validated to 1..=10000 in the config.
        let page_size = i32::try_from(config.page_size).unwrap_or(500);
        Ok(Connection { ldap, url, timeout, page_size, max_entries: config.max_entries })
    }

    /// Reads the root DSE's attributes (RFC 4512 §5.1).
    pub async fn root_dse(&mut self, attrs: &[&str]) -> Result<RawEntry, LdapSourceError> {
        let operation = "the root DSE read";
        let secs = self.timeout.as_secs();
        let result = self
            .ldap
            .with_timeout(self.timeout)
            .search("", Scope::Base, "(objectClass=*)", attrs.to_vec())
            .await
            .map_err(|e| op_error(&self.url, secs, operation, e))?;
        let (entries, res) = (result.0, result.1);
        check(&self.url, operation, "", res)?;
        let entry = entries.into_iter().find(|e| !e.is_ref() && !e.is_intermediate()).ok_or_else(|| {
            LdapSourceError::Protocol { operation: operation.to_owned(), reason: "no root DSE entry".to_owned() }
        })?;
        RawEntry::from_result(entry, operation)
    }

    /// A subtree search of `base`, page by page, handing each entry to `each`. Fails (never
    /// returns part of the result) on any error, so a caller cannot mistake a cut-off listing
    /// for the whole directory.
    pub async fn search_paged(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[String],
        mut each: impl FnMut(RawEntry) -> Result<(), LdapSourceError>,
    ) -> Result<usize, LdapSourceError> {
        let operation = format!("the search of {base:?}");
        let secs = self.timeout.as_secs();
        let mut cookie: Vec<u8> = Vec::new();
        let mut count = 0usize;
        loop {
            let control = RawControl {
                ctype: PAGED_RESULTS_OID.to_owned(),
                crit: false,
                val: Some(paged_control_value(self.page_size, &cookie)),
            };
            let result = self
                .ldap
                .with_controls(vec![control])
                .with_timeout(self.timeout)
                .search(base, Scope::Subtree, filter, attrs.to_vec())
                .await
                .map_err(|e| op_error(&self.url, secs, &operation, e))?;
            let (entries, res) = (result.0, result.1);
            let next_cookie = res
                .ctrls
                .iter()
                .find(|c| c.1.ctype == PAGED_RESULTS_OID)
                .map(|c| paged_control_cookie(c.1.val.as_deref().unwrap_or_default()))
                .transpose()
                .map_err(|reason| LdapSourceError::Protocol { operation: operation.clone(), reason })?;
            check_search(&self.url, &operation, base, filter, res)?;
            for entry in entries {
                // Continuation references point at other servers (AD's DomainDnsZones and
                // ForestDnsZones when searching a domain root); people are read from the
                // server configured, so they are not followed.
                if entry.is_ref() || entry.is_intermediate() {
                    continue;
                }
                count += 1;
                if count > self.max_entries {
                    return Err(LdapSourceError::TooManyEntries { base: base.to_owned(), limit: self.max_entries });
                }
                each(RawEntry::from_result(entry, &operation)?)?;
            }
            match next_cookie {
                Some(next) if !next.is_empty() => {
                    if next == cookie {
                        return Err(LdapSourceError::Protocol {
                            operation,
                            reason: "the server returned the same paging cookie twice".to_owned(),
                        });
                    }
                    cookie = next;
                }
                // No control: the server does not page and sent everything at once.
                _ => return Ok(count),
            }
        }
    }

    /// One entry by DN, if it exists and matches `filter`.
    pub async fn read_entry(
        &mut self,
        dn: &str,
        filter: &str,
        attrs: &[String],
    ) -> Result<Option<RawEntry>, LdapSourceError> {
        let operation = format!("the read of {dn:?}");
        let secs = self.timeout.as_secs();
        let result = self
            .ldap
            .with_timeout(self.timeout)
            .search(dn, Scope::Base, filter, attrs.to_vec())
            .await
            .map_err(|e| op_error(&self.url, secs, &operation, e))?;
        if result.1.rc == 32 {
            return Ok(None);
        }
        check_search(&self.url, &operation, dn, filter, result.1)?;
        match result.0.into_iter().find(|e| !e.is_ref() && !e.is_intermediate()) {
            Some(entry) => Ok(Some(RawEntry::from_result(entry, &operation)?)),
            None => Ok(None),
        }
    }

    /// The rest of a ranged attribute of `dn` (Active Directory), given the first chunk.
    pub async fn complete_range(
        &mut self,
        dn: &str,
        first: &range::Ranged<'_>,
        values: Vec<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, LdapSourceError> {
        let operation = format!("the range retrieval of {} of {dn:?}", first.attr);
        let secs = self.timeout.as_secs();
        let protocol = |reason: String| LdapSourceError::Protocol { operation: operation.clone(), reason };
        let mut collector = range::Collector::default();
        let mut next = collector.add(first, values).map_err(protocol)?;
        let mut rounds = 0usize;
        while let Some(request) = next {
            rounds += 1;
            if collector.values.len() > self.max_entries || rounds > self.max_entries {
                return Err(LdapSourceError::TooManyEntries { base: dn.to_owned(), limit: self.max_entries });
            }
            let result = self
                .ldap
                .with_timeout(self.timeout)
                .search(dn, Scope::Base, "(objectClass=*)", vec![request.as_str()])
                .await
                .map_err(|e| op_error(&self.url, secs, &operation, e))?;
            check(&self.url, &operation, dn, result.1)?;
            let entry = result
                .0
                .into_iter()
                .find(|e| !e.is_ref() && !e.is_intermediate())
                .ok_or_else(|| protocol("the entry vanished during range retrieval".to_owned()))?;
            let entry = RawEntry::from_result(entry, &operation)?;
            let (name, chunk) = entry
                .attrs
                .into_iter()
                .find_map(|(name, values)| {
                    range::parse(&name).filter(|r| r.attr.eq_ignore_ascii_case(first.attr)).map(|r| {
                        let r = range::Ranged { attr: first.attr, start: r.start, end: r.end };
                        (r, values)
                    })
                })
                .ok_or_else(|| protocol(format!("the answer to {request} has no ranged {}", first.attr)))?;
            next = collector.add(&name, chunk).map_err(protocol)?;
        }
        Ok(collector.values)
    }

    pub async fn close(mut self) {
        // Best effort: the sync's outcome is already decided.
        let _ = self.ldap.unbind().await;
    }
}

/// TLS that verifies the server: against the CA file when one is given (a private CA is the
/// usual case for directories), else against the system's roots. Built here, with the ring
/// provider, rather than by ldap3, so there is one TLS stack and one crypto provider.
fn tls_config(config: &LdapConfig) -> Result<Arc<rustls::ClientConfig>, LdapSourceError> {
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            let shown = path.display().to_string();
            let bad = |reason: String| LdapSourceError::CaFile { path: shown.clone(), reason };
            let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in it".to_owned()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| bad(format!("unusable certificate: {e}")))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                // A malformed system certificate only removes that one root.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(LdapSourceError::Config {
                    reason: "no CA file given and the system trust store is empty; pass the directory's CA file".into(),
                });
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapSourceError::Tls { url: config.url.clone(), reason: e.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(tls))
}

/// The control value: `SEQUENCE { size INTEGER, cookie OCTET STRING }` (RFC 2696 §2).
fn paged_control_value(size: i32, cookie: &[u8]) -> Vec<u8> {
    let control: RawControl = ldap3::controls::PagedResults { size, cookie: cookie.to_vec() }.into();
    control.val.unwrap_or_default()
}

/// The cookie of a response's paged results control, without ldap3's panicking parser.
fn paged_control_cookie(value: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || "malformed paged results control".to_owned();
    let (_, tag): (_, StructureTag) = parse_tag(value).map_err(|_| bad())?;
    let mut parts = tag.expect_constructed().ok_or_else(bad)?.into_iter();
    let _size = parts.next().ok_or_else(bad)?;
    parts.next().and_then(|t| t.expect_primitive()).ok_or_else(bad)
}

fn connect_error(url: &str, secs: u64, error: LdapError) -> LdapSourceError {
    match error {
        LdapError::Timeout { .. } => {
            LdapSourceError::Timeout { url: url.to_owned(), operation: "the connection".into(), secs }
        }
        LdapError::Rustls { source } => LdapSourceError::Tls { url: url.to_owned(), reason: source.to_string() },
        LdapError::Io { source } if is_tls_failure(&source) => {
            LdapSourceError::Tls { url: url.to_owned(), reason: source.to_string() }
        }
        LdapError::UrlParsing { source } => LdapSourceError::Config { reason: format!("url {url:?}: {source}") },
        LdapError::UnknownScheme(s) => LdapSourceError::Config { reason: format!("url {url:?}: unknown scheme {s}") },
        LdapError::DNSName { source } => LdapSourceError::Config {
            reason: format!("url {url:?}: the host is not a valid TLS server name: {source}"),
        },
        LdapError::LdapResult { result } => {
            // StartTLS refused by the server.
            server_error(url, "StartTLS", result)
        }
        other => LdapSourceError::Unreachable { url: url.to_owned(), reason: other.to_string() },
    }
}

/// tokio-rustls reports handshake failures (an unknown issuer, a name mismatch) as I/O errors
/// wrapping the rustls error; those will not heal by retrying.
fn is_tls_failure(error: &std::io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

fn op_error(url: &str, secs: u64, operation: &str, error: LdapError) -> LdapSourceError {
    match error {
        LdapError::Timeout { .. } => {
            LdapSourceError::Timeout { url: url.to_owned(), operation: operation.to_owned(), secs }
        }
        LdapError::FilterParsing => LdapSourceError::BadFilter {
            filter: String::new(),
            reason: format!("rejected before {operation} was sent"),
        },
        LdapError::LdapResult { result } => server_error(url, operation, result),
        other => LdapSourceError::Unreachable { url: url.to_owned(), reason: format!("{operation}: {other}") },
    }
}

fn server_error(url: &str, operation: &str, result: LdapResult) -> LdapSourceError {
    let code = result.rc;
    let text = if code == 13 || code == 8 {
        format!("{} (the server requires TLS: use ldaps:// or StartTLS)", result.text)
    } else {
        result.text
    };
    // busy, unavailable, timeLimitExceeded and "other" from a server going down may pass.
    let retryable = matches!(code, 3 | 51 | 52 | 80);
    tracing::debug!(url, operation, code, "LDAP operation failed");
    LdapSourceError::Server { operation: operation.to_owned(), code, name: result_name(code), text, retryable }
}

fn check(url: &str, operation: &str, base: &str, result: LdapResult) -> Result<(), LdapSourceError> {
    match result.rc {
        0 => Ok(()),
        32 => Err(no_such_base(base, &result)),
        _ => Err(server_error(url, operation, result)),
    }
}

fn no_such_base(base: &str, result: &LdapResult) -> LdapSourceError {
    let detail = if result.matched.is_empty() {
        String::new()
    } else {
        format!(" (the server has {:?}, the nearest existing parent)", result.matched)
    };
    LdapSourceError::NoSuchBase { base: base.to_owned(), detail }
}

fn check_search(
    url: &str,
    operation: &str,
    base: &str,
    filter: &str,
    result: LdapResult,
) -> Result<(), LdapSourceError> {
    match result.rc {
        0 => Ok(()),
        4 | 11 => Err(LdapSourceError::SizeLimit {
            base: base.to_owned(),
            text: format!("{} ({})", result_name(result.rc), result.text),
        }),
        32 => Err(no_such_base(base, &result)),
        34 => Err(LdapSourceError::NoSuchBase {
            base: base.to_owned(),
            detail: format!(": not a valid DN ({})", result.text),
        }),
        87 => Err(LdapSourceError::BadFilter { filter: filter.to_owned(), reason: result.text }),
        _ => Err(server_error(url, operation, result)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paged_control_round_trip() {
        let value = paged_control_value(500, b"cookie-1");
        assert_eq!(paged_control_cookie(&value).unwrap(), b"cookie-1");
        assert_eq!(paged_control_cookie(&paged_control_value(0, b"")).unwrap(), b"");
        assert!(paged_control_cookie(b"\x30\x03\x02\x01").is_err(), "truncated");
        assert!(paged_control_cookie(b"").is_err());
    }
}
