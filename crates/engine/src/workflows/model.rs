//! A workflow as data: its trigger and ordered steps, parsed from one spelling (the CLI's
//! `--trigger`/`--offset-days`/`--step` and the API's fields are the same words) into the JSON
//! the store keeps, and written back in that spelling for listings.

use serde::{Deserialize, Serialize};

use crate::EngineError;
use crate::notify::Recipient;

/// Dates further than this from the trigger's date are refused: a typo, not a plan.
pub const MAX_OFFSET_DAYS: i64 = 366;
pub const MAX_WAIT_DAYS: u32 = 366;
pub const MAX_STEPS: usize = 50;

/// What starts a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Trigger {
    /// The person's start date moved by `offset_days` (negative: before).
    StartDate {
        offset_days: i64,
    },
    LeaveDate {
        offset_days: i64,
    },
    DepartmentChange,
    OrgUnitChange,
    ManagerChange,
    /// Tenure's offboarding of the person takes effect.
    Offboarding,
    /// Every account the policy grants a new starter exists and is active.
    Onboarding,
}

pub const TRIGGERS: &str =
    "start-date, leave-date, department-change, org-unit-change, manager-change, offboarding, onboarding";

impl Trigger {
    pub fn parse(kind: &str, offset_days: Option<i64>) -> Result<Self, EngineError> {
        let kind = kind.trim();
        let dated = matches!(kind, "start-date" | "leave-date");
        if !dated && offset_days.is_some() {
            return Err(EngineError::field("offset_days", format!("only date triggers take an offset, not {kind:?}")));
        }
        let offset_days = offset_days.unwrap_or(0);
        if offset_days.abs() > MAX_OFFSET_DAYS {
            return Err(EngineError::field(
                "offset_days",
                format!("{offset_days}: at most {MAX_OFFSET_DAYS} days before or after the date"),
            ));
        }
        Ok(match kind {
            "start-date" => Self::StartDate { offset_days },
            "leave-date" => Self::LeaveDate { offset_days },
            "department-change" => Self::DepartmentChange,
            "org-unit-change" => Self::OrgUnitChange,
            "manager-change" => Self::ManagerChange,
            "offboarding" => Self::Offboarding,
            "onboarding" => Self::Onboarding,
            other => return Err(EngineError::field("trigger", format!("{other:?}: one of {TRIGGERS}"))),
        })
    }

    /// The directory fact a change trigger watches.
    pub fn watched_fact(&self) -> Option<&'static str> {
        match self {
            Self::DepartmentChange => Some("department"),
            Self::OrgUnitChange => Some("org_unit"),
            Self::ManagerChange => Some("manager"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dated = |f: &mut std::fmt::Formatter<'_>, name: &str, offset: i64| match offset {
            0 => write!(f, "{name}"),
            o if o < 0 => write!(f, "{name} {} days before", -o),
            o => write!(f, "{name} {o} days after"),
        };
        match self {
            Self::StartDate { offset_days } => dated(f, "start-date", *offset_days),
            Self::LeaveDate { offset_days } => dated(f, "leave-date", *offset_days),
            Self::DepartmentChange => f.write_str("department-change"),
            Self::OrgUnitChange => f.write_str("org-unit-change"),
            Self::ManagerChange => f.write_str("manager-change"),
            Self::Offboarding => f.write_str("offboarding"),
            Self::Onboarding => f.write_str("onboarding"),
        }
    }
}

/// Who approves an approval step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approver {
    /// The person's manager (from the directory's manager link), or an org admin.
    Manager,
    OrgAdmin,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// Tell `to` (roles or addresses) through the tenant's channels.
    Notify {
        to: Vec<String>,
    },
    /// Offboard the person across every app (queue, guard, audit, as `tenure offboard`).
    Deprovision,
    /// A task for the app's owner (its manual owner) or, for a connected app, its admins.
    Task {
        app: String,
        text: String,
    },
    Wait {
        days: u32,
    },
    Approval {
        by: Approver,
        remind_days: Option<u32>,
    },
    /// Take the person's accounts out of every in-app group they are in: in `app`, or in every
    /// app whose connector changes groups (`None`). Queued group changes, one per group.
    RemoveGroups {
        #[serde(default)]
        app: Option<String>,
    },
    /// Give the person's license tier in `app` to `to` (`manager`, or a person's email) and take
    /// it from the person: two queued license changes, the loss through the guard.
    ReassignLicense {
        app: String,
        to: String,
    },
    /// Give the person's role in `app` to `to` (`manager`, or a person's email) and take it
    /// from the person: two queued attribute changes.
    ReassignRole {
        app: String,
        to: String,
    },
}

