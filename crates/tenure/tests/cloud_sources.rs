//! `tenure source add google|graph` and `tenure sync` through the binary, against the testkit's
//! fakes: the stored configuration names where the credentials are, never the credentials.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use tenure_testkit::cloud_fake::{TEST_KEY, fixture};
use tenure_testkit::google_fake::{ADMIN, GoogleFake};
use tenure_testkit::graph_fake::{CLIENT_ID, CLIENT_SECRET, GraphFake, TENANT};
use tenure_testkit::{TestBackend, TestDb};

const SECRET_VAR: &str = "TENURE_TEST_GRAPH_SECRET";

async fn tenure(args: &[&str], database_url: &str, home: &Path, secret: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(args)
        .env("TENURE_DATABASE_URL", database_url)
        .env("TENURE_MASTER_KEYS", tenure_testkit::TEST_MASTER_KEYS)
        .env("XDG_DATA_HOME", home)
        .env(SECRET_VAR, secret)
        .env_remove("TENURE_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run tenure")
}

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what} failed:\nstdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test]
async fn cloud_sources_are_added_and_synced_through_the_cli() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let home = tempfile::tempdir()?;
    let url = db.url().to_owned();

    let graph = GraphFake::start().await?;
    {
        let mut dir = graph.dir();
        for id in ["u1", "u2", "u3"] {
            dir.put_user(id, json!({"userPrincipalName": format!("{id}@contoso.com"), "department": "Eng"}));
        }
        dir.put_group("gE", "Engineering");
        dir.add_member("gE", "u1", "user");
        dir.add_member("gE", "u2", "user");
    }
    let (base, token) = (graph.base_url(), graph.token_url());
    let add = [
        "source",
        "add",
        "graph",
        "entra",
        "--tenant-id",
        TENANT,
        "--client-id",
        CLIENT_ID,
        "--client-secret-env",
        SECRET_VAR,
        "--base-url",
        &base,
        "--token-url",
        &token,
        "--include-group",
        "Engineering",
    ];
    ok(&tenure(&add, &url, home.path(), CLIENT_SECRET).await, "source add graph");
    let report: Value = serde_json::from_str(&ok(
        &tenure(&["sync", "entra", "--json"], &url, home.path(), CLIENT_SECRET).await,
        "sync",
    ))?;
    assert_eq!(report[0]["people"], 2, "{report}");
    assert_eq!(report[0]["out_of_scope"], 1);
    assert_eq!(report[0]["incremental"], false);
    graph.dir().add_member("gE", "u3", "user");
    let report: Value = serde_json::from_str(&ok(
        &tenure(&["sync", "entra", "--json"], &url, home.path(), CLIENT_SECRET).await,
        "sync",
    ))?;
    assert_eq!((report[0]["people"].clone(), report[0]["incremental"].clone()), (json!(3), json!(true)), "{report}");

    let listed = ok(&tenure(&["source", "list", "--json"], &url, home.path(), CLIENT_SECRET).await, "source list");
    assert!(listed.contains(SECRET_VAR), "{listed}");
    assert!(!listed.contains(CLIENT_SECRET), "the secret itself is never stored: {listed}");

    // A wrong secret: a failed sync that says so, without printing the secret.
    let out = tenure(&["sync", "entra"], &url, home.path(), "not-the-secret").await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid_client"), "{stderr}");
    assert!(!stderr.contains("not-the-secret"), "{stderr}");

    let google = GoogleFake::start().await?;
    google.dir().users = vec![json!({"id": "g1", "primaryEmail": "g1@example.com", "orgUnitPath": "/"})];
    let key_file = home.path().join("sa.json");
    std::fs::write(&key_file, google.key_file_json(&std::fs::read_to_string(fixture(TEST_KEY))?))?;
    let base = google.base_url();
    let add = [
        "source",
        "add",
        "google",
        "workspace",
        "--key-file",
        key_file.to_str().unwrap_or_default(),
        "--admin",
        ADMIN,
        "--base-url",
        &base,
    ];
    ok(&tenure(&add, &url, home.path(), CLIENT_SECRET).await, "source add google");
    let report: Value = serde_json::from_str(&ok(
        &tenure(&["sync", "workspace", "--json"], &url, home.path(), CLIENT_SECRET).await,
        "sync",
    ))?;
    assert_eq!(report[0]["people"], 1, "{report}");
    let listed = ok(&tenure(&["source", "list", "--json"], &url, home.path(), CLIENT_SECRET).await, "source list");
    assert!(!listed.contains("PRIVATE KEY"), "only the key file's path is stored: {listed}");

    // A file that is not a key is refused when the source is added, not at the first sync.
    let not_a_key = home.path().join("notes.txt");
    std::fs::write(&not_a_key, "hello")?;
    let out = tenure(
        &["source", "add", "google", "bad", "--key-file", not_a_key.to_str().unwrap_or_default(), "--admin", ADMIN],
        &url,
        home.path(),
        "",
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a service account JSON key"));
    Ok(())
}
