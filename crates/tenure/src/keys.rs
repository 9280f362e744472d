//! `tenure keys`: the master keys app credentials are sealed with. Shows and moves stored
//! credentials between keys; never prints a credential or a key.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use tenure_store::Store;
use tenure_store::crypto::StoredForm;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// How many stored credentials are under each master key, or still in plain text.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Re-encrypt every stored credential (every tenant's) under the current master key, the
    /// first of TENURE_MASTER_KEYS / TENURE_MASTER_KEY_FILE. All or nothing; running it again
    /// changes nothing. Keep the old key configured (after the new one) until this has run.
    Rotate,
}

pub async fn run(engine: &tenure_engine::Engine, command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Status { json } => status(engine.store(), json).await,
        KeysCommand::Rotate => rotate(engine).await,
    }
}

async fn status(store: &Store, as_json: bool) -> anyhow::Result<ExitCode> {
    let keyring = store.keyring();
    let status = store.key_status().await?;
    let unreadable: Vec<&str> = status
        .counts
        .keys()
        .filter_map(|form| match form {
            StoredForm::Sealed { key_id } if !keyring.has_key(key_id) => Some(key_id.as_str()),
            _ => None,
        })
        .collect();
    let plain = status.counts.get(&StoredForm::Plain).copied().unwrap_or(0);
    if as_json {
        let forms: Vec<_> = status
            .counts
            .iter()
            .map(|(form, count)| match form {
                StoredForm::Plain => json!({"form": "plain", "count": count}),
                StoredForm::Sealed { key_id } => {
                    json!({"form": "sealed", "key_id": key_id, "count": count, "configured": keyring.has_key(key_id)})
                }
            })
            .collect();
        let out =
            json!({"current_key": keyring.current_id(), "configured_keys": keyring.key_ids(), "credentials": forms});
        println!("{out}");
    } else {
        match keyring.current_id() {
            Some(current) => println!("current key: {current} (configured: {})", keyring.key_ids().join(", ")),
            None => println!(
                "no master key configured: credentials cannot be stored (set TENURE_MASTER_KEYS or TENURE_MASTER_KEY_FILE)"
            ),
        }
        if status.counts.is_empty() {
            println!("no stored credentials");
        }
        for (form, count) in &status.counts {
            let note = match form {
                StoredForm::Plain => "  <- not encrypted",
                StoredForm::Sealed { key_id } if !keyring.has_key(key_id) => "  <- key not configured: unreadable",
                StoredForm::Sealed { key_id } if Some(key_id.as_str()) != keyring.current_id() => "  <- older key",
                StoredForm::Sealed { .. } => "",
            };
            println!("{form}: {count} credential{}{note}", if *count == 1 { "" } else { "s" });
        }
    }
    if !unreadable.is_empty() {
        eprintln!("warning: credentials sealed under {} cannot be read: configure that key", unreadable.join(", "));
    } else if plain > 0
        || status
            .counts
            .keys()
            .any(|f| !matches!(f, StoredForm::Sealed { key_id } if Some(key_id.as_str()) == keyring.current_id()))
    {
        if keyring.current_id().is_some() {
            eprintln!("run `tenure keys rotate` to put every credential under the current key");
        } else {
            eprintln!(
                "set TENURE_MASTER_KEYS (KEY_ID:BASE64, e.g. from `openssl rand -base64 32`) and run `tenure keys rotate`"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate(engine: &tenure_engine::Engine) -> anyhow::Result<ExitCode> {
    let done = engine.admin(&tenure_engine::Actor::cli()).rotate_keys().await?;
    let current = engine.store().keyring().current_id().unwrap_or_default().to_owned();
    println!(
        "re-encrypted {} credential{} under key {current}; {} already under it",
        done.rotated,
        if done.rotated == 1 { "" } else { "s" },
        done.unchanged
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientAuthArg {
    /// HTTP Basic (RFC 6749 §2.3.1; every server supports it).
    Basic,
    /// client_id and client_secret in the request body.
    Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OauthFlowArg {
    /// RFC 6749 §4.4: Tenure authenticates as itself.
    ClientCredentials,
    /// RFC 6749 §4.1 with PKCE: an admin consents once; Tenure keeps and refreshes the tokens.
    AuthorizationCode,
}