/// Who a reassigned license goes to: the person's manager (from the directory's manager link).
pub const TO_MANAGER: &str = "manager";
/// Who a reassigned license goes to: the head of the person's department, the topmost person
/// up their manager chain who is still in that department.
pub const TO_DEPARTMENT_HEAD: &str = "department-head";
/// Who a reassigned license goes to: the first person waiting in the line of the pool that takes
/// the person's tier; with `:department` or `:team`, the earliest of it from the person's
/// department or org unit. See `workflows::targets`.
pub const TO_NEXT_IN_LINE: &str = "next-in-line";
/// `group:NAME`, `title:TEXT`: someone of the person's department in that directory group, or
/// with that job title.
pub const TO_GROUP: &str = "group:";
pub const TO_TITLE: &str = "title:";

/// A reassignment's `to` as stored: keywords lower case, a group's name or a title as given,
/// an email lower case; `None` when it is none of them.
pub(crate) fn reassign_to(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let lower = raw.to_lowercase();
    let keyword = [TO_MANAGER, TO_DEPARTMENT_HEAD, TO_NEXT_IN_LINE, "next-in-line:department", "next-in-line:team"];
    if keyword.contains(&lower.as_str()) {
        return Some(lower);
    }
    for prefix in [TO_GROUP, TO_TITLE] {
        if lower.starts_with(prefix) {
            let rest = raw.get(prefix.len()..).unwrap_or_default().trim();
            return (!rest.is_empty()).then(|| format!("{prefix}{rest}"));
        }
    }
    valid_email(raw).then_some(lower)
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Notify { .. } => "notify",
            Self::Deprovision => "deprovision",
            Self::Task { .. } => "task",
            Self::Wait { .. } => "wait",
            Self::Approval { .. } => "approval",
            Self::RemoveGroups { .. } => "remove-groups",
            Self::ReassignLicense { .. } => "reassign-license",
            Self::ReassignRole { .. } => "reassign-role",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    pub action: Action,
    /// Go on with the next step when this one fails (else the run stops, failed).
    #[serde(default)]
    pub continue_on_failure: bool,
}

/// The suffix of a step that lets the run go on when it fails.
pub const CONTINUE: &str = "+continue";

pub const STEPS: &str = "notify:WHO[,WHO...], deprovision, task:APP:TEXT, wait:DAYS, \
                         approval:manager|org-admin[:REMIND_DAYS], remove-groups:APP|all, \
                         reassign-license:APP:TO, reassign-role:APP:TO (TO: manager, department-head, \
                         next-in-line, next-in-line:department, next-in-line:team, group:NAME, \
                         title:TEXT or an EMAIL), \
                         each optionally ending in +continue";

