//! The SCIM service provider end to end over HTTP on port 0, each test once on SQLite and once on
//! PostgreSQL (a fresh database per test). The replay tests follow the request sequences that
//! Microsoft Entra ID's "Develop and plan provisioning for a SCIM endpoint" tutorial and Okta's
//! "SCIM 2.0 protocol reference" show, quirks included.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenure_core::*;
use tenure_store::{Store, TokenScope};
use tenure_testkit::{TestBackend, TestDb};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const MEDIA: &str = "application/scim+json";

struct Server {
    base: String,
    token: String,
    http: reqwest::Client,
    store: Store,
    tenant: TenantId,
    _stop: tokio::sync::oneshot::Sender<()>,
    _db: TestDb,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

async fn start(backend: TestBackend) -> anyhow::Result<Server> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let token = tenure_server::tokens::generate();
    store.insert_token(tenant, TokenScope::Scim, &tenure_server::tokens::hash(&token), None).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/scim/v2", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tenure_server::serve(listener, tenure_server::ServerState::new(store.clone()), async move {
        let _ = stopped.await;
    }));
    Ok(Server { base, token, http: reqwest::Client::new(), store, tenant, _stop: stop, _db: db })
}

impl Server {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.header("content-type", MEDIA).body(serde_json::to_vec(&body)?);
        }
        let res = req.send().await?;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await?;
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes)? };
        if !bytes.is_empty() {
            assert_eq!(headers.get("content-type").map(|v| v.to_str().unwrap_or("")), Some(MEDIA), "{body}");
        }
        Ok(Reply { status, headers, body })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.call(Method::GET, path, None, &[]).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Reply> {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    async fn patch(&self, path: &str, ops: Value) -> anyhow::Result<Reply> {
        self.call(Method::PATCH, path, Some(json!({"schemas": [PATCH_OP], "Operations": ops})), &[]).await
    }

    async fn filter(&self, endpoint: &str, filter: &str) -> anyhow::Result<Reply> {
        let url = reqwest::Url::parse_with_params(&format!("{}/{endpoint}", self.base), &[("filter", filter)])?;
        self.get(url.as_str()).await
    }

    async fn people(&self) -> anyhow::Result<Vec<Person>> {
        Ok(self.store.list_people(self.tenant).await?)
    }
}

fn scim_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(reply.body["status"], status.to_string(), "{}", reply.body);
    assert_eq!(reply.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    if let Some(t) = scim_type {
        assert_eq!(reply.body["scimType"], t, "{}", reply.body);
    }
}

/// Entra's test user (the tutorial's "Create User" request).
fn entra_user(user_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": format!("{external_id}@contoso.com")}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        ENTERPRISE: {"department": "Sales", "employeeNumber": "E-1"}
    })
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Postgres).await })*
        }
    };
}

both_backends!(
    entra_user_sequence,
    entra_group_sequence,
    okta_user_sequence,
    okta_group_sequence,
    pagination_sorting_and_search,
    etags_and_preconditions,
    errors_auth_and_limits,
    bulk_with_references,
    discovery_documents,
    a_pushed_person_with_an_app_assigned_to_their_group_gets_provisioned,
);

