//! The capability probe and the client's fallbacks, against the independent `scim2-server`
//! (full-featured, and configured with fewer features through its `--service-provider-config`,
//! whose unannounced features it refuses with 501) and a small fake that ignores filters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::get;
use serde_json::{Value, json};
use tenure_connectors::capabilities::{Capabilities, FilterSupport, Probed};
use tenure_connectors::{ClientOptions, ConnectorError, ProbeOptions, ScimClient};
use tenure_core::Secret;
use tenure_core::attributes::{self as attr, Attributes};
use tenure_testkit::Scim2Server;

fn options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(10),
        max_retries: 1,
        initial_backoff: Duration::from_millis(10),
        max_retry_wait: Duration::from_millis(50),
        ..ClientOptions::default()
    }
}

fn client_for(server: &Scim2Server) -> anyhow::Result<ScimClient> {
    Ok(ScimClient::new(server.base_url(), Secret::new(server.token()), options())?)
}

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn person(n: usize) -> Attributes {
    attrs(&[
        (attr::USER_NAME, &format!("user{n}@example.com")),
        (attr::EXTERNAL_ID, &format!("person-{n}")),
        (attr::GIVEN_NAME, "Ann"),
        (attr::FAMILY_NAME, &format!("Lee{n}")),
        (attr::EMAIL, &format!("user{n}@example.com")),
    ])
}

/// A scim2-server announcing (and so allowing) only what `spc` says.
async fn reduced(spc: Value) -> anyhow::Result<(Scim2Server, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("spc.json");
    std::fs::write(&path, serde_json::to_vec(&spc)?)?;
    let server = Scim2Server::start_with(&["--service-provider-config".to_owned(), path.display().to_string()]).await?;
    Ok((server, dir))
}

fn spc(patch: bool, filter: bool, etag: bool, max_results: u32) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": patch},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": filter, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": etag},
        "authenticationSchemes": [],
    })
}

/// The raw user as the app holds it.
async fn raw_user(server: &Scim2Server, id: &str) -> anyhow::Result<Value> {
    let url = format!("{}/Users/{id}", server.base_url());
    let response = reqwest::Client::new().get(url).bearer_auth(server.token()).send().await?.error_for_status()?;
    Ok(serde_json::from_slice(&response.bytes().await?)?)
}

#[tokio::test]
async fn a_full_featured_app_is_profiled_and_the_write_probe_cleans_up() -> anyhow::Result<()> {
    let server = Scim2Server::start().await?;
    let client = client_for(&server)?;
    let ann = client.create_user(&person(1)).await?;

    let report = client.probe(ProbeOptions::default()).await;
    assert!(report.provisionable(), "{:?}", report.blockers);
    let caps = &report.capabilities;
    assert!(caps.discovery.service_provider_config && caps.discovery.resource_types && caps.discovery.schemas);
    assert_eq!(caps.filter, FilterSupport::Works, "{:?}", report.observations);
    for path in ["userName", "externalId", "emails.value"] {
        assert_eq!(caps.filter_by.get(path), Some(&Probed::Yes), "{path}");
    }
    assert_eq!(caps.patch.advertised, Some(true));
    assert_eq!(caps.patch.supported, Probed::Yes);
    assert_eq!(caps.patch.value_filter_path, Probed::Unknown, "not tested without --write-probe");
    assert_eq!(caps.etag, Probed::Yes);
    assert_eq!(caps.max_page_size, Some(1000), "the announced filter.maxResults");
    assert!(
        !tenure_connectors::capabilities::incompatibilities(caps)
            .iter()
            .any(|i| i.contains("PATCH") || i.contains("filter"))
    );
    assert_eq!(client.list_users().await?.len(), 1, "a read-only probe writes nothing");

    let written = client.probe(ProbeOptions { write: true }).await;
    let caps = &written.capabilities;
    assert_eq!(caps.patch.value_filter_path, Probed::Yes, "{:?}", written.observations);
    assert_eq!(caps.patch.no_path_value_map, Probed::Yes, "{:?}", written.observations);
    assert_eq!(caps.etag, Probed::Yes, "a stale If-Match is refused: {:?}", written.observations);
    let left: Vec<_> = client.list_users().await?.into_iter().map(|u| u.remote_id).collect();
    assert_eq!(left, vec![ann.remote_id], "the probe user is deleted");
    Ok(())
}

