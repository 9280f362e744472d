use std::collections::HashMap;
use std::sync::Mutex;

use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).expect("test URL parses")
}

/// Every spelling of a metadata or link-local address the review found passing, and more.
#[test]
fn every_spelling_of_a_metadata_or_link_local_address_is_refused() {
    for (text, want) in [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://[::ffff:a9fe:a9fe]/", "metadata"),
        ("http://[::169.254.169.254]/", "metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),
        ("http://2852039166/", "metadata"),
        ("http://0251.0376.0251.0376/", "metadata"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "metadata"),
        ("http://0xA9FEA9FE/", "metadata"),
        ("http://169.254.43518/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("http://metadata.google.internal/", "metadata"),
        ("http://metadata.google.internal./", "metadata"),
        ("http://METADATA.Google.Internal../", "metadata"),
        ("http://metadata/", "metadata"),
        ("http://metadata./", "metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:169.254.0.1]/", "link-local"),
        ("http://0.0.0.0/", "not a routable"),
        ("http://0/", "not a routable"),
        ("http://[::]/", "not a routable"),
    ] {
        let e = check_url_host(&url(text)).expect_err(text).to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn public_loopback_and_private_addresses_pass_by_default() {
    for text in [
        "https://api.slack.com/scim/v2",
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://10.0.0.5/",
        "http://192.168.1.10/",
        "http://[fd12::1]/",
        "http://[2001:db8::1]/",
        "http://localhost/",
    ] {
        check_url_host(&url(text)).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

/// A resolver whose answers are scripted per name, one answer per lookup (the last repeats).
struct Scripted(Mutex<HashMap<&'static str, Vec<IpAddr>>>);

impl Scripted {
    fn new(script: &[(&'static str, &[&str])]) -> Arc<Self> {
        let map = script
            .iter()
            .map(|(name, answers)| (*name, answers.iter().map(|a| a.parse().unwrap()).collect()))
            .collect();
        Arc::new(Self(Mutex::new(map)))
    }
}

impl Lookup for Scripted {
    fn lookup<'a>(&'a self, name: &'a str, port: u16) -> LookupFuture<'a> {
        let mut map = self.0.lock().unwrap();
        let answer = match map.get_mut(name) {
            Some(answers) if answers.len() > 1 => Ok(vec![SocketAddr::new(answers.remove(0), port)]),
            Some(answers) => Ok(vec![SocketAddr::new(answers[0], port)]),
            None => Err(Refused::Lookup { host: name.to_owned(), message: "unknown".into() }),
        };
        Box::pin(async move { answer })
    }
}

#[tokio::test]
async fn names_are_judged_by_the_addresses_they_resolve_to() {
    let dns = Scripted::new(&[
        ("169.254.169.254.nip.io", &["169.254.169.254"]),
        ("mapped.example", &["::ffff:169.254.169.254"]),
        ("aws6.example", &["fd00:ec2::254"]),
        ("fine.example", &["93.184.216.34"]),
    ]);
    for name in ["169.254.169.254.nip.io", "mapped.example", "aws6.example"] {
        let e = check_url_with(dns.as_ref(), &url(&format!("http://{name}/"))).await.expect_err(name);
        assert!(matches!(e, Refused::Resolved { .. }), "{name}: {e}");
        assert!(e.to_string().contains("metadata"), "{name}: {e}");
    }
    check_url_with(dns.as_ref(), &url("http://fine.example/")).await.unwrap();
}

async fn local_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The add-time check passes on the first answer; the connect gets another one and refuses it.
#[tokio::test]
async fn a_dns_answer_that_changes_between_check_and_connect_is_refused_at_connect() {
    let server = local_server().await;
    let dns =
        Scripted::new(&[("rebind.example", &["127.0.0.1", "169.254.169.254"]), ("local.example", &["127.0.0.1"])]);
    let target = url(&format!("http://rebind.example:{}/", server.port()));
    check_url_with(dns.as_ref(), &target).await.expect("the first answer is an allowed address");

    let client = client_builder_with(dns.clone()).build().unwrap();
    let e = send(client.get(target)).await.expect_err("the second answer is the metadata address");
    let refusal = e.refusal().unwrap_or_else(|| panic!("not a refusal: {e:?}"));
    assert!(matches!(refusal, Refused::Resolved { .. }), "{refusal}");

    // The same client reaches an allowed name, through the checked address.
    let ok = send(client.get(format!("http://local.example:{}/", server.port()))).await.unwrap();
    assert_eq!(ok.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn a_literal_address_is_refused_before_anything_is_sent() {
    let client = client_builder().build().unwrap();
    for text in ["http://[::ffff:169.254.169.254]/", "http://2852039166/", "http://[fd00:ec2::254]/"] {
        let e = send(client.get(text)).await.expect_err(text);
        assert!(matches!(e, SendError::Refused(Refused::Metadata { .. })), "{text}: {e}");
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, "http://169.254.169.254/")], "")
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = client_builder().build().unwrap();
    let response = send(client.get(format!("http://{addr}/"))).await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::FOUND);
}

#[tokio::test]
async fn a_response_body_is_read_up_to_the_cap_only() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "x".repeat(10_000) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = client_builder().build().unwrap();
    let response = send(client.get(format!("http://{addr}/"))).await.unwrap();
    let e = read_body(response, 1_000).await.unwrap_err();
    assert!(matches!(e, BodyError::TooLarge { cap: 1_000 }), "{e}");
    let response = send(client.get(format!("http://{addr}/"))).await.unwrap();
    assert_eq!(read_body(response, 10_000).await.unwrap().len(), 10_000);
}