async fn entra_user_sequence(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    // The connection test: a filter on a random GUID must answer 200 with nothing, not an error.
    let probe = s.filter("Users?aadOptscim062020", &format!("userName eq \"{}\"", uuid_like(7))).await?;
    assert_eq!(probe.status, 200, "{}", probe.body);
    assert_eq!(probe.body["totalResults"], 0);
    assert_eq!(probe.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");

    // Create: 201, Location, ETag, meta.
    let created =
        s.post("/Users?aadOptscim062020", entra_user("Test_User_ab6490ee@contoso.com", "0a21f0f2-8d2a")).await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(created.header("location"), format!("{}/Users/{id}", s.base));
    assert_eq!(created.header("etag"), created.body["meta"]["version"]);
    assert_eq!(created.body["meta"]["resourceType"], "User");
    assert_eq!(created.body[ENTERPRISE]["department"], "Sales");

    // Lookups Entra makes before creating: userName (any case), externalId, work email.
    for filter in [
        "userName eq \"test_user_AB6490EE@contoso.com\"".to_owned(),
        "externalId eq \"0a21f0f2-8d2a\"".to_owned(),
        "emails[type eq \"work\"].value eq \"0A21F0F2-8D2A@contoso.com\"".to_owned(),
        format!("id eq \"{id}\""),
    ] {
        let found = s.filter("Users", &filter).await?;
        assert_eq!(found.status, 200, "{filter}: {}", found.body);
        assert_eq!(found.body["totalResults"], 1, "{filter}: {}", found.body);
        assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    }
    let none = s.filter("Users", "externalId eq \"0A21F0F2-8D2A\"").await?;
    assert_eq!(none.body["totalResults"], 0, "externalId is case-exact");

    // A duplicate userName differing only in case: 409 uniqueness.
    let dup = s.post("/Users", entra_user("TEST_USER_AB6490EE@contoso.com", "other")).await?;
    scim_error(&dup, 409, Some("uniqueness"));

    // Updates as Entra sends them: capitalised ops, value paths, "False" strings.
    let url = format!("/Users/{id}");
    let patched = s
        .patch(
            &url,
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                {"op": "Add", "path": "title", "value": "Engineer"},
                {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "R&D"}
            ]),
        )
        .await?;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(patched.body["name"]["familyName"], "updatedFamilyName");
    let found = s.filter("Users", "emails[type eq \"work\"].value eq \"updatedemail@microsoft.com\"").await?;
    assert_eq!(found.body["totalResults"], 1, "the email side table follows the PATCH");
    let renamed =
        s.patch(&url, json!([{"op": "Replace", "path": "userName", "value": "5b50642d@contoso.com"}])).await?;
    assert_eq!(renamed.body["userName"], "5b50642d@contoso.com");

    // The directory follows, in the same transaction.
    let people = s.people().await?;
    let p = people.iter().find(|p| p.id.to_string() == id).expect("person mirrored");
    assert_eq!((p.user_name.as_str(), p.email.as_str()), ("5b50642d@contoso.com", "updatedEmail@microsoft.com"));
    assert_eq!((p.department.as_deref(), p.title.as_deref()), (Some("R&D"), Some("Engineer")));
    assert_eq!(p.status, PersonStatus::Active);

    // Disable with a string boolean: still visible in GET and in filters, person suspended.
    let disabled = s.patch(&url, json!([{"op": "Replace", "path": "active", "value": "False"}])).await?;
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.body["active"], false);
    let got = s.get(&url).await?;
    assert_eq!(got.body["active"], false);
    let inactive = s.filter("Users", "active eq false").await?;
    assert_eq!(inactive.body["totalResults"], 1);
    let inactive = s.filter("Users", "active eq \"False\"").await?;
    assert_eq!(inactive.body["totalResults"], 1);
    assert_eq!(s.people().await?[0].status, PersonStatus::Suspended);

    // Delete: 204, then 404; the person is a leaver.
    let gone = s.call(Method::DELETE, &url, None, &[]).await?;
    assert_eq!(gone.status, 204);
    scim_error(&s.get(&url).await?, 404, None);
    scim_error(&s.call(Method::DELETE, &url, None, &[]).await?, 404, None);
    assert_eq!(s.people().await?[0].status, PersonStatus::Deleted);
    Ok(())
}

fn uuid_like(seed: u64) -> String {
    format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", seed * 7919, seed % 65536, seed % 4096, seed % 4096, seed * 104729)
}