impl Step {
    /// One step in its spelling: see [`STEPS`].
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (body, continue_on_failure) = match raw.strip_suffix(CONTINUE) {
            Some(body) => (body, true),
            None => (raw, false),
        };
        let (kind, arg) = match body.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (body, None),
        };
        // The brief's spellings with underscores are the same steps.
        let kind = match kind {
            "remove_groups" => "remove-groups",
            "reassign_license" => "reassign-license",
            "reassign_role" => "reassign-role",
            other => other,
        };
        let days = |what: &str, raw: &str, max: u32| -> Result<u32, String> {
            match raw.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(format!("{what} takes a whole number of days, 1 to {max}, not {raw:?}")),
            }
        };
        let action = match (kind, arg) {
            ("notify", Some(who)) if !who.is_empty() => {
                let to: Vec<String> = who.split(',').map(|w| w.trim().to_owned()).collect();
                for w in &to {
                    Recipient::parse(w).map_err(|e| format!("notify: {e}"))?;
                }
                Action::Notify { to }
            }
            ("notify", _) => return Err("notify needs recipients: notify:manager,org-admins or an address".into()),
            ("deprovision", None) => Action::Deprovision,
            ("deprovision", Some(_)) => {
                return Err("deprovision takes no argument: it offboards the person across every app".into());
            }
            ("task", Some(rest)) => match rest.split_once(':') {
                Some((app, text)) if !app.trim().is_empty() && !text.trim().is_empty() => {
                    Action::Task { app: app.trim().to_owned(), text: text.trim().to_owned() }
                }
                _ => return Err("task needs an app and a text: task:APP:TEXT".into()),
            },
            ("task", None) => return Err("task needs an app and a text: task:APP:TEXT".into()),
            ("wait", Some(n)) => Action::Wait { days: days("wait", n, MAX_WAIT_DAYS)? },
            ("wait", None) => return Err("wait needs a number of days: wait:2".into()),
            ("approval", Some(rest)) => {
                let (who, remind) = match rest.split_once(':') {
                    Some((w, r)) => (w.trim(), Some(days("an approval's reminder", r.trim(), 90)?)),
                    None => (rest, None),
                };
                let by = match who {
                    "manager" => Approver::Manager,
                    "org-admin" => Approver::OrgAdmin,
                    other => return Err(format!("approval is by manager or org-admin, not {other:?}")),
                };
                Action::Approval { by, remind_days: remind }
            }
            ("approval", None) => {
                return Err("approval needs its approver: approval:manager or approval:org-admin".into());
            }
            ("remove-groups", Some("all")) => Action::RemoveGroups { app: None },
            ("remove-groups", Some(app)) if !app.is_empty() && !app.contains(':') => {
                Action::RemoveGroups { app: Some(app.to_owned()) }
            }
            ("remove-groups", _) => {
                return Err("remove-groups needs an app, or all: remove-groups:github or remove-groups:all".into());
            }
            ("reassign-license" | "reassign-role", rest) => {
                let what = if kind == "reassign-role" { "role" } else { "license" };
                match rest.and_then(|r| r.split_once(':')).and_then(|(app, to)| Some((app, reassign_to(to)?))) {
                    Some((app, to)) if !app.trim().is_empty() => {
                        let app = app.trim().to_owned();
                        if what == "role" {
                            Action::ReassignRole { app, to }
                        } else {
                            Action::ReassignLicense { app, to }
                        }
                    }
                    _ => {
                        return Err(format!(
                            "{kind} needs an app and who gets the {what}: {kind}:APP:manager, \
                             {kind}:APP:department-head, {kind}:APP:next-in-line, \
                             {kind}:APP:next-in-line:department, {kind}:APP:next-in-line:team, \
                             {kind}:APP:group:NAME, {kind}:APP:title:TEXT or {kind}:APP:EMAIL"
                        ));
                    }
                }
            }
            (other, _) => return Err(format!("unknown step {other:?}: {STEPS}")),
        };
        Ok(Self { action, continue_on_failure })
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.action {
            Action::Notify { to } => write!(f, "notify:{}", to.join(","))?,
            Action::Deprovision => f.write_str("deprovision")?,
            Action::Task { app, text } => write!(f, "task:{app}:{text}")?,
            Action::Wait { days } => write!(f, "wait:{days}")?,
            Action::Approval { by, remind_days } => {
                let by = match by {
                    Approver::Manager => "manager",
                    Approver::OrgAdmin => "org-admin",
                };
                write!(f, "approval:{by}")?;
                if let Some(d) = remind_days {
                    write!(f, ":{d}")?;
                }
            }
            Action::RemoveGroups { app } => write!(f, "remove-groups:{}", app.as_deref().unwrap_or("all"))?,
            Action::ReassignLicense { app, to } => write!(f, "reassign-license:{app}:{to}")?,
            Action::ReassignRole { app, to } => write!(f, "reassign-role:{app}:{to}")?,
        }
        if self.continue_on_failure {
            f.write_str(CONTINUE)?;
        }
        Ok(())
    }
}

fn valid_email(raw: &str) -> bool {
    match raw.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !raw.contains(char::is_whitespace) && !domain.contains('@')
        }
        None => false,
    }
}

/// A workflow's definition: what the store keeps, and what each run copies when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    pub trigger: Trigger,
    pub steps: Vec<Step>,
}

