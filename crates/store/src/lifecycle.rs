//! The lifecycle layer's rows: people offboarded in Tenure, notification channels (credentials
//! sealed like apps'), the notification outbox, and manual apps' tasks.

use sqlx::any::AnyRow;
use tenure_core::{AppId, ChannelId, MessageId, PersonId, Secret, TaskId, TenantId};

use crate::row::*;
use crate::{Store, StoreError, Tx, now_ms};

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A person Tenure itself offboarded: from `effective` on, they hold no account anywhere.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Offboarding {
    pub person_id: PersonId,
    pub email: String,
    pub effective: time::Date,
    pub actor: String,
    pub created_ms: i64,
}

/// A notification channel. `secret` is opened only for the sender; views never show it.
#[derive(Debug, Clone)]
pub struct ChannelRecord {
    pub id: ChannelId,
    pub name: String,
    pub kind: String,
    pub config: serde_json::Value,
    pub secret: Option<Secret>,
    pub created_ms: i64,
}

/// One message for one channel, as the outbox keeps it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxRecord {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub event: String,
    pub message: serde_json::Value,
    /// `pending`, `sent`, `failed` (gave up).
    pub status: String,
    pub attempts: i64,
    pub not_before_ms: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub sent_ms: Option<i64>,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone)]
pub enum Delivery {
    Sent,
    /// Try again at `retry_at_ms`.
    Retry {
        error: String,
        retry_at_ms: i64,
    },
    /// Give up.
    Failed {
        error: String,
    },
}

/// A manual app's task.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskRecord {
    pub id: TaskId,
    pub app_id: AppId,
    pub person_id: PersonId,
    pub person: String,
    pub assignee: String,
    /// The operation's kind: `create`, `deactivate`, `delete`, ...
    pub op: String,
    /// The planned operation, as the planner made it.
    pub body: serde_json::Value,
    pub text: String,
    /// `open`, `verifying` (closed by its assignee in an app read back: awaiting the next read
    /// of the app to confirm it) or `closed`.
    pub status: String,
    pub created_ms: i64,
    pub closed_ms: Option<i64>,
    pub closed_by: Option<String>,
    pub note: Option<String>,
}

/// A task to write.
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    pub app_id: AppId,
    pub person_id: PersonId,
    pub person: &'a str,
    pub assignee: &'a str,
    pub op: &'a str,
    pub body: &'a serde_json::Value,
    pub text: &'a str,
}

fn binding<'a>(tenant: &'a str, row: &'a str) -> crate::crypto::Binding<'a> {
    crate::crypto::Binding { purpose: "notify_channels.secret", tenant, row }
}

impl Store {
    /// Every offboarding of the tenant, effective or scheduled.
    pub async fn offboardings(&self, tenant: TenantId) -> Result<Vec<Offboarding>, StoreError> {
        let rows = sqlx::query(
            "SELECT person_id, email, effective, actor, created_ms FROM offboardings WHERE tenant_id = $1 \
             ORDER BY email",
        )
        .bind(tenant.to_string())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(offboarding_from_row).collect()
    }