async fn entra_group_sequence(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    let a =
        s.post("/Users", entra_user("a@contoso.com", "ea")).await?.body["id"].as_str().unwrap_or_default().to_owned();
    let b =
        s.post("/Users", entra_user("b@contoso.com", "eb")).await?.body["id"].as_str().unwrap_or_default().to_owned();
    let created = s
        .post(
            "/Groups",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "displayName",
                "meta": {"resourceType": "Group"}
            }),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let gid = created.body["id"].as_str().unwrap_or_default().to_owned();
    let url = format!("/Groups/{gid}");

    let by_name = s.filter("Groups?excludedAttributes=members", "displayName eq \"DISPLAYNAME\"").await?;
    assert_eq!(by_name.body["totalResults"], 1, "{}", by_name.body);
    let by_ext = s.filter("Groups", "externalId eq \"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\"").await?;
    assert_eq!(by_ext.body["totalResults"], 1);

    // Add members ($ref null), rename, then remove one with a value array.
    let added = s
        .patch(
            &url,
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": a}, {"$ref": null, "value": b}]}]),
        )
        .await?;
    assert_eq!(added.status, 200, "{}", added.body);
    let renamed = s.patch(&url, json!([{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf"}])).await?;
    assert_eq!(renamed.status, 200);
    let full = s.get(&url).await?;
    assert_eq!(full.body["displayName"], "1879db59-3bdf");
    assert_eq!(full.body["members"].as_array().map(Vec::len), Some(2), "{}", full.body);
    assert!(full.body["members"][0]["$ref"].as_str().unwrap_or_default().starts_with(&s.base));
    let slim = s.get(&format!("{url}?excludedAttributes=members")).await?;
    assert!(slim.body.get("members").is_none(), "{}", slim.body);
    assert_eq!(slim.body["displayName"], "1879db59-3bdf");
    let with_member = s.filter("Groups", &format!("members[value eq \"{a}\"]")).await?;
    assert_eq!(with_member.body["totalResults"], 1);

    let groups = s.store.list_groups(s.tenant).await?;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "1879db59-3bdf");
    assert_eq!(groups[0].members.len(), 2, "members mirrored into the directory");

    let removed = s.patch(&url, json!([{"op": "Remove", "path": "members", "value": [{"value": a}]}])).await?;
    assert_eq!(removed.status, 200);
    let full = s.get(&url).await?;
    assert_eq!(full.body["members"], json!([{"value": b, "type": "User", "$ref": format!("{}/Users/{b}", s.base)}]));
    assert_eq!(s.store.list_groups(s.tenant).await?[0].members.len(), 1);

    // An unknown member is refused, and nothing of that PATCH lands.
    let bad = s.patch(&url, json!([{"op": "add", "path": "members", "value": [{"value": "nobody"}]}])).await?;
    scim_error(&bad, 400, Some("invalidValue"));

    // Deleting a user drops it from its groups.
    assert_eq!(s.call(Method::DELETE, &format!("/Users/{b}"), None, &[]).await?.status, 204);
    let full = s.get(&url).await?;
    assert!(full.body.get("members").is_none(), "{}", full.body);
    assert_eq!(s.call(Method::DELETE, &url, None, &[]).await?.status, 204);
    assert!(s.store.list_groups(s.tenant).await?.is_empty());
    Ok(())
}

async fn okta_user_sequence(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    // Okta looks the user up first, with integer paging.
    let url = reqwest::Url::parse_with_params(
        &format!("{}/Users", s.base),
        &[("filter", "userName eq \"test.user@okta.local\""), ("startIndex", "1"), ("count", "100")],
    )?;
    let lookup = s.get(url.as_str()).await?;
    assert_eq!((lookup.status.as_u16(), lookup.body["totalResults"].as_u64()), (200, Some(0)));
    let created = s
        .post(
            "/Users",
            json!({
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
            }),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body.get("password").is_none(), "passwords are never returned");
    assert!(created.body.get("groups").is_none() || created.body["groups"] == json!([]));
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    let url = format!("/Users/{id}");

    // GET, then PUT the whole user back with a change.
    let mut user = s.get(&url).await?.body;
    user["name"]["givenName"] = json!("Another");
    user["active"] = json!(true);
    let put = s.call(Method::PUT, &url, Some(user), &[]).await?;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["name"]["givenName"], "Another");
    assert_eq!(put.body["id"], id.as_str());
    assert_eq!(s.people().await?[0].given_name.as_deref(), Some("Another"));

    // Deactivation: a path-less replace with a value object.
    let off = s.patch(&url, json!([{"op": "replace", "value": {"active": false}}])).await?;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.body["active"], false);
    assert_eq!(s.people().await?[0].status, PersonStatus::Suspended);
    let on = s.patch(&url, json!([{"op": "replace", "value": {"active": true}}])).await?;
    assert_eq!(on.body["active"], true);
    assert_eq!(s.people().await?[0].status, PersonStatus::Active);
    Ok(())
}

