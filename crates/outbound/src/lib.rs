//! Every outbound request Tenure makes (connectors, sources, OAuth token endpoints, webhooks)
//! goes through a client built here, so one address policy holds for all of them, checked on
//! the address actually connected to, not on the name as written:
//!
//! - always refused: link-local (`169.254.0.0/16`, `fe80::/10`), cloud metadata addresses
//!   (`169.254.169.254`, AWS's `fd00:ec2::254`, Alibaba's `100.100.100.200`), unspecified,
//!   multicast and broadcast addresses, in every spelling (IPv4-mapped and IPv4-compatible IPv6,
//!   NAT64, decimal and octal IPv4, which the URL parser normalises), and the metadata host
//!   names (`metadata`, `metadata.google.internal`, with or without a trailing dot);
//! - refused when the operator says so ([`set_deny_private`], `TENURE_OUTBOUND_DENY_PRIVATE`):
//!   loopback and private ranges (`127/8`, `10/8`, `172.16/12`, `192.168/16`, `100.64/10`,
//!   `::1`, `fc00::/7`). They stay allowed by default for on-premises apps, sidecars and tests.
//!
//! Names are checked by the resolver reqwest connects with ([`GuardedResolver`]): every address
//! a name resolves to is checked, and the connection uses only those checked addresses, so a
//! DNS answer that changes between a check and the connect (rebinding) cannot slip through.
//! Literal addresses never reach a resolver, so [`send`] checks the request's URL before it
//! goes out; redirects are not followed.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use url::{Host, Url};

/// The variable an operator sets to refuse loopback and private addresses deployment-wide.
pub const DENY_PRIVATE_VAR: &str = "TENURE_OUTBOUND_DENY_PRIVATE";

static DENY_PRIVATE: AtomicBool = AtomicBool::new(false);

/// Refuse loopback and private addresses for every outbound request of this process (a
/// multi-tenant deployment, where an app URL must not reach the operator's own network).
pub fn set_deny_private(deny: bool) {
    DENY_PRIVATE.store(deny, Ordering::Relaxed);
}

pub fn deny_private() -> bool {
    DENY_PRIVATE.load(Ordering::Relaxed)
}

/// Reads [`DENY_PRIVATE_VAR`] (`true`/`1`/`yes` or `false`/`0`/`no`); an unknown value is an error.
pub fn deny_private_from_env() -> Result<bool, String> {
    match std::env::var(DENY_PRIVATE_VAR) {
        Err(_) => Ok(false),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" | "0" | "false" | "no" | "off" => Ok(false),
            "1" | "true" | "yes" | "on" => Ok(true),
            other => Err(format!("{DENY_PRIVATE_VAR}={other}: expected true or false")),
        },
    }
}

/// Why an address or URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "{host} is a cloud metadata address (refused: a credentialed request there could read the host's own secrets)"
    )]
    Metadata { host: String },
    #[error(
        "{host} is a link-local address (refused: it reaches the host's own network services, such as instance metadata)"
    )]
    LinkLocal { host: String },
    #[error("{host} is not a routable address (unspecified, multicast or broadcast)")]
    Unroutable { host: String },
    #[error("{host} is a loopback or private address, refused because {DENY_PRIVATE_VAR} is set for this deployment")]
    Private { host: String },
    #[error("{host} resolved to {addr}: {reason}")]
    Resolved { host: String, addr: IpAddr, reason: Box<Refused> },
    #[error("{url}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot resolve {host}: {message}")]
    Lookup { host: String, message: String },
}

/// What kind of address this is, after unwrapping IPv4 carried inside IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Metadata,
    LinkLocal,
    Unroutable,
    Private,
    Public,
}

/// The IPv4 address an IPv6 address carries, in the forms a connect reaches: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated but still routed by some
/// stacks) and NAT64 (`64:ff9b::/96`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return Some(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(v4);
    }
    None
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let o = ip.octets();
    if o == [169, 254, 169, 254] || o == [100, 100, 100, 200] || o == [169, 254, 170, 2] {
        Class::Metadata
    } else if ip.is_link_local() {
        Class::LinkLocal
    } else if o[0] == 0 || ip.is_broadcast() || ip.is_multicast() {
        // 0.0.0.0/8 connects to the local host on Linux.
        Class::Unroutable
    } else if ip.is_loopback() || ip.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
        Class::Private
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let s = ip.segments();
    if s == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254] {
        Class::Metadata
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Class::LinkLocal
    } else if ip.is_unspecified() || ip.is_multicast() {
        Class::Unroutable
    } else if ip.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfec0 {
        // Unique local (fc00::/7) and the deprecated site-local (fec0::/10).
        Class::Private
    } else {
        Class::Public
    }
}

/// Whether a connection to `ip` is allowed under the current policy.
pub fn check_ip(ip: IpAddr) -> Result<(), Refused> {
    let host = ip.to_string();
    match classify(ip) {
        Class::Metadata => Err(Refused::Metadata { host }),
        Class::LinkLocal => Err(Refused::LinkLocal { host }),
        Class::Unroutable => Err(Refused::Unroutable { host }),
        Class::Private if deny_private() => Err(Refused::Private { host }),
        Class::Private | Class::Public => Ok(()),
    }
}

/// Host names of cloud metadata services, refused whatever they resolve to.
const METADATA_NAMES: &[&str] =
    &["metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"];

