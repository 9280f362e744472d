//! Updates for apps without PATCH: read the whole user, change what Tenure manages in the JSON
//! the app sent, and PUT it back (RFC 7644 §3.5.1). Working on the app's own JSON keeps every
//! attribute Tenure does not manage (phone numbers, addresses, vendor extensions) as it was;
//! rebuilding the user from Tenure's attributes would wipe them.

use reqwest::Method;
use reqwest::header::ETAG;
use serde_json::{Map, Value, json};
use tenure_core::attributes::{self as attr, Attributes};
use tenure_core::capabilities::Probed;
use tenure_scim::schemas;

use crate::client::{ScimClient, parse_json};
use crate::error::ConnectorError;
use crate::mapping::{self, EMAIL_TYPE};

impl ScimClient {
    /// GET, `edit`, PUT. With ETags (RFC 7644 §3.14) the PUT carries `If-Match` with the version
    /// read, so a concurrent change makes the app answer 412 instead of being overwritten.
    pub(crate) async fn replace_user(
        &self,
        remote_id: &str,
        edit: impl FnOnce(&mut Map<String, Value>) -> Result<(), ConnectorError>,
    ) -> Result<(), ConnectorError> {
        let url = self.user_url(remote_id)?;
        self.replace_resource(&url, "user", edit).await
    }

    /// [`ScimClient::replace_user`] for any resource (a group's members, say).
    pub(crate) async fn replace_resource(
        &self,
        url: &url::Url,
        what: &str,
        edit: impl FnOnce(&mut Map<String, Value>) -> Result<(), ConnectorError>,
    ) -> Result<(), ConnectorError> {
        let answer = self.send_full(Method::GET, url, &[], None, None).await?;
        let mut raw: Value = parse_json(&Method::GET, url, &answer.body)?;
        let version = answer
            .headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| raw.pointer("/meta/version").and_then(Value::as_str).map(str::to_owned));
        let Some(resource) = raw.as_object_mut() else {
            return Err(ConnectorError::InvalidResponse {
                method: "GET".into(),
                url: url.to_string(),
                message: format!("the {what} is not a JSON object"),
            });
        };
        // `meta` is read-only (RFC 7643 §3.1); some apps refuse a PUT that carries it.
        resource.remove("meta");
        edit(resource)?;
        let if_match = match self.capabilities.as_ref().map(|c| c.etag) {
            Some(Probed::Yes) => version,
            _ => None,
        };
        let payload = serde_json::to_vec(&raw).map_err(|e| ConnectorError::InvalidRequest(e.to_string()))?;
        self.send_full(Method::PUT, url, &[], Some(payload), if_match.as_deref()).await.map(drop)
    }
}