async fn okta_group_sequence(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    let u = s.post("/Users", entra_user("okta@x.com", "o1")).await?.body["id"].as_str().unwrap_or_default().to_owned();
    let g = s.post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2", "members": []})).await?;
    assert_eq!(g.status, 201, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap_or_default().to_owned();
    let url = format!("/Groups/{gid}");
    let list = s.get("/Groups?startIndex=1&count=100").await?;
    assert_eq!(list.body["totalResults"], 1);
    let renamed =
        s.patch(&url, json!([{"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}}])).await?;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let add = s
        .patch(&url, json!([{"op": "add", "path": "members", "value": [{"value": u, "display": "okta@x.com"}]}]))
        .await?;
    assert_eq!(add.status, 200);
    let full = s.get(&url).await?;
    assert_eq!(full.body["members"][0]["display"], "okta@x.com");
    let remove = s.patch(&url, json!([{"op": "remove", "path": format!("members[value eq \"{u}\"]")}])).await?;
    assert_eq!(remove.status, 200);
    assert!(s.get(&url).await?.body.get("members").is_none());
    // PUT with members replaces them.
    let put = s.call(Method::PUT, &url, Some(json!({"displayName": "Put", "members": [{"value": u}]})), &[]).await?;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["members"][0]["value"], u.as_str());
    assert_eq!(s.call(Method::DELETE, &url, None, &[]).await?.status, 204);
    Ok(())
}

async fn pagination_sorting_and_search(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    for i in 0..7 {
        let r = s.post("/Users", entra_user(&format!("user{i}@x.com"), &format!("ext{}", 6 - i))).await?;
        assert_eq!(r.status, 201);
    }
    let page = s.get("/Users?startIndex=3&count=2&sortBy=userName").await?;
    assert_eq!(page.body["totalResults"], 7);
    assert_eq!(page.body["startIndex"], 3);
    assert_eq!(page.body["itemsPerPage"], 2);
    let names: Vec<&str> = page.body["Resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["userName"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["user2@x.com", "user3@x.com"]);
    let desc = s.get("/Users?sortBy=externalId&sortOrder=descending&count=1").await?;
    assert_eq!(desc.body["Resources"][0]["externalId"], "ext6");
    let zero = s.get("/Users?count=0").await?;
    assert_eq!((zero.body["totalResults"].as_u64(), zero.body["itemsPerPage"].as_u64()), (Some(7), Some(0)));
    let past = s.get("/Users?startIndex=50").await?;
    assert_eq!(past.body["totalResults"], 7);
    assert_eq!(past.body["Resources"], json!([]));
    let neg = s.get("/Users?startIndex=-4&count=-1").await?;
    assert_eq!((neg.body["startIndex"].as_u64(), neg.body["itemsPerPage"].as_u64()), (Some(1), Some(0)));
    // A stable order across pages: every user exactly once.
    let mut seen = Vec::new();
    for start in [1, 4, 7] {
        let p = s.get(&format!("/Users?startIndex={start}&count=3")).await?;
        for r in p.body["Resources"].as_array().cloned().unwrap_or_default() {
            seen.push(r["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7);
    // attributes / excludedAttributes.
    let slim = s.get("/Users?attributes=userName&count=1").await?;
    let keys: Vec<&String> = slim.body["Resources"][0].as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert!(keys.iter().all(|k| ["id", "userName", "schemas"].contains(&k.as_str())), "{keys:?}");
    let ex = s.get("/Users?excludedAttributes=emails,name&count=1").await?;
    assert!(ex.body["Resources"][0].get("emails").is_none() && ex.body["Resources"][0].get("userName").is_some());
    // .search per type and at the root.
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"user1\" or externalId eq \"ext0\"", "attributes": ["userName"], "startIndex": 1, "count": 10});
    let found = s.post("/Users/.search", body.clone()).await?;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["totalResults"], 2);
    s.post("/Groups", json!({"displayName": "user group"})).await?;
    let all = s.post("/.search", json!({"filter": "meta.created gt \"2000-01-01T00:00:00Z\"", "count": 100})).await?;
    assert_eq!(all.body["totalResults"], 8, "{}", all.body);
    let users_only = s.post("/.search", json!({"filter": "userName co \"user\"", "startIndex": 2, "count": 3})).await?;
    assert_eq!(users_only.body["totalResults"], 7);
    assert_eq!(users_only.body["itemsPerPage"], 3);
    Ok(())
}

async fn etags_and_preconditions(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    let created = s.post("/Users", entra_user("e@x.com", "e")).await?;
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    let url = format!("/Users/{id}");
    let v1 = created.header("etag").to_owned();
    assert!(v1.starts_with("W/\""), "{v1}");
    let not_modified = s.call(Method::GET, &url, None, &[("if-none-match", &v1)]).await?;
    assert_eq!(not_modified.status, 304);
    let changed = s.call(Method::GET, &url, None, &[("if-none-match", "W/\"other\"")]).await?;
    assert_eq!(changed.status, 200);
    let ok = s
        .call(
            Method::PATCH,
            &url,
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "A"}]})),
            &[("if-match", &v1)],
        )
        .await?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let v2 = ok.header("etag").to_owned();
    assert_ne!(v1, v2);
    let stale = s
        .call(
            Method::PATCH,
            &url,
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "B"}]})),
            &[("if-match", &v1)],
        )
        .await?;
    scim_error(&stale, 412, None);
    let stale_put = s.call(Method::PUT, &url, Some(entra_user("e@x.com", "e")), &[("if-match", &v1)]).await?;
    scim_error(&stale_put, 412, None);
    let stale_delete = s.call(Method::DELETE, &url, None, &[("if-match", &v1)]).await?;
    scim_error(&stale_delete, 412, None);
    // A PATCH that changes nothing keeps the version.
    let same = s.patch(&url, json!([{"op": "replace", "path": "title", "value": "A"}])).await?;
    assert_eq!(same.header("etag"), v2);
    assert_eq!(s.call(Method::DELETE, &url, None, &[("if-match", &v2)]).await?.status, 204);
    Ok(())
}