    /// The tenant's notification channels, their credentials opened.
    pub async fn channels(&self, tenant: TenantId) -> Result<Vec<ChannelRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, kind, config, secret, created_ms FROM notify_channels WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tenant.to_string())
        .fetch_all(self.read_pool())
        .await?;
        let tenant_text = tenant.to_string();
        rows.iter()
            .map(|r| {
                let id: ChannelId = parsed(r, "id")?;
                let name = text(r, "name")?;
                let secret = opt_text(r, "secret")?
                    .map(|stored| {
                        self.keyring()
                            .open(binding(&tenant_text, &id.to_string()), &stored)
                            .map_err(|source| StoreError::Credential { what: format!("channel {name}"), source })
                    })
                    .transpose()?;
                Ok(ChannelRecord {
                    id,
                    name,
                    kind: text(r, "kind")?,
                    config: json(r, "config")?,
                    secret,
                    created_ms: int(r, "created_ms")?,
                })
            })
            .collect()
    }

    /// Puts messages in the outbox (each `(channel, event, message)`), due now.
    pub async fn enqueue_messages(
        &self,
        tenant: TenantId,
        messages: &[(ChannelId, String, serde_json::Value)],
    ) -> Result<Vec<MessageId>, StoreError> {
        let mut tx = self.begin().await?;
        let ids = tx.enqueue_messages(tenant, messages).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Claims up to `limit` due messages for `lease_ms`: a message is sent by one drainer at a
    /// time, and a drainer that dies leaves it to the next once the lease runs out.
    pub async fn claim_messages(
        &self,
        tenant: TenantId,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let now = now_ms();
        let rows = sqlx::query(
            "SELECT id FROM notify_outbox WHERE tenant_id = $1 AND status = 'pending' AND not_before_ms <= $2 \
             AND claimed_until_ms <= $2 ORDER BY created_ms LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for r in &rows {
            let id = text(r, "id")?;
            // Compare-and-set: another drainer may have claimed it since the read.
            let row = sqlx::query(
                "UPDATE notify_outbox SET claimed_until_ms = $1 WHERE id = $2 AND tenant_id = $3 \
                 AND status = 'pending' AND claimed_until_ms <= $4 RETURNING id, channel_id, event, message, status, \
                 attempts, not_before_ms, last_error, created_ms, sent_ms",
            )
            .bind(now + lease_ms)
            .bind(&id)
            .bind(tenant.to_string())
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row {
                claimed.push(outbox_from_row(&row)?);
            }
        }
        Ok(claimed)
    }

    /// Records what became of a claimed message.
    pub async fn settle_message(&self, tenant: TenantId, id: MessageId, outcome: &Delivery) -> Result<(), StoreError> {
        let now = now_ms();
        let (status, error, not_before, sent) = match outcome {
            Delivery::Sent => ("sent", None, now, Some(now)),
            Delivery::Retry { error, retry_at_ms } => ("pending", Some(error.as_str()), *retry_at_ms, None),
            Delivery::Failed { error } => ("failed", Some(error.as_str()), now, None),
        };
        sqlx::query(
            "UPDATE notify_outbox SET status = $1, last_error = $2, not_before_ms = $3, sent_ms = $4, \
             attempts = attempts + 1, claimed_until_ms = 0 WHERE id = $5 AND tenant_id = $6",
        )
        .bind(status)
        .bind(error)
        .bind(not_before)
        .bind(sent)
        .bind(id.to_string())
        .bind(tenant.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Messages still to send (pending), due or not.
    pub async fn pending_messages(&self, tenant: TenantId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM notify_outbox WHERE tenant_id = $1 AND status = 'pending'")
            .bind(tenant.to_string())
            .fetch_one(self.read_pool())
            .await?;
        int(&row, "n")
    }

    /// The outbox, newest first.
    pub async fn outbox(&self, tenant: TenantId, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, channel_id, event, message, status, attempts, not_before_ms, last_error, created_ms, sent_ms \
             FROM notify_outbox WHERE tenant_id = $1 ORDER BY created_ms DESC LIMIT $2",
        )
        .bind(tenant.to_string())
        .bind(limit)
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// One message, by id.
    pub async fn message(&self, tenant: TenantId, id: MessageId) -> Result<Option<OutboxRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, channel_id, event, message, status, attempts, not_before_ms, last_error, created_ms, sent_ms \
             FROM notify_outbox WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(outbox_from_row).transpose()
    }

    /// The keys of once-only notices already given that start with `prefix`.
    pub async fn notices_given(
        &self,
        tenant: TenantId,
        prefix: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        // substr, not LIKE: keys hold `_`, a LIKE wildcard. The length is a literal: PostgreSQL's
        // substr takes an int4, not the int8 a bound integer is.
        let len = prefix.chars().count();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT key FROM notify_once WHERE tenant_id = $1 AND substr(key, 1, {len}) = $2"
        )))
        .bind(tenant.to_string())
        .bind(prefix)
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(|r| text(r, "key")).collect()
    }

    /// Tasks, newest first; only open ones with `open_only`.
    pub async fn tasks(&self, tenant: TenantId, open_only: bool) -> Result<Vec<TaskRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, app_id, person_id, person, assignee, op, body, text, status, created_ms, closed_ms, \
             closed_by, note FROM tasks WHERE tenant_id = $1 AND ($2 = 0 OR status = 'open') \
             ORDER BY created_ms DESC, id",
        )
        .bind(tenant.to_string())
        .bind(i64::from(open_only))
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(task_from_row).collect()
    }
}

