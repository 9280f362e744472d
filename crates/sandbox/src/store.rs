//! The app's users, in creation order so paging is stable across requests.

use serde_json::{Map, Value, json};
use tenure_scim::{Filter, ListResponse, PatchOperation, ScimError, ScimType, ScimUser, schemas};

use crate::groups::Groups;
use crate::patch;
use crate::profile::{DeleteMode, Profile};

struct Record {
    user: ScimUser,
    /// The user as served, kept so filters and reads do not re-serialize on every request.
    json: Value,
    version: u64,
    created: String,
}

pub(crate) struct Store {
    profile: Profile,
    base_url: String,
    records: Vec<Record>,
    pub(crate) groups: Groups,
}

pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("User {id} not found"))
}

/// Checks a request body is a User before it is allowed near the store.
fn parse_user(body: Value) -> Result<ScimUser, ScimError> {
    let Value::Object(fields) = &body else {
        return Err(ScimError::bad_request(ScimType::InvalidSyntax, "the request body must be a JSON object"));
    };
    match fields.iter().find(|(k, _)| k.as_str() == "userName").map(|(_, v)| v) {
        None | Some(Value::Null) => {
            return Err(ScimError::bad_request(ScimType::InvalidValue, "userName is required"));
        }
        Some(Value::String(_)) => {}
        Some(_) => {
            return Err(ScimError::bad_request(ScimType::InvalidValue, "userName must be a string"));
        }
    }
    let mut user: ScimUser = serde_json::from_value(body)
        .map_err(|e| ScimError::bad_request(ScimType::InvalidValue, format!("not a valid User: {e}")))?;
    // id and meta are assigned by the service provider (RFC 7643 §3.1); whatever the client
    // sent is ignored.
    user.id = None;
    user.meta = None;
    Ok(user)
}

impl Store {
    pub(crate) fn new(profile: Profile, base_url: String) -> Self {
        Self { profile, groups: Groups::new(profile, base_url.clone()), base_url, records: Vec::new() }
    }

    pub(crate) fn create_group(&mut self, body: &Value) -> Result<Value, ScimError> {
        let records = &self.records;
        self.groups.create(body, &|id| records.iter().any(|r| r.user.id.as_deref() == Some(id)))
    }

    pub(crate) fn replace_group(&mut self, id: &str, body: &Value) -> Result<Value, ScimError> {
        let records = &self.records;
        self.groups.replace(id, body, &|u| records.iter().any(|r| r.user.id.as_deref() == Some(u)))
    }

    pub(crate) fn patch_group(&mut self, id: &str, operations: &[PatchOperation]) -> Result<Value, ScimError> {
        let records = &self.records;
        self.groups.patch(id, operations, &|u| records.iter().any(|r| r.user.id.as_deref() == Some(u)))
    }

