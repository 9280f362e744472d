//! `tenure keys`: the master keys app credentials are sealed with. Shows and moves stored
//! credentials between keys; never prints a credential or a key.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use tenure_core::TenantId;
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

pub async fn run(store: &Store, tenant: TenantId, command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Status { json } => status(store, json).await,
        KeysCommand::Rotate => rotate(store, tenant).await,
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
            None => println!("no master key configured: credentials are stored in plain text"),
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

async fn rotate(store: &Store, tenant: TenantId) -> anyhow::Result<ExitCode> {
    let done = store.rotate_keys().await?;
    let current = store.keyring().current_id().unwrap_or_default().to_owned();
    let detail = json!({"key_id": current, "rotated": done.rotated, "unchanged": done.unchanged});
    store.append_audit_for(tenant, "cli", "keys.rotate", &current, None, None, &detail).await?;
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

/// The app's auth settings from `tenure app add scim` flags, and the OAuth client secret read
/// from the variable `--client-secret-env` names (None for a static-token app).
pub fn oauth_args(args: &crate::cli::ScimAppArgs) -> anyhow::Result<(tenure_store::AppAuth, Option<String>)> {
    let Some(token_url) = &args.oauth_token_url else {
        return Ok((tenure_store::AppAuth::Bearer, None));
    };
    if args.token.is_some() || args.token_file.is_some() {
        anyhow::bail!(
            "--oauth-token-url replaces the static token: drop --token / --token-file (and unset TENURE_APP_TOKEN)"
        );
    }
    let (Some(client_id), Some(var)) = (&args.client_id, &args.client_secret_env) else {
        anyhow::bail!("--oauth-token-url needs --client-id and --client-secret-env");
    };
    let secret = std::env::var(var)
        .map_err(|_| anyhow::anyhow!("--client-secret-env {var}: the variable is not set (or not UTF-8)"))?;
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        anyhow::bail!("--client-secret-env {var}: the variable is empty");
    }
    // Checks the URL and id the way syncs will use them.
    tenure_connectors::oauth::OAuthConfig::new(
        token_url,
        client_id,
        tenure_core::Secret::new(secret.clone()),
        args.scope.as_deref(),
    )?;
    let (token_url, client_id) = (token_url.trim().to_owned(), client_id.trim().to_owned());
    let scope = args.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let client_auth = match args.client_auth {
        ClientAuthArg::Basic => tenure_store::OauthClientAuth::Basic,
        ClientAuthArg::Body => tenure_store::OauthClientAuth::Body,
    };
    let auth = match (args.oauth_flow, &args.oauth_authorize_url) {
        (OauthFlowArg::ClientCredentials, None) => {
            tenure_store::AppAuth::OauthClientCredentials { token_url, client_id, scope, client_auth }
        }
        (OauthFlowArg::ClientCredentials, Some(_)) => {
            anyhow::bail!("--oauth-authorize-url belongs to --oauth-flow authorization-code")
        }
        (OauthFlowArg::AuthorizationCode, None) => {
            anyhow::bail!("--oauth-flow authorization-code needs --oauth-authorize-url")
        }
        (OauthFlowArg::AuthorizationCode, Some(authorize_url)) => {
            let client = tenure_connectors::oauth::OAuthConfig::new(
                &token_url,
                &client_id,
                tenure_core::Secret::new(secret.clone()),
                scope.as_deref(),
            )?;
            tenure_connectors::oauth_code::AuthorizationCodeConfig::new(authorize_url, client)?;
            let authorize_url = authorize_url.trim().to_owned();
            tenure_store::AppAuth::OauthAuthorizationCode { authorize_url, token_url, client_id, scope, client_auth }
        }
    };
    Ok((auth, Some(secret)))
}
