//! The read of a manual app that confirms its closed tasks: the app's users as its own export
//! lists them (a CSV uploaded by its owner), and what that read says of each task's work.

use std::collections::HashMap;

use tenure_core::{OpKind, PlannedOp};

use crate::EngineError;

/// The columns that name a user, in the order they are looked for.
const KEY_COLUMNS: &[&str] = &["email", "username", "user_name", "login", "mail"];
/// The column that says whether a user is active (absent: everyone listed is).
const ACTIVE_COLUMNS: &[&str] = &["active", "status", "enabled"];
/// Users a read may list: an export larger than this is not a manual app's.
const MAX_USERS: usize = 200_000;

/// The app's users as one export lists them: lowercased address or user name → active.
#[derive(Debug, Default)]
pub(crate) struct AppRead {
    users: HashMap<String, bool>,
}

impl AppRead {
    /// Parses a CSV export with a header: one column naming users (`email`, `userName`, ...)
    /// and optionally one saying whether they are active (`active`, `status`, `enabled`).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, EngineError> {
        let bad = |why: String| EngineError::field("csv", why);
        let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(bytes);
        let headers = reader.headers().map_err(|e| bad(format!("cannot read the header: {e}")))?.clone();
        let find = |names: &[&str]| headers.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)));
        let key = find(KEY_COLUMNS)
            .ok_or_else(|| bad("no column names the users: expected one of email, userName, login".into()))?;
        let active = find(ACTIVE_COLUMNS);
        let mut users = HashMap::new();
        for (index, record) in reader.records().enumerate() {
            let line = index + 2;
            let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
            let name = record.get(key).unwrap_or_default().trim().to_lowercase();
            if name.is_empty() {
                return Err(bad(format!("line {line}: the user's {} is empty", &headers[key])));
            }
            let is_active = match active.map(|i| record.get(i).unwrap_or_default().trim().to_ascii_lowercase()) {
                None => true,
                Some(v) => match v.as_str() {
                    "true" | "yes" | "1" | "active" | "enabled" => true,
                    "false" | "no" | "0" | "inactive" | "disabled" | "suspended" | "deactivated" => false,
                    other => {
                        return Err(bad(format!("line {line}: {other:?} does not say whether the user is active")));
                    }
                },
            };
            if users.insert(name.clone(), is_active).is_some() {
                return Err(bad(format!("line {line}: {name} is listed twice")));
            }
            if users.len() > MAX_USERS {
                return Err(bad(format!("more than {MAX_USERS} users")));
            }
        }
        Ok(Self { users })
    }

    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the user (by any of `names`) is listed, and active.
    fn find(&self, names: &[&str]) -> Option<bool> {
        names.iter().find_map(|n| self.users.get(&n.trim().to_lowercase()).copied())
    }

    /// `Ok` when the read shows the operation's work done; otherwise why not, for the task's
    /// assignee. `names`: the person's address and the account's user name.
    pub(crate) fn confirms(&self, op: &PlannedOp, names: &[&str]) -> Result<(), String> {
        let who = names.first().copied().unwrap_or_default();
        let listed = self.find(names);
        match (&op.kind, listed) {
            (OpKind::Deactivate { .. }, Some(true)) => Err(format!("the app's export still lists {who} as active")),
            (OpKind::Deactivate { .. }, _) => Ok(()),
            (OpKind::Delete { .. }, Some(_)) => Err(format!("the app's export still lists {who}")),
            (OpKind::Delete { .. }, None) => Ok(()),
            (OpKind::Create { active: true, .. } | OpKind::Activate { .. }, Some(false)) => {
                Err(format!("the app's export lists {who} as inactive"))
            }
            (OpKind::Create { active: false, .. }, Some(true)) => {
                Err(format!("the app's export lists {who} as active before their start date"))
            }
            (_, Some(_)) => Ok(()),
            (_, None) => Err(format!("the app's export does not list {who}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_core::*;

    fn op(kind: OpKind) -> PlannedOp {
        PlannedOp {
            app_id: AppId::new(),
            person_id: PersonId::new(),
            person: "ann@example.com".into(),
            kind,
            reason: Reason::GroupMembership,
        }
    }

    #[test]
    fn a_read_confirms_only_what_it_shows_done() -> anyhow::Result<()> {
        let read = AppRead::parse(b"Email,Status\nann@example.com,active\nBOB@example.com,inactive\n")?;
        assert_eq!(read.len(), 2);
        let deactivate = op(OpKind::Deactivate { remote_id: "manual:x".into() });
        let ann = ["ann@example.com"];
        let bob = ["bob@example.com"];
        let cy = ["cy@example.com"];
        assert!(read.confirms(&deactivate, &ann).unwrap_err().contains("still lists ann@example.com as active"));
        assert!(read.confirms(&deactivate, &bob).is_ok(), "inactive");
        assert!(read.confirms(&deactivate, &cy).is_ok(), "absent");
        let delete = op(OpKind::Delete { remote_id: "manual:x".into() });
        assert!(read.confirms(&delete, &bob).is_err(), "inactive is not gone");
        assert!(read.confirms(&delete, &cy).is_ok());
        let activate = op(OpKind::Activate { remote_id: "manual:x".into() });
        assert!(read.confirms(&activate, &ann).is_ok());
        assert!(read.confirms(&activate, &bob).is_err());
        assert!(read.confirms(&activate, &cy).unwrap_err().contains("does not list"));
        Ok(())
    }

    #[test]
    fn bad_exports_are_refused_precisely() {
        let err = |b: &[u8]| AppRead::parse(b).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(b"name\nann\n").contains("no column names the users"));
        assert!(err(b"email,active\nann@example.com,maybe\n").contains("line 2"));
        assert!(err(b"email\nann@example.com\nANN@example.com\n").contains("listed twice"));
        assert!(err(b"email\n\"\"\n").contains("empty"));
        assert!(AppRead::parse(b"userName\nann@example.com\n").is_ok_and(|r| r.len() == 1));
    }
}