impl Tx {
    /// Records (or replaces) a person's offboarding.
    pub async fn set_offboarding(&mut self, tenant: TenantId, offboarding: &Offboarding) -> Result<(), StoreError> {
        let effective =
            offboarding.effective.format(DATE).map_err(|e| StoreError::Invalid(format!("effective date: {e}")))?;
        sqlx::query(
            "INSERT INTO offboardings (tenant_id, person_id, email, effective, actor, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, person_id) DO UPDATE SET \
             email = excluded.email, effective = excluded.effective, actor = excluded.actor, \
             created_ms = excluded.created_ms",
        )
        .bind(tenant.to_string())
        .bind(offboarding.person_id.to_string())
        .bind(&offboarding.email)
        .bind(effective)
        .bind(&offboarding.actor)
        .bind(offboarding.created_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Undoes a person's offboarding; true when there was one.
    pub async fn clear_offboarding(&mut self, tenant: TenantId, person: PersonId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM offboardings WHERE tenant_id = $1 AND person_id = $2")
            .bind(tenant.to_string())
            .bind(person.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A new channel; a name in use is a conflict. The secret is sealed, bound to the row.
    pub async fn insert_channel(
        &mut self,
        tenant: TenantId,
        name: &str,
        kind: &str,
        config: &serde_json::Value,
        secret: Option<&Secret>,
    ) -> Result<ChannelId, StoreError> {
        let id = ChannelId::new();
        let (tenant_text, id_text) = (tenant.to_string(), id.to_string());
        let sealed = secret
            .map(|s| {
                self.keyring
                    .seal(binding(&tenant_text, &id_text), s)
                    .map(crate::crypto::Sealed::into_stored)
                    .map_err(|source| StoreError::Credential { what: format!("channel {name}"), source })
            })
            .transpose()?;
        let done = sqlx::query(
            "INSERT INTO notify_channels (id, tenant_id, name, kind, config, secret, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(&id_text)
        .bind(&tenant_text)
        .bind(name)
        .bind(kind)
        .bind(to_json(config))
        .bind(sealed)
        .bind(now_ms())
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("channel {name}")));
        }
        Ok(id)
    }

    /// Replaces a channel's settings (not its secret); false when there is no such channel.
    pub async fn set_channel_config(
        &mut self,
        tenant: TenantId,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE notify_channels SET config = $1 WHERE tenant_id = $2 AND name = $3")
            .bind(to_json(config))
            .bind(tenant.to_string())
            .bind(name)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records that the once-only notice `key` is given; false when it was already.
    pub async fn claim_notice(&mut self, tenant: TenantId, key: &str, at_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO notify_once (tenant_id, key, at_ms) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, key) DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(key)
        .bind(at_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a channel (and its undelivered messages); true when there was one.
    pub async fn delete_channel(&mut self, tenant: TenantId, name: &str) -> Result<bool, StoreError> {
        let id: Option<String> = sqlx::query("SELECT id FROM notify_channels WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.to_string())
            .bind(name)
            .fetch_optional(&mut *self.tx)
            .await?
            .map(|r| text(&r, "id"))
            .transpose()?;
        let Some(id) = id else { return Ok(false) };
        // Explicitly, not by cascade: SQLite enforces foreign keys only when asked to.
        sqlx::query("DELETE FROM notify_outbox WHERE tenant_id = $1 AND channel_id = $2")
            .bind(tenant.to_string())
            .bind(&id)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("DELETE FROM notify_channels WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(&id)
            .execute(&mut *self.tx)
            .await?;
        Ok(true)
    }

    /// Puts messages in the outbox, due now, in this transaction.
    pub async fn enqueue_messages(
        &mut self,
        tenant: TenantId,
        messages: &[(ChannelId, String, serde_json::Value)],
    ) -> Result<Vec<MessageId>, StoreError> {
        let now = now_ms();
        let mut ids = Vec::with_capacity(messages.len());
        for (channel, event, message) in messages {
            let id = MessageId::new();
            sqlx::query(
                "INSERT INTO notify_outbox (id, tenant_id, channel_id, event, message, status, not_before_ms, \
                 created_ms) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
            )
            .bind(id.to_string())
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .bind(event)
            .bind(to_json(message))
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// A new open task, unless one is already open for the same app, person and kind of work
    /// (then that one's id).
    pub async fn insert_task(&mut self, tenant: TenantId, task: &NewTask<'_>) -> Result<(TaskId, bool), StoreError> {
        let open = sqlx::query(
            "SELECT id FROM tasks WHERE tenant_id = $1 AND app_id = $2 AND person_id = $3 AND op = $4 \
             AND status IN ('open', 'verifying')",
        )
        .bind(tenant.to_string())
        .bind(task.app_id.to_string())
        .bind(task.person_id.to_string())
        .bind(task.op)
        .fetch_optional(&mut *self.tx)
        .await?;
        if let Some(row) = open {
            return Ok((parsed(&row, "id")?, false));
        }
        let id = TaskId::new();
        sqlx::query(
            "INSERT INTO tasks (id, tenant_id, app_id, person_id, person, assignee, op, body, text, status, \
             created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(task.app_id.to_string())
        .bind(task.person_id.to_string())
        .bind(task.person)
        .bind(task.assignee)
        .bind(task.op)
        .bind(to_json(task.body))
        .bind(task.text)
        .bind(now_ms())
        .execute(&mut *self.tx)
        .await?;
        Ok((id, true))
    }

    /// Closes an open task; false when it is not open.
    pub async fn close_task(
        &mut self,
        tenant: TenantId,
        id: TaskId,
        by: &str,
        note: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.set_task_closing(tenant, id, by, note, "closed").await
    }

    /// An open task its assignee says is done, in an app whose next read must confirm it:
    /// `verifying` until then; false when it is not open.
    pub async fn close_task_unverified(
        &mut self,
        tenant: TenantId,
        id: TaskId,
        by: &str,
        note: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.set_task_closing(tenant, id, by, note, "verifying").await
    }

    async fn set_task_closing(
        &mut self,
        tenant: TenantId,
        id: TaskId,
        by: &str,
        note: Option<&str>,
        status: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tasks SET status = $1, closed_ms = $2, closed_by = $3, note = $4 \
             WHERE tenant_id = $5 AND id = $6 AND status = 'open'",
        )
        .bind(status)
        .bind(now_ms())
        .bind(by)
        .bind(note)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A `verifying` task the app's read confirmed: closed, as its assignee closed it.
    pub async fn confirm_task(&mut self, tenant: TenantId, id: TaskId) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE tasks SET status = 'closed' WHERE tenant_id = $1 AND id = $2 AND status = 'verifying'")
                .bind(tenant.to_string())
                .bind(id.to_string())
                .execute(&mut *self.tx)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A `verifying` task the app's read contradicts: open again, `why` as its note.
    pub async fn reopen_task(&mut self, tenant: TenantId, id: TaskId, why: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'open', closed_ms = NULL, closed_by = NULL, note = $1 \
             WHERE tenant_id = $2 AND id = $3 AND status = 'verifying'",
        )
        .bind(why)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn offboarding_from_row(r: &AnyRow) -> Result<Offboarding, StoreError> {
    let raw = text(r, "effective")?;
    Ok(Offboarding {
        person_id: parsed(r, "person_id")?,
        email: text(r, "email")?,
        effective: time::Date::parse(&raw, DATE)
            .map_err(|e| StoreError::corrupt(format!("offboarding date {raw:?}: {e}")))?,
        actor: text(r, "actor")?,
        created_ms: int(r, "created_ms")?,
    })
}

fn outbox_from_row(r: &AnyRow) -> Result<OutboxRecord, StoreError> {
    Ok(OutboxRecord {
        id: parsed(r, "id")?,
        channel_id: parsed(r, "channel_id")?,
        event: text(r, "event")?,
        message: json(r, "message")?,
        status: text(r, "status")?,
        attempts: int(r, "attempts")?,
        not_before_ms: int(r, "not_before_ms")?,
        last_error: opt_text(r, "last_error")?,
        created_ms: int(r, "created_ms")?,
        sent_ms: opt_int(r, "sent_ms")?,
    })
}

fn task_from_row(r: &AnyRow) -> Result<TaskRecord, StoreError> {
    Ok(TaskRecord {
        id: parsed(r, "id")?,
        app_id: parsed(r, "app_id")?,
        person_id: parsed(r, "person_id")?,
        person: text(r, "person")?,
        assignee: text(r, "assignee")?,
        op: text(r, "op")?,
        body: json(r, "body")?,
        text: text(r, "text")?,
        status: text(r, "status")?,
        created_ms: int(r, "created_ms")?,
        closed_ms: opt_int(r, "closed_ms")?,
        closed_by: opt_text(r, "closed_by")?,
        note: opt_text(r, "note")?,
    })
}

/// Re-seals notification channels' credentials under the current key (part of `keys rotate`).
pub(crate) async fn rotate_channels_in(
    keyring: &crate::crypto::Keyring,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    done: &mut crate::KeyRotation,
    only_plain: bool,
) -> Result<(), StoreError> {
    let rows = sqlx::query("SELECT tenant_id, id, name, secret FROM notify_channels WHERE secret IS NOT NULL")
        .fetch_all(&mut **tx)
        .await?;
    for r in &rows {
        let (tenant, id, name, stored) = (text(r, "tenant_id")?, text(r, "id")?, text(r, "name")?, text(r, "secret")?);
        if keyring.keeps(&stored, only_plain) {
            done.unchanged += 1;
            continue;
        }
        let credential = |source| StoreError::Credential { what: format!("channel {name} (tenant {tenant})"), source };
        let secret = keyring.open_for_rotation(binding(&tenant, &id), &stored).map_err(credential)?;
        let sealed = keyring.seal(binding(&tenant, &id), &secret).map_err(credential)?.into_stored();
        let updated = sqlx::query("UPDATE notify_channels SET secret = $1 WHERE id = $2 AND secret = $3")
            .bind(sealed)
            .bind(&id)
            .bind(&stored)
            .execute(&mut **tx)
            .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Concurrent(format!("the credential of channel {name}")));
        }
        done.rotated += 1;
    }
    Ok(())
}
