//! What the store indexes of a resource (columns, emails, members) and the writes that keep the
//! side tables in step with it.

use super::*;

/// One email as the side table holds it: lowercased value, type, primary.
pub(super) type EmailRow = (String, Option<String>, bool);

/// What the store indexes of a user.
pub(super) struct UserColumns {
    pub(super) user_name: String,
    pub(super) external_id: Option<String>,
    pub(super) display_name: Option<String>,
    pub(super) email_lc: Option<String>,
    pub(super) active: bool,
    pub(super) emails: Vec<EmailRow>,
}

pub(super) fn string_at(value: &Value, name: &str) -> Option<String> {
    json::get_ci(value, name).and_then(Value::as_str).map(str::to_owned)
}

pub(super) fn user_columns(resource: &Value) -> Result<UserColumns, StoreError> {
    let user_name = string_at(resource, "userName")
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| StoreError::Invalid("userName is required".to_owned()))?;
    let mut emails = Vec::new();
    if let Some(Value::Array(items)) = json::get_ci(resource, "emails") {
        for item in items {
            let Some(value) = string_at(item, "value") else { continue };
            let kind = string_at(item, "type");
            let primary = json::get_ci(item, "primary").and_then(Value::as_bool).unwrap_or(false);
            emails.push((value.to_lowercase(), kind, primary));
        }
    }
    let work = |e: &&EmailRow| e.1.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("work"));
    let email_lc =
        emails.iter().find(|e| e.2).or_else(|| emails.iter().find(work)).or(emails.first()).map(|e| e.0.clone());
    Ok(UserColumns {
        user_name,
        external_id: string_at(resource, "externalId"),
        display_name: string_at(resource, "displayName"),
        email_lc,
        active: json::get_ci(resource, "active").and_then(Value::as_bool).unwrap_or(true),
        emails,
    })
}

/// A group member as stored.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Member {
    pub(super) id: String,
    pub(super) display: Option<String>,
}

/// Splits a group resource into what `resource` stores and its members (deduplicated by id).
pub(super) fn split_members(resource: &Value) -> Result<(Value, Vec<Member>), StoreError> {
    let Value::Object(fields) = resource else {
        return Err(StoreError::Invalid("a group must be a JSON object".to_owned()));
    };
    let mut rest = Map::new();
    let mut members = Vec::new();
    let mut seen = HashSet::new();
    for (key, value) in fields {
        if !key.eq_ignore_ascii_case("members") {
            rest.insert(key.clone(), value.clone());
            continue;
        }
        let items = match value {
            Value::Array(items) => items.as_slice(),
            Value::Null => &[],
            _ => return Err(StoreError::Invalid("members must be a list".to_owned())),
        };
        for item in items {
            let id =
                string_at(item, "value").ok_or_else(|| StoreError::Invalid("a member needs a value".to_owned()))?;
            if seen.insert(id.clone()) {
                members.push(Member { id, display: string_at(item, "display") });
            }
        }
    }
    Ok((Value::Object(rest), members))
}

pub(super) async fn write_emails(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    user_id: &str,
    emails: &[EmailRow],
) -> Result<(), StoreError> {
    for (value, kind, primary) in emails {
        sqlx::query(
            "INSERT INTO scim_user_emails (tenant_id, user_id, value_lc, kind, is_primary) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant.to_string())
        .bind(user_id)
        .bind(value)
        .bind(kind)
        .bind(i64::from(*primary))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Makes the group's stored members `wanted`, writing only the difference, in the SCIM table and
/// in the directory (users → group members, groups → nesting). Unknown member ids are refused.
pub(super) async fn sync_members(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    group_id: &str,
    wanted: &[Member],
) -> Result<(), StoreError> {
    let t = tenant.to_string();
    let rows =
        sqlx::query("SELECT member_id, member_type, display FROM scim_members WHERE group_id = $1 AND tenant_id = $2")
            .bind(group_id)
            .bind(&t)
            .fetch_all(&mut **tx)
            .await?;
    let mut current: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for row in &rows {
        current.insert(text(row, "member_id")?, (text(row, "member_type")?, opt_text(row, "display")?));
    }
    let wanted_ids: HashSet<&str> = wanted.iter().map(|m| m.id.as_str()).collect();
    for (member, (kind, _)) in &current {
        if wanted_ids.contains(member.as_str()) {
            continue;
        }
        sqlx::query("DELETE FROM scim_members WHERE group_id = $1 AND member_id = $2")
            .bind(group_id)
            .bind(member)
            .execute(&mut **tx)
            .await?;
        let sql = if kind == "Group" {
            "DELETE FROM group_nesting WHERE parent_id = $1 AND child_id = $2"
        } else {
            "DELETE FROM group_members WHERE group_id = $1 AND person_id = $2"
        };
        sqlx::query(sql).bind(group_id).bind(member).execute(&mut **tx).await?;
        mark_member_dirty(tx, tenant, kind, member).await?;
    }
    for member in wanted {
        if let Some((_, display)) = current.get(&member.id) {
            if display != &member.display {
                sqlx::query("UPDATE scim_members SET display = $3 WHERE group_id = $1 AND member_id = $2")
                    .bind(group_id)
                    .bind(&member.id)
                    .bind(&member.display)
                    .execute(&mut **tx)
                    .await?;
            }
            continue;
        }
        let is_user = sqlx::query("SELECT 1 AS one FROM scim_users WHERE id = $1 AND tenant_id = $2")
            .bind(&member.id)
            .bind(&t)
            .fetch_optional(&mut **tx)
            .await?
            .is_some();
        let kind = if is_user {
            "User"
        } else if member.id != group_id
            && sqlx::query("SELECT 1 AS one FROM scim_groups WHERE id = $1 AND tenant_id = $2")
                .bind(&member.id)
                .bind(&t)
                .fetch_optional(&mut **tx)
                .await?
                .is_some()
        {
            "Group"
        } else {
            return Err(StoreError::Invalid(format!("member {} is no user or other group of this tenant", member.id)));
        };
        sqlx::query(
            "INSERT INTO scim_members (tenant_id, group_id, member_id, member_type, display) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t)
        .bind(group_id)
        .bind(&member.id)
        .bind(kind)
        .bind(&member.display)
        .execute(&mut **tx)
        .await?;
        let sql = if kind == "Group" {
            "INSERT INTO group_nesting (tenant_id, parent_id, child_id) VALUES ($1, $2, $3)"
        } else {
            "INSERT INTO group_members (tenant_id, group_id, person_id) VALUES ($1, $2, $3)"
        };
        sqlx::query(sql).bind(&t).bind(group_id).bind(&member.id).execute(&mut **tx).await?;
        mark_member_dirty(tx, tenant, kind, &member.id).await?;
    }
    Ok(())
}

/// A member who joined or left a group may gain or lose access: plan them again. A nested group
/// changes many people at once, so it asks for everything to be planned.
async fn mark_member_dirty(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    kind: &str,
    member: &str,
) -> Result<(), StoreError> {
    let mark = match member.parse::<PersonId>() {
        Ok(person) if kind != "Group" => DirtyMark::person(person),
        _ => DirtyMark::everything(),
    };
    crate::queue::mark_dirty_in(tx, tenant, &[mark]).await
}
