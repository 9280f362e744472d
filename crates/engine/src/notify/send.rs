//! Draining the outbox: each claimed message sent once through its channel, its outcome
//! recorded; a failure waits (1 s, 2 s, 4 s, ... up to 10 minutes) and is retried, up to
//! [`MAX_ATTEMPTS`] tries.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;
use tenure_store::{ChannelRecord, MessageDelivery, OutboxRecord};

use super::channel::{ChannelConfig, SmtpTls, WebhookSecret};
use crate::{Clock, Engine, EngineError};

/// Tries before a message is given up (then `failed`, visible in `tenure notify list`).
pub const MAX_ATTEMPTS: i64 = 10;
/// How long a drainer keeps a claimed message before another may take it.
const LEASE_MS: i64 = 60_000;
const TIMEOUT: Duration = Duration::from_secs(20);

/// What one drain did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrainReport {
    pub sent: usize,
    /// Attempts that failed (and will be retried, or were given up).
    pub failed_attempts: usize,
    /// Messages still pending when the drain stopped.
    pub pending: i64,
}

/// The signature header of the generic webhook: `sha256=HEX(HMAC-SHA256(key, "TIMESTAMP.BODY"))`,
/// with the timestamp (Unix seconds) in `X-Tenure-Timestamp`, so a receiver can refuse replays.
pub fn signature(key: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    format!("sha256={}", tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn backoff(attempts: i64) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 10) as u32).min(Duration::from_secs(600))
}

impl Engine {
    /// Sends what is due in the outbox until nothing is pending or `max_wait` has passed
    /// (messages waiting for a retry are waited for within it). Errors of single messages are
    /// recorded on them, never returned.
    pub async fn drain_notifications(&self, max_wait: Duration) -> Result<DrainReport, EngineError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        let mut report = DrainReport::default();
        loop {
            let claimed = self.store.claim_messages(self.tenant, LEASE_MS, 50).await?;
            if claimed.is_empty() {
                report.pending = self.store.pending_messages(self.tenant).await?;
                if report.pending == 0 || tokio::time::Instant::now() >= deadline {
                    return Ok(report);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let channels = self.store.channels(self.tenant).await?;
            for message in claimed {
                let outcome = match channels.iter().find(|c| c.id == message.channel_id) {
                    Some(channel) => self.deliver(channel, &message).await,
                    None => Err("its channel was removed".to_owned()),
                };
                let settlement = match outcome {
                    Ok(()) => {
                        report.sent += 1;
                        MessageDelivery::Sent
                    }
                    Err(error) => {
                        report.failed_attempts += 1;
                        tracing::warn!(event = %message.event, attempt = message.attempts + 1, error = %error, "notification not delivered");
                        if message.attempts + 1 >= MAX_ATTEMPTS {
                            MessageDelivery::Failed { error }
                        } else {
                            let retry_at_ms =
                                crate::SystemClock.now_ms() + backoff(message.attempts).as_millis() as i64;
                            MessageDelivery::Retry { error, retry_at_ms }
                        }
                    }
                };
                self.store.settle_message(self.tenant, message.id, &settlement).await?;
            }
        }
    }

    /// Runs the outbox until `shutdown`: `serve`'s background work.
    pub async fn run_notifications(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.drain_notifications(Duration::ZERO).await {
                tracing::warn!(error = %e, "notification outbox pass failed");
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    async fn deliver(&self, channel: &ChannelRecord, message: &OutboxRecord) -> Result<(), String> {
        let config: ChannelConfig =
            serde_json::from_value(channel.config.clone()).map_err(|e| format!("channel settings: {e}"))?;
        let field = |name: &str| message.message[name].as_str().unwrap_or_default().to_owned();
        match config {
            ChannelConfig::Email { host, port, tls, from, .. } => {
                let to: Vec<String> = message.message["to"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                send_email(&host, port, tls, channel.secret.as_ref(), &from, &to, &field("subject"), &field("text"))
                    .await
            }
            ChannelConfig::Webhook { .. } | ChannelConfig::Slack { .. } | ChannelConfig::Teams { .. } => {
                let secret: WebhookSecret = channel
                    .secret
                    .as_ref()
                    .and_then(|s| serde_json::from_str(s.expose()).ok())
                    .ok_or("the channel's URL cannot be read (sealed under a missing key?)")?;
                let body = match config {
                    ChannelConfig::Webhook { .. } => serde_json::json!({
                        "event": message.event,
                        "id": message.id,
                        "subject": field("subject"),
                        "text": field("text"),
                        "link": message.message["link"],
                        "data": message.message["data"],
                    }),
                    _ => serde_json::json!({"text": format!("*{}*\n{}", field("subject"), field("text"))}),
                };
                post(&secret, &serde_json::to_vec(&body).unwrap_or_default()).await
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn send_email(
    host: &str,
    port: u16,
    tls: SmtpTls,
    credentials: Option<&tenure_core::Secret>,
    from: &str,
    to: &[String],
    subject: &str,
    text: &str,
) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = match tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|e| format!("STARTTLS to {host}: {e}"))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| format!("TLS to {host}: {e}"))?,
    };
    let mut builder = builder.port(port).timeout(Some(TIMEOUT));
    if let Some(secret) = credentials {
        let v: serde_json::Value =
            serde_json::from_str(secret.expose()).map_err(|_| "stored SMTP credentials unreadable")?;
        let user = v["user"].as_str().unwrap_or_default().to_owned();
        let password = v["password"].as_str().unwrap_or_default().to_owned();
        builder = builder.credentials(Credentials::new(user, password));
    }
    let transport = builder.build();
    let mut email = lettre::Message::builder()
        .from(from.parse().map_err(|e| format!("from {from:?}: {e}"))?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for address in to {
        email = email.to(address.parse().map_err(|e| format!("to {address:?}: {e}"))?);
    }
    let email = email.body(text.to_owned()).map_err(|e| format!("message: {e}"))?;
    transport.send(email).await.map(drop).map_err(|e| format!("SMTP {host}:{port}: {e}"))
}

async fn post(secret: &WebhookSecret, body: &[u8]) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = tenure_outbound::client_builder()
        .timeout(TIMEOUT)
        // A redirect could carry the signed body elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut request = http.post(&secret.url).header("content-type", "application/json");
    if let Some(key) = &secret.signing_key {
        let timestamp = crate::SystemClock.now_ms() / 1000;
        request = request
            .header("x-tenure-timestamp", timestamp.to_string())
            .header("x-tenure-signature", signature(key, timestamp, body));
    }
    let host = url::Url::parse(&secret.url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    // Errors name the host only: the URL's path may be the secret (Slack, Teams).
    let response = request.body(body.to_vec()).send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        format!("webhook {host}: {kind}")
    })?;
    let status = response.status();
    if status.is_success() { Ok(()) } else { Err(format!("webhook {host}: HTTP {status}")) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 does not cover this framing; the value is checked against Python's
        // hmac.new(b"key", b"1700000000.{}", "sha256").hexdigest().
        let s = super::signature("key", 1_700_000_000, b"{}");
        assert_eq!(s, "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae");
        assert_ne!(s, super::signature("key", 1_700_000_001, b"{}"));
        assert_eq!(super::backoff(0), std::time::Duration::from_secs(1));
        assert_eq!(super::backoff(20), std::time::Duration::from_secs(600));
    }
}
