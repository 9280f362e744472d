//! The LDAP source against a real OpenLDAP slapd (see tenure_testkit::slapd), each test with its
//! own server on free loopback ports.

use std::collections::{BTreeMap, BTreeSet};

use tenure_core::PersonStatus;
use tenure_core::import::{GroupChange, ImportBatch, ImportedPerson, PersonChange};
use tenure_core::model::Secret;
use tenure_sources::ldap::delta::{Incremental, read_incremental};
use tenure_sources::ldap::{Cursor, DisabledRule, LdapConfig, LdapSourceError, read_full};
use tenure_testkit::slapd::{self, Slapd, SlapdOptions};

fn start(people: usize) -> Slapd {
    Slapd::start(SlapdOptions { people }).expect("slapd starts (Debian packages slapd and ldap-utils)")
}

/// The source as a sync would configure it: the reader account, both subtrees, the harness's
/// way of marking a disabled account.
fn config(server: &Slapd) -> LdapConfig {
    let mut c =
        LdapConfig::new(server.url(), slapd::READER_DN, Secret::new(slapd::READER_PASSWORD), slapd::PEOPLE_BASE);
    c.insecure_plaintext = true;
    c.group_bases = vec![slapd::GROUPS_BASE.to_owned()];
    c.disabled = Some(DisabledRule { attribute: "employeeType".into(), value: Some("disabled".into()) });
    c.page_size = 300;
    c
}

fn by_uid(batch: &ImportBatch) -> BTreeMap<String, &ImportedPerson> {
    batch.people.iter().map(|p| (p.user_name.clone(), p)).collect()
}

fn parents(batch: &ImportBatch, group: &str) -> Vec<String> {
    batch
        .groups
        .iter()
        .find(|g| g.name == group)
        .map(|g| g.parents.clone())
        .unwrap_or_else(|| panic!("no group {group}"))
}

#[tokio::test]
async fn full_import_reads_people_groups_and_org_units() -> anyhow::Result<()> {
    let people = 1200;
    let server = start(people);
    let read = read_full(&config(&server)).await?;
    let batch = &read.batch;
    assert_eq!(batch.people.len(), people);
    let uids = by_uid(batch);
    let keys: BTreeSet<&str> = batch.people.iter().map(|p| p.source_key.as_str()).collect();
    assert_eq!(keys.len(), people, "every person has their own entryUUID");

    let i = 7; // Sales/EMEA? 7 % 6 == 1 -> EMEA
    let p = uids[&slapd::uid(i)];
    assert_eq!(p.email, format!("{}@example.com", slapd::uid(i)));
    assert_eq!(p.given_name.as_deref(), Some("Given7"));
    assert_eq!(p.family_name.as_deref(), Some("Family7"));
    assert_eq!(p.display_name.as_deref(), Some("Given7 Family7"));
    assert_eq!(p.department.as_deref(), Some("Sales"));
    assert_eq!(p.title.as_deref(), Some("Title 0"));
    assert_eq!(p.employee_id.as_deref(), Some("E00007"));
    assert_eq!(p.org_unit.as_ref().map(|u| u.as_str()), Some("/People/Sales/EMEA"));
    assert_eq!(p.status, PersonStatus::Active);
    assert_eq!(p.source_key.len(), 36, "an entryUUID: {}", p.source_key);
    assert_eq!(p.manager_key.as_deref(), Some(uids[&slapd::uid(0)].source_key.as_str()), "manager DN -> key");
    assert_eq!(uids[&slapd::uid(0)].manager_key, None);
    assert_eq!(p.groups, ["emea-sales"]);

    for (n, person) in (0..people).map(|i| (i, uids[&slapd::uid(i)])) {
        assert_eq!(person.org_unit.as_ref().map(|u| u.as_str().to_owned()), Some(slapd::person_org_unit(n)));
        let expected = if slapd::is_disabled(n) { PersonStatus::Suspended } else { PersonStatus::Active };
        assert_eq!(person.status, expected, "{}", slapd::uid(n));
        let mut groups = vec![slapd::person_unit(n).2.to_owned()];
        if n % slapd::AUDITOR_EVERY == 0 {
            groups.push("auditors".to_owned());
        }
        groups.sort();
        assert_eq!(person.groups, groups, "{}", slapd::uid(n));
    }
    assert_eq!(
        batch.people.iter().filter(|p| p.status == PersonStatus::Suspended).count(),
        people / slapd::DISABLED_EVERY
    );
    // uniqueMember with the optional #'0101'B suffix (the second auditor) still counts.
    assert!(uids[&slapd::uid(slapd::AUDITOR_EVERY)].groups.contains(&"auditors".to_owned()));

    let names: Vec<&str> = batch.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        ["americas-sales", "auditors", "emea-sales", "engineering", "everyone", "finance", "platform", "sales"]
    );
    assert_eq!(parents(batch, "platform"), ["engineering"]);
    assert_eq!(parents(batch, "emea-sales"), ["sales"]);
    assert_eq!(parents(batch, "sales"), ["everyone"]);
    assert_eq!(parents(batch, "everyone"), Vec::<String>::new());
    // The cursor starts the next search a little before the last change read (by the time the
    // read took, plus two seconds), never after it.
    let Cursor::Openldap { modify_timestamp: Some(since) } = &read.cursor else { panic!("{:?}", read.cursor) };
    assert!(since.as_str() > slapd::LOADED_FROM && since.as_str() < "20250201000000Z", "{since}");
    Ok(())
}

