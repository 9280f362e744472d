//! Every request form Microsoft Entra ID's provisioning service documents, replayed against
//! Tenure's SCIM endpoint in the order a provisioning cycle sends them. Each form is accepted, or
//! answered with its RFC 7644 error. Sources, cited per form:
//!
//! - [T] "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID",
//!   https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
//!   (section "SCIM protocol requests and responses", and the requirements and guidelines above it).
//! - [K] "Known issues and resolutions with SCIM 2.0 protocol compliance of the Microsoft Entra
//!   user provisioning service",
//!   https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility
//!   (the requests sent with and without the `aadOptscim062020` flag).
//! - [M] "Customize user provisioning attribute-mappings for SaaS applications in Microsoft Entra
//!   ID", https://learn.microsoft.com/entra/identity/app-provisioning/customize-application-attributes
//!   (the default SCIM target attributes: `emails`, `phoneNumbers` and `addresses` by type, the
//!   enterprise extension's `manager`, app roles as `roles` with `"primary": "True"`; matching
//!   attributes sent as `eq` filters).
//! - [R] Requests as Entra's "Test connection" and tenant-URL checks send them: another case in
//!   the resource path, a trailing slash before the query, `+` for a space.

mod replay;

use replay::{ENTERPRISE, Expect, GROUP, Replayer, USER, id_of};
use reqwest::Method;
use serde_json::{Value, json};
use tenure_testkit::TestBackend;

const ADSCIM_GROUP: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
const MANAGER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

fn create_user(user_name: &str, external_id: &str, email: &str) -> Value {
    // [T] Create User, verbatim but for the names.
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    })
}

