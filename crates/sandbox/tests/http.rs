//! The sandbox apps over real HTTP, as Tenure's SCIM client sees them.

use reqwest::{Client, Method, StatusCode, header};
use serde_json::{Value, json};
use tenure_sandbox::{DeleteMode, Profile, SandboxApp, SandboxError, SandboxOptions};

const TOKEN: &str = "sandbox-token";

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().build().unwrap()
}

async fn spawn(profile: Profile, rate: Option<u32>) -> SandboxApp {
    let mut options = SandboxOptions::new(profile, TOKEN);
    options.rate_limit_per_sec = rate;
    SandboxApp::spawn(options).await.unwrap()
}

struct Reply {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Value,
}

/// The bearer token SCIM calls carry: the sandbox's own, or for Zoom one from its token endpoint.
async fn bearer(app: &SandboxApp) -> String {
    if !app.profile().uses_oauth() {
        return TOKEN.to_owned();
    }
    let reply = client()
        .post(app.account_credentials_url())
        .basic_auth(&app.vendor_options().zoom_client_id, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let body: Value = reply.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn call(app: &SandboxApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    let token = bearer(app).await;
    let mut request = client().request(method, format!("{}{path}", app.base_url())).bearer_auth(token);
    if let Some(body) = body {
        request = request.header(header::CONTENT_TYPE, "application/scim+json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
    Reply { status, headers, body }
}

async fn create(app: &SandboxApp, user_name: &str) -> String {
    let reply = call(app, Method::POST, "/Users", Some(json!({"userName": user_name, "title": "Engineer"}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

fn assert_scim_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/scim+json");
    assert_eq!(reply.body["status"], status.to_string());
    assert_eq!(reply.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    if let Some(t) = scim_type {
        assert_eq!(reply.body["scimType"], t, "{}", reply.body);
    }
}

fn patch(ops: Value) -> Option<Value> {
    Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}))
}

#[tokio::test]
async fn requests_without_the_token_are_refused() {
    let app = spawn(Profile::Jira, None).await;
    let http = client();
    let url = format!("{}/Users", app.base_url());
    for auth in [None, Some("Bearer wrong"), Some("Basic c2FuZGJveC10b2tlbg==")] {
        let mut request = http.get(&url);
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "401");
    }
    assert_eq!(app.request_count(), 3);
    assert!(app.users().is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn create_list_filter_and_page() {
    let app = spawn(Profile::Notion, None).await;
    let reply = call(
        &app,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ann@example.com",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"type": "work", "value": "ann@example.com", "primary": true}],
        })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let id = reply.body["id"].as_str().unwrap();
    assert_eq!(reply.headers[header::LOCATION], format!("{}/Users/{id}", app.base_url()));
    assert_eq!(reply.body["meta"]["location"], format!("{}/Users/{id}", app.base_url()));
    for key in ["created", "lastModified", "version"] {
        assert!(reply.body["meta"][key].is_string(), "{key}");
    }
    for name in ["bob@example.com", "carol@example.com", "dave@example.com"] {
        create(&app, name).await;
    }

    let got = call(&app, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(got.body["userName"], "ann@example.com");

    let all = call(&app, Method::GET, "/Users", None).await;
    assert_eq!(all.body["totalResults"], 4);
    assert_eq!(all.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");

    let page = call(&app, Method::GET, "/Users?startIndex=2&count=2", None).await;
    let names: Vec<&str> =
        page.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap()).collect();
    assert_eq!(names, ["bob@example.com", "carol@example.com"]);
    assert_eq!((page.body["startIndex"].as_u64(), page.body["itemsPerPage"].as_u64()), (Some(2), Some(2)));

    let response = client()
        .get(format!("{}/Users", app.base_url()))
        .bearer_auth(TOKEN)
        .query(&[("filter", r#"userName eq "CAROL@example.com""#)])
        .send()
        .await
        .unwrap();
    let found: Value = response.json().await.unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["userName"], "carol@example.com");

    let response = client()
        .get(format!("{}/Users", app.base_url()))
        .bearer_auth(TOKEN)
        .query(&[("filter", "userName eq")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scimType"], "invalidFilter");

    assert_scim_error(&call(&app, Method::GET, "/Users/nope", None).await, 404, None);
    assert_eq!(app.users().len(), 4);
    app.shutdown().await;
}

#[tokio::test]
async fn notion_caps_pages_at_100() {
    let app = spawn(Profile::Notion, None).await;
    for i in 0..105 {
        create(&app, &format!("user{i}@example.com")).await;
    }
    let page = call(&app, Method::GET, "/Users?count=500", None).await;
    assert_eq!(page.body["totalResults"], 105);
    assert_eq!(page.body["Resources"].as_array().unwrap().len(), 100);
    app.shutdown().await;
}

#[tokio::test]
async fn duplicate_user_names_conflict() {
    let app = spawn(Profile::Jira, None).await;
    create(&app, "ann@example.com").await;
    let reply = call(&app, Method::POST, "/Users", Some(json!({"userName": "Ann@Example.COM"}))).await;
    assert_scim_error(&reply, 409, Some("uniqueness"));
    assert_eq!(app.users().len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn patch_deactivates_and_reactivates() {
    let app = spawn(Profile::Slack, None).await;
    let id = create(&app, "ann.lee").await;
    let path = format!("/Users/{id}");
    let off =
        call(&app, Method::PATCH, &path, patch(json!([{"op": "replace", "path": "active", "value": false}]))).await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(off.body["active"], false);
    assert!(!app.users()[0].active);

    let on = call(
        &app,
        Method::PATCH,
        &path,
        patch(json!([
            {"op": "Replace", "path": "active", "value": "True"},
            {"op": "replace", "path": "name.givenName", "value": "Ann"},
            {"op": "add", "path": "emails[type eq \"work\"].value", "value": "ann@example.com"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"},
            {"op": "replace", "value": {"displayName": "Ann Lee", "title": "CFO"}},
        ])),
    )
    .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    assert_eq!(on.body["active"], true);
    let user = &app.users()[0];
    assert!(user.active);
    assert_eq!(user.name.as_ref().unwrap().given_name.as_deref(), Some("Ann"));
    assert_eq!(user.primary_email(), Some("ann@example.com"));
    assert_eq!(user.enterprise.as_ref().unwrap().department.as_deref(), Some("Sales"));
    assert_eq!((user.display_name.as_deref(), user.title.as_deref()), (Some("Ann Lee"), Some("CFO")));

    let bad = call(&app, Method::PATCH, &path, patch(json!([{"op": "replace", "path": "shoeSize", "value": 9}]))).await;
    assert_scim_error(&bad, 400, Some("invalidPath"));
    let bad = call(&app, Method::PATCH, &path, Some(json!({"Operations": [{"op": "merge"}]}))).await;
    assert_scim_error(&bad, 400, Some("invalidSyntax"));
    app.shutdown().await;
}

#[tokio::test]
async fn put_replaces_the_user_but_keeps_id_and_created() {
    let app = spawn(Profile::Jira, None).await;
    let id = create(&app, "ann@example.com").await;
    let before = call(&app, Method::GET, &format!("/Users/{id}"), None).await.body;
    let reply = call(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(json!({"userName": "ann@example.com", "displayName": "Ann"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["id"], id);
    assert_eq!(reply.body["displayName"], "Ann");
    assert!(reply.body.get("title").is_none());
    assert_eq!(reply.body["meta"]["created"], before["meta"]["created"]);
    assert_ne!(reply.body["meta"]["version"], before["meta"]["version"]);
    app.shutdown().await;
}

#[tokio::test]
async fn delete_deactivates_in_slack_and_jira_but_removes_in_notion_github_and_zoom() {
    for profile in Profile::all() {
        let app = spawn(profile, None).await;
        let id = create(&app, if profile == Profile::Zoom { "ann@example.com" } else { "ann" }).await;
        let deleted = call(&app, Method::DELETE, &format!("/Users/{id}"), None).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{profile}");
        let after = call(&app, Method::GET, &format!("/Users/{id}"), None).await;
        let listed = call(&app, Method::GET, "/Users", None).await;
        if matches!(profile.delete_mode(), DeleteMode::Remove | DeleteMode::Permanent) {
            assert_scim_error(&after, 404, None);
            assert_eq!(listed.body["totalResults"], 0);
            assert!(app.users().is_empty());
        } else {
            assert_eq!(after.body["active"], false, "{profile}");
            assert_eq!(listed.body["totalResults"], 1, "{profile}");
            assert!(!app.users()[0].active);
        }
        app.shutdown().await;
    }
}

#[tokio::test]
async fn slack_rejects_user_names_slack_would_not_take() {
    let app = spawn(Profile::Slack, None).await;
    for bad in ["ann@example.com", "Ann.Lee", "a-very-long-username-x1", "ann lee"] {
        let reply = call(&app, Method::POST, "/Users", Some(json!({"userName": bad}))).await;
        assert_scim_error(&reply, 400, Some("invalidValue"));
    }
    let id = create(&app, "ann.lee_2-x").await;
    let rename = call(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        patch(json!([{"op": "replace", "path": "userName", "value": "Ann"}])),
    )
    .await;
    assert_scim_error(&rename, 400, Some("invalidValue"));
    // Notion takes the same name happily.
    let notion = spawn(Profile::Notion, None).await;
    create(&notion, "Ann.Lee@example.com").await;
    app.shutdown().await;
    notion.shutdown().await;
}

#[tokio::test]
async fn an_empty_bucket_answers_429_with_retry_after() {
    let app = spawn(Profile::Slack, Some(1)).await;
    let mut throttled = None;
    for _ in 0..3 {
        let reply = call(&app, Method::GET, "/Users", None).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(reply);
            break;
        }
    }
    let reply = throttled.expect("a back-to-back request should be throttled at 1/s");
    assert_scim_error(&reply, 429, None);
    let retry_after: u64 = reply.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert!(app.throttled_count() >= 1);
    assert!(app.request_count() >= 2);
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies_are_scim_errors() {
    let app = spawn(Profile::Jira, None).await;
    let http = client();
    let url = format!("{}/Users", app.base_url());
    for content_type in ["application/json", "application/scim+json; charset=utf-8"] {
        let response = http
            .post(&url)
            .bearer_auth(TOKEN)
            .header(header::CONTENT_TYPE, content_type)
            .body(r#"{"userName": "ann"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/scim+json");
        let body: Value = response.json().await.unwrap();
        assert_eq!((body["status"].as_str(), body["scimType"].as_str()), (Some("400"), Some("invalidSyntax")));
    }
    let missing = call(&app, Method::POST, "/Users", Some(json!({"displayName": "No Name"}))).await;
    assert_scim_error(&missing, 400, Some("invalidValue"));
    let wrong_type =
        http.post(&url).bearer_auth(TOKEN).header(header::CONTENT_TYPE, "text/plain").body("{}").send().await.unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_scim_error(&call(&app, Method::GET, "/Groupz", None).await, 404, None);
    assert_scim_error(&call(&app, Method::DELETE, "/Users", None).await, 405, None);
    assert!(app.users().is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn discovery_endpoints_describe_the_app() {
    let app = spawn(Profile::Slack, None).await;
    let config = call(&app, Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["bulk"]["supported"], false);
    assert_eq!(config.body["etag"]["supported"], false);
    assert_eq!(config.body["filter"]["maxResults"], 1000);
    assert_eq!(config.body["authenticationSchemes"][0]["type"], "oauthbearertoken");
    let types = call(&app, Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types.body["Resources"][0]["endpoint"], "/Users");
    let schemas = call(&app, Method::GET, "/Schemas", None).await;
    assert_eq!(schemas.body["totalResults"], 2);
    let user_schema = call(&app, Method::GET, "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", None).await;
    assert_eq!(user_schema.body["name"], "User");
    app.shutdown().await;
}

#[tokio::test]
async fn options_are_checked() {
    assert!(matches!(SandboxApp::spawn(SandboxOptions::new(Profile::Jira, " ")).await, Err(SandboxError::EmptyToken)));
    let mut options = SandboxOptions::new(Profile::Jira, TOKEN);
    options.rate_limit_per_sec = Some(0);
    assert!(matches!(SandboxApp::spawn(options).await, Err(SandboxError::ZeroRateLimit)));
    assert_eq!(SandboxOptions::new(Profile::Jira, TOKEN).rate_limit_per_sec, None);
    assert!(SandboxOptions::new(Profile::Slack, TOKEN).rate_limit_per_sec.is_some());
}

#[tokio::test]
async fn apps_run_side_by_side() {
    let apps =
        [spawn(Profile::Slack, None).await, spawn(Profile::Notion, None).await, spawn(Profile::Jira, None).await];
    assert_eq!(apps.iter().map(|a| a.base_url()).collect::<std::collections::HashSet<_>>().len(), 3);
    for (app, profile) in apps.iter().zip(Profile::all()) {
        assert_eq!(app.profile(), profile);
        assert_eq!(app.token(), TOKEN);
        assert!(app.base_url().starts_with("http://127.0.0.1:") && app.base_url().ends_with("/scim/v2"));
    }
    for app in apps {
        app.shutdown().await;
    }
}