#[tokio::test]
async fn incremental_read_delivers_only_the_changes() -> anyhow::Result<()> {
    let server = start(300);
    let config = config(&server);
    let full = read_full(&config).await?;
    let uids = by_uid(&full.batch);
    let key = |i: usize| uids[&slapd::uid(i)].source_key.clone();

    // Disable 3, delete 4 (and take it out of its group, as the admin tool does), move 7 from
    // EMEA to Finance (its group member value follows), add a new hire to finance, and move the
    // platform group from engineering to everyone.
    let new_dn = format!("uid=newhire,{}", slapd::unit_dn(&["Finance"]));
    let moved_dn = format!("uid={},{}", slapd::uid(7), slapd::unit_dn(&["Finance"]));
    server
        .modify(&format!(
            "dn: {p3}\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n\n\
             dn: {p4}\nchangetype: delete\n\n\
             dn: {g_plat}\nchangetype: modify\ndelete: member\nmember: {p4}\n\n\
             dn: {p7}\nchangetype: modrdn\nnewrdn: uid={u7}\ndeleteoldrdn: 1\nnewsuperior: {finance}\n\n\
             dn: {g_emea}\nchangetype: modify\ndelete: member\nmember: {p7}\n-\nadd: member\nmember: {moved_dn}\n\n\
             dn: {new_dn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: newhire\ncn: New Hire\nsn: Hire\n\
             mail: newhire@example.com\ndepartmentNumber: Finance\nmanager: {p0}\n\n\
             dn: {g_fin}\nchangetype: modify\nadd: member\nmember: {new_dn}\n\n\
             dn: {g_eng}\nchangetype: modify\ndelete: member\nmember: {g_plat}\n\n\
             dn: {g_all}\nchangetype: modify\nadd: member\nmember: {g_plat}\n\n",
            p3 = slapd::person_dn(3),
            p4 = slapd::person_dn(4),
            p7 = slapd::person_dn(7),
            u7 = slapd::uid(7),
            finance = slapd::unit_dn(&["Finance"]),
            p0 = slapd::person_dn(0),
            g_emea = slapd::group_dn("emea-sales"),
            g_fin = slapd::group_dn("finance"),
            g_eng = slapd::group_dn("engineering"),
            g_all = slapd::group_dn("everyone"),
            g_plat = slapd::group_dn("platform"),
        ))
        .await?;

    let Incremental::Delta { delta, cursor } = read_incremental(&config, &full.batch, &full.cursor.encode()).await?
    else {
        panic!("expected a delta");
    };
    let mut upserts: BTreeMap<String, (&ImportedPerson, &Option<Vec<String>>)> = BTreeMap::new();
    let mut removes = Vec::new();
    for change in &delta.people {
        match change {
            PersonChange::Upsert { person, groups } => {
                upserts.insert(person.user_name.clone(), (person, groups));
            }
            PersonChange::Remove { source_key } => removes.push(source_key.clone()),
        }
    }
    assert_eq!(upserts.keys().collect::<Vec<_>>(), ["newhire", "user00003", "user00007"], "{delta:#?}");
    assert_eq!(removes, [key(4)]);
    let (p3, g3) = upserts["user00003"];
    assert_eq!((p3.status, g3), (PersonStatus::Suspended, &None));
    let (p7, g7) = upserts["user00007"];
    assert_eq!((p7.source_key.clone(), p7.org_unit.as_ref().map(|u| u.as_str())), (key(7), Some("/People/Finance")));
    assert_eq!(g7, &None, "a moved person keeps their groups");
    let (hire, hire_groups) = upserts["newhire"];
    assert_eq!(hire_groups.as_deref(), Some(&["finance".to_owned()][..]), "a new person arrives with their groups");
    assert_eq!(hire.manager_key, Some(key(0)), "an unchanged manager is resolved from the key listing");

    let mut group_changes: Vec<String> = delta
        .groups
        .iter()
        .map(|c| match c {
            GroupChange::Upsert(g) => format!("upsert {} <- {:?}", g.name, g.parents),
            GroupChange::SetMembers { group, person_keys } => format!("set {group} {}", person_keys.len()),
            other => format!("{other:?}"),
        })
        .collect();
    group_changes.sort();
    // emea-sales was modified too, but its members are the same people; finance gained only
    // the new hire, who arrives with their groups: neither is in the delta.
    let count = |g: &str| (0..300).filter(|&i| slapd::person_unit(i).2 == g).count();
    assert_eq!(
        group_changes,
        [format!("set platform {}", count("platform") - 1), "upsert platform <- [\"everyone\"]".to_owned()]
    );

    // The delta applied to the old snapshot equals a fresh full read.
    let mut applied = full.batch.clone();
    applied.apply_delta(&delta)?;
    let fresh = read_full(&config).await?;
    let norm = |b: &ImportBatch| {
        let mut people: Vec<ImportedPerson> = b.people.clone();
        for p in &mut people {
            p.groups.sort();
        }
        people.sort_by(|a, b| a.source_key.cmp(&b.source_key));
        let mut groups = b.groups.clone();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        (people, groups)
    };
    assert_eq!(norm(&applied), norm(&fresh.batch));

    // Nothing changed since: an empty delta.
    let Incremental::Delta { delta, .. } = read_incremental(&config, &fresh.batch, &cursor.encode()).await? else {
        panic!("expected a delta");
    };
    assert!(delta.is_empty(), "{delta:#?}");
    Ok(())
}