/// Whether a host name as written is allowed (case and trailing dots do not matter).
pub fn check_name(name: &str) -> Result<(), Refused> {
    let normal = name.trim_end_matches('.').to_ascii_lowercase();
    if METADATA_NAMES.contains(&normal.as_str()) {
        return Err(Refused::Metadata { host: name.to_owned() });
    }
    // A name spelled as an address (`[::ffff:...]` without brackets, as resolvers may see it).
    if let Ok(ip) = normal.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return check_ip(ip);
    }
    Ok(())
}

/// The URL's host as written, for what needs no lookup: a literal address or a metadata name.
pub fn check_url_host(url: &Url) -> Result<(), Refused> {
    match url.host() {
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => check_name(name),
        None => Err(Refused::Url { url: url.to_string(), reason: "no host".into() }),
    }
}

/// The check made when a URL is configured (an app or source added or changed): the host as
/// written and every address its name resolves to now. The connect repeats the check on the
/// addresses it then gets, so a name that changes later is caught there.
pub async fn check_url(url: &Url) -> Result<(), Refused> {
    check_url_with(&SystemLookup, url).await
}

/// [`check_url`] with another resolver.
pub async fn check_url_with(lookup: &dyn Lookup, url: &Url) -> Result<(), Refused> {
    check_url_host(url)?;
    if let Some(Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = lookup.lookup(name, port).await?;
        check_addrs(name, &addrs)?;
    }
    Ok(())
}

fn check_addrs(name: &str, addrs: &[SocketAddr]) -> Result<(), Refused> {
    for addr in addrs {
        check_ip(addr.ip()).map_err(|reason| Refused::Resolved {
            host: name.to_owned(),
            addr: addr.ip(),
            reason: Box::new(reason),
        })?;
    }
    Ok(())
}

type LookupFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<SocketAddr>, Refused>> + Send + 'a>>;

/// Where names are resolved: the system's resolver, or a fake in tests.
pub trait Lookup: Send + Sync + 'static {
    fn lookup<'a>(&'a self, name: &'a str, port: u16) -> LookupFuture<'a>;
}

/// The system's resolver (getaddrinfo through tokio).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup<'a>(&'a self, name: &'a str, port: u16) -> LookupFuture<'a> {
        Box::pin(async move {
            let found = tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| Refused::Lookup { host: name.to_owned(), message: e.to_string() })?;
            Ok(found.collect())
        })
    }
}

/// reqwest's resolver: looks a name up, refuses it if any address is refused, and hands reqwest
/// exactly the addresses it checked.
pub struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
}

impl GuardedResolver {
    pub fn new(lookup: Arc<dyn Lookup>) -> Self {
        Self { lookup }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            check_name(&name)?;
            let addrs = lookup.lookup(&name, 0).await?;
            check_addrs(&name, &addrs)?;
            if addrs.is_empty() {
                return Err(Box::new(Refused::Lookup { host: name, message: "no addresses".into() }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client builder with the address policy: the guarded resolver and no redirects (a redirect
/// would carry a token or replay a POST elsewhere). Every outbound reqwest client starts here.
pub fn client_builder() -> reqwest::ClientBuilder {
    client_builder_with(Arc::new(SystemLookup))
}

/// [`client_builder`] with another resolver (tests: a DNS answer that changes).
pub fn client_builder_with(lookup: Arc<dyn Lookup>) -> reqwest::ClientBuilder {
    // reqwest is built without a crypto provider; an already installed one is fine too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver::new(lookup)))
        .redirect(reqwest::redirect::Policy::none())
        // A proxy from the environment would resolve names itself, beyond this policy.
        .no_proxy()
}

/// Why a request did not get a response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

impl SendError {
    /// The refusal, if the policy refused the request (also when the resolver did, inside
    /// reqwest's error).
    pub fn refusal(&self) -> Option<&Refused> {
        match self {
            Self::Refused(r) => Some(r),
            Self::Http(e) => refusal_in(e),
        }
    }
}

/// The policy's refusal inside a reqwest error (the resolver refused the name at connect time):
/// final, not worth a retry.
pub fn refusal_in(e: &reqwest::Error) -> Option<&Refused> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        // A name that does not resolve (now) is a transport failure worth a retry, not a refusal.
        if let Some(r) = s.downcast_ref::<Refused>().filter(|r| !matches!(r, Refused::Lookup { .. })) {
            return Some(r);
        }
        source = s.source();
    }
    None
}

/// Sends a request built on a client from [`client_builder`], checking a literal address in its
/// URL first (names are checked by the resolver at connect time).
pub async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, SendError> {
    let (client, request) = request.build_split();
    let request = request?;
    check_url_host(request.url())?;
    Ok(client.execute(request).await?)
}

/// The most Tenure reads of one response from an app, a source or a token endpoint. A SCIM page
/// of 1,000 users is a few MB; anything near this is a misbehaving or hostile server.
pub const MAX_RESPONSE_BODY: usize = 32 * 1024 * 1024;

/// Why a response body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the response is larger than {cap} bytes, the most Tenure reads of one answer")]
    TooLarge { cap: usize },
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// Reads a response body, stopping at `cap` bytes instead of buffering whatever is sent.
pub async fn read_body(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge { cap });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge { cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
