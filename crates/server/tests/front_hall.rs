//! The front hall over HTTP: the OpenAPI document covers every route of the router; the
//! rendered reference loads nothing from elsewhere; an org admin creates a SCIM app where an
//! auditor may only read; bad input is answered precisely (400 naming the field, an
//! expression's line and column, 404 for a removed app, 412 for a stale ETag); previews save
//! nothing.

mod common;

use serde_json::{Value, json};
use tenure_core::Role;
use tenure_engine::Actor;
use tenure_engine::admin::{NewAdmin, NewToken};

async fn token(
    server: &common::Server,
    tenant: tenure_core::TenantId,
    email: &str,
    role: Role,
) -> anyhow::Result<String> {
    let engine = server.contexts.engine(tenant);
    let cli = Actor::cli();
    let admin = engine.admin(&cli);
    admin.add_admin(NewAdmin { email: email.into(), role, apps: vec![], password: None }).await?;
    let spec = NewToken { scope: None, admin: Some(email.into()), label: None, expires_in_s: None };
    Ok(admin.create_token(spec).await?.token)
}

#[tokio::test]
async fn the_openapi_document_covers_every_route_of_the_router() -> anyhow::Result<()> {
    let server = common::Server::start().await?;
    let http = common::client();
    let response = http.get(format!("{}/api/v1/openapi.json", server.base)).send().await?;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await?;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    let documented: std::collections::BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|ops| ops.keys())
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routed = common::routes_in_router().await?;
    let admin: std::collections::BTreeSet<(String, String)> =
        routed.into_iter().filter(|(_, p)| p.starts_with("/api/v1/") && p != "/api/v1/openapi.json").collect();
    let missing: Vec<_> = admin.difference(&documented).collect();
    assert!(missing.is_empty(), "routes missing from the OpenAPI document: {missing:?}");
    let extra: Vec<_> = documented.difference(&admin).collect();
    assert!(extra.is_empty(), "documented routes the router lacks: {extra:?}");
    // Request and response schemas and the error shape are in the document.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in
        ["NewApp", "AppView", "AppEdit", "ErrorBody", "AssignmentSpec", "NewAdmin", "TokenCreated", "PlanDocument"]
    {
        assert!(schemas.contains_key(name), "schema {name} missing: {:?}", schemas.keys().collect::<Vec<_>>());
    }
    let create = &doc["paths"]["/api/v1/apps"]["post"];
    assert!(create["requestBody"].is_object() && create["responses"]["201"].is_object(), "{create}");
    assert!(create["responses"]["403"].is_object() && create["responses"]["400"].is_object(), "{create}");
    println!(
        "OpenAPI document: {} operations on {} paths",
        documented.len(),
        doc["paths"].as_object().map_or(0, |p| p.len())
    );
    Ok(())
}