async fn errors_auth_and_limits(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    let anon = s.http.get(format!("{}/Users", s.base)).send().await?;
    assert_eq!(anon.status(), 401);
    assert_eq!(anon.headers()["www-authenticate"], "Bearer");
    let body: Value = anon.json().await?;
    assert_eq!(body["status"], "401");
    let wrong = s.http.get(format!("{}/Users", s.base)).bearer_auth("tnr_nope").send().await?;
    assert_eq!(wrong.status(), 401);
    let admin = tenure_server::tokens::generate();
    s.store.insert_token(s.tenant, TokenScope::Admin, &tenure_server::tokens::hash(&admin), None).await?;
    let admin_scope = s.http.get(format!("{}/Users", s.base)).bearer_auth(&admin).send().await?;
    assert_eq!(admin_scope.status(), 403, "an admin token is not a SCIM token");
    let body: Value = admin_scope.json().await?;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("admin token")), "{body}");

    // Another tenant's token sees nothing of acme.
    s.post("/Users", entra_user("x@x.com", "x")).await?;
    let other = s.store.ensure_tenant("other").await?;
    let other_token = tenure_server::tokens::generate();
    s.store.insert_token(other, TokenScope::Scim, &tenure_server::tokens::hash(&other_token), None).await?;
    let theirs: Value = s.http.get(format!("{}/Users", s.base)).bearer_auth(&other_token).send().await?.json().await?;
    assert_eq!(theirs["totalResults"], 0);

    // Filters: unknown attribute, bad syntax, wrong type: 400 invalidFilter, never an empty 200.
    for filter in ["name.givenName eq \"x\"", "userName eq", "userName eq 5", "emails[type eq \"work\"", "nickName pr"]
    {
        scim_error(&s.filter("Users", filter).await?, 400, Some("invalidFilter"));
    }
    let deep = format!("{}userName eq \"x\"{}", "(".repeat(200), ")".repeat(200));
    scim_error(&s.filter("Users", &deep).await?, 400, Some("invalidFilter"));
    // A query string that is not UTF-8 once decoded is read lossily, and the filter refused.
    scim_error(&s.get("/Users?filter=%ff%fe").await?, 400, Some("invalidFilter"));
    scim_error(&s.get("/Users?sortBy=emails").await?, 400, Some("invalidValue"));
    scim_error(&s.get("/Users?count=abc").await?, 400, Some("invalidValue"));
    scim_error(&s.get("/Users?attributes=a%20b").await?, 400, Some("invalidPath"));
    // Bodies.
    let raw = s
        .http
        .post(format!("{}/Users", s.base))
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await?;
    assert_eq!(raw.status(), 400);
    scim_error(&s.post("/Users", json!({"displayName": "no userName"})).await?, 400, Some("invalidValue"));
    scim_error(&s.post("/Users", json!({"userName": "a", "active": "maybe"})).await?, 400, Some("invalidValue"));
    scim_error(&s.post("/Users", json!([1, 2])).await?, 400, Some("invalidSyntax"));
    scim_error(&s.post("/Groups", json!({"members": []})).await?, 400, Some("invalidValue"));
    let id = s.filter("Users", "userName eq \"x@x.com\"").await?.body["Resources"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    scim_error(
        &s.patch(&format!("/Users/{id}"), json!([{"op": "merge", "path": "title"}])).await?,
        400,
        Some("invalidSyntax"),
    );
    scim_error(
        &s.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "emails[type eq", "value": 1}])).await?,
        400,
        Some("invalidPath"),
    );
    scim_error(&s.patch(&format!("/Users/{id}"), json!([{"op": "remove", "path": "userName"}])).await?, 400, None);
    scim_error(&s.get("/Users/not-an-id").await?, 404, None);
    scim_error(
        &s.patch("/Users/not-an-id", json!([{"op": "replace", "path": "title", "value": "x"}])).await?,
        404,
        None,
    );
    // Methods and endpoints.
    scim_error(&s.call(Method::DELETE, "/Users", None, &[]).await?, 405, None);
    scim_error(&s.call(Method::PUT, "/ServiceProviderConfig", Some(json!({})), &[]).await?, 405, None);
    scim_error(&s.get("/Me").await?, 501, None);
    scim_error(&s.get("/Nope").await?, 404, None);
    // Sizes: a body over the limit is 413, not a crash.
    let huge = json!({"userName": "big", "title": "x".repeat(5 * 1024 * 1024)});
    scim_error(&s.post("/Users", huge).await?, 413, None);
    Ok(())
}

