//! The app's groups (RFC 7643 §4.2): created with members, listed and filtered like users, and
//! changed by PATCH (RFC 7644 §3.5.2) the way identity providers change them: `add` of a
//! `members` list, `remove` of `members[value eq "…" or …]`, `replace` of `displayName` or the
//! whole member list. Every vendor the sandbox imitates serves `/Groups` (see `profile.rs`).

use serde_json::{Map, Value, json};
use tenure_scim::{Filter, ListResponse, PatchOperation, PatchVerb, ScimError, ScimType, parse_filter, schemas};

use crate::profile::Profile;

struct Record {
    id: String,
    json: Value,
    version: u64,
    created: String,
}

pub(crate) struct Groups {
    profile: Profile,
    base_url: String,
    records: Vec<Record>,
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("Group {id} not found"))
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

/// A group as the client sent it, reduced to what the sandbox keeps: displayName, externalId and
/// the member ids.
struct Parsed {
    display_name: String,
    external_id: Option<String>,
    members: Vec<String>,
}

fn parse_group(body: &Value) -> Result<Parsed, ScimError> {
    let Value::Object(fields) = body else {
        return Err(ScimError::bad_request(ScimType::InvalidSyntax, "the request body must be a JSON object"));
    };
    let field = |name: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let display_name = match field("displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(invalid_value("displayName is required and must be a non-empty string")),
    };
    let external_id = match field("externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid_value("externalId must be a string")),
    };
    let members = match field("members") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => member_ids(list)?,
    };
    Ok(Parsed { display_name, external_id, members })
}