    pub(crate) fn snapshot(&self) -> Vec<ScimUser> {
        self.records.iter().map(|r| r.user.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn find_by_user_name(&self, user_name: &str) -> Option<ScimUser> {
        self.records.iter().find(|r| r.user.user_name == user_name).map(|r| r.user.clone())
    }

    fn position(&self, id: &str) -> Result<usize, ScimError> {
        self.records.iter().position(|r| r.user.id.as_deref() == Some(id)).ok_or_else(|| not_found(id))
    }

    pub(crate) fn get(&self, id: &str) -> Result<Value, ScimError> {
        let index = self.position(id)?;
        Ok(self.records[index].json.clone())
    }

    /// `start_index` is 1-based, as in RFC 7644 §3.4.2.4.
    #[cfg(test)]
    pub(crate) fn list(&self, filter: Option<&Filter>, start_index: usize, count: usize) -> ListResponse<Value> {
        self.list_hiding(filter, None, start_index, count)
    }

    /// [`list`](Self::list) without the users whose userName starts with `hidden`.
    pub(crate) fn list_hiding(
        &self,
        filter: Option<&Filter>,
        hidden: Option<&str>,
        start_index: usize,
        count: usize,
    ) -> ListResponse<Value> {
        let matching: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| filter.is_none_or(|f| f.matches(&r.json)))
            .filter(|r| hidden.is_none_or(|prefix| !r.user.user_name.starts_with(prefix)))
            .collect();
        let page: Vec<Value> =
            matching.iter().skip(start_index.saturating_sub(1)).take(count).map(|r| r.json.clone()).collect();
        ListResponse::new(matching.len() as u64, start_index as u64, page)
    }

    pub(crate) fn create(&mut self, body: Value) -> Result<Value, ScimError> {
        let user = parse_user(body)?;
        self.validate(&user, None)?;
        let id = self.profile.new_id();
        let record = self.finish(user, id, now(), 1)?;
        let json = record.json.clone();
        self.records.push(record);
        Ok(json)
    }

    /// Creates many users at once (a benchmark's set-up): the checks of `create`, with taken
    /// userNames looked up in a set instead of a scan per user.
    pub(crate) fn load(&mut self, bodies: Vec<Value>) -> Result<Vec<Value>, ScimError> {
        let mut taken: std::collections::HashSet<String> =
            self.records.iter().map(|r| r.user.user_name.to_lowercase()).collect();
        let mut created = Vec::with_capacity(bodies.len());
        for body in bodies {
            let user = parse_user(body)?;
            self.profile.validate_user_name(&user.user_name)?;
            if !taken.insert(user.user_name.to_lowercase()) {
                return Err(ScimError::conflict(format!("userName {:?} is already taken", user.user_name)));
            }
            let id = self.profile.new_id();
            let record = self.finish(user, id, now(), 1)?;
            created.push(record.json.clone());
            self.records.push(record);
        }
        Ok(created)
    }

    pub(crate) fn replace(&mut self, id: &str, body: Value) -> Result<Value, ScimError> {
        let index = self.position(id)?;
        let user = parse_user(body)?;
        self.store_at(index, user)
    }

    pub(crate) fn patch(&mut self, id: &str, operations: &[PatchOperation]) -> Result<Value, ScimError> {
        let index = self.position(id)?;
        let mut fields = match &self.records[index].json {
            Value::Object(fields) => fields.clone(),
            _ => Map::new(),
        };
        patch::apply(&mut fields, operations)?;
        let user = parse_user(Value::Object(fields))?;
        self.store_at(index, user)
    }

    pub(crate) fn delete(&mut self, id: &str) -> Result<(), ScimError> {
        let index = self.position(id)?;
        match self.profile.delete_mode() {
            DeleteMode::Remove | DeleteMode::Permanent => {
                let removed = self.records.remove(index);
                if let Some(id) = removed.user.id.as_deref() {
                    self.groups.forget_member(id);
                }
            }
            DeleteMode::Deactivate => {
                let mut user = self.records[index].user.clone();
                user.active = false;
                self.store_at(index, user)?;
            }
        }
        Ok(())
    }

    /// Replaces the user at `index`, keeping its id and creation time.
    fn store_at(&mut self, index: usize, user: ScimUser) -> Result<Value, ScimError> {
        let old = &self.records[index];
        let (id, created, version) = (old.user.id.clone().unwrap_or_default(), old.created.clone(), old.version);
        self.validate(&user, Some(&id))?;
        let record = self.finish(user, id, created, version + 1)?;
        let json = record.json.clone();
        self.records[index] = record;
        Ok(json)
    }

    fn validate(&self, user: &ScimUser, own_id: Option<&str>) -> Result<(), ScimError> {
        self.profile.validate_user_name(&user.user_name)?;
        // userName is unique and caseExact false (RFC 7643 §4.1.1), so "Ann" clashes with "ann".
        let taken = self
            .records
            .iter()
            .any(|r| r.user.user_name.eq_ignore_ascii_case(&user.user_name) && r.user.id.as_deref() != own_id);
        if taken {
            return Err(ScimError::conflict(format!("userName {:?} is already taken", user.user_name)));
        }
        Ok(())
    }

    fn finish(&self, mut user: ScimUser, id: String, created: String, version: u64) -> Result<Record, ScimError> {
        let location = format!("{}/Users/{id}", self.base_url);
        user.id = Some(id);
        if user.enterprise.as_ref().is_some_and(|e| serde_json::to_value(e).is_ok_and(|v| v == json!({}))) {
            user.enterprise = None;
        }
        if user.enterprise.is_none() {
            user.schemas.retain(|s| !s.eq_ignore_ascii_case(schemas::ENTERPRISE_USER));
        }
        user.normalize_schemas();
        user.meta = Some(json!({
            "resourceType": "User",
            "created": created,
            "lastModified": now(),
            "location": location,
            "version": format!("W/\"{version}\""),
        }));
        let json = serde_json::to_value(&user)
            .map_err(|e| ScimError::new(500, None, format!("could not serialize the user: {e}")))?;
        Ok(Record { user, json, version, created })
    }
}

#[cfg(test)]
mod tests {
    use tenure_scim::{PatchOp, parse_filter};

    use super::*;

    fn store(profile: Profile) -> Store {
        Store::new(profile, "http://sandbox/scim/v2".to_owned())
    }

    #[test]
    fn create_assigns_id_and_meta_and_ignores_client_ids() {
        let mut s = store(Profile::Notion);
        let v = s.create(json!({"userName": "Ann@Example.com", "id": "mine", "meta": {"x": 1}})).unwrap();
        let id = v["id"].as_str().unwrap();
        assert_ne!(id, "mine");
        assert_eq!(v["meta"]["resourceType"], "User");
        assert_eq!(v["meta"]["location"], format!("http://sandbox/scim/v2/Users/{id}"));
        assert_eq!(v["meta"]["version"], "W/\"1\"");
        assert_eq!(v["active"], true);
        assert_eq!(s.get(id).unwrap(), v);
    }