async fn bulk_with_references(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    // The group refers to a user created later in the same request.
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "failOnErrors": 5,
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"displayName": "Bulk", "members": [{"type": "User", "value": "bulkId:u1"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"schemas": [USER], "userName": "bulk@x.com"}},
            {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"Operations": [{"op": "replace", "path": "title", "value": "T"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "BULK@x.com"}},
            {"method": "POST", "path": "/Users", "bulkId": "orphan", "data": {"userName": "o@x.com", "x": "bulkId:missing"}}
        ]
    });
    let r = s.post("/Bulk", body).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let ops = r.body["Operations"].as_array().cloned().unwrap_or_default();
    let status = |bulk_id: &str| ops.iter().find(|o| o["bulkId"] == bulk_id).map(|o| o["status"].clone());
    assert_eq!(status("u1"), Some(json!("201")), "{}", r.body);
    assert_eq!(status("g1"), Some(json!("201")), "{}", r.body);
    assert_eq!(status("dup"), Some(json!("409")));
    assert_eq!(status("orphan"), Some(json!("400")));
    let group = s.filter("Groups", "displayName eq \"Bulk\"").await?;
    let user = s.filter("Users", "userName eq \"bulk@x.com\"").await?;
    assert_eq!(group.body["Resources"][0]["members"][0]["value"], user.body["Resources"][0]["id"]);
    assert_eq!(user.body["Resources"][0]["title"], "T");
    // failOnErrors stops early.
    let r = s
        .post(
            "/Bulk",
            json!({"failOnErrors": 1, "Operations": [
                {"method": "POST", "path": "/Users", "data": {"userName": "bulk@x.com"}},
                {"method": "POST", "path": "/Users", "data": {"userName": "never@x.com"}}
            ]}),
        )
        .await?;
    assert_eq!(r.body["Operations"].as_array().map(Vec::len), Some(1), "{}", r.body);
    // Limits: too many operations, too large a payload.
    let many: Vec<Value> = (0..1001).map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")})).collect();
    scim_error(&s.post("/Bulk", json!({"Operations": many})).await?, 413, None);
    let big = json!({"Operations": [{"method": "POST", "path": "/Users", "data": {"userName": "b", "title": "x".repeat(1_100_000)}}]});
    scim_error(&s.post("/Bulk", big).await?, 413, None);
    Ok(())
}

