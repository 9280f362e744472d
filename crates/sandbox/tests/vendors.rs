//! The vendor behaviours the sandbox imitates beyond plain SCIM: groups, Slack's plan gate,
//! Zoom's server-to-server OAuth and its SSO prerequisite, GitHub's permanent DELETE.

use reqwest::{Client, Method, StatusCode, header};
use serde_json::{Value, json};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions, VendorOptions};

const SECRET: &str = "sandbox-secret";

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().build().unwrap()
}

async fn spawn(profile: Profile, vendor: VendorOptions) -> SandboxApp {
    let mut options = SandboxOptions::new(profile, SECRET);
    options.rate_limit_per_sec = None;
    SandboxApp::spawn_with(options, vendor).await.unwrap()
}

async fn call(app: &SandboxApp, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = client().request(method, format!("{}{path}", app.base_url())).bearer_auth(token);
    if let Some(body) = body {
        request = request.header(header::CONTENT_TYPE, "application/scim+json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// Asks the Zoom sandbox's token endpoint the way Zoom documents it.
async fn zoom_token(url: &str, client_id: &str, secret: &str) -> (StatusCode, Value) {
    let response = client().post(url).basic_auth(client_id, Some(secret)).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_vendor_serves_groups_with_member_patches() {
    for profile in Profile::all() {
        let app = spawn(profile, VendorOptions::default()).await;
        let token = if profile.uses_oauth() {
            let url = app.account_credentials_url();
            zoom_token(&url, "sandbox-client", SECRET).await.1["access_token"].as_str().unwrap().to_owned()
        } else {
            SECRET.to_owned()
        };
        let mut ids = Vec::new();
        for name in ["ann@example.com", "bob@example.com", "cy@example.com"] {
            let user_name = if profile == Profile::Slack { name.split('@').next().unwrap() } else { name };
            let (status, body) = call(&app, &token, Method::POST, "/Users", Some(json!({"userName": user_name}))).await;
            assert_eq!(status, StatusCode::CREATED, "{profile}: {body}");
            ids.push(body["id"].as_str().unwrap().to_owned());
        }
        let (status, group) = call(
            &app,
            &token,
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Engineering", "members": [{"value": ids[0]}, {"value": ids[1]}]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{profile}: {group}");
        let gid = group["id"].as_str().unwrap().to_owned();
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": ids[2]}]},
            {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])},
        ]});
        let (status, patched) = call(&app, &token, Method::PATCH, &format!("/Groups/{gid}"), Some(patch)).await;
        assert_eq!(status, StatusCode::OK, "{profile}: {patched}");
        let members: Vec<&str> =
            patched["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
        assert_eq!(members, [ids[1].as_str(), ids[2].as_str()], "{profile}");
        let (_, listed) =
            call(&app, &token, Method::GET, "/Groups?filter=displayName%20eq%20%22engineering%22", None).await;
        assert_eq!(listed["totalResults"], 1, "{profile}: {listed}");
        let (_, types) = call(&app, &token, Method::GET, "/ResourceTypes", None).await;
        assert_eq!(types["Resources"][1]["endpoint"], "/Groups", "{profile}");
        // A duplicate name conflicts; an unknown member is refused.
        let (status, _) =
            call(&app, &token, Method::POST, "/Groups", Some(json!({"displayName": "ENGINEERING"}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{profile}");
        let bad = json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "nobody"}]}]});
        let (status, _) = call(&app, &token, Method::PATCH, &format!("/Groups/{gid}"), Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{profile}");
        assert_eq!(app.groups().len(), 1);
        app.shutdown().await;
    }
}

