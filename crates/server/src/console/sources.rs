//! Sources: each with its last sync, and "sync now" for org admins (the engine's sync command,
//! whose report is shown).

use askama::Template;
use axum::extract::Path;
use tenure_engine::SyncOptions;

use super::auth::Signed;
use super::view::{Nav, Notice, PageResult, render, segment, when};

pub struct SourceLine {
    pub name: String,
    pub kind: String,
    pub last_sync: String,
    pub count: String,
    pub sync_href: String,
    pub config: String,
}

#[derive(Template)]
#[template(path = "console/sources.html")]
struct SourcesPage {
    nav: Nav,
    notice: Option<Notice>,
    sources: Vec<SourceLine>,
}

pub async fn page(signed: Signed) -> PageResult {
    sources_page(&signed, None).await
}

async fn sources_page(signed: &Signed, notice: Option<Notice>) -> PageResult {
    let sources = signed
        .admin()
        .sources()
        .await?
        .into_iter()
        .map(|s| SourceLine {
            sync_href: format!("/sources/{}/sync", segment(&s.name)),
            last_sync: when(s.last_sync_ms),
            count: s.last_count.map_or_else(|| "-".into(), |n| n.to_string()),
            config: serde_json::to_string(&s.config).unwrap_or_default(),
            name: s.name,
            kind: s.kind,
        })
        .collect();
    Ok(render(&SourcesPage { nav: signed.nav("sources"), notice, sources }))
}

pub async fn sync(signed: Signed, Path(name): Path<String>) -> PageResult {
    let notice = match signed.admin().sync(Some(&name), SyncOptions::default()).await {
        Ok(reports) => Notice::ok(
            reports
                .iter()
                .map(|r| {
                    format!(
                        "{}: {} people read{}",
                        r.source,
                        r.people,
                        if r.incremental { " (changes only)" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(e @ tenure_engine::EngineError::Forbidden(_)) => return Err(e.into()),
        Err(e) => Notice::error(format!("{name}: {e}")),
    };
    sources_page(&signed, notice).await
}
