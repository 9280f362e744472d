//! License reclaims: per pool, the managed accounts unused for the pool's days are asked "still
//! needed?" (the person, the app's admins and the pool's owner, through the notification
//! channels) with one-click keep / release links, by email only: shared channels (Slack, Teams,
//! a webhook) learn of the question without its links, and nobody is asked when no email channel
//! would reach them. With no answer by the deadline the seat is
//! released. A release deprovisions the account by the app's policy through the queue and the
//! deprovisioning guard (reason [`Reason::LicenseReclaimed`]), and excludes the person from the
//! app so the next plan does not hand the seat back (an admin removes the exclusion to undo it).
//!
//! Links carry no secret: `ID.ACTION.KEYID.TAG`, the tag an HMAC-SHA256 of the tenant, the
//! question, the action and its deadline under a key derived from the store's master key
//! ([`tenure_store::crypto::Keyring::sign_link`]). A link is single-use because the question is
//! settled once, and expires with the question's deadline. Following a link only shows a page;
//! the answer is a POST from it, so mail scanners that fetch links do not answer.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;
use serde_json::json;
use tenure_core::guard::{Authority, Coverage};
use tenure_core::licenses::LicensePool;
use tenure_core::{AccountClass, DeprovisionPolicy, OpKind, Plan, PlannedOp, Reason, attributes::LICENSE};
use tenure_store::{AuditRecord, ReclaimRecord};

use crate::notify::{Notice, Recipient};
use crate::{AppPlan, Engine, EngineError};

/// The event reclaim questions go out as.
pub const RECLAIM_EVENT: &str = "license.reclaim";
/// Days a question waits for its answer unless told.
pub const DEFAULT_DEADLINE_DAYS: u32 = 7;
/// The longest deadline: a question nobody may answer for months is no question.
pub const MAX_DEADLINE_DAYS: u32 = 90;
/// Where the link pages are served, under the public URL: `/reclaim/{tenant}/{token}`.
pub const RECLAIM_PATH: &str = "/reclaim";
const DAY_MS: i64 = 24 * 3600 * 1000;
/// The console page that lists reclaims and their answers.
const RECLAIMS_PAGE: &str = "/licenses/reclaims";
/// Why a question is not asked when no email channel would carry it.
pub const NOBODY_TO_ASK: &str = "no email channel sends license.reclaim to the person, the app's admins \
                                 or the pool's owner: nobody could answer";

/// One account a reclaim asks about (or would, in a preview).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReclaimView {
    pub app: String,
    pub tier: Option<String>,
    /// The pool as people read it: "jira standard".
    pub pool: String,
    pub user_name: String,
    pub person: String,
    /// `YYYY-MM-DD`.
    pub last_active: String,
    pub unused_days: i64,
    /// `asked`, `kept`, `released`, `skipped`; `preview` in a preview.
    pub state: String,
    /// The deadline, ms since the epoch.
    pub deadline_ms: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub answered_by: String,
}

/// What one reclaim run did (or, with `preview`, would do).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReclaimRun {
    pub app: String,
    pub preview: bool,
    /// The accounts asked (or to be asked).
    pub asked: Vec<ReclaimView>,
    /// Accounts unused long enough but not asked, with why: `legal hold`, `asked already`,
    /// `kept on YYYY-MM-DD`.
    pub skipped: Vec<SkippedAccount>,
    /// Managed accounts of the pools without any known activity: never asked.
    pub activity_unknown: usize,
    /// Who each question reaches, in words (preview and run alike).
    pub audience: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SkippedAccount {
    pub user_name: String,
    pub person: String,
    pub why: String,
}

/// A link's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReclaimAction {
    Keep,
    Release,
}

impl ReclaimAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Release => "release",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "keep" => Some(Self::Keep),
            "release" => Some(Self::Release),
            _ => None,
        }
    }
}

/// What a link page shows: the question, the action the link answers, and whether it still can.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReclaimLink {
    pub question: ReclaimView,
    pub action: ReclaimAction,
    /// `None` while the link can answer; else why not (answered already, expired).
    pub closed: Option<String>,
}