    #[test]
    fn user_names_are_unique_ignoring_case() {
        let mut s = store(Profile::Jira);
        let a = s.create(json!({"userName": "ann@example.com"})).unwrap();
        let b = s.create(json!({"userName": "bob@example.com"})).unwrap();
        let err = s.create(json!({"userName": "ANN@example.com"})).unwrap_err();
        assert_eq!((err.status, err.scim_type), (409, Some(ScimType::Uniqueness)));
        let b_id = b["id"].as_str().unwrap();
        let err = s.replace(b_id, json!({"userName": "Ann@Example.com"})).unwrap_err();
        assert_eq!(err.status, 409);
        // Renaming a user to itself in another case is not a clash.
        let a_id = a["id"].as_str().unwrap();
        assert_eq!(s.replace(a_id, json!({"userName": "Ann@example.com"})).unwrap()["userName"], "Ann@example.com");
    }

    #[test]
    fn bodies_without_a_string_user_name_are_invalid_values() {
        let mut s = store(Profile::Jira);
        for body in
            [json!({}), json!({"userName": null}), json!({"userName": 7}), json!({"userName": "a", "active": 3})]
        {
            assert_eq!(s.create(body).unwrap_err().scim_type, Some(ScimType::InvalidValue));
        }
        assert_eq!(s.create(json!([1])).unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn list_filters_and_pages_in_creation_order() {
        let mut s = store(Profile::Slack);
        for name in ["carol", "ann", "bob", "dave"] {
            s.create(json!({"userName": name, "title": if name == "bob" { "CTO" } else { "Eng" }})).unwrap();
        }
        let page = s.list(None, 2, 2);
        assert_eq!(page.total_results, 4);
        let names: Vec<_> = page.resources.iter().map(|u| u["userName"].as_str().unwrap()).collect();
        assert_eq!(names, ["ann", "bob"]);
        let f = parse_filter(r#"title eq "eng""#).unwrap();
        let page = s.list(Some(&f), 1, 10);
        assert_eq!((page.total_results, page.items_per_page), (3, 3));
        assert_eq!(s.list(None, 9, 10).resources.len(), 0);
    }

    #[test]
    fn patch_is_atomic_and_revalidated() {
        let mut s = store(Profile::Slack);
        let id = s.create(json!({"userName": "ann"})).unwrap()["id"].as_str().unwrap().to_owned();
        s.create(json!({"userName": "bob"})).unwrap();
        let ops: PatchOp = serde_json::from_value(json!({"Operations": [
            {"op": "replace", "path": "title", "value": "CEO"},
            {"op": "replace", "path": "userName", "value": "Bob"},
        ]}))
        .unwrap();
        assert_eq!(s.patch(&id, &ops.operations).unwrap_err().scim_type, Some(ScimType::InvalidValue));
        assert!(s.get(&id).unwrap().get("title").is_none());
        let ops: PatchOp =
            serde_json::from_value(json!({"Operations": [{"op": "replace", "path": "active", "value": "False"}]}))
                .unwrap();
        let v = s.patch(&id, &ops.operations).unwrap();
        assert_eq!(v["active"], false);
        assert_eq!(v["meta"]["version"], "W/\"2\"");
    }

    #[test]
    fn delete_follows_the_profile() {
        let mut slack = store(Profile::Slack);
        let id = slack.create(json!({"userName": "ann"})).unwrap()["id"].as_str().unwrap().to_owned();
        slack.delete(&id).unwrap();
        assert_eq!(slack.get(&id).unwrap()["active"], false);
        let mut notion = store(Profile::Notion);
        let id = notion.create(json!({"userName": "ann"})).unwrap()["id"].as_str().unwrap().to_owned();
        notion.delete(&id).unwrap();
        assert_eq!(notion.get(&id).unwrap_err().status, 404);
        assert_eq!(notion.delete(&id).unwrap_err().status, 404);
    }

    #[test]
    fn removing_the_extension_drops_its_schema() {
        let mut s = store(Profile::Jira);
        let v = s.create(json!({"userName": "ann", schemas::ENTERPRISE_USER: {"department": "Sales"}})).unwrap();
        assert!(v["schemas"].as_array().unwrap().iter().any(|u| u == schemas::ENTERPRISE_USER));
        let id = v["id"].as_str().unwrap();
        let ops: PatchOp = serde_json::from_value(json!({"Operations": [
            {"op": "remove", "path": format!("{}:department", schemas::ENTERPRISE_USER)},
        ]}))
        .unwrap();
        let v = s.patch(id, &ops.operations).unwrap();
        assert_eq!(v["schemas"], json!([schemas::USER]));
    }
}
