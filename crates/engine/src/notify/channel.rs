//! Notification channels as admins give them and as the store keeps them: what is not secret in
//! `config` (shown in lists), credentials and secret URLs sealed in `secret`.

use serde::{Deserialize, Serialize};
use tenure_core::Secret;
use url::Url;

use crate::EngineError;

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on localhost or a test server).
    None,
    /// Upgraded with STARTTLS, required.
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// Who receives an email: an address, or a role resolved when the message is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipient {
    Address(String),
    OrgAdmins,
    AppAdmins,
    LicenseAdmins,
    /// The person's manager, from the directory's manager link.
    Manager,
    /// The person the event is about.
    Person,
}

impl Recipient {
    /// `org-admins`, `app-admins`, `license-admins`, `manager`, `person`, or an address.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        Ok(match raw.to_ascii_lowercase().as_str() {
            "org-admins" => Self::OrgAdmins,
            "app-admins" => Self::AppAdmins,
            "license-admins" => Self::LicenseAdmins,
            "manager" => Self::Manager,
            "person" => Self::Person,
            _ => {
                check_address(raw)?;
                Self::Address(raw.to_owned())
            }
        })
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Address(a) => a,
            Self::OrgAdmins => "org-admins",
            Self::AppAdmins => "app-admins",
            Self::LicenseAdmins => "license-admins",
            Self::Manager => "manager",
            Self::Person => "person",
        })
    }
}

fn check_address(raw: &str) -> Result<(), String> {
    raw.parse::<lettre::Address>().map(drop).map_err(|e| format!("{raw:?} is not an email address ({e})"))
}

/// A channel's settings that are not secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChannelConfig {
    Email {
        host: String,
        port: u16,
        tls: SmtpTls,
        from: String,
        to: Vec<Recipient>,
    },
    /// A generic webhook: JSON, signed with HMAC-SHA256.
    Webhook {
        shown: String,
    },
    Slack {
        shown: String,
    },
    Teams {
        shown: String,
    },
}

impl ChannelConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Email { .. } => "email",
            Self::Webhook { .. } => "webhook",
            Self::Slack { .. } => "slack",
            Self::Teams { .. } => "teams",
        }
    }

    /// Where it goes, in words that carry no secret.
    pub fn target(&self) -> String {
        match self {
            Self::Email { host, port, tls, from, to } => {
                let to: Vec<String> = to.iter().map(ToString::to_string).collect();
                let tls = match tls {
                    SmtpTls::None => "",
                    SmtpTls::Starttls => " (STARTTLS)",
                    SmtpTls::Tls => " (TLS)",
                };
                format!("smtp {host}:{port}{tls}, from {from} to {}", to.join(", "))
            }
            Self::Webhook { shown } | Self::Slack { shown } | Self::Teams { shown } => shown.clone(),
        }
    }
}

/// The sealed part of a webhook channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookSecret {
    pub url: String,
    /// The generic webhook's HMAC key (base64 of 32 random bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

/// An email channel from `--smtp-url smtp://[USER:PASSWORD@]HOST:PORT` (or `smtps://`, TLS from
/// the first byte; `smtp://...?starttls=required` or `--starttls` for STARTTLS).
pub fn email(
    smtp_url: &str,
    starttls: bool,
    from: &str,
    to: &[String],
) -> Result<(ChannelConfig, Option<Secret>), EngineError> {
    let bad = |m: String| EngineError::field("smtp_url", m);
    let url = Url::parse(smtp_url.trim()).map_err(|e| bad(format!("{e}")))?;
    let mut tls = match url.scheme() {
        "smtp" => SmtpTls::None,
        "smtps" => SmtpTls::Tls,
        other => return Err(bad(format!("scheme {other:?}: use smtp:// or smtps://"))),
    };
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref()) {
            ("starttls", "required" | "true" | "1") if tls == SmtpTls::None => tls = SmtpTls::Starttls,
            _ => return Err(bad(format!("unknown option {key}={value} (only starttls=required)"))),
        }
    }
    if starttls {
        if tls == SmtpTls::Tls {
            return Err(bad("smtps:// is TLS already; STARTTLS is for smtp://".into()));
        }
        tls = SmtpTls::Starttls;
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host".into()))?.to_owned();
    // smtp:// is not a scheme the URL standard knows, so its host is opaque text: read it as an
    // http host to apply the same address rules.
    let as_http = Url::parse(&format!("http://{host}/")).map_err(|e| bad(format!("host {host:?}: {e}")))?;
    if tenure_sources::cloud_http::is_metadata_address(&as_http) {
        return Err(bad("a link-local or metadata address is not allowed".into()));
    }
    let port = url.port().unwrap_or(match tls {
        SmtpTls::Tls => 465,
        SmtpTls::Starttls => 587,
        SmtpTls::None => 25,
    });
    if !matches!(url.path(), "" | "/") {
        return Err(bad("no path expected".into()));
    }
    let credentials = match (url.username(), url.password()) {
        ("", None) => None,
        (user, Some(password)) if !user.is_empty() => {
            let decode =
                |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            let user = decode(user).unwrap_or_default();
            let password = decode(password).unwrap_or_default();
            Some(Secret::new(serde_json::json!({"user": user, "password": password}).to_string()))
        }
        _ => return Err(bad("credentials must be USER:PASSWORD@".into())),
    };
    check_address(from).map_err(|m| EngineError::field("from", m))?;
    if to.is_empty() {
        return Err(EngineError::field(
            "to",
            "at least one recipient: an address, org-admins, app-admins, license-admins, manager or person",
        ));
    }
    let to = to
        .iter()
        .map(|t| Recipient::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| EngineError::field("to", m))?;
    Ok((ChannelConfig::Email { host, port, tls, from: from.trim().to_owned(), to }, credentials))
}