#[tokio::test]
async fn without_patch_and_filters_lookups_list_and_updates_put_the_whole_user() -> anyhow::Result<()> {
    let (server, _dir) = reduced(spc(false, false, true, 2)).await?;
    let plain = client_for(&server)?;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(plain.create_user(&person(n)).await?.remote_id);
    }
    let report = plain.probe(ProbeOptions::default()).await;
    assert!(report.provisionable(), "{:?}", report.blockers);
    let caps: Capabilities = report.capabilities.clone();
    assert_eq!(caps.filter, FilterSupport::Refused);
    assert_eq!(caps.patch.supported, Probed::No);
    assert_eq!(caps.max_page_size, Some(2));
    let found = tenure_connectors::capabilities::incompatibilities(&caps);
    assert!(found.iter().any(|i| i.starts_with("no PATCH: updates replace the whole user")), "{found:?}");
    assert!(found.iter().any(|i| i.contains("lookups will list all users")), "{found:?}");

    // Without the profile the client sends what this app refuses.
    assert_eq!(plain.update_user(&ids[3], &attrs(&[(attr::TITLE, "x")])).await.unwrap_err().status(), Some(501));

    let client = client_for(&server)?.with_capabilities(caps);
    assert_eq!(client.options().page_size, 2);
    for (attribute, value) in
        [(attr::USER_NAME, "user4@example.com"), (attr::EXTERNAL_ID, "person-4"), (attr::EMAIL, "user4@example.com")]
    {
        let hit = client.find_user(attribute, value).await?.expect("found by listing");
        assert_eq!(hit.remote_id, ids[3], "{attribute}");
    }
    assert!(client.find_user(attr::USER_NAME, "nobody@example.com").await?.is_none());

    // An attribute Tenure does not manage survives the PUT.
    let url = format!("{}/Users/{}", server.base_url(), ids[3]);
    let phones = json!([{"value": "+1 555 0100", "type": "work"}]);
    let mut before = raw_user(&server, &ids[3]).await?;
    before["phoneNumbers"] = phones.clone();
    before.as_object_mut().map(|o| o.remove("meta"));
    reqwest::Client::new().put(&url).bearer_auth(server.token()).json(&before).send().await?.error_for_status()?;

    client
        .update_user(
            &ids[3],
            &attrs(&[(attr::FAMILY_NAME, "Smith"), (attr::EMAIL, "ann.smith@example.com"), (attr::DEPARTMENT, "R&D")]),
        )
        .await?;
    client.set_active(&ids[3], false).await?;
    let after = raw_user(&server, &ids[3]).await?;
    assert_eq!(after["phoneNumbers"][0]["value"], phones[0]["value"], "{after}");
    assert_eq!(after["name"]["familyName"], "Smith");
    assert_eq!(after["name"]["givenName"], "Ann");
    assert_eq!(after["emails"][0]["value"], "ann.smith@example.com");
    assert_eq!(after["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "R&D");
    assert_eq!(after["active"], false);
    let account = client.get_user(&ids[3]).await?.expect("still there");
    assert_eq!(account.attributes.get(attr::FAMILY_NAME).map(String::as_str), Some("Smith"));

    // Group membership without PATCH: the group is read and written back whole.
    let group = client.create_group("eng", &ids[..2]).await?;
    client.change_group_members(&group.remote_id, &ids[2..4], &ids[..1]).await?;
    let groups = client.list_groups().await?;
    let mut members = groups.iter().find(|g| g.name == "eng").expect("the group").members.clone();
    members.sort();
    let mut expected = ids[1..4].to_vec();
    expected.sort();
    assert_eq!(members, expected);
    Ok(())
}

#[tokio::test]
async fn a_failed_lookup_is_an_error_never_not_found() -> anyhow::Result<()> {
    let (server, _dir) = reduced(spc(true, false, false, 100)).await?;
    let client = client_for(&server)?;
    client.create_user(&person(1)).await?;
    let caps = client.probe(ProbeOptions::default()).await.capabilities;
    assert_eq!(caps.filter, FilterSupport::Refused);
    // Without a profile the refused filter is noticed at run time and the lookup lists instead.
    assert!(client.find_user(attr::EXTERNAL_ID, "person-1").await?.is_some());
    let client = client.with_capabilities(caps);
    assert!(client.find_user(attr::EXTERNAL_ID, "person-1").await?.is_some());
    drop(server);
    let err = client.find_user(attr::EXTERNAL_ID, "person-2").await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transport { .. }), "{err}");
    Ok(())
}

