//! `tenure app authorize` and `tenure app verify`: the OAuth authorization-code flow's start
//! (the callback is served by `tenure serve`) and the connection test.

use std::process::ExitCode;

use tenure_engine::Engine;

pub async fn authorize(engine: &Engine, app: &str, public_url: &str, json: bool) -> anyhow::Result<ExitCode> {
    let redirect_uri = format!("{}{}", public_url.trim().trim_end_matches('/'), tenure_server::oauth::CALLBACK_PATH);
    let start = engine.admin(&tenure_engine::Actor::cli()).authorize_app(app, &redirect_uri).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&start)?);
    } else {
        println!("Open this URL in a browser and consent (within {} minutes):", start.expires_in_s / 60);
        println!();
        println!("  {}", start.authorize_url);
        println!();
        println!(
            "The authorization server sends the browser back to {}, which `tenure serve` must be answering; \
             then `tenure app verify {app}` tests the connection.",
            start.redirect_uri
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(engine: &Engine, app: &str, json: bool) -> anyhow::Result<ExitCode> {
    let verdict = engine.admin(&tenure_engine::Actor::cli()).verify_app(app).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        println!("{} {}", if verdict.ok { "✓" } else { "✗" }, verdict.message);
        for blocker in &verdict.blockers {
            println!("  ✗ {blocker}");
        }
        if let Some(action) = &verdict.action {
            println!("  → {action}");
        }
    }
    Ok(if verdict.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