/// What a forged, altered or unknown link is refused as (the same for each, so that the page
/// tells a prober nothing): `reclaim link not found`.
const BAD_LINK: &str = "reclaim link";

fn message(tenant: &str, id: &str, action: ReclaimAction, deadline_ms: i64) -> Vec<u8> {
    format!("reclaim|{tenant}|{id}|{}|{deadline_ms}", action.as_str()).into_bytes()
}

fn date_of(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// The person, and their account's name when it is not their email.
fn who(q: &ReclaimRecord) -> String {
    if q.user_name.eq_ignore_ascii_case(&q.email) {
        q.email.clone()
    } else {
        format!("{} (account {})", q.email, q.user_name)
    }
}

fn view(r: &ReclaimRecord, app: &str) -> ReclaimView {
    let pool = r.tier.as_ref().map_or_else(|| app.to_owned(), |t| format!("{app} {t}"));
    ReclaimView {
        app: app.to_owned(),
        tier: r.tier.clone(),
        pool,
        user_name: r.user_name.clone(),
        person: r.email.clone(),
        last_active: r.last_active.clone(),
        unused_days: r.unused_days,
        state: r.state.clone(),
        deadline_ms: r.deadline_ms,
        answered_by: r.answered_by.clone(),
    }
}

/// The operation that releases a seat under the app's policy: `None` when the policy does
/// nothing (or there is nothing of the kind to take).
fn release_op(policy: DeprovisionPolicy, account: &tenure_store::StoredAccount) -> Option<OpKind> {
    let remote_id = account.link.remote_id.clone();
    match policy {
        DeprovisionPolicy::DoNothing => None,
        DeprovisionPolicy::Delete if account.link.origin.may_delete() => Some(OpKind::Delete { remote_id }),
        DeprovisionPolicy::Delete | DeprovisionPolicy::Deactivate | DeprovisionPolicy::DeactivateThenDelete { .. } => {
            account.active.then_some(OpKind::Deactivate { remote_id })
        }
        DeprovisionPolicy::RemoveLicense => account
            .attributes
            .get(LICENSE)
            .is_some_and(|l| !l.is_empty())
            .then_some(OpKind::ChangeLicense { remote_id, license: None }),
    }
}

impl Engine {
    fn link_for(&self, id: &str, action: ReclaimAction, deadline_ms: i64) -> Result<String, EngineError> {
        let tenant = self.tenant.to_string();
        let (key_id, tag) = self
            .store
            .keyring()
            .sign_link(&message(&tenant, id, action, deadline_ms))
            .map_err(|e| EngineError::Internal(format!("cannot sign a reclaim link: {e}")))?;
        let token = format!("{id}.{}.{key_id}.{}", action.as_str(), B64.encode(tag));
        let base = self.public_url.clone().unwrap_or_default();
        Ok(format!("{base}{RECLAIM_PATH}/{tenant}/{token}"))
    }

    /// Asks about `app`'s managed accounts unused for their pool's days (the pool of `tier`
    /// only, when named): each unasked one gets a question with a deadline `deadline_days` away.
    /// With `preview`, says who would be asked and writes nothing.
    pub(crate) async fn start_reclaim(
        &self,
        app: &str,
        tier: Option<&str>,
        preview: bool,
        deadline_days: u32,
        actor: &str,
    ) -> Result<ReclaimRun, EngineError> {
        let record = self.store.app_by_name(self.tenant, app).await?;
        if deadline_days == 0 || deadline_days > MAX_DEADLINE_DAYS {
            return Err(EngineError::field("deadline", format!("1 to {MAX_DEADLINE_DAYS} days")));
        }
        let app_name = record.app.name.clone();
        let pools: Vec<LicensePool> = self
            .store
            .license_pools(self.tenant)
            .await?
            .into_iter()
            .filter(|(id, _)| *id == record.app.id)
            .map(|(_, p)| p)
            .collect();
        if pools.is_empty() {
            return Err(EngineError::field("app", format!("{app_name} has no license pool (`tenure license set`)")));
        }
        if let Some(t) = tier
            && !pools.iter().any(|p| p.tier.as_deref() == Some(t))
        {
            return Err(EngineError::field("tier", format!("{app_name} has no pool for tier {t:?}")));
        }
        let today = self.today().await?;
        let now = self.now_ms();
        let deadline_ms = now + i64::from(deadline_days) * DAY_MS;
        let rows = self.classified_accounts(Some(&app_name), today, false).await?;
        let activity = self.store.license_activity(self.tenant, record.app.id).await?;
        let people: HashMap<String, tenure_core::PersonId> =
            self.store.list_people(self.tenant).await?.into_iter().map(|p| (p.email.to_lowercase(), p.id)).collect();
        let held: HashSet<tenure_core::PersonId> =
            self.store.legal_holds(self.tenant).await?.into_iter().map(|h| h.person_id).collect();
        let earlier = self.store.license_reclaims(self.tenant, Some(record.app.id)).await?;
        let mut run = ReclaimRun {
            app: app_name.clone(),
            preview,
            asked: Vec::new(),
            skipped: Vec::new(),
            activity_unknown: 0,
            audience: Vec::new(),
        };
        let mut questions: Vec<ReclaimRecord> = Vec::new();
        for row in &rows {
            // Only accounts someone is known to hold and use: a known external, an unmanaged or
            // a leaver's account is waste of another kind, reclaimed by other means.
            if row.class != AccountClass::Managed || !row.active {
                continue;
            }
            let Some(person) = row.person.as_deref() else { continue };
            let Some(&person_id) = people.get(&person.to_lowercase()) else { continue };
            let pool = pools
                .iter()
                .find(|p| p.tier.is_some() && p.tier == row.license)
                .or_else(|| pools.iter().find(|p| p.tier.is_none()));
            let Some(pool) = pool else { continue };
            if tier.is_some() && pool.tier.as_deref() != tier {
                continue;
            }
            let Some(last) = crate::licenses::last_active_of(row, &activity) else {
                run.activity_unknown += 1;
                continue;
            };
            let unused = (today - last).whole_days();
            if unused <= i64::from(pool.unused_days) {
                continue;
            }
            let skip =
                |why: String| SkippedAccount { user_name: row.user_name.clone(), person: person.to_owned(), why };
            if held.contains(&person_id) {
                run.skipped.push(skip("legal hold".into()));
                continue;
            }
            let mine = earlier.iter().filter(|r| r.remote_id == row.remote_id);
            if mine.clone().any(|r| r.state == "asked") {
                run.skipped.push(skip("asked already".into()));
                continue;
            }
            // A "keep" holds for the pool's days: asking again the next day would be nagging.
            let keep_until = |r: &ReclaimRecord| r.answered_ms + i64::from(pool.unused_days) * DAY_MS;
            if let Some(kept) = mine.clone().find(|r| r.state == "kept" && keep_until(r) > now) {
                run.skipped.push(skip(format!("kept on {}", date_of(kept.answered_ms))));
                continue;
            }
            questions.push(ReclaimRecord {
                id: uuid::Uuid::now_v7().simple().to_string(),
                app_id: record.app.id,
                tier: pool.tier.clone(),
                remote_id: row.remote_id.clone(),
                user_name: row.user_name.clone(),
                person_id,
                email: person.to_owned(),
                unused_days: unused,
                last_active: last.to_string(),
                asked_ms: now,
                deadline_ms,
                state: if preview { "preview".into() } else { "asked".into() },
                answered_ms: 0,
                answered_by: String::new(),
            });
        }
        let owners: HashMap<Option<String>, Option<String>> =
            pools.iter().map(|p| (p.tier.clone(), p.owner.clone())).collect();
        for q in &questions {
            let notice = self.reclaim_notice(
                q,
                &app_name,
                record.app.id,
                &record.app.settings.deprovision,
                owners.get(&q.tier).cloned().flatten(),
            )?;
            // The answer links go by email only (see `reclaim_notice`): a question nobody can
            // answer would release the seat at its deadline for want of a message, not of use.
            if self.addressed_to(&notice).await?.is_empty() {
                run.skipped.push(SkippedAccount {
                    user_name: q.user_name.clone(),
                    person: q.email.clone(),
                    why: NOBODY_TO_ASK.into(),
                });
                continue;
            }
            if run.audience.is_empty() {
                run.audience = self.audience(&notice).await?;
            }
            if preview {
                run.asked.push(view(q, &app_name));
                continue;
            }
            let mut tx = self.store.begin().await?;
            if !tx.insert_reclaim(self.tenant, q).await? {
                run.skipped.push(SkippedAccount {
                    user_name: q.user_name.clone(),
                    person: q.email.clone(),
                    why: "asked already".into(),
                });
                continue;
            }
            let detail = json!({"app": app_name, "pool": view(q, &app_name).pool, "user_name": q.user_name,
                "last_active": q.last_active, "unused_days": q.unused_days, "deadline": date_of(q.deadline_ms), "id": q.id});
            let subject = format!("{app_name}:{}", q.user_name);
            tx.audit(
                self.tenant,
                AuditRecord {
                    actor,
                    action: "license.reclaim_asked",
                    subject: &subject,
                    person: Some(&q.email),
                    app: Some(&app_name),
                    detail: &detail,
                },
            )
            .await?;
            tx.commit().await?;
            self.notify(&notice).await;
            run.asked.push(view(q, &app_name));
        }
        Ok(run)
    }

    fn reclaim_notice(
        &self,
        q: &ReclaimRecord,
        app: &str,
        app_id: tenure_core::AppId,
        policy: &DeprovisionPolicy,
        owner: Option<String>,
    ) -> Result<Notice, EngineError> {
        let pool = view(q, app).pool;
        let deadline = date_of(q.deadline_ms);
        let what = match policy {
            DeprovisionPolicy::RemoveLicense => "its license is removed",
            DeprovisionPolicy::Delete => "the account is deleted",
            DeprovisionPolicy::DoNothing => "nothing is done to the account (the app's policy)",
            _ => "the account is deactivated",
        };
        let mut notice = Notice::new(RECLAIM_EVENT, format!("Still need your {pool} license? ({})", q.user_name));
        notice.lines = vec![
            format!("{} has not used {pool} since {} ({} days).", who(q), q.last_active, q.unused_days),
            String::new(),
            format!("Still needed? Keep it: {}", self.link_for(&q.id, ReclaimAction::Keep, q.deadline_ms)?),
            format!("Not needed? Release it: {}", self.link_for(&q.id, ReclaimAction::Release, q.deadline_ms)?),
            String::new(),
            format!("With no answer by {deadline}, the seat is released: {what}. Each link works once."),
        ];
        // Everyone in a Slack or Teams channel (and whatever a webhook feeds) could follow a
        // link and answer for the person: shared channels learn of the question, not its links.
        notice.shared_lines = Some(vec![
            format!("{} has not used {pool} since {} ({} days).", who(q), q.last_active, q.unused_days),
            String::new(),
            "They, the app's admins and the pool's owner were asked by email whether to keep it; \
             the answer links went only to them."
                .to_owned(),
            format!("With no answer by {deadline}, the seat is released: {what}."),
        ]);
        notice.path = Some(RECLAIMS_PAGE.to_owned());
        notice.person = Some(q.email.clone());
        notice.apps = vec![app_id];
        let mut to = vec![Recipient::Person, Recipient::AppAdmins];
        to.extend(owner.map(Recipient::Address));
        notice.to = Some(to);
        notice.data = json!({"app": app, "pool": pool, "person": q.email, "user_name": q.user_name,
            "last_active": q.last_active, "unused_days": q.unused_days, "deadline": deadline});
        Ok(notice)
    }

    /// The question a link names, if the link is genuine (signed by a key of the ring for this
    /// tenant, question, action and deadline).
    async fn question_of(&self, token: &str) -> Result<(ReclaimRecord, ReclaimAction), EngineError> {
        let bad = || EngineError::NotFound(BAD_LINK.to_owned());
        let mut parts = token.split('.');
        let (Some(id), Some(action), Some(key_id), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let action = ReclaimAction::parse(action).ok_or_else(bad)?;
        let tag = B64.decode(tag).map_err(|_| bad())?;
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        let record = self.store.license_reclaim(self.tenant, id).await?.ok_or_else(bad)?;
        let signed = message(&self.tenant.to_string(), id, action, record.deadline_ms);
        if !self.store.keyring().verify_link(key_id, &signed, &tag) {
            return Err(bad());
        }
        Ok((record, action))
    }

    fn closed(&self, r: &ReclaimRecord) -> Option<String> {
        match r.state.as_str() {
            "asked" if self.now_ms() >= r.deadline_ms => {
                Some(format!("this link expired on {}: the seat is released", date_of(r.deadline_ms)))
            }
            "asked" => None,
            "kept" => Some(format!("already answered on {}: kept", date_of(r.answered_ms))),
            "released" => Some(format!("already answered on {}: released", date_of(r.answered_ms))),
            other => Some(format!("closed on {}: {other}", date_of(r.answered_ms))),
        }
    }

    /// What a link's page shows (a GET: answers nothing).
    pub async fn reclaim_link(&self, token: &str) -> Result<ReclaimLink, EngineError> {
        let (record, action) = self.question_of(token).await?;
        let app = self.app_name(record.app_id).await?;
        Ok(ReclaimLink { question: view(&record, &app), action, closed: self.closed(&record) })
    }

    async fn app_name(&self, id: tenure_core::AppId) -> Result<String, EngineError> {
        Ok(self
            .store
            .list_apps(self.tenant)
            .await?
            .into_iter()
            .find(|r| r.app.id == id)
            .map_or_else(|| id.to_string(), |r| r.app.name))
    }

    /// Answers the question a link names with the link's action (the page's POST). Refused
    /// once the question is settled or past its deadline.
    pub async fn answer_reclaim(&self, token: &str) -> Result<ReclaimLink, EngineError> {
        let (record, action) = self.question_of(token).await?;
        let app = self.app_name(record.app_id).await?;
        if let Some(closed) = self.closed(&record) {
            return Err(EngineError::Refused(closed));
        }
        let by = format!("link sent about {}", record.email);
        match action {
            ReclaimAction::Keep => {
                let mut tx = self.store.begin().await?;
                if !tx.settle_reclaim(self.tenant, &record.id, "kept", self.now_ms(), &by).await? {
                    return Err(EngineError::Refused("already answered".into()));
                }
                let detail = json!({"app": app, "user_name": record.user_name, "id": record.id});
                let subject = format!("{app}:{}", record.user_name);
                tx.audit(
                    self.tenant,
                    AuditRecord {
                        actor: &by,
                        action: "license.reclaim_kept",
                        subject: &subject,
                        person: Some(&record.email),
                        app: Some(&app),
                        detail: &detail,
                    },
                )
                .await?;
                tx.commit().await?;
            }
            ReclaimAction::Release => {
                if !self.release_seat(&record, &app, &by).await? {
                    return Err(EngineError::Refused("already answered".into()));
                }
            }
        }
        let settled = self.store.license_reclaim(self.tenant, &record.id).await?.unwrap_or(record);
        Ok(ReclaimLink { question: view(&settled, &app), action, closed: None })
    }

    /// Releases every question past its deadline (run by the workflows duty's holder, every
    /// `WORKFLOW_TICK`, while `serve` runs). Returns how many were released.
    pub async fn reclaim_pass(&self) -> Result<usize, EngineError> {
        let due = self.store.due_reclaims(self.tenant, self.now_ms()).await?;
        let mut released = 0;
        for record in due {
            let app = self.app_name(record.app_id).await?;
            if self.release_seat(&record, &app, "deadline").await? {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Settles a question as released and deprovisions the account by the app's policy through
    /// the queue and the guard; a person now on legal hold, or an account no longer theirs, is
    /// settled as `skipped` instead. False when the question was settled already.
    async fn release_seat(&self, record: &ReclaimRecord, app: &str, by: &str) -> Result<bool, EngineError> {
        let now = self.now_ms();
        let apps = self.store.list_apps(self.tenant).await?;
        let Some(app_record) = apps.into_iter().find(|r| r.app.id == record.app_id) else {
            return Ok(false);
        };
        let held = self.store.legal_holds(self.tenant).await?.iter().any(|h| h.person_id == record.person_id);
        let accounts = self.store.list_accounts(self.tenant, record.app_id).await?;
        let managed = accounts.len();
        let account =
            accounts.into_iter().find(|a| a.link.remote_id == record.remote_id && a.link.person_id == record.person_id);
        let op = account.as_ref().and_then(|a| release_op(app_record.app.settings.deprovision, a));
        let skipped = if held {
            Some("the person is on legal hold")
        } else if account.is_none() {
            Some("the account is no longer theirs")
        } else if op.is_none() {
            Some("the app's policy takes nothing from it")
        } else {
            None
        };
        let subject = format!("{app}:{}", record.user_name);
        let reason = Reason::LicenseReclaimed { unused_days: u32::try_from(record.unused_days).unwrap_or(u32::MAX) };
        let mut tx = self.store.begin().await?;
        let state = if skipped.is_some() { "skipped" } else { "released" };
        if !tx.settle_reclaim(self.tenant, &record.id, state, now, by).await? {
            return Ok(false);
        }
        let detail = json!({"app": app, "user_name": record.user_name, "id": record.id,
            "reason": reason.to_string(), "skipped": skipped});
        let action = if skipped.is_some() { "license.reclaim_skipped" } else { "license.reclaim_released" };
        tx.audit(
            self.tenant,
            AuditRecord {
                actor: by,
                action,
                subject: &subject,
                person: Some(&record.email),
                app: Some(app),
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        let Some(kind) = op.filter(|_| skipped.is_none()) else { return Ok(true) };
        let why = reason.to_string();
        let plan = AppPlan {
            app: app_record.app.clone(),
            plan: Plan {
                ops: vec![PlannedOp {
                    app_id: record.app_id,
                    person_id: record.person_id,
                    person: record.email.clone(),
                    kind,
                    reason,
                }],
                ..Plan::default()
            },
            observed: Vec::new(),
            managed,
            // Covers nobody: a held loss of the person elsewhere in the app is not this
            // release's business.
            covered: Coverage::People(HashSet::new()),
            read_at_ms: crate::SystemClock.now_ms(),
            notes: Vec::new(),
        };
        let enqueued = self.enqueue_with(&[plan], &[], Authority::Guarded, "license-reclaim").await?;
        tracing::info!(app, user = %record.user_name, plan = ?enqueued.plan_id, held = enqueued.held_losses, "license seat released");
        // The person stays out of the app until an admin says otherwise: without this the next
        // plan would give the released seat straight back.
        let mut tx = self.store.begin().await?;
        tx.assign(
            self.tenant,
            record.app_id,
            &tenure_core::AssignmentTarget::Person(record.person_id),
            true,
            &tenure_core::AssignmentParams::default(),
        )
        .await?;
        let detail = json!({"app": app, "person": record.email, "why": why});
        tx.audit(
            self.tenant,
            AuditRecord {
                actor: "license-reclaim",
                action: "assignment.exclude",
                subject: app,
                person: Some(&record.email),
                app: Some(app),
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

use crate::Clock as _;

impl Engine {
    pub(crate) async fn reclaim_views(&self, app: Option<tenure_core::AppId>) -> Result<Vec<ReclaimView>, EngineError> {
        let names: HashMap<tenure_core::AppId, String> =
            self.store.list_apps(self.tenant).await?.into_iter().map(|r| (r.app.id, r.app.name)).collect();
        Ok(self
            .store
            .license_reclaims(self.tenant, app)
            .await?
            .iter()
            .map(|r| view(r, names.get(&r.app_id).map_or("?", String::as_str)))
            .collect())
    }
}