#[tokio::test]
async fn refused_credentials_block_provisioning() -> anyhow::Result<()> {
    let server = Scim2Server::start().await?;
    let client = ScimClient::new(server.base_url(), Secret::new("wrong"), options())?;
    let report = client.probe(ProbeOptions { write: true }).await;
    assert!(!report.provisionable());
    assert!(report.blockers[0].contains("refused the credentials"), "{:?}", report.blockers);
    Ok(())
}

/// An app that ignores `filter` (answers with everyone) and has no discovery endpoints; pages by
/// `startIndex`/`count` like RFC 7644 §3.4.2.4.
#[derive(Clone, Default)]
struct Careless {
    users: Arc<Mutex<Vec<Value>>>,
}

async fn careless_users(
    State(app): State<Careless>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> axum::Json<Value> {
    let users = app.users.lock().map(|u| u.clone()).unwrap_or_default();
    let start: usize = q.get("startIndex").and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let count: usize = q.get("count").and_then(|s| s.parse().ok()).unwrap_or(100).min(2);
    let page: Vec<Value> = users.iter().skip(start - 1).take(count).cloned().collect();
    axum::Json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": users.len(),
        "startIndex": start,
        "itemsPerPage": page.len(),
        "Resources": page,
    }))
}

#[tokio::test]
async fn an_app_that_ignores_filters_is_detected_and_lookups_still_find_the_right_user() -> anyhow::Result<()> {
    let state = Careless::default();
    if let Ok(mut users) = state.users.lock() {
        for n in 1..=5 {
            users.push(json!({"id": format!("u{n}"), "userName": format!("user{n}"), "externalId": format!("p{n}"), "active": true}));
        }
    }
    let one = |axum::extract::Path(_id): axum::extract::Path<String>| async { axum::http::StatusCode::NOT_FOUND };
    let app = axum::Router::new()
        .route("/scim/Users", get(careless_users))
        .route("/scim/Users/{id}", get(one))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/scim", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = ScimClient::new(&base, Secret::new("t"), options())?;
    let report = client.probe(ProbeOptions::default()).await;
    assert!(report.provisionable(), "{:?}", report.blockers);
    let caps = report.capabilities;
    assert_eq!(caps.filter, FilterSupport::Ignored);
    assert!(!caps.discovery.service_provider_config && !caps.discovery.resource_types && !caps.discovery.schemas);
    assert_eq!(caps.max_page_size, Some(2), "asked for 1000, got 2 of 5");
    assert_eq!(caps.patch.supported, Probed::No, "no PATCH route: 405");
    let found = tenure_connectors::capabilities::incompatibilities(&caps);
    assert!(found.iter().any(|i| i.starts_with("filtering ignored: lookups will list all users")), "{found:?}");

    // Without the profile the ignored filter is noticed, and the user on the last page found.
    let hit = client.find_user(attr::USER_NAME, "user5").await?.expect("found");
    assert_eq!(hit.remote_id, "u5");
    let client = client.with_capabilities(caps);
    assert_eq!(client.find_user(attr::EXTERNAL_ID, "p4").await?.map(|a| a.remote_id), Some("u4".to_owned()));
    assert!(client.find_user(attr::USER_NAME, "user9").await?.is_none());
    Ok(())
}

/// RFC 9865 cursor paging, announced in `pagination`: the probe notes it with the page cap, and
/// the client then walks `nextCursor`s instead of indexes.
#[tokio::test]
async fn an_app_that_pages_by_cursor_is_listed_by_cursor() -> anyhow::Result<()> {
    let mut config = spc(true, true, true, 1000);
    config["pagination"] = json!({"cursor": true, "index": true, "defaultPaginationMethod": "cursor", "maxPageSize": 2, "cursorTimeout": 3600});
    let (server, _dir) = reduced(config).await?;
    let client = ScimClient::new(server.base_url(), Secret::new(server.token()), ClientOptions::default())?;
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(client.create_user(&person(n)).await?.remote_id);
    }
    let report = client.probe(ProbeOptions::default()).await;
    assert!(report.capabilities.cursor_pagination, "{report:?}");
    assert_eq!(report.capabilities.max_page_size, Some(2));
    let client = client.with_capabilities(report.capabilities);
    let mut listed: Vec<String> = client.list_users().await?.into_iter().map(|a| a.remote_id).collect();
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids, "every user once");
    let cursor_pages = server.requests_logged("GET /v2/Users?cursor=", 4).await?;
    assert_eq!(cursor_pages, 4, "pages of 2, 2, 2 and 1:\n{}", server.stderr());
    Ok(())
}
