//! `tenure explain <person> <app>`: why a person has, lacks, or will lose an account, in words.

use std::fmt;

use serde::Serialize;
use time::Date;

use crate::model::*;
use crate::plan::*;
use crate::reconcile::{DirectoryIndex, Prepared, ineligibility};

/// Where a person stands with an app, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Holds an active account and should: nothing to do, or only updates.
    Has,
    /// Should hold one and will get it (create, link or activate).
    WillGet,
    /// Holds one and will lose it, or lose access to it.
    WillLose,
    /// Holds none and should hold none.
    Lacks,
    /// Should hold one but something stops the plan (a correlation case, a mapping problem).
    Blocked,
    /// Holds an account that should go, but the app's policy keeps it.
    Keeps,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub person: String,
    pub app: String,
    pub standing: Standing,
    /// Every assignment that grants the app to the person, most specific first.
    pub grants: Vec<Grant>,
    /// Every exclusion that covers the person.
    pub exclusions: Vec<Grant>,
    /// What stops the person holding any account today, if anything.
    pub ineligible: Option<Revocation>,
    /// The start date the person's account is prepared for, disabled until then (the app's
    /// `pre_start_days`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preparing: Option<Date>,
    /// The linked account: remote id, active, origin.
    pub account: Option<(String, bool, AccountOrigin)>,
    pub plan: Plan,
    pub deprovision: DeprovisionPolicy,
}

/// Explains one person's standing with one prepared app.
pub fn explain(dir: &DirectoryIndex<'_>, prepared: &Prepared<'_>, person: &Person, today: Date) -> Explanation {
    let app = prepared.index.app;
    let (grants, exclusions) = prepared.policy.covering(dir, person);
    let account = prepared
        .index
        .link_of(dir.ordinal_of(person.id))
        .map(|(link, account)| (link.remote_id.clone(), account.active, link.origin));
    let plan = prepared.plan_person(dir, person, today);
    let preparing = crate::reconcile::pre_start(&app.settings, person, today);
    let ineligible = ineligibility(person, today).filter(|_| preparing.is_none());
    let should_have = ineligible.is_none() && !grants.is_empty() && exclusions.is_empty();
    let standing = if !plan.cases.is_empty() || !plan.problems.is_empty() {
        Standing::Blocked
    } else if plan.ops.iter().any(|o| o.kind.is_deprovision()) {
        Standing::WillLose
    } else if plan
        .ops
        .iter()
        .any(|o| matches!(o.kind, OpKind::Create { .. } | OpKind::Link { .. } | OpKind::Activate { .. }))
    {
        Standing::WillGet
    } else {
        match (should_have, &account) {
            (true, Some(_)) => Standing::Has,
            (false, Some((_, true, _))) => Standing::Keeps,
            _ => Standing::Lacks,
        }
    };
    Explanation {
        person: person.email.clone(),
        app: app.name.clone(),
        standing,
        grants,
        exclusions,
        ineligible,
        preparing,
        account,
        plan,
        deprovision: app.settings.deprovision,
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (who, app) = (&self.person, &self.app);
        let account = match &self.account {
            Some((id, true, origin)) => format!("an active account ({id}, {})", origin_words(*origin)),
            Some((id, false, origin)) => format!("a deactivated account ({id}, {})", origin_words(*origin)),
            None => "no account".to_owned(),
        };
        writeln!(f, "{who} holds {account} in {app}.")?;
        match self.grants.as_slice() {
            [] => writeln!(f, "No assignment of {app} covers {who}.")?,
            grants => {
                writeln!(f, "{app} is granted to {who} because:")?;
                for g in grants {
                    writeln!(f, "  - {g}")?;
                }
            }
        }
        for x in &self.exclusions {
            writeln!(f, "An exclusion covers {who}: {x}; exclusions win over grants.")?;
        }
        if let Some(r) = self.ineligible {
            writeln!(f, "{who} may hold no accounts today: {r}.")?;
        }
        if let Some(start) = self.preparing {
            writeln!(f, "{who} starts on {start}: {app} prepares their account ahead, disabled until that day.")?;
        }
        let verdict = match self.standing {
            Standing::Has => format!("{who} has the account they should have."),
            Standing::WillGet => format!("{who} will get access to {app}."),
            Standing::WillLose => format!("{who} will lose access to {app} (policy: {}).", self.deprovision),
            Standing::Lacks => format!("{who} has no account in {app} and should have none."),
            Standing::Blocked => format!("{who} should have access to {app}, but the plan is blocked:"),
            Standing::Keeps => {
                format!(
                    "{who} should not have access to {app}, but its policy ({}) leaves the account as it is.",
                    self.deprovision
                )
            }
        };
        writeln!(f, "{verdict}")?;
        for case in &self.plan.cases {
            writeln!(
                f,
                "  - {} {} on {} {:?}: {}; an admin must link or adopt the right account",
                case.accounts.len(),
                if case.accounts.len() == 1 { "account matches" } else { "accounts match" },
                case.key,
                case.value,
                case.accounts.join(", ")
            )?;
            if case.people.len() > 1 {
                writeln!(f, "    (the same value names {})", case.people.join(", "))?;
            }
        }
        for problem in &self.plan.problems {
            writeln!(f, "  - {}", problem.message)?;
        }
        if self.plan.ops.is_empty() {
            if !matches!(self.standing, Standing::Blocked) {
                writeln!(f, "Nothing is planned.")?;
            }
        } else {
            writeln!(f, "Planned:")?;
            for op in &self.plan.ops {
                writeln!(f, "  - {} ({})", describe(&op.kind), op.reason)?;
            }
        }
        Ok(())
    }
}

fn origin_words(origin: AccountOrigin) -> &'static str {
    match origin {
        AccountOrigin::Created => "created by Tenure",
        AccountOrigin::Matched => "matched to them, never deleted by Tenure",
        AccountOrigin::Adopted => "adopted by an admin",
    }
}

fn describe(kind: &OpKind) -> String {
    match kind {
        OpKind::Create { .. } => "create the account".to_owned(),
        OpKind::Link { remote_id, matched_on } => format!("link account {remote_id} (same {matched_on})"),
        OpKind::Update { changes, .. } => {
            format!("update {}", changes.keys().collect::<Vec<_>>().join(", "))
        }
        OpKind::Activate { remote_id } => format!("reactivate {remote_id}"),
        OpKind::Deactivate { remote_id } => format!("deactivate {remote_id}"),
        OpKind::Delete { remote_id } => format!("delete {remote_id}"),
        OpKind::ChangeLicense { remote_id, license: Some(l) } => format!("set {remote_id}'s license to {l}"),
        OpKind::ChangeLicense { remote_id, license: None } => format!("remove {remote_id}'s license"),
        OpKind::GroupMembers { group, add, remove, .. } => {
            format!("change group {group}: {} to add, {} to remove", add.len(), remove.len())
        }
    }
}