#[tokio::test]
async fn the_reference_is_served_from_the_binary() -> anyhow::Result<()> {
    let server = common::Server::start().await?;
    let http = common::client();
    let page = http.get(format!("{}/api/docs/", server.base)).send().await?;
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str()?.to_owned();
    assert!(policy.contains("script-src 'self'") && !policy.contains("http"), "{policy}");
    let html = page.text().await?;
    assert!(html.contains("/api/docs/swagger-ui-bundle.js") && !html.contains("https://"), "{html}");
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "init.js"] {
        let res = http.get(format!("{}/api/docs/{asset}", server.base)).send().await?;
        assert_eq!(res.status(), 200, "{asset}");
        let body = res.text().await?;
        assert!(body.len() > 50, "{asset}");
        if asset == "init.js" {
            assert!(body.contains("/api/v1/openapi.json"), "{body}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn an_org_admin_creates_a_scim_app_where_an_auditor_only_reads() -> anyhow::Result<()> {
    let server = common::Server::start().await?;
    let tenant = server.store.ensure_tenant("acme").await?;
    let org = token(&server, tenant, "org@acme.example", Role::OrgAdmin).await?;
    let auditor = token(&server, tenant, "auditor@acme.example", Role::Auditor).await?;
    let app = common::sandbox(tenure_sandbox::Profile::Notion).await?;
    let http = common::client();
    let url = format!("{}/api/v1/apps", server.base);
    let body = json!({"name": "notion", "kind": "scim", "base_url": app.base_url(), "token": app.token()});
    let refused = http.post(&url).bearer_auth(&auditor).json(&body).send().await?;
    assert_eq!(refused.status(), 403);
    let error: Value = refused.json().await?;
    assert!(error["error"].as_str().is_some_and(|e| e.contains("auditor")), "{error}");
    let created = http.post(&url).bearer_auth(&org).json(&body).send().await?;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["etag"], "\"1\"");
    let created: Value = created.json().await?;
    assert_eq!((created["name"].as_str(), created["kind"].as_str()), (Some("notion"), Some("scim")));
    assert!(!created.to_string().contains(app.token()), "the token is never shown");
    let listed = http.get(&url).bearer_auth(&auditor).send().await?;
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await?;
    assert_eq!(listed[0]["name"], "notion", "{listed}");
    // The audit log names the admin who did it.
    let audit = server.store.list_audit(tenant, 50).await?;
    let add = audit.iter().find(|e| e.action == "app.add").expect("audited");
    assert_eq!(add.actor, "org@acme.example");
    Ok(())
}

#[tokio::test]
async fn bad_input_is_answered_precisely() -> anyhow::Result<()> {
    let server = common::Server::start().await?;
    let tenant = server.store.ensure_tenant("acme").await?;
    let org = token(&server, tenant, "org@acme.example", Role::OrgAdmin).await?;
    let app = common::sandbox(tenure_sandbox::Profile::Notion).await?;
    let http = common::client();
    let api = |path: &str| format!("{}/api/v1{path}", server.base);
    let body =
        json!({"name": "notion", "kind": "scim", "base_url": app.base_url(), "token": app.token(), "colour": "red"});
    let unknown = http.post(api("/apps")).bearer_auth(&org).json(&body).send().await?;
    assert_eq!(unknown.status(), 400);
    let error: Value = unknown.json().await?;
    assert_eq!(error["field"], "colour", "{error}");
    assert!(error["error"].as_str().is_some_and(|e| e.contains("colour")), "{error}");

    let mut body = json!({"name": "notion", "kind": "scim", "base_url": app.base_url(), "token": app.token()});
    body["settings"] =
        json!({"mappings": [{"target": "displayName", "expression": "concat(givenName,\n lowr(familyName))"}]});
    let bad_mapping = http.post(api("/apps")).bearer_auth(&org).json(&body).send().await?;
    assert_eq!(bad_mapping.status(), 400);
    let error: Value = bad_mapping.json().await?;
    assert_eq!((error["line"].as_u64(), error["column"].as_u64()), (Some(2), Some(2)), "{error}");
    assert_eq!(error["field"], "settings.mappings[0].expression", "{error}");
    assert!(error["error"].as_str().is_some_and(|e| e.contains("did you mean 'lower'")), "{error}");
    assert!(error["caret"].as_str().is_some_and(|c| c.contains('^')), "{error}");

    body["settings"] = json!({"guard_percent": 100});
    let created = http.post(api("/apps")).bearer_auth(&org).json(&body).send().await?;
    assert_eq!(created.status(), 201);
    // Two admins edit at once: the second, with the version it read, gets 412, not a lost update.
    let etag = http.get(api("/apps/notion")).bearer_auth(&org).send().await?.headers()["etag"].to_str()?.to_owned();
    let first = http
        .patch(api("/apps/notion"))
        .bearer_auth(&org)
        .header("If-Match", &etag)
        .json(&json!({"settings": {"guard_count": 40}}))
        .send()
        .await?;
    assert_eq!(first.status(), 200);
    assert_ne!(first.headers()["etag"].to_str()?, etag);
    let second = http
        .patch(api("/apps/notion"))
        .bearer_auth(&org)
        .header("If-Match", &etag)
        .json(&json!({"settings": {"guard_count": 50}}))
        .send()
        .await?;
    assert_eq!(second.status(), 412);
    let shown: Value = http.get(api("/apps/notion")).bearer_auth(&org).send().await?.json().await?;
    assert_eq!(shown["settings"]["guard"]["max_count"], 40, "the first edit stands: {shown}");
    // A changed URL needs the credentials again.
    let moved = http
        .patch(api("/apps/notion"))
        .bearer_auth(&org)
        .json(&json!({"base_url": "https://elsewhere.example/scim/v2"}))
        .send()
        .await?;
    assert_eq!(moved.status(), 400);
    assert_eq!(moved.json::<Value>().await?["field"], "credentials");

    // A removed app: 404 to an edit.
    let preview = http.delete(api("/apps/notion?preview=true")).bearer_auth(&org).send().await?;
    assert_eq!(preview.status(), 200);
    assert_eq!(preview.json::<Value>().await?["removed"], false);
    assert_eq!(http.delete(api("/apps/notion")).bearer_auth(&org).send().await?.status(), 200);
    let gone =
        http.patch(api("/apps/notion")).bearer_auth(&org).json(&json!({"settings": {"dry_run": true}})).send().await?;
    assert_eq!(gone.status(), 404);
    Ok(())
}

#[tokio::test]
async fn changes_that_alter_access_preview_the_plan_they_would_cause() -> anyhow::Result<()> {
    let server = common::Server::start().await?;
    let tenant = server.store.ensure_tenant("acme").await?;
    let org = token(&server, tenant, "org@acme.example", Role::OrgAdmin).await?;
    let app = common::sandbox(tenure_sandbox::Profile::Notion).await?;
    let source = server.store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let batch = tenure_core::import::ImportBatch {
        people: vec![
            tenure_testkit::person("E1", "ada@acme.example"),
            tenure_testkit::person("E2", "bob@acme.example"),
        ],
        groups: vec![],
    };
    server.store.apply_import(tenant, source, &batch).await?;
    let http = common::client();
    let api = |path: &str| format!("{}/api/v1{path}", server.base);
    let body = json!({"name": "notion", "kind": "scim", "base_url": app.base_url(), "token": app.token()});
    assert_eq!(http.post(api("/apps")).bearer_auth(&org).json(&body).send().await?.status(), 201);
    // An assignment, previewed: two creates, nothing saved.
    let preview = http
        .post(api("/apps/notion/assignments?preview=true"))
        .bearer_auth(&org)
        .json(&json!({"org_unit": "/Eng"}))
        .send()
        .await?;
    assert_eq!(preview.status(), 200);
    let preview: Value = preview.json().await?;
    assert_eq!(preview["saved"], false);
    assert_eq!(preview["plan"]["added"].as_array().map(Vec::len), Some(2), "{preview}");
    let listed: Value = http.get(api("/apps/notion/assignments")).bearer_auth(&org).send().await?.json().await?;
    assert_eq!(listed, json!([]), "the preview saved nothing");
    let saved =
        http.post(api("/apps/notion/assignments")).bearer_auth(&org).json(&json!({"org_unit": "/Eng"})).send().await?;
    assert_eq!(saved.status(), 201);
    // An app edit, previewed: a mapping that changes every display name would add the updates
    // only once the accounts exist; a userName change shows in the creates.
    let edit =
        json!({"settings": {"mappings": [{"target": "userName", "expression": "upper(email)", "on_create": true}]}});
    let preview = http.patch(api("/apps/notion?preview=true")).bearer_auth(&org).json(&edit).send().await?;
    assert_eq!(preview.status(), 200);
    let preview: Value = preview.json().await?;
    assert_eq!(preview["saved"], false, "{preview}");
    assert_eq!(preview["plan"]["added"].as_array().map(Vec::len), Some(2), "{preview}");
    assert_eq!(preview["plan"]["removed"].as_array().map(Vec::len), Some(2), "{preview}");
    let shown: Value = http.get(api("/apps/notion")).bearer_auth(&org).send().await?.json().await?;
    assert!(shown["settings"].get("mappings").is_none(), "the preview saved nothing: {shown}");
    Ok(())
}

fn pushed_id(detail: &Value) -> String {
    detail["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn scim_pushes_are_audited_per_request_and_tokens_record_their_use() -> anyhow::Result<()> {
    let server = common::Server::start().await?;
    let tenant = server.store.ensure_tenant("acme").await?;
    let org = token(&server, tenant, "org@acme.example", Role::OrgAdmin).await?;
    let engine = server.contexts.engine(tenant);
    let cli = Actor::cli();
    let scim = engine
        .admin(&cli)
        .create_token(NewToken {
            scope: Some("scim".into()),
            admin: None,
            label: Some("entra".into()),
            expires_in_s: None,
        })
        .await?
        .token;
    let http = common::client();
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada@acme.example",
        "emails": [{"value": "ada@acme.example", "primary": true}],
    });
    let pushed = http.post(format!("{}/scim/v2/Users", server.base)).bearer_auth(&scim).json(&user).send().await?;
    assert_eq!(pushed.status(), 201);
    let read = http.get(format!("{}/scim/v2/Users", server.base)).bearer_auth(&scim).send().await?;
    assert_eq!(read.status(), 200);
    let audit = server.store.list_audit(tenant, 50).await?;
    let pushes: Vec<_> = audit.iter().filter(|e| e.action == "scim.push").collect();
    assert_eq!(pushes.len(), 1, "one entry per write, none for reads: {audit:?}");
    assert_eq!(pushes[0].actor, "scim:entra");
    assert_eq!(pushes[0].detail["method"], "POST");
    // The entry is written with the user, in one transaction: a refused write leaves none, and
    // it names the resource written.
    let id = pushed_id(&pushes[0].detail);
    assert_eq!(pushes[0].subject, format!("/Users/{id}"));
    let taken = http.post(format!("{}/scim/v2/Users", server.base)).bearer_auth(&scim).json(&user).send().await?;
    assert_eq!(taken.status(), 409);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Ada L."}]});
    let patched =
        http.patch(format!("{}/scim/v2/Users/{id}", server.base)).bearer_auth(&scim).json(&patch).send().await?;
    assert_eq!(patched.status(), 200);
    let audit = server.store.list_audit(tenant, 50).await?;
    let mut methods: Vec<String> = audit
        .iter()
        .filter(|e| e.action == "scim.push")
        .map(|e| e.detail["method"].as_str().unwrap_or_default().to_owned())
        .collect();
    methods.sort();
    assert_eq!(methods, ["PATCH", "POST"], "one entry per write, none for the refused POST");
    // The admin token's use is recorded.
    let tokens: Value =
        http.get(format!("{}/api/v1/tokens", server.base)).bearer_auth(&org).send().await?.json().await?;
    let mine = tokens
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["admin"] == "org@acme.example")
        .cloned()
        .unwrap_or_default();
    assert!(mine["last_used_ms"].as_i64().is_some(), "{tokens}");
    Ok(())
}