async fn entra(backend: TestBackend) -> anyhow::Result<()> {
    // The flag rides on the tenant URL, so it comes with every request.
    let mut r = Replayer::start(backend, Vec::new()).await?;
    let f = "aadOptscim062020";

    // Users.
    let u = r
        .form(
            "[T] Create User",
            Method::POST,
            "/Users",
            Some(create_user(
                "Test_User_ab6490ee",
                "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "Test_User_fd0e@testuser.com",
            )),
            Expect::Ok(201),
        )
        .await?;
    let id = id_of(&u);
    let boss = r
        .form(
            "[T] Create User (a manager)",
            Method::POST,
            "/Users",
            Some(create_user("Boss_User", "5d8c7e7e-0000-4000-8000-000000000001", "boss@testuser.com")),
            Expect::Ok(201),
        )
        .await?;
    let boss_id = id_of(&boss);
    r.form(
        "[T] Create User again: uniqueness",
        Method::POST,
        "/Users",
        Some(create_user("Test_User_ab6490ee", "other", "x@testuser.com")),
        Expect::Error(409, Some("uniqueness")),
    )
    .await?;
    let got = r.form("[T] Get User", Method::GET, &format!("/Users/{id}"), None, Expect::Ok(200)).await?;
    assert_eq!(got.body["userName"], "Test_User_ab6490ee");
    r.form("[T] Get User, not found", Method::GET, "/Users/5171a35d82074e068ce2", None, Expect::Error(404, None))
        .await?;
    let q = r
        .form(
            "[T] Get User by query",
            Method::GET,
            "/Users?filter=userName eq \"Test_User_ab6490ee\"",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1, "{}", q.body);
    let q = r
        .form(
            "[T] Get User by query - Zero results",
            Method::GET,
            "/Users?filter=userName eq \"non-existent user\"",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!((q.body["totalResults"].clone(), q.body["Resources"].clone()), (json!(0), json!([])), "{}", q.body);
    let q = r
        .form(
            "[T] query by externalId",
            Method::GET,
            "/Users?filter=externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1);
    let q = r
        .form(
            "[T] query by emails[type eq \"work\"].value",
            Method::GET,
            "/Users?filter=emails[type eq \"work\"].value eq \"Test_User_fd0e@testuser.com\"",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1);
    let q = r
        .form(
            "[T] query with eq and and",
            Method::GET,
            "/Users?filter=userName eq \"Test_User_ab6490ee\" and externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1);
    let patched = r
        .form(
            "[T] Update User [Multi-valued properties]",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
            ])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(patched.body["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(patched.body["name"]["familyName"], "updatedFamilyName");
    r.form(
        "[T] Update User [Single-valued properties]",
        Method::PATCH,
        &format!("/Users/{id}"),
        Replayer::ops(json!([{"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}])),
        Expect::Ok(200),
    )
    .await?;

    // [K]: the same changes as sent without and with the compliance flag.
    let off = r
        .form(
            "[K] disable, without flag (\"False\")",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(off.body["active"], false);
    let on = r
        .form(
            "[K] enable, without flag (\"True\")",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([{"op": "Replace", "path": "active", "value": "True"}])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(on.body["active"], true);
    let off = r
        .form(
            "[K] disable, with flag",
            Method::PATCH,
            &format!("/Users/{id}?{f}"),
            Replayer::ops(json!([{"op": "replace", "path": "active", "value": false}])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(off.body["active"], false);
    r.form(
        "[T] Disable User",
        Method::PATCH,
        &format!("/Users/{id}"),
        Replayer::ops(json!([{"op": "Replace", "path": "active", "value": false}])),
        Expect::Ok(200),
    )
    .await?;
    r.form(
        "[K] add a single-value string, without flag",
        Method::PATCH,
        &format!("/Users/{id}"),
        Replayer::ops(json!([{"op": "Add", "path": "nickName", "value": "Babs"}])),
        Expect::Ok(200),
    )
    .await?;
    let nick = r
        .form(
            "[K] add a single-value string, with flag",
            Method::PATCH,
            &format!("/Users/{id}?{f}"),
            Replayer::ops(json!([{"op": "add", "path": "nickName", "value": "Babs"}])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(nick.body["nickName"], "Babs");
    let many = r
        .form(
            "[K] replace multiple attributes, without flag",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([
                {"op": "Replace", "path": "displayName", "value": "Pvlo"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
                {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
                {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
                {"op": "Replace", "path": "externalId", "value": "Eqpj"},
                {"op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "Eqpj"}
            ])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(many.body[ENTERPRISE]["employeeNumber"], "Eqpj", "{}", many.body);
    let many = r
        .form(
            "[K] replace multiple attributes, with flag (path-less value map)",
            Method::PATCH,
            &format!("/Users/{id}?{f}"),
            Replayer::ops(json!([
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TestMhvaes@test.microsoft.com"},
                {"op": "replace", "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    format!("{ENTERPRISE}:employeeNumber"): "Aklq"
                }}
            ])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(
        (many.body["displayName"].clone(), many.body["name"]["givenName"].clone()),
        (json!("Bjfe"), json!("Kkom"))
    );
    assert_eq!(many.body[ENTERPRISE]["employeeNumber"], "Aklq");
    assert_eq!(many.body["emails"][0]["value"], "TestMhvaes@test.microsoft.com");

    // [M] The default attribute set: manager in each form Entra sends it.
    let m = r
        .form(
            "[M] manager as a plain id",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([{"op": "Add", "path": MANAGER, "value": boss_id}])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(m.body[ENTERPRISE]["manager"]["value"], boss_id, "{}", m.body);
    let m = r
        .form(
            "[M] manager as an object",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([{"op": "Replace", "path": MANAGER, "value": {"value": boss_id}}])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(m.body[ENTERPRISE]["manager"]["value"], boss_id);
    let q = r
        .form(
            "[M] filter on manager",
            Method::GET,
            &format!("/Users?filter={MANAGER}.value eq \"{boss_id}\""),
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1, "{}", q.body);
    let m = r
        .form(
            "[M] manager removed, no value",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([{"op": "Remove", "path": MANAGER}])),
            Expect::Ok(200),
        )
        .await?;
    assert!(m.body.get(ENTERPRISE).and_then(|e| e.get("manager")).is_none(), "{}", m.body);
    let e = r
        .form(
            "[M] enterprise attributes",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([
                {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Sales"},
                {"op": "Add", "path": format!("{ENTERPRISE}:costCenter"), "value": "CC-1"},
                {"op": "Add", "path": format!("{ENTERPRISE}:organization"), "value": "Contoso"},
                {"op": "Add", "path": format!("{ENTERPRISE}:division"), "value": "EMEA"}
            ])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(e.body[ENTERPRISE]["department"], "Sales");
    let q = r
        .form(
            "[M] filter on employeeNumber",
            Method::GET,
            &format!("/Users?filter={ENTERPRISE}:employeeNumber eq \"Aklq\""),
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1, "{}", q.body);
    let ph = r
        .form(
            "[M] phoneNumbers by type",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([
                {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0100"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0101"},
                {"op": "Add", "path": "phoneNumbers[type eq \"fax\"].value", "value": "+1 555 0102"}
            ])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(ph.body["phoneNumbers"].as_array().map(Vec::len), Some(3), "{}", ph.body);
    let ph = r
        .form(
            "[M] phoneNumbers value replaced",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(
                json!([{"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0199"}]),
            ),
            Expect::Ok(200),
        )
        .await?;
    assert!(ph.body["phoneNumbers"].to_string().contains("0199"));
    let ph = r
        .form(
            "[M] phoneNumbers element removed by filter",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([{"op": "Remove", "path": "phoneNumbers[type eq \"fax\"]"}])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(ph.body["phoneNumbers"].as_array().map(Vec::len), Some(2), "{}", ph.body);
    r.form(
        "[M] phoneNumbers value removed by filter",
        Method::PATCH,
        &format!("/Users/{id}"),
        Replayer::ops(json!([{"op": "Remove", "path": "phoneNumbers[type eq \"work\"].value"}])),
        Expect::Ok(200),
    )
    .await?;
    let ad = r
        .form(
            "[M] addresses by type",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([
                {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"},
                {"op": "Add", "path": "addresses[type eq \"work\"].region", "value": "WA"},
                {"op": "Add", "path": "addresses[type eq \"work\"].postalCode", "value": "98052"},
                {"op": "Add", "path": "addresses[type eq \"work\"].country", "value": "US"},
                {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St, Redmond"}
            ])),
            Expect::Ok(200),
        )
        .await?;
    let work = &ad.body["addresses"][0];
    assert_eq!(
        (work["type"].clone(), work["locality"].clone(), work["country"].clone()),
        (json!("work"), json!("Redmond"), json!("US")),
        "{}",
        ad.body
    );
    let em = r
        .form(
            "[M] another email by type",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(
                json!([{"op": "Add", "path": "emails[type eq \"other\"].value", "value": "other@testuser.com"}]),
            ),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(em.body["emails"].as_array().map(Vec::len), Some(2));
    let ro = r
        .form(
            "[M] app role with \"primary\": \"True\"",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(json!([{"op": "Add", "path": "roles", "value": [{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "display": "Admin", "value": "Admin"}]}])),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(ro.body["roles"][0]["primary"], true, "{}", ro.body);
    r.form(
        "[M] single app role by primary filter",
        Method::PATCH,
        &format!("/Users/{id}"),
        Replayer::ops(json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Reader"}])),
        Expect::Ok(200),
    )
    .await?;
    r.form(
        "[M] title, preferredLanguage, name.formatted",
        Method::PATCH,
        &format!("/Users/{id}"),
        Replayer::ops(json!([
            {"op": "Add", "path": "title", "value": "Engineer"},
            {"op": "Add", "path": "preferredLanguage", "value": "en-US"},
            {"op": "Replace", "path": "name.formatted", "value": "Kkom Unua"}
        ])),
        Expect::Ok(200),
    )
    .await?;
    r.form(
        "a path that names nothing: invalidPath",
        Method::PATCH,
        &format!("/Users/{id}"),
        Replayer::ops(json!([{"op": "Replace", "path": "name.nosuch", "value": "x"}])),
        Expect::Error(400, Some("invalidPath")),
    )
    .await?;
    r.form(
        "an op that is none: invalidSyntax",
        Method::PATCH,
        &format!("/Users/{id}"),
        Replayer::ops(json!([{"op": "Merge", "path": "title", "value": "x"}])),
        Expect::Error(400, Some("invalidSyntax")),
    )
    .await?;

    // [R] Requests as Entra's connection test and hand-typed tenant URLs send them.
    let q = r
        .form(
            "[R] resource path in lower case",
            Method::GET,
            "/users?filter=userName eq \"Boss_User\"",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1, "{}", q.body);
    let q = r
        .form(
            "[R] trailing slash before the query",
            Method::GET,
            "/Users/?filter=userName eq \"Boss_User\"",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1);
    let q = r
        .form("[R] + for a space", Method::GET, "/Users?filter=userName+eq+%22Boss_User%22", None, Expect::Ok(200))
        .await?;
    assert_eq!(q.body["totalResults"], 1);
    r.form(
        "[R] the flag alone in the query",
        Method::GET,
        &format!("/Users?{f}&filter=userName eq \"Boss_User\""),
        None,
        Expect::Ok(200),
    )
    .await?;
    r.form(
        "[R] a random GUID that no user has",
        Method::GET,
        "/Users?filter=userName eq \"7a6a8b0d-46f7-4c55-9b8e-4b9f3b1d0d11\"",
        None,
        Expect::Ok(200),
    )
    .await?;

    // Groups.
    let g = r
        .form(
            "[T] Create Group",
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": [GROUP, ADSCIM_GROUP],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "displayName",
                "meta": {"resourceType": "Group"}
            })),
            Expect::Ok(201),
        )
        .await?;
    let gid = id_of(&g);
    let got = r
        .form("[T] Get Group", Method::GET, &format!("/Groups/{gid}?excludedAttributes=members"), None, Expect::Ok(200))
        .await?;
    assert!(got.body.get("members").is_none(), "{}", got.body);
    let q = r
        .form(
            "[T] Get Group by displayName",
            Method::GET,
            "/Groups?excludedAttributes=members&filter=displayName eq \"displayName\"",
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1);
    assert!(q.body["Resources"][0].get("members").is_none());
    let group_url = format!("/Groups/{gid}?{f}");
    let renamed = r
        .form(
            "[T] Update Group [Non-member attributes]",
            Method::PATCH,
            &group_url,
            Replayer::ops(json!([{"op": "Replace", "path": "displayName", "value": "1879db59-updatedDisplayName"}])),
            Expect::Ok(204),
        )
        .await?;
    assert!(renamed.headers.get("etag").is_some(), "a 204 still carries the new version");
    r.form("[T] Update Group [Add Members]", Method::PATCH, &group_url, Replayer::ops(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"$ref": null, "value": boss_id}]}])), Expect::Ok(204)).await?;
    let q = r
        .form(
            "[T] is a user a member (reference attribute query)",
            Method::GET,
            &format!("/Groups?excludedAttributes=members&filter=id eq \"{gid}\" and members[value eq \"{id}\"]"),
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(q.body["totalResults"], 1, "{}", q.body);
    r.form(
        "[T] Update Group [Remove Members]",
        Method::PATCH,
        &group_url,
        Replayer::ops(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]}])),
        Expect::Ok(204),
    )
    .await?;
    r.form(
        "[K] remove a member, without flag",
        Method::PATCH,
        &group_url,
        Replayer::ops(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}])),
        Expect::Ok(204),
    )
    .await?;
    r.form(
        "[K] remove a member, with flag",
        Method::PATCH,
        &group_url,
        Replayer::ops(json!([{"op": "remove", "path": format!("members[value eq \"{boss_id}\"]")}])),
        Expect::Ok(204),
    )
    .await?;
    let left = r.form("group read back", Method::GET, &format!("/Groups/{gid}"), None, Expect::Ok(200)).await?;
    assert_eq!(left.body["displayName"], "1879db59-updatedDisplayName");
    assert!(left.body["members"].as_array().is_none_or(Vec::is_empty), "{}", left.body);
    let schemas = r.form("[T] Discover schema", Method::GET, "/Schemas", None, Expect::Ok(200)).await?;
    assert_eq!(schemas.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");
    r.form("[T] Delete Group", Method::DELETE, &format!("/Groups/{gid}"), None, Expect::Ok(204)).await?;
    r.form("[T] Delete User", Method::DELETE, &format!("/Users/{id}"), None, Expect::Ok(204)).await?;
    r.form("[T] Get a deleted user", Method::GET, &format!("/Users/{id}"), None, Expect::Error(404, None)).await?;

    eprintln!("replayed {} Entra ID request forms", r.forms.len());
    Ok(())
}

#[tokio::test]
async fn entra_id_forms_on_sqlite() -> anyhow::Result<()> {
    entra(TestBackend::Sqlite).await
}

#[tokio::test]
async fn entra_id_forms_on_postgres() -> anyhow::Result<()> {
    entra(TestBackend::Postgres).await
}