/// Adds and removes members in a group's JSON, keeping every other member (and every member's
/// other fields) as the app sent them.
pub(crate) fn change_members(group: &mut Map<String, Value>, add: &[String], remove: &[String]) {
    let mut members: Vec<Value> = match group.remove("members") {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    let value_of = |m: &Value| m.get("value").and_then(Value::as_str).map(str::to_owned);
    members.retain(|m| value_of(m).is_none_or(|v| !remove.contains(&v)));
    for id in add {
        if !members.iter().any(|m| value_of(m).as_deref() == Some(id.as_str())) {
            members.push(json!({ "value": id }));
        }
    }
    group.insert("members".into(), Value::Array(members));
}

pub(crate) fn set_active(user: &mut Map<String, Value>, active: bool) {
    user.insert("active".into(), Value::Bool(active));
}

/// The same changes `update_user` sends as PATCH operations, made to the user's JSON.
pub(crate) fn apply_changes(user: &mut Map<String, Value>, changes: &Attributes) -> Result<(), ConnectorError> {
    for (name, value) in changes.iter() {
        let value = (!value.is_empty()).then_some(value.as_str());
        match name {
            attr::USER_NAME | attr::EXTERNAL_ID | attr::DISPLAY_NAME | attr::TITLE => set(user, name, value),
            attr::GIVEN_NAME | attr::FAMILY_NAME => set(object(user, "name"), name, value),
            attr::DEPARTMENT | attr::EMPLOYEE_NUMBER => {
                if value.is_some() {
                    declare_schema(user, schemas::ENTERPRISE_USER);
                }
                set(object(user, schemas::ENTERPRISE_USER), name, value);
            }
            attr::EMAIL => set_work_email(user, value),
            attr::ROLE | attr::LICENSE => {
                let wire = mapping::scim_path(name).unwrap_or_default();
                match value.and_then(|v| mapping::list_value(name, v)) {
                    Some(list) => user.insert(wire, list),
                    None => user.remove(&wire),
                };
            }
            other => {
                return Err(ConnectorError::InvalidRequest(format!("attribute {other:?} has no SCIM mapping")));
            }
        }
    }
    Ok(())
}

fn set(object: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    match value {
        Some(v) => object.insert(key.to_owned(), Value::String(v.to_owned())),
        None => object.remove(key),
    };
}

/// The sub-object `key`, created (or replacing a non-object) when missing.
fn object<'a>(user: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = user.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

fn declare_schema(user: &mut Map<String, Value>, schema: &str) {
    let list = user.entry("schemas").or_insert_with(|| json!([schemas::USER]));
    if let Value::Array(items) = list
        && !items.iter().any(|s| s.as_str() == Some(schema))
    {
        items.push(Value::String(schema.to_owned()));
    }
}

/// Replaces the work email's address, adds a primary work email when there is none, or removes
/// the work email; other emails stay, demoted when a new primary one is added.
fn set_work_email(user: &mut Map<String, Value>, value: Option<&str>) {
    let is_work = |e: &Value| e.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(EMAIL_TYPE));
    let mut emails = match user.remove("emails") {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    match value {
        None => emails.retain(|e| !is_work(e)),
        Some(address) => match emails.iter_mut().find(|e| is_work(e)) {
            Some(Value::Object(work)) => {
                work.insert("value".into(), Value::String(address.to_owned()));
            }
            _ => {
                for e in emails.iter_mut().filter_map(Value::as_object_mut) {
                    e.insert("primary".into(), Value::Bool(false));
                }
                emails.push(json!({ "value": address, "type": EMAIL_TYPE, "primary": true }));
            }
        },
    }
    if !emails.is_empty() {
        user.insert("emails".into(), Value::Array(emails));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_keep_what_tenure_does_not_manage() {
        let mut user = json!({
            "schemas": [schemas::USER],
            "id": "1",
            "userName": "ann",
            "title": "Engineer",
            "phoneNumbers": [{"value": "+1 555", "type": "work"}],
            "name": {"givenName": "Ann", "familyName": "Lee", "honorificPrefix": "Dr"},
            "emails": [{"value": "ann@home.example", "type": "home", "primary": true}],
            "urn:example:vendor": {"seat": "A1"},
        });
        let changes: Attributes = [
            (attr::FAMILY_NAME, "Smith"),
            (attr::TITLE, ""),
            (attr::EMAIL, "ann@work.example"),
            (attr::DEPARTMENT, "R&D"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let map = user.as_object_mut().unwrap();
        apply_changes(map, &changes).unwrap();
        set_active(map, false);
        assert_eq!(user["name"], json!({"givenName": "Ann", "familyName": "Smith", "honorificPrefix": "Dr"}));
        assert!(user.get("title").is_none());
        assert_eq!(user["phoneNumbers"][0]["value"], "+1 555");
        assert_eq!(user["urn:example:vendor"]["seat"], "A1");
        assert_eq!(user["emails"][0], json!({"value": "ann@home.example", "type": "home", "primary": false}));
        assert_eq!(user["emails"][1], json!({"value": "ann@work.example", "type": "work", "primary": true}));
        assert_eq!(user[schemas::ENTERPRISE_USER]["department"], "R&D");
        assert!(user["schemas"].as_array().unwrap().contains(&json!(schemas::ENTERPRISE_USER)));
        assert_eq!(user["active"], false);

        let unknown: Attributes = [("shoeSize".to_owned(), "9".to_owned())].into_iter().collect();
        assert!(apply_changes(user.as_object_mut().unwrap(), &unknown).is_err());
    }
}