#[tokio::test]
async fn github_delete_is_permanent_and_leaves_groups() {
    let app = spawn(Profile::GitHub, VendorOptions::default()).await;
    let (_, user) = call(&app, SECRET, Method::POST, "/Users", Some(json!({"userName": "ann_acme"}))).await;
    let id = user["id"].as_str().unwrap().to_owned();
    assert!(uuid_like(&id), "GitHub SCIM ids are GUIDs: {id}");
    let (_, group) =
        call(&app, SECRET, Method::POST, "/Groups", Some(json!({"displayName": "eng", "members": [{"value": id}]})))
            .await;
    let (status, _) = call(&app, SECRET, Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for method in [Method::GET, Method::DELETE] {
        let (status, _) = call(&app, SECRET, method, &format!("/Users/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let gid = group["id"].as_str().unwrap();
    let (_, group) = call(&app, SECRET, Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(group["members"], json!([]));
    // Re-provisioning the same person makes a new account.
    let (status, again) = call(&app, SECRET, Method::POST, "/Users", Some(json!({"userName": "ann_acme"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(again["id"], id.as_str());
    app.shutdown().await;
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn slack_below_business_plus_answers_plus_teams_only() {
    let vendor = VendorOptions { slack_plan_has_scim: false, ..VendorOptions::default() };
    let app = spawn(Profile::Slack, vendor).await;
    for (method, path) in [(Method::GET, "/Users"), (Method::POST, "/Users"), (Method::GET, "/Groups")] {
        let body = (method == Method::POST).then(|| json!({"userName": "ann"}));
        let (status, body) = call(&app, SECRET, method, path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, json!({"Errors": {"description": "plus_teams_only", "code": 403}}));
    }
    // Authentication still comes first.
    let (status, _) = call(&app, "wrong", Method::GET, "/Users", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.user_count(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn zoom_takes_only_tokens_from_its_account_credentials_grant() {
    let vendor = VendorOptions { zoom_account_id: "acct-1".into(), ..VendorOptions::default() };
    let app = spawn(Profile::Zoom, vendor).await;
    assert!(app.base_url().ends_with("/scim2"), "{}", app.base_url());
    let url = app.account_credentials_url();
    assert!(url.ends_with("/oauth/token?grant_type=account_credentials&account_id=acct-1"), "{url}");

    let (status, body) = zoom_token(&url, "sandbox-client", "wrong").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let other_account = url.replace("acct-1", "acct-2");
    let (status, body) = zoom_token(&other_account, "sandbox-client", SECRET).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let client_grant = format!("{}?grant_type=client_credentials", app.oauth_token_url());
    let (status, body) = zoom_token(&client_grant, "sandbox-client", SECRET).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")));

    let (status, body) = zoom_token(&url, "sandbox-client", SECRET).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["token_type"].as_str(), body["expires_in"].as_u64()), (Some("bearer"), Some(3600)));
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(app.tokens_issued(), 1);

    // The client secret itself is no SCIM token.
    let (status, _) = call(&app, SECRET, Method::GET, "/Users", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&app, token, Method::POST, "/Users", Some(json!({"userName": "ann"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "Zoom's userName is the email: {body}");
    let (status, user) = call(&app, token, Method::POST, "/Users", Some(json!({"userName": "ann@example.com"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["id"].as_str().unwrap().len(), 22, "Zoom-shaped id: {user}");
    app.revoke_tokens();
    let (status, _) = call(&app, token, Method::GET, "/Users", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.shutdown().await;
}

#[tokio::test]
async fn zoom_tokens_expire() {
    let vendor = VendorOptions { token_ttl: std::time::Duration::from_millis(300), ..VendorOptions::default() };
    let app = spawn(Profile::Zoom, vendor).await;
    let (_, body) = zoom_token(&app.account_credentials_url(), "sandbox-client", SECRET).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (status, _) = call(&app, &token, Method::GET, "/Users", None).await;
    assert_eq!(status, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !app.issued_tokens_expired() {
        assert!(std::time::Instant::now() < deadline, "the token never expired");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, _) = call(&app, &token, Method::GET, "/Users", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.shutdown().await;
}

#[tokio::test]
async fn zoom_without_sso_refuses_scim() {
    let vendor = VendorOptions { zoom_sso_enabled: false, ..VendorOptions::default() };
    let app = spawn(Profile::Zoom, vendor).await;
    let (_, body) = zoom_token(&app.account_credentials_url(), "sandbox-client", SECRET).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (status, body) = call(&app, &token, Method::GET, "/Users", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"], "Account has not enabled Single Sign-On.");
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    app.shutdown().await;
}