#[tokio::test]
async fn deleted_group_is_removed_and_renamed_group_replaced() -> anyhow::Result<()> {
    let server = start(60);
    let config = config(&server);
    let full = read_full(&config).await?;
    server
        .modify(&format!(
            "dn: {}\nchangetype: delete\n\ndn: {}\nchangetype: modrdn\nnewrdn: cn=money\ndeleteoldrdn: 1\n\n",
            slapd::group_dn("auditors"),
            slapd::group_dn("finance"),
        ))
        .await?;
    let Incremental::Delta { delta, .. } = read_incremental(&config, &full.batch, &full.cursor.encode()).await? else {
        panic!("expected a delta");
    };
    assert!(delta.people.is_empty(), "{delta:#?}");
    assert!(delta.groups.contains(&GroupChange::Remove { name: "auditors".into() }));
    assert!(delta.groups.contains(&GroupChange::Remove { name: "finance".into() }));
    assert!(delta.groups.iter().any(
        |c| matches!(c, GroupChange::SetMembers { group, person_keys } if group == "money" && person_keys.len() == 10)
    ));
    let mut applied = full.batch.clone();
    applied.apply_delta(&delta)?;
    assert!(applied.people.iter().all(|p| !p.groups.iter().any(|g| g == "auditors" || g == "finance")));
    Ok(())
}

#[tokio::test]
async fn tls_with_the_ca_file_and_without_it() -> anyhow::Result<()> {
    let server = start(20);
    let mut ldaps = config(&server);
    ldaps.url = server.ldaps_url();
    ldaps.insecure_plaintext = false;
    ldaps.ca_file = Some(server.ca_file());
    assert_eq!(read_full(&ldaps).await?.batch.people.len(), 20);

    let mut starttls = config(&server);
    starttls.insecure_plaintext = false;
    starttls.starttls = true;
    starttls.ca_file = Some(server.ca_file());
    assert_eq!(read_full(&starttls).await?.batch.people.len(), 20);

    // Without the CA file the test CA is unknown: refused, and not worth retrying.
    ldaps.ca_file = None;
    let error = read_full(&ldaps).await.expect_err("an unknown issuer is refused");
    assert!(matches!(error, LdapSourceError::Tls { .. } | LdapSourceError::Config { .. }), "{error:?}");
    assert!(!error.is_retryable());

    let mut bad_ca = ldaps.clone();
    bad_ca.ca_file = Some(server.ca_file().with_file_name("slapd.conf"));
    let error = read_full(&bad_ca).await.expect_err("not a PEM file");
    assert!(matches!(error, LdapSourceError::CaFile { .. }), "{error:?}");

    let mut clear = config(&server);
    clear.insecure_plaintext = false;
    let error = read_full(&clear).await.expect_err("plain ldap:// needs consent");
    assert!(error.to_string().contains("in clear"), "{error}");
    Ok(())
}