/// A webhook channel (`webhook`, `slack`, `teams`) from its URL, checked as connector URLs are:
/// http(s), no link-local or metadata address. Slack's and Teams' URLs carry their secret in the
/// path, so the whole URL is sealed and only the scheme and host are shown.
pub fn webhook(
    kind: &str,
    raw: &str,
    signing_key: Option<Secret>,
) -> Result<(ChannelConfig, Secret, Option<Secret>), EngineError> {
    let bad = |m: String| EngineError::field("url", m);
    // Not the URL itself: a webhook's path is its secret, and refusals are shown to admins.
    let url = Url::parse(raw.trim()).map_err(|e| bad(format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(bad("not an http(s) URL".into()));
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("no fragment or credentials in the URL".into()));
    }
    if tenure_sources::cloud_http::is_metadata_address(&url) {
        return Err(bad("a link-local or metadata address is not allowed (SSRF)".into()));
    }
    let shown = format!("{}://{}/…", url.scheme(), url.host_str().unwrap_or_default());
    let (config, key) = match kind {
        "webhook" => {
            let key = match signing_key {
                Some(k) if k.expose().len() >= 16 => k,
                Some(_) => return Err(EngineError::field("signing_key", "at least 16 characters")),
                None => Secret::new(crate::tokens::random_token(32)),
            };
            (ChannelConfig::Webhook { shown }, Some(key))
        }
        "slack" => (ChannelConfig::Slack { shown }, None),
        "teams" => (ChannelConfig::Teams { shown }, None),
        other => return Err(EngineError::field("kind", format!("{other:?}: email, webhook, slack or teams"))),
    };
    let secret = WebhookSecret { url: url.to_string(), signing_key: key.as_ref().map(|k| k.expose().to_owned()) };
    Ok((config, Secret::new(serde_json::to_string(&secret).unwrap_or_default()), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_give_host_port_tls_and_sealed_credentials() {
        let to = vec!["ops@example.com".to_owned(), "manager".to_owned()];
        let (c, secret) = email("smtp://127.0.0.1:2525", false, "tenure@example.com", &to).unwrap();
        assert!(secret.is_none());
        let ChannelConfig::Email { host, port, tls, to: recipients, .. } = c else { panic!() };
        assert_eq!((host.as_str(), port, tls), ("127.0.0.1", 2525, SmtpTls::None));
        assert_eq!(recipients[1], Recipient::Manager);
        let (c, secret) = email("smtps://u%40x:p%3Ass@mail.example.com", false, "t@example.com", &to).unwrap();
        assert!(matches!(c, ChannelConfig::Email { port: 465, tls: SmtpTls::Tls, .. }));
        let secret = secret.unwrap();
        assert!(secret.expose().contains("u@x") && secret.expose().contains("p:ss"), "decoded");
        assert!(!c.target().contains("p:ss") && !c.target().contains("u@x"), "{}", c.target());
        let (c, _) = email("smtp://mail.example.com?starttls=required", false, "t@example.com", &to).unwrap();
        assert!(matches!(c, ChannelConfig::Email { port: 587, tls: SmtpTls::Starttls, .. }));
        for bad in ["http://x", "smtp://169.254.169.254:25", "smtp://h?foo=1", "smtp://user@h"] {
            assert!(email(bad, false, "t@example.com", &to).is_err(), "{bad}");
        }
        assert!(email("smtp://h", false, "not an address", &to).is_err());
        assert!(email("smtp://h", false, "t@example.com", &[]).is_err());
        assert!(email("smtp://h", false, "t@example.com", &["boss".into()]).is_err());
    }

    #[test]
    fn webhook_urls_follow_the_connector_rules_and_hide_their_path() {
        let (c, secret, key) = webhook("slack", "https://hooks.slack.com/services/T/B/XYZ", None).unwrap();
        assert_eq!(c.target(), "https://hooks.slack.com/…");
        assert!(secret.expose().contains("XYZ") && key.is_none());
        let (_, _, key) = webhook("webhook", "http://127.0.0.1:9/hook", None).unwrap();
        assert!(key.unwrap().expose().len() >= 32);
        for bad in ["ftp://x/y", "http://169.254.169.254/latest", "http://metadata.google.internal/x", "http://u:p@h/x"]
        {
            assert!(webhook("webhook", bad, None).is_err(), "{bad}");
        }
        assert!(webhook("pager", "https://x.example/y", None).is_err());
    }
}
