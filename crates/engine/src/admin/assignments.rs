//! Assignments: who an app is granted to (or kept from), listed, created, removed, previewed.

use serde::Deserialize;
use serde_json::json;
use tenure_core::*;
use tenure_store::AuditRecord;
use utoipa::ToSchema;

use super::views::{AssignmentChange, AssignmentView, PlanChange};
use super::{Admin, Need};
use crate::EngineError;

/// An assignment's target (exactly one of `person`, `group`, `org_unit`, `rule`) and what it
/// hands out.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentSpec {
    /// A person, by email.
    #[serde(default)]
    pub person: Option<String>,
    /// A group, by name; members of nested groups count.
    #[serde(default)]
    pub group: Option<String>,
    /// An org unit path such as /Sales/EMEA; its subtree counts.
    #[serde(default)]
    pub org_unit: Option<String>,
    /// Everyone matching a rule, e.g. `department == "Sales"`.
    #[serde(default)]
    pub rule: Option<String>,
    /// Keep the app from the target instead, whatever else grants it.
    #[serde(default)]
    pub exclude: bool,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub license: Option<String>,
    /// Groups in the app these people's accounts belong to.
    #[serde(default)]
    pub app_groups: Vec<String>,
}

impl Admin<'_> {
    /// The target the spec names, resolved in the directory, and how to describe it.
    async fn target(&self, spec: &AssignmentSpec) -> Result<(AssignmentTarget, String), EngineError> {
        let given = [spec.person.is_some(), spec.group.is_some(), spec.org_unit.is_some(), spec.rule.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(EngineError::field("target", "name exactly one of person, group, org_unit, rule"));
        }
        let (tenant, store) = (self.tenant(), self.store());
        if let Some(email) = &spec.person {
            let person = store
                .person_by_email(tenant, email)
                .await?
                .ok_or_else(|| EngineError::field("person", format!("no person with email {email}")))?;
            return Ok((AssignmentTarget::Person(person.id), format!("person {}", person.email)));
        }
        if let Some(name) = &spec.group {
            let id = store
                .group_by_name(tenant, name)
                .await?
                .ok_or_else(|| EngineError::field("group", format!("no group named {name:?}")))?;
            return Ok((AssignmentTarget::Group(id), format!("group {name}")));
        }
        if let Some(path) = &spec.org_unit {
            let path = OrgUnitPath::parse(path).map_err(|e| EngineError::field("org_unit", e.to_string()))?;
            let described = format!("org unit {path}");
            return Ok((AssignmentTarget::OrgUnit(path), described));
        }
        let source = spec.rule.as_deref().unwrap_or_default();
        let rule = expr::Rule::parse(source).map_err(|e| EngineError::expression("rule", source, &e))?;
        let described = format!("everyone matching {rule}");
        Ok((AssignmentTarget::Rule(rule), described))
    }

    async fn assignment_view(&self, app: &App, a: &Assignment) -> Result<AssignmentView, EngineError> {
        let (kind, target) = match &a.target {
            AssignmentTarget::Person(id) => {
                let email = self.store().list_people(self.tenant()).await?.into_iter().find(|p| p.id == *id);
                ("person", email.map_or_else(|| id.to_string(), |p| p.email))
            }
            AssignmentTarget::Group(id) => {
                let name = self.store().list_groups(self.tenant()).await?.into_iter().find(|g| g.id == *id);
                ("group", name.map_or_else(|| id.to_string(), |g| g.name))
            }
            AssignmentTarget::OrgUnit(path) => ("org_unit", path.to_string()),
            AssignmentTarget::Rule(rule) => ("rule", rule.to_string()),
        };
        Ok(AssignmentView {
            id: a.id,
            app: app.name.clone(),
            target_kind: kind.to_owned(),
            target,
            exclude: a.exclude,
            role: a.params.role.clone(),
            license: a.params.license.clone(),
            app_groups: a.params.groups.clone(),
        })
    }

    pub async fn assignments(&self, app: &str) -> Result<Vec<AssignmentView>, EngineError> {
        let record = self.store().app_by_name(self.tenant(), app).await?;
        self.actor.require(Need::AppRead(record.app.id))?;
        let mut out = Vec::new();
        for a in self.store().list_assignments(self.tenant(), record.app.id).await? {
            out.push(self.assignment_view(&record.app, &a).await?);
        }
        Ok(out)
    }

    /// Assigns the app to the spec's target (or excludes it); with `preview`, only says what
    /// it would change in the app's plan.
    pub async fn assign(
        &self,
        app: &str,
        spec: &AssignmentSpec,
        preview: bool,
    ) -> Result<AssignmentChange, EngineError> {
        let record = self.writable(app).await?;
        if spec.exclude && (spec.role.is_some() || spec.license.is_some() || !spec.app_groups.is_empty()) {
            return Err(EngineError::field(
                "exclude",
                "an exclusion hands nothing out: drop role, license, app_groups",
            ));
        }
        let (target, described) = self.target(spec).await?;
        let params = AssignmentParams {
            role: spec.role.clone(),
            license: spec.license.clone(),
            groups: spec.app_groups.clone(),
        };
        if preview {
            let (exclude, new_params, new_target, app_id) =
                (spec.exclude, params.clone(), target.clone(), record.app.id);
            let change = move |assignments: &mut Vec<Assignment>| {
                assignments.retain(|a| a.target != new_target);
                let mut a = Assignment::grant(app_id, new_target);
                a.exclude = exclude;
                a.params = new_params;
                assignments.push(a);
            };
            let (now, then) = self.engine.preview_assignments(app, change, self.engine.today().await?).await?;
            return Ok(AssignmentChange {
                saved: false,
                created: false,
                assignment: None,
                plan: Some(PlanChange::between(&now, &then)),
            });
        }
        let mut tx = self.store().begin().await?;
        let created = tx.assign(self.tenant(), record.app.id, &target, spec.exclude, &params).await?;
        let detail = json!({"app": record.app.name, "target": target, "described": described, "exclude": spec.exclude, "params": params});
        tx.audit(self.tenant(), entry(self.actor, "assignment.set", &record.app.name, &detail)).await?;
        tx.commit().await?;
        let written = self
            .store()
            .list_assignments(self.tenant(), record.app.id)
            .await?
            .into_iter()
            .find(|a| a.target == target)
            .ok_or_else(|| EngineError::Internal("the assignment just written is gone".into()))?;
        Ok(AssignmentChange {
            saved: true,
            created,
            assignment: Some(self.assignment_view(&record.app, &written).await?),
            plan: None,
        })
    }

    /// Removes the app's assignment of the spec's target (or by id); with `preview`, only says
    /// what it would change.
    pub async fn unassign(
        &self,
        app: &str,
        which: Unassign<'_>,
        preview: bool,
    ) -> Result<AssignmentChange, EngineError> {
        let record = self.writable(app).await?;
        let existing = self.store().list_assignments(self.tenant(), record.app.id).await?;
        let target = match which {
            Unassign::Target(spec) => self.target(spec).await?.0,
            Unassign::Id(id) => existing
                .iter()
                .find(|a| a.id == id)
                .ok_or_else(|| EngineError::NotFound(format!("assignment {id} of {app}")))?
                .target
                .clone(),
        };
        let Some(current) = existing.iter().find(|a| a.target == target) else {
            return Err(EngineError::NotFound(format!("{app}'s assignment of that target")));
        };
        let view = self.assignment_view(&record.app, current).await?;
        if preview {
            let gone = target.clone();
            let change = move |assignments: &mut Vec<Assignment>| assignments.retain(|a| a.target != gone);
            let (now, then) = self.engine.preview_assignments(app, change, self.engine.today().await?).await?;
            return Ok(AssignmentChange {
                saved: false,
                created: false,
                assignment: Some(view),
                plan: Some(PlanChange::between(&now, &then)),
            });
        }
        let mut tx = self.store().begin().await?;
        tx.unassign(self.tenant(), record.app.id, &target).await?;
        let detail = json!({"app": record.app.name, "target": target, "described": view.target, "exclude": current.exclude, "params": current.params});
        tx.audit(self.tenant(), entry(self.actor, "assignment.remove", &record.app.name, &detail)).await?;
        tx.commit().await?;
        Ok(AssignmentChange { saved: true, created: false, assignment: Some(view), plan: None })
    }
}

/// Which assignment to remove.
#[derive(Debug, Clone, Copy)]
pub enum Unassign<'a> {
    Target(&'a AssignmentSpec),
    Id(AssignmentId),
}

fn entry<'a>(actor: &'a super::Actor, action: &'a str, app: &'a str, detail: &'a serde_json::Value) -> AuditRecord<'a> {
    AuditRecord { actor: &actor.name, action, subject: app, person: None, app: Some(app), detail }
}