impl Definition {
    /// From the spelling admins write; every error names the field (`steps[2]`) and says what
    /// is expected.
    pub fn parse(trigger: &str, offset_days: Option<i64>, steps: &[String]) -> Result<Self, EngineError> {
        let trigger = Trigger::parse(trigger, offset_days)?;
        if steps.is_empty() {
            return Err(EngineError::field("steps", format!("a workflow needs at least one step: {STEPS}")));
        }
        if steps.len() > MAX_STEPS {
            return Err(EngineError::field("steps", format!("{} steps: at most {MAX_STEPS}", steps.len())));
        }
        let steps = steps
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                Step::parse(raw).map_err(|m| EngineError::field(format!("steps[{i}]"), format!("{raw:?}: {m}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { trigger, steps })
    }
}

/// A workflow's name: like a tenant's, so it is safe in URLs and on the command line.
pub fn check_name(name: &str) -> Result<(), EngineError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(EngineError::field(
            "name",
            format!("{name:?}: 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_definition_reads_and_writes_back_in_one_spelling() {
        let raw = steps(&[
            "notify:manager,org-admins",
            "wait:2",
            "approval:org-admin:3",
            "deprovision+continue",
            "task:payroll:close the payroll record",
            "remove-groups:github",
            "remove-groups:all+continue",
            "reassign-license:jira:manager",
            "reassign-license:jira:it-pool@example.com",
            "reassign-role:jira:manager",
            "reassign-license:jira:department-head",
            "reassign-license:jira:next-in-line",
            "reassign-license:jira:next-in-line:department",
            "reassign-role:jira:next-in-line:team",
            "reassign-license:jira:group:Jira Admins",
            "reassign-role:jira:title:Account Executive",
        ]);
        let d = Definition::parse("leave-date", Some(-3), &raw).unwrap();
        assert_eq!(d.trigger, Trigger::LeaveDate { offset_days: -3 });
        assert!(d.steps[3].continue_on_failure && !d.steps[0].continue_on_failure);
        let back: Vec<String> = d.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(back, raw);
        assert_eq!(d.trigger.to_string(), "leave-date 3 days before");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(serde_json::from_value::<Definition>(json).unwrap(), d);
    }

    #[test]
    fn bad_definitions_are_answered_precisely() {
        let err = |t: &str, o: Option<i64>, s: &[&str]| Definition::parse(t, o, &steps(s)).unwrap_err().to_string();
        assert!(err("leave", None, &["deprovision"]).starts_with("trigger: \"leave\": one of start-date"));
        assert_eq!(
            err("department-change", Some(2), &["deprovision"]),
            "offset_days: only date triggers take an offset, not \"department-change\""
        );
        assert!(err("leave-date", Some(400), &["deprovision"]).contains("at most 366 days"));
        assert!(err("leave-date", None, &[]).starts_with("steps: a workflow needs at least one step"));
        assert_eq!(
            err("leave-date", None, &["deprovision", "wait:soon"]),
            "steps[1]: \"wait:soon\": wait takes a whole number of days, 1 to 366, not \"soon\""
        );
        assert!(err("leave-date", None, &["notify:boss"]).starts_with("steps[0]: \"notify:boss\": notify: "));
        assert!(err("leave-date", None, &["approval:ceo"]).contains("approval is by manager or org-admin"));
        assert!(err("leave-date", None, &["task:payroll"]).contains("task:APP:TEXT"));
        assert!(err("leave-date", None, &["reassign"]).contains("unknown step \"reassign\""));
        assert!(err("leave-date", None, &["deprovision:github"]).contains("takes no argument"));
        assert!(err("leave-date", None, &["remove-groups"]).contains("remove-groups needs an app, or all"));
        assert!(err("leave-date", None, &["reassign-license:jira"]).contains("reassign-license:APP:manager"));
        assert!(err("leave-date", None, &["reassign-license:jira:boss"]).contains("reassign-license:APP:EMAIL"));
        assert!(
            err("leave-date", None, &["reassign-license:jira:group: "]).contains("reassign-license:APP:group:NAME")
        );
        assert!(err("leave-date", None, &["reassign-role:jira:next-in-line:floor"]).contains("next-in-line:team"));
        let d = Definition::parse("leave-date", None, &steps(&["reassign-license:jira:Next-In-Line:Team"])).unwrap();
        assert_eq!(d.steps[0].to_string(), "reassign-license:jira:next-in-line:team");
        let d = Definition::parse("leave-date", None, &steps(&["remove_groups:all", "reassign_license:jira:manager"]))
            .unwrap();
        assert_eq!(d.steps[0].action, Action::RemoveGroups { app: None });
        assert_eq!(d.steps[1].to_string(), "reassign-license:jira:manager");
        assert!(check_name("Off Board").is_err() && check_name("leavers-3d").is_ok());
    }
}
