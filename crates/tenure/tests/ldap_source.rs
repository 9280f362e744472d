//! The LDAP source through the binary, against a real slapd: `tenure source add ldap` with a
//! sync scope and the source guard, a full first sync, incremental syncs after it, and the
//! fallbacks to a full read.

use serde_json::Value;
use tenure_testkit::slapd::{self, Slapd, SlapdOptions};
use tenure_testkit::{TestBackend, TestDb};

mod common;
use common::Cli;

fn counts(report: &Value) -> (bool, u64, u64, u64, u64) {
    let n = |k: &str| report[0][k].as_u64().unwrap_or(u64::MAX);
    (report[0]["incremental"].as_bool().unwrap_or(false), n("people"), n("created"), n("updated"), n("left"))
}

#[tokio::test]
async fn ldap_source_syncs_full_then_incremental_within_its_scope() -> anyhow::Result<()> {
    let people = 60;
    let server = Slapd::start(SlapdOptions { people })?;
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), dir.path()).with_env("TEST_LDAP_PASSWORD", slapd::READER_PASSWORD);
    let ca = server.ca_file();
    let url = server.url();
    let added = cli
        .run(&[
            "source",
            "add",
            "ldap",
            "corp",
            "--url",
            &url,
            "--starttls",
            "--ca-file",
            ca.to_str().unwrap(),
            "--bind-dn",
            slapd::READER_DN,
            "--password-env",
            "TEST_LDAP_PASSWORD",
            "--user-base",
            slapd::PEOPLE_BASE,
            "--group-base",
            slapd::GROUPS_BASE,
            "--disabled",
            "employeeType=disabled",
            "--exclude-org-unit",
            "/People/Finance",
            "--exclude-group",
            "engineering",
            "--guard-min-share",
            "50",
        ])
        .await;
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let listed = cli.json(&["source", "list", "--json"]).await;
    assert_eq!(listed[0]["config"]["ldap"]["password"], "***", "{listed}");
    assert!(!listed.to_string().contains(slapd::READER_PASSWORD));

    // Finance (10) is excluded by unit, engineering and platform (nested in it) by group.
    let unit = |i: usize| slapd::person_unit(i).2;
    let in_scope = |i: &usize| !matches!(unit(*i), "finance" | "engineering" | "platform");
    let expected = (0..people).filter(in_scope).count() as u64;
    let first = cli.json(&["sync", "--json"]).await;
    assert_eq!(counts(&first), (false, expected, expected, 0, 0), "{first}");
    assert_eq!(first[0]["out_of_scope"], people - expected as usize, "{first}");

    // A title change and a deletion: an incremental sync sees exactly those.
    server
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: title\ntitle: Director\n\ndn: {}\nchangetype: delete\n\n",
            slapd::person_dn(1),
            slapd::person_dn(2)
        ))
        .await?;
    let second = cli.json(&["sync", "--json"]).await;
    assert_eq!(counts(&second), (true, expected - 1, 0, 1, 1), "{second}");

    // Platform leaves engineering: its people enter the scope without their entries changing,
    // which only a full read can see.
    server
        .modify(&format!(
            "dn: {}\nchangetype: modify\ndelete: member\nmember: {}\n\n",
            slapd::group_dn("engineering"),
            slapd::group_dn("platform")
        ))
        .await?;
    let platform = (0..people).filter(|&i| unit(i) == "platform").count() as u64;
    let third = cli.json(&["sync", "--json"]).await;
    assert_eq!(counts(&third), (false, expected - 1 + platform, platform, 0, 0), "{third}");

    // More than half leave at once: the guard holds the sync until --force.
    let mut ldif = String::new();
    for i in (0..people).filter(|&i| unit(i) == "sales" || unit(i) == "emea-sales" || unit(i) == "platform") {
        ldif.push_str(&format!("dn: {}\nchangetype: delete\n\n", slapd::person_dn(i)));
    }
    server.modify(&ldif).await?;
    let refused = cli.run(&["sync", "--json"]).await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let forced = cli.json(&["sync", "--json", "--force"]).await;
    let americas = (0..people).filter(|&i| unit(i) == "americas-sales" && i != 2).count() as u64;
    assert_eq!(forced[0]["people"].as_u64(), Some(americas), "{forced}");
    assert_eq!(counts(&cli.json(&["sync", "--json", "--full"]).await), (false, americas, 0, 0, 0));
    Ok(())
}

#[tokio::test]
async fn a_wrong_bind_password_fails_the_sync_clearly() -> anyhow::Result<()> {
    let server = Slapd::start(SlapdOptions { people: 3 })?;
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), dir.path()).with_env("TEST_LDAP_PASSWORD", slapd::READER_PASSWORD);
    let password = dir.path().join("password");
    std::fs::write(&password, "wrong\n")?;
    let url = server.url();
    let added = cli
        .run(&[
            "source",
            "add",
            "ldap",
            "corp",
            "--url",
            &url,
            "--insecure-plaintext",
            "--bind-dn",
            slapd::READER_DN,
            "--password-file",
            password.to_str().unwrap(),
            "--user-base",
            slapd::PEOPLE_BASE,
        ])
        .await;
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let refused = cli
        .run(&[
            "source",
            "add",
            "ldap",
            "clear",
            "--url",
            &url,
            "--bind-dn",
            slapd::READER_DN,
            "--password-file",
            password.to_str().unwrap(),
            "--user-base",
            slapd::PEOPLE_BASE,
            "--user-filter",
            "(uid=*",
        ])
        .await;
    assert!(!refused.status.success(), "a bad source is refused when added");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("in clear") || stderr.contains("filter"), "{stderr}");
    let out = cli.run(&["sync"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid credentials") && stderr.contains(slapd::READER_DN), "{stderr}");
    Ok(())
}