/// A stored group back in the form PATCH works on.
fn parsed_of(json: &Value) -> Parsed {
    Parsed {
        display_name: json["displayName"].as_str().unwrap_or_default().to_owned(),
        external_id: json.get("externalId").and_then(Value::as_str).map(str::to_owned),
        members: json
            .get("members")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(|m| m["value"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
    }
}

/// The `value`s of a members list (`[{"value": "id"}, …]`).
fn member_ids(list: &Value) -> Result<Vec<String>, ScimError> {
    let Value::Array(items) = list else {
        return Err(invalid_value("members must be an array of {\"value\": id}"));
    };
    items
        .iter()
        .map(|m| {
            m.get("value")
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| invalid_value(format!("a member without a value: {m}")))
        })
        .collect()
}

impl Groups {
    pub(crate) fn new(profile: Profile, base_url: String) -> Self {
        Self { profile, base_url, records: Vec::new() }
    }

    pub(crate) fn snapshot(&self) -> Vec<Value> {
        self.records.iter().map(|r| r.json.clone()).collect()
    }

    fn position(&self, id: &str) -> Result<usize, ScimError> {
        self.records.iter().position(|r| r.id == id).ok_or_else(|| not_found(id))
    }

    pub(crate) fn get(&self, id: &str) -> Result<Value, ScimError> {
        Ok(self.records[self.position(id)?].json.clone())
    }

    pub(crate) fn list(&self, filter: Option<&Filter>, start_index: usize, count: usize) -> ListResponse<Value> {
        let matching: Vec<&Record> =
            self.records.iter().filter(|r| filter.is_none_or(|f| f.matches(&r.json))).collect();
        let page: Vec<Value> =
            matching.iter().skip(start_index.saturating_sub(1)).take(count).map(|r| r.json.clone()).collect();
        ListResponse::new(matching.len() as u64, start_index as u64, page)
    }

    /// `user_exists` says whether a member id names one of the app's users: vendors refuse
    /// members they do not know rather than keep dangling references.
    pub(crate) fn create(&mut self, body: &Value, user_exists: &dyn Fn(&str) -> bool) -> Result<Value, ScimError> {
        let parsed = parse_group(body)?;
        self.check(&parsed, None, user_exists)?;
        let id = self.profile.new_group_id();
        let created = crate::store::now();
        let record = self.finish(id, parsed, created, 1);
        let json = record.json.clone();
        self.records.push(record);
        Ok(json)
    }

    pub(crate) fn replace(
        &mut self,
        id: &str,
        body: &Value,
        user_exists: &dyn Fn(&str) -> bool,
    ) -> Result<Value, ScimError> {
        let index = self.position(id)?;
        let parsed = parse_group(body)?;
        self.store_at(index, parsed, user_exists)
    }

    pub(crate) fn patch(
        &mut self,
        id: &str,
        operations: &[PatchOperation],
        user_exists: &dyn Fn(&str) -> bool,
    ) -> Result<Value, ScimError> {
        let index = self.position(id)?;
        // Patched on a copy: PATCH is atomic (RFC 7644 §3.5.2).
        let mut parsed = parsed_of(&self.records[index].json);
        for op in operations {
            apply(&mut parsed, op)?;
        }
        self.store_at(index, parsed, user_exists)
    }

    pub(crate) fn delete(&mut self, id: &str) -> Result<(), ScimError> {
        let index = self.position(id)?;
        self.records.remove(index);
        Ok(())
    }

    /// A user who is gone leaves every group.
    pub(crate) fn forget_member(&mut self, user_id: &str) {
        for index in 0..self.records.len() {
            let mut parsed = parsed_of(&self.records[index].json);
            if !parsed.members.iter().any(|m| m == user_id) {
                continue;
            }
            parsed.members.retain(|m| m != user_id);
            let record = &self.records[index];
            let (id, created, version) = (record.id.clone(), record.created.clone(), record.version);
            self.records[index] = self.finish(id, parsed, created, version + 1);
        }
    }

    fn store_at(
        &mut self,
        index: usize,
        parsed: Parsed,
        user_exists: &dyn Fn(&str) -> bool,
    ) -> Result<Value, ScimError> {
        let old = &self.records[index];
        let (id, created, version) = (old.id.clone(), old.created.clone(), old.version);
        self.check(&parsed, Some(&id), user_exists)?;
        let record = self.finish(id, parsed, created, version + 1);
        let json = record.json.clone();
        self.records[index] = record;
        Ok(json)
    }

    fn check(
        &self,
        parsed: &Parsed,
        own_id: Option<&str>,
        user_exists: &dyn Fn(&str) -> bool,
    ) -> Result<(), ScimError> {
        // displayName is unique per app in every vendor imitated here (Slack user group names
        // and handles, Notion, Atlassian, GitHub and Zoom group names).
        let taken = self.records.iter().any(|r| {
            Some(r.id.as_str()) != own_id
                && r.json["displayName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&parsed.display_name))
        });
        if taken {
            return Err(ScimError::conflict(format!("a group named {:?} already exists", parsed.display_name)));
        }
        if let Some(unknown) = parsed.members.iter().find(|m| !user_exists(m)) {
            return Err(invalid_value(format!("member {unknown:?} is not a user of this app")));
        }
        Ok(())
    }

    fn finish(&self, id: String, parsed: Parsed, created: String, version: u64) -> Record {
        let mut members: Vec<String> = Vec::with_capacity(parsed.members.len());
        for m in parsed.members {
            if !members.contains(&m) {
                members.push(m);
            }
        }
        let mut fields = Map::new();
        fields.insert("schemas".into(), json!([schemas::GROUP]));
        fields.insert("id".into(), Value::String(id.clone()));
        if let Some(external) = parsed.external_id {
            fields.insert("externalId".into(), Value::String(external));
        }
        fields.insert("displayName".into(), Value::String(parsed.display_name));
        fields.insert(
            "members".into(),
            Value::Array(
                members.iter().map(|m| json!({"value": m, "$ref": format!("{}/Users/{m}", self.base_url)})).collect(),
            ),
        );
        fields.insert(
            "meta".into(),
            json!({
                "resourceType": "Group",
                "created": created,
                "lastModified": crate::store::now(),
                "location": format!("{}/Groups/{id}", self.base_url),
                "version": format!("W/\"{version}\""),
            }),
        );
        Record { id, json: Value::Object(fields), version, created }
    }
}

/// One PATCH operation on a group.
fn apply(group: &mut Parsed, op: &PatchOperation) -> Result<(), ScimError> {
    let value = op.value.as_ref();
    let Some(path) = op.path.as_deref().map(str::trim) else {
        // Path-less add/replace: an object of attributes (what Entra ID sends for displayName).
        let Some(Value::Object(fields)) = value else {
            return Err(ScimError::bad_request(
                ScimType::NoTarget,
                "an operation without a path needs an object value",
            ));
        };
        for (key, field) in fields {
            if ["schemas", "id", "meta"].iter().any(|k| k.eq_ignore_ascii_case(key)) {
                continue;
            }
            apply(group, &PatchOperation { op: op.op, path: Some(key.clone()), value: Some(field.clone()) })?;
        }
        return Ok(());
    };
    let (attr, filter) = match path.split_once('[') {
        Some((attr, rest)) => {
            let inner = rest
                .strip_suffix(']')
                .ok_or_else(|| ScimError::bad_request(ScimType::InvalidPath, format!("unclosed filter in {path:?}")))?;
            let filter = parse_filter(inner)
                .map_err(|e| ScimError::bad_request(ScimType::InvalidFilter, format!("{path:?}: {e}")))?;
            (attr.trim(), Some(filter))
        }
        None => (path, None),
    };
    match (attr.to_ascii_lowercase().as_str(), op.op) {
        ("displayname", PatchVerb::Add | PatchVerb::Replace) if filter.is_none() => match value {
            Some(Value::String(s)) if !s.trim().is_empty() => group.display_name = s.clone(),
            _ => return Err(invalid_value("displayName must be a non-empty string")),
        },
        ("externalid", PatchVerb::Add | PatchVerb::Replace) if filter.is_none() => match value {
            Some(Value::String(s)) => group.external_id = Some(s.clone()),
            _ => return Err(invalid_value("externalId must be a string")),
        },
        ("externalid", PatchVerb::Remove) => group.external_id = None,
        ("members", PatchVerb::Add) if filter.is_none() => {
            let added = member_ids(value.ok_or_else(|| invalid_value("add needs a members value"))?)?;
            group.members.extend(added);
        }
        ("members", PatchVerb::Replace) if filter.is_none() => {
            group.members = member_ids(value.ok_or_else(|| invalid_value("replace needs a members value"))?)?;
        }
        ("members", PatchVerb::Remove) => match (filter, value) {
            // A filter matching no member removes nothing and is not an error: IdPs retry
            // removals, and the vendors imitated here answer them with success.
            (Some(filter), _) => group.members.retain(|m| !filter.matches(&json!({"value": m}))),
            // Some IdPs (Entra ID) send the members to remove as the value.
            (None, Some(list)) => {
                let gone = member_ids(list)?;
                group.members.retain(|m| !gone.contains(m));
            }
            (None, None) => group.members.clear(),
        },
        _ => {
            return Err(ScimError::bad_request(
                ScimType::InvalidPath,
                format!("{:?} of {path:?} is not supported on a group", op.op),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tenure_scim::PatchOp;

    use super::*;

    fn ops(v: Value) -> Vec<PatchOperation> {
        serde_json::from_value::<PatchOp>(json!({"Operations": v})).unwrap().operations
    }

    #[test]
    fn members_are_added_and_removed_by_filter() {
        let mut g = Groups::new(Profile::Slack, "http://x/scim/v2".into());
        let exists = |id: &str| id.starts_with('U');
        let created = g.create(&json!({"displayName": "eng", "members": [{"value": "U1"}]}), &exists).unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with('S'));
        let v = g
            .patch(
                &id,
                &ops(json!([{"op": "add", "path": "members", "value": [{"value": "U2"}, {"value": "U3"}]}])),
                &exists,
            )
            .unwrap();
        assert_eq!(v["members"].as_array().unwrap().len(), 3);
        let v = g
            .patch(&id, &ops(json!([{"op": "remove", "path": "members[value eq \"U1\" or value eq \"U3\"]"}])), &exists)
            .unwrap();
        let left: Vec<&str> = v["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
        assert_eq!(left, ["U2"]);
        let err = g.patch(&id, &ops(json!([{"op": "add", "path": "members", "value": [{"value": "X9"}]}])), &exists);
        assert_eq!(err.unwrap_err().scim_type, Some(ScimType::InvalidValue));
        g.forget_member("U2");
        assert_eq!(g.get(&id).unwrap()["members"], json!([]));
    }

    #[test]
    fn names_are_unique_and_required() {
        let mut g = Groups::new(Profile::Notion, "http://x".into());
        let yes = |_: &str| true;
        g.create(&json!({"displayName": "Sales"}), &yes).unwrap();
        assert_eq!(g.create(&json!({"displayName": "sales"}), &yes).unwrap_err().status, 409);
        assert_eq!(g.create(&json!({"members": []}), &yes).unwrap_err().status, 400);
    }
}