#[tokio::test]
async fn errors_are_precise_and_say_whether_to_retry() -> anyhow::Result<()> {
    let server = start(15);
    let mut wrong = config(&server);
    wrong.password = Secret::new("not-the-password");
    let error = read_full(&wrong).await.expect_err("bad password");
    assert!(matches!(error, LdapSourceError::InvalidCredentials { .. }), "{error:?}");
    assert!(
        error.to_string().contains("invalid credentials") && error.to_string().contains(slapd::READER_DN),
        "{error}"
    );
    assert!(!error.is_retryable());
    assert!(!format!("{wrong:?}").contains("not-the-password"), "the password is redacted");

    let mut base = config(&server);
    base.user_bases = vec!["ou=Nobody,dc=example,dc=com".into()];
    let error = read_full(&base).await.expect_err("no such base");
    assert!(matches!(error, LdapSourceError::NoSuchBase { .. }), "{error:?}");
    assert!(error.to_string().contains("ou=Nobody"), "{error}");

    let mut limited = config(&server);
    limited.bind_dn = slapd::LIMITED_DN.into();
    limited.password = Secret::new(slapd::LIMITED_PASSWORD);
    let error = read_full(&limited).await.expect_err("more people than the account may read");
    assert!(matches!(error, LdapSourceError::SizeLimit { .. }), "{error:?}");
    assert!(error.to_string().contains("sizeLimitExceeded"), "{error}");

    let mut filter = config(&server);
    filter.user_filter = Some("(objectClass=inetOrgPerson".into());
    let error = read_full(&filter).await.expect_err("bad filter");
    assert!(matches!(error, LdapSourceError::BadFilter { .. }), "{error:?}");

    let mut no_mail = config(&server);
    no_mail.attributes.email = Some("telephoneNumber".into());
    let error = read_full(&no_mail).await.expect_err("no email");
    assert!(error.to_string().contains("no telephoneNumber"), "{error}");

    // A server that is not there: worth retrying.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut down = config(&server);
    down.url = format!("ldap://127.0.0.1:{port}");
    let error = read_full(&down).await.expect_err("nobody listens");
    assert!(matches!(error, LdapSourceError::Unreachable { .. }), "{error:?}");
    assert!(error.is_retryable());
    Ok(())
}

/// `cargo test -p tenure-sources --release --test ldap -- --ignored bench --nocapture`
/// Prints one JSON line: a full read of 20,000 people and an incremental read of 100 changes.
#[tokio::test]
#[ignore = "benchmark: run explicitly"]
async fn bench_ldap_import() -> anyhow::Result<()> {
    let people: usize = std::env::var("TENURE_BENCH_PEOPLE").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let server = start(people);
    let mut config = config(&server);
    config.page_size = 1000;
    let started = std::time::Instant::now();
    let full = read_full(&config).await?;
    let full_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(full.batch.people.len(), people);
    let mut ldif = String::new();
    for i in (0..people).step_by(people / 100).take(100) {
        ldif.push_str(&format!("dn: {}\nchangetype: modify\nreplace: title\ntitle: Promoted\n\n", slapd::person_dn(i)));
    }
    server.modify(&ldif).await?;
    let started = std::time::Instant::now();
    let Incremental::Delta { delta, .. } = read_incremental(&config, &full.batch, &full.cursor.encode()).await? else {
        panic!("expected a delta");
    };
    let incremental_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(delta.people.len(), 100);
    println!(
        "{}",
        serde_json::json!({
            "people": people,
            "full_ms": full_ms.round(),
            "people_per_s": (people as f64 / (full_ms / 1000.0)).round(),
            "incremental_changes": 100,
            "incremental_ms": incremental_ms.round(),
        })
    );
    Ok(())
}

/// A server that accepts the connection and never answers: the bind times out, and that is
/// worth retrying.
#[tokio::test]
async fn a_silent_server_times_out_retryably() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let mut config = LdapConfig::new(format!("ldap://127.0.0.1:{port}"), "cn=x", Secret::new("pw"), "dc=x");
    config.insecure_plaintext = true;
    config.timeout_secs = 1;
    let error = read_full(&config).await.expect_err("no answer");
    assert!(matches!(error, LdapSourceError::Timeout { .. }), "{error:?}");
    assert!(error.is_retryable());
    held.abort();
    Ok(())
}