async fn discovery_documents(backend: TestBackend) -> anyhow::Result<()> {
    let s = start(backend).await?;
    let spc = s.get("/ServiceProviderConfig").await?;
    assert_eq!(spc.status, 200);
    assert_eq!(spc.body["bulk"]["supported"], true);
    assert_eq!(spc.body["bulk"]["maxOperations"], 1000);
    assert_eq!(spc.body["sort"]["supported"], true);
    assert_eq!(spc.body["filter"]["maxResults"], 200);
    let types = s.get("/ResourceTypes").await?;
    assert_eq!(types.body["totalResults"], 2);
    assert_eq!(s.get("/ResourceTypes/User").await?.body["endpoint"], "/Users");
    let schemas = s.get("/Schemas").await?;
    assert_eq!(schemas.body["totalResults"], 3);
    assert_eq!(s.get(&format!("/Schemas/{ENTERPRISE}")).await?.body["id"], ENTERPRISE);
    scim_error(&s.get("/Schemas/urn:nope").await?, 404, None);
    Ok(())
}

async fn a_pushed_person_with_an_app_assigned_to_their_group_gets_provisioned(
    backend: TestBackend,
) -> anyhow::Result<()> {
    use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
    let s = start(backend).await?;
    let sandbox = SandboxApp::spawn(SandboxOptions {
        profile: Profile::Notion,
        token: "t0ken".into(),
        rate_limit_per_sec: None,
        faults: None,
    })
    .await?;
    // One account: the guard's default 10% would hold its deactivation (the guard has its own tests).
    let one_person_app = AppSettings {
        guard: Some(tenure_core::guard::GuardLimits { max_percent: 100, max_count: 25, ..Default::default() }),
        ..AppSettings::default()
    };
    let app = s
        .store
        .add_app(s.tenant, "notion", AppKind::Scim, &sandbox.base_url(), &Secret::new("t0ken"), &one_person_app)
        .await?;
    let user = s.post("/Users", entra_user("ann@contoso.com", "ann")).await?;
    let uid = user.body["id"].as_str().unwrap_or_default().to_owned();
    let group = s.post("/Groups", json!({"displayName": "Engineering", "members": [{"value": uid}]})).await?;
    let gid: GroupId = group.body["id"].as_str().unwrap_or_default().parse()?;
    s.store.assign(s.tenant, app.id, &AssignmentTarget::Group(gid), false, &AssignmentParams::default()).await?;

    let engine = tenure_engine::Engine::new(s.store.clone(), s.tenant);
    let plans = engine.plan(None, tenure_engine::today()).await?;
    assert_eq!(plans[0].plan.count("create"), 1, "{:?}", plans[0].plan);
    let report = engine.apply(plans).await?;
    assert_eq!(report.failed(), 0, "{report:?}");
    let users = sandbox.users();
    assert_eq!(users.len(), 1);
    assert!(users[0].active);

    // Deactivated by the IdP: the account is deactivated at the next apply.
    s.patch(&format!("/Users/{uid}"), json!([{"op": "Replace", "path": "active", "value": "False"}])).await?;
    let report = engine.apply(engine.plan(None, tenure_engine::today()).await?).await?;
    assert_eq!(report.failed(), 0, "{report:?}");
    assert!(!sandbox.users()[0].active, "suspended by the IdP, deactivated in the app");
    // The sync command leaves the SCIM source alone (the IdP pushes; there is nothing to pull).
    assert!(engine.sync(None).await?.is_empty());
    Ok(())
}
