//! Every request form Okta documents for SCIM 2.0 provisioning, replayed against Tenure's SCIM
//! endpoint as Okta sends them (its User-Agent, percent-encoded filters with `startIndex` and
//! `count`). Each form is accepted, or answered with its RFC 7644 error. Source of every form:
//!
//! - [O] Okta, "SCIM 2.0 protocol reference" ("Okta and SCIM Version 2.0"),
//!   https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20/ (SCIM User operations
//!   and SCIM Group operations, with their requests and expected responses).
//! - [C] RFC 7643 §4.1.1 (`userName` is `caseExact: false`), which Okta's SCIM spec test checks
//!   with a filter in another case than the user was created with.

mod replay;

use replay::{Expect, GROUP, Replayer, USER, id_of};
use reqwest::Method;
use serde_json::json;
use tenure_testkit::TestBackend;

const AGENT: &str = "Okta SCIM Client 1.0.0";

async fn okta(backend: TestBackend) -> anyhow::Result<()> {
    let mut r = Replayer::start(backend, vec![("user-agent", AGENT.to_owned())]).await?;

    // Users.
    let q = r
        .form(
            "[O] Determine if the User object exists",
            Method::GET,
            "/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 0);
    let create = json!({
        "schemas": [USER],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    });
    let u = r.form("[O] Create the User", Method::POST, "/Users", Some(create.clone()), Expect::Ok(201)).await?;
    let id = id_of(&u);
    assert!(u.body.get("password").is_none(), "a password is never echoed: {}", u.body);
    assert_eq!(u.body["locale"], "en-US");
    r.form(
        "[O] Create the User when it exists: 409",
        Method::POST,
        "/Users",
        Some(create),
        Expect::Error(409, Some("uniqueness")),
    )
    .await?;
    let q = r
        .form(
            "[O] Determine if the User object exists (found)",
            Method::GET,
            "/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["Resources"][0]["id"], id.as_str());
    let q = r
        .form(
            "[C] userName filter in another case",
            Method::GET,
            "/Users?filter=userName%20eq%20%22TEST.USER%40OKTA.LOCAL%22&startIndex=1&count=100",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1);
    let all = r.form("[O] Retrieve Users", Method::GET, "/Users?startIndex=1&count=100", None, Expect::Ok(200)).await?;
    assert_eq!((all.body["totalResults"].clone(), all.body["startIndex"].clone()), (json!(1), json!(1)));
    assert!(all.body["itemsPerPage"].is_u64(), "integers, not strings: {}", all.body);
    let got =
        r.form("[O] Retrieve a specific User", Method::GET, &format!("/Users/{id}"), None, Expect::Ok(200)).await?;
    assert_eq!(got.body["userName"], "test.user@okta.local");
    r.form(
        "[O] Retrieve a User that does not exist",
        Method::GET,
        "/Users/00000000-0000-4000-8000-000000000000",
        None,
        Expect::Error(404, None),
    )
    .await?;
    let put = r
        .form(
            "[O] Update the User (PUT)",
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [USER],
                "id": id,
                "userName": "test.user@okta.local",
                "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
                "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work", "display": "test.user@okta.local"}],
                "active": true,
                "groups": [],
                "meta": {"resourceType": "User"}
            })),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(put.body["name"]["middleName"], "Excited");
    let off = r
        .form(
            "[O] Deactivate (PATCH, no path)",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([{"op": "replace", "value": {"active": false}}])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(off.body["active"], false);
    let on = r
        .form(
            "[O] Reactivate (PATCH, no path)",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([{"op": "replace", "value": {"active": true}}])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(on.body["active"], true);
    let pw = r
        .form(
            "[O] Sync the user password (PATCH)",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([{"op": "replace", "value": {"password": "t1meMa$heen"}}])),
            Expect::Ok(200),
        )
        .await?;
    assert!(pw.body.get("password").is_none());
    let people = r.store.list_people(r.tenant).await?;
    assert!(people.iter().any(|p| p.email == "test.user@okta.local" && p.status == tenure_core::PersonStatus::Active));
    let second = r
        .form(
            "[O] Create the User (a second member)",
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": "second@okta.local", "emails": [{"primary": true, "value": "second@okta.local", "type": "work"}], "active": true})),
            Expect::Ok(201),
        )
        .await?;
    let id2 = id_of(&second);

    // Groups.
    let g = r
        .form(
            "[O] Create Groups",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []})),
            Expect::Ok(201),
        )
        .await?;
    let gid = id_of(&g);
    assert!(g.body["members"].as_array().is_none_or(Vec::is_empty), "{}", g.body);
    let all =
        r.form("[O] Retrieve Groups", Method::GET, "/Groups?startIndex=1&count=100", None, Expect::Ok(200)).await?;
    assert_eq!(all.body["totalResults"], 1);
    let q = r
        .form(
            "[O] Retrieve Groups by displayName",
            Method::GET,
            "/Groups?filter=displayName%20eq%20%22Test%20SCIMv2%22&startIndex=1&count=100",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1);
    let q = r
        .form(
            "[O] Retrieve Groups by displayName, none",
            Method::GET,
            "/Groups?filter=displayName%20eq%20%22Nobody%22&startIndex=1&count=100",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!((q.body["totalResults"].clone(), q.body["Resources"].clone()), (json!(0), json!([])));
    r.form("[O] Retrieve specific Groups", Method::GET, &format!("/Groups/{gid}"), None, Expect::Ok(200)).await?;
    let renamed = r
        .form(
            "[O] Update a specific Group name (PATCH, no path)",
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Replayer::ops(json!([{"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv20"}}])),
            Expect::Ok(200),
        )
        .await?;
    // Okta needs the group's details back, not its members.
    assert_eq!(
        (renamed.body["id"].as_str(), renamed.body["displayName"].as_str()),
        (Some(gid.as_str()), Some("Test SCIMv20"))
    );
    assert!(renamed.body.get("members").is_none(), "{}", renamed.body);
    r.form(
        "[O] Update specific Group membership (PATCH add)",
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Replayer::ops(
            json!([{"op": "add", "path": "members", "value": [{"value": id2, "display": "second@okta.local"}]}]),
        ),
        Expect::Ok(200),
    )
    .await?;
    let changed = r
        .form(
            "[O] Update specific Group membership (PATCH remove + add)",
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Replayer::ops(json!([
                {"op": "remove", "path": format!("members[value eq \"{id2}\"]")},
                {"op": "add", "path": "members", "value": [{"value": id, "display": "test.user@okta.local"}]}
            ])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(changed.body["displayName"], "Test SCIMv20");
    let asked = r
        .form(
            "[O] membership PATCH asking for members back",
            Method::PATCH,
            &format!("/Groups/{gid}?attributes=members"),
            Replayer::ops(
                json!([{"op": "add", "path": "members", "value": [{"value": id, "display": "test.user@okta.local"}]}]),
            ),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(asked.body["members"].as_array().map(Vec::len), Some(1), "{}", asked.body);
    let put = r
        .form(
            "[O] Update specific Group membership (PUT)",
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [GROUP], "displayName": "Test SCIMv2", "members": [{"value": id, "display": "test.user@okta.local"}]})),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(put.body["members"][0]["value"], id.as_str());
    r.form(
        "[O] full push of the membership (PATCH replace members)",
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Replayer::ops(json!([{"op": "replace", "path": "members", "value": [
            {"value": id, "display": "test.user@okta.local"},
            {"value": id2, "display": "second@okta.local"}
        ]}])),
        Expect::Ok(200),
    )
    .await?;
    let full = r
        .form("[O] Retrieve specific Groups (members)", Method::GET, &format!("/Groups/{gid}"), None, Expect::Ok(200))
        .await?;
    assert_eq!(full.body["members"].as_array().map(Vec::len), Some(2), "{}", full.body);
    let groups = r.store.list_groups(r.tenant).await?;
    assert_eq!(
        groups.iter().find(|g| g.name == "Test SCIMv2").map(|g| g.members.len()),
        Some(2),
        "mirrored into the directory"
    );
    r.form("[O] Delete a specific Group", Method::DELETE, &format!("/Groups/{gid}"), None, Expect::Ok(204)).await?;
    r.form("[O] Retrieve a deleted Group", Method::GET, &format!("/Groups/{gid}"), None, Expect::Error(404, None))
        .await?;

    eprintln!("replayed {} Okta request forms", r.forms.len());
    Ok(())
}

#[tokio::test]
async fn okta_forms_on_sqlite() -> anyhow::Result<()> {
    okta(TestBackend::Sqlite).await
}

#[tokio::test]
async fn okta_forms_on_postgres() -> anyhow::Result<()> {
    okta(TestBackend::Postgres).await
}
