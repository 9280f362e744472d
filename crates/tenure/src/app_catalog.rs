//! `tenure app catalog [--json]`: the apps of the compiled-in catalog with what their vendors
//! document; the JSON is the engine's `CatalogApp` list as the API serves it.

use std::process::ExitCode;

use tenure_engine::admin::catalog_apps;
use tenure_engine::admin::views::CatalogApp;

pub fn run(json: bool) -> anyhow::Result<ExitCode> {
    let apps = catalog_apps();
    if json {
        println!("{}", serde_json::to_string_pretty(&apps)?);
    } else {
        print_table(&apps);
    }
    Ok(ExitCode::SUCCESS)
}

/// At most `max` characters, an ellipsis marking a cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn print_table(apps: &[CatalogApp]) {
    println!("{:<18} {:<8} {:<24} {:<11} LIMITS", "APP", "API", "DELETE", "REACTIVATE");
    for app in apps {
        // The table shows the short value; `--json` has the vendor's words and the note.
        let delete = app.entry["delete"]["value"].as_str().unwrap_or("unknown");
        let reactivate = match app.reactivate {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        let name = if app.reserve { format!("{} (reserve)", app.name) } else { app.name.clone() };
        println!(
            "{:<18} {:<8} {:<24} {:<11} {}",
            clip(&name, 18),
            app.api,
            clip(delete, 24),
            reactivate,
            clip(app.rate_limit.as_deref().unwrap_or("unknown"), 60)
        );
    }
    let scim = apps.iter().filter(|a| a.scim).count();
    let own: Vec<String> =
        apps.iter().filter_map(|a| a.connector.as_ref().map(|c| format!("`tenure app add {c}`"))).collect();
    println!(
        "{} apps: {scim} added with `tenure app add scim NAME --vendor APP`, {}; every fact and its sources: `tenure app catalog --json`",
        apps.len(),
        if own.is_empty() { "none with a connector of its own".to_owned() } else { own.join(", ") }
    );
}
