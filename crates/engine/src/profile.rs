//! What an app's catalog profile changes in what the engine says and does: a plan's losses that
//! cannot be undone are named as such, and where the vendor documents that its user list leaves
//! accounts out, a missing account is never read as absent (every create looks the person up
//! first, and the plan says which linked accounts the list did not show).

use std::collections::HashSet;

use tenure_core::{AccountLink, App, OpKind, Plan, RemoteAccount};

/// The app's catalog entry, when it was added with a profile.
pub(crate) fn entry_of(app: &App) -> Option<&'static tenure_connectors::CatalogEntry> {
    let name = app.settings.vendor.as_deref()?;
    name.parse::<tenure_connectors::Vendor>().ok().map(|v| v.entry())
}

/// Whether an account missing from the app's list may still exist.
pub(crate) fn list_partial(app: &App) -> bool {
    entry_of(app).is_some_and(|e| e.list_partial())
}

/// For an app whose vendor documents that its list leaves accounts out: what the report says
/// of a linked account the list did not show.
pub(crate) fn unseen_note(app: &App) -> Option<String> {
    let entry = entry_of(app).filter(|e| e.list_partial())?;
    let what = entry.list.note.as_deref().unwrap_or("documented");
    Some(format!(
        "not in {}'s user list, which leaves accounts out ({what}): as last stored, not read as gone",
        entry.display_name
    ))
}

/// For the live list of such an app: which accounts it cannot show.
pub(crate) fn unseen_accounts(app: &App) -> Option<String> {
    let entry = entry_of(app).filter(|e| e.list_partial())?;
    let what = entry.list.note.as_deref().unwrap_or("documented");
    Some(format!("{}'s user list leaves accounts out ({what}): they are not on this list", entry.display_name))
}

/// The plan's notes from the app's profile: losses that cannot be undone, accounts the list
/// cannot show.
pub(crate) fn notes(app: &App, plan: &Plan, links: &[AccountLink], observed: Option<&[RemoteAccount]>) -> Vec<String> {
    let Some(entry) = entry_of(app) else { return Vec::new() };
    let name = &entry.display_name;
    let mut notes = Vec::new();
    let deletes = plan.ops.iter().filter(|o| matches!(o.kind, OpKind::Delete { .. })).count();
    let deactivations = plan.ops.iter().filter(|o| matches!(o.kind, OpKind::Deactivate { .. })).count();
    if deletes > 0 && entry.delete_irreversible() {
        let why = if entry.deactivate_irreversible() {
            format!("{name} cannot re-activate a deprovisioned account")
        } else if entry.delete.value.is_known() {
            format!("{name}'s DELETE: {}", entry.delete.describe())
        } else {
            format!("{name} does not document what DELETE does")
        };
        notes.push(format!("{deletes} {} cannot be undone: {why}", plural(deletes, "delete", "deletes")));
    }
    if deactivations > 0 && entry.deactivate_irreversible() {
        notes.push(format!(
            "{deactivations} {} cannot be undone: {name} cannot re-activate a deprovisioned account ({})",
            plural(deactivations, "deactivation", "deactivations"),
            entry.reactivate.describe()
        ));
    }
    if entry.list_partial() {
        let unseen = observed.map(|accounts| {
            let listed: HashSet<&str> = accounts.iter().map(|a| a.remote_id.as_str()).collect();
            links.iter().filter(|l| !listed.contains(l.remote_id.as_str())).count()
        });
        let what = entry.list.note.as_deref().unwrap_or("documented");
        notes.push(match unseen {
            Some(n) if n > 0 => format!(
                "{name}'s user list leaves accounts out ({what}): {n} linked {} not in it, which Tenure does not read \
                 as gone; every create looks the person up first",
                plural(n, "account was", "accounts were")
            ),
            _ => format!(
                "{name}'s user list leaves accounts out ({what}): an account missing from it is not read as gone; \
                 every create looks the person up first"
            ),
        });
    }
    notes
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}
