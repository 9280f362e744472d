//! Microsoft 365 through the binary, against the fake Graph target (`tenure_testkit::m365_fake`,
//! following Graph's documented contracts): `app add m365` with client credentials, `app check`
//! reading users and SKUs, provisioning that creates users and assigns each pool's SKU, an
//! existing user linked by userPrincipalName, the license report counting used seats per SKU
//! from `assignedLicenses` (an unmanaged licensed user is waste), a leaver whose licenses the
//! `remove-license` policy takes back (the account stays enabled), a leaver disabled under
//! `deactivate`, the user list read over several `@odata.nextLink` pages, and a 429 with
//! `Retry-After` waited out; Entra groups from assignments' `--app-group` and group-based
//! licensing (below). Bob holds an add-on (AAD_PREMIUM) beside his tier: with `--license-skus`
//! naming the tiers, it is not read as his tier, so nothing is planned for it and a plan + apply
//! leaves it alone; his leaving under `remove-license` takes it too. Once per backend.

mod common;

use std::time::Duration;

use common::Cli;
use serde_json::{Value, json};
use tenure_testkit::m365_fake::{self, E3_SKU, E5_SKU, M365Fake};
use tenure_testkit::{TestBackend, TestDb};

/// Entra ID P1 (`AAD_PREMIUM`): an add-on an admin gives by hand, sorting before any tier.
const AAD_PREMIUM: &str = "078d2b04-f1bd-4111-bbd4-b4b1b354cef4";

fn people(left: &[&str]) -> String {
    let mut csv = String::from("employee_id,email,given_name,family_name,groups,status,country\n");
    for (i, (name, group)) in [("ann", "eng"), ("bob", "eng"), ("cy", "eng"), ("dee", "sales")].iter().enumerate() {
        let status = if left.contains(name) { "suspended" } else { "active" };
        // Ann's country reaches Graph's usageLocation through a mapping; the others have none.
        let country = if *name == "ann" { "de" } else { "" };
        csv.push_str(&format!("E{i},{name}@example.com,{name},Test,{group},{status},{country}\n"));
    }
    csv
}

fn tier<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["apps"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["app"] == "m365"))
        .and_then(|app| app["tiers"].as_array())
        .and_then(|t| t.iter().find(|x| x["tier"] == name))
        .unwrap_or_else(|| panic!("no tier {name}: {report}"))
}

async fn m365(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let fake = M365Fake::start().await?;
    {
        let mut t = fake.tenant();
        t.add_sku(E3_SKU, "SPE_E3", 5);
        t.add_sku(E5_SKU, "SPE_E5", 2);
        t.add_sku(AAD_PREMIUM, "AAD_PREMIUM", 5);
        // Bob's account exists already, licensed by hand with an add-on beside his tier; someone
        // licensed a shadow account.
        t.put_user(
            "bob@example.com",
            json!({"mail": "bob@example.com", "usageLocation": "US",
                "assignedLicenses": [{"skuId": AAD_PREMIUM}, {"skuId": E3_SKU}]}),
        );
        t.put_user("shadow@example.com", json!({"usageLocation": "US", "assignedLicenses": [{"skuId": E5_SKU}]}));
        // Every read of the user list takes several pages.
        t.max_page = Some(1);
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("people.csv");
    std::fs::write(&file, people(&[]))?;
    let secret = dir.path().join("client.secret");
    std::fs::write(&secret, format!("{}\n", m365_fake::CLIENT_SECRET))?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", file.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    let (base, token_url) = (fake.base_url(), fake.token_url());
    let add = [
        "app",
        "add",
        "m365",
        "m365",
        "--tenant-id",
        m365_fake::TENANT,
        "--client-id",
        m365_fake::CLIENT_ID,
        "--client-secret-file",
        secret.to_str().unwrap(),
        "--api-url",
        &base,
        "--token-url",
        &token_url,
        "--usage-location",
        "us",
        "--map",
        "usageLocation=upper(custom.country)",
    ];
    let err = cli.fails(&[&add[..], &["--deprovision", "delete"]].concat()).await;
    assert!(err.contains("--confirm-permanent-delete") && err.contains("30 days"), "{err}");
    let err = cli.fails(&[&add[..3], &["bad", "--tenant-id", "x/y", "--client-id", "c"], &add[8..]].concat()).await;
    assert!(err.contains("--tenant-id") && err.contains("GUID"), "{err}");
    let err = cli.fails(&[&add[..], &["--license-skus", "SPE_E3,SPE_E5,spe_e3"]].concat()).await;
    assert!(err.contains("--license-skus") && err.contains("twice"), "{err}");
    cli.ok(&[&add[..], &["--deprovision", "remove-license", "--license-skus", "SPE_E3, SPE_E5"]].concat()).await;
    cli.ok(&["app", "edit", "m365", "--guard-percent", "100"]).await;
    let err = cli.fails(&["app", "edit", "m365", "--license-skus", "SPE_E3=Enterprise"]).await;
    assert!(err.contains("--license-skus") && err.contains("skuPartNumber"), "{err}");
    let shown = cli.json(&["app", "show", "m365", "--json"]).await;
    assert_eq!(
        shown["settings"]["m365"],
        json!({"tenant_id": m365_fake::TENANT, "usage_location": "US", "license_skus": ["SPE_E3", "SPE_E5"]}),
        "{shown}"
    );
    let check = cli.ok(&["app", "check", "m365"]).await;
    assert!(check.contains("2 users, 2 enabled; licenses used/bought: SPE_E3 1/5, SPE_E5 1/2"), "{check}");
    // Compared with its catalog entry, as a SCIM app's probe is with its vendor profile.
    assert!(check.contains("Microsoft 365 / Entra ID profile against the connector:"), "{check}");
    assert!(check.contains(" 0 differences") && check.contains("✓ paced as documented"), "{check}");
    let checked = cli.json(&["app", "check", "m365", "--json"]).await;
    assert_eq!(checked["vendor"]["name"], "m365", "{checked}");
    assert_eq!(checked["catalog"]["differences"], json!([]), "{checked}");

    cli.ok(&["assign", "m365", "--group", "eng", "--license", "SPE_E3"]).await;
    cli.ok(&["assign", "m365", "--group", "sales", "--license", "SPE_E5"]).await;
    cli.ok(&["apply", "--yes"]).await;
    {
        let t = fake.tenant();
        for name in ["ann", "cy"] {
            assert_eq!(t.licenses_of(&format!("{name}@example.com")), vec![E3_SKU.to_owned()], "{name}");
        }
        assert_eq!(t.licenses_of("bob@example.com"), [AAD_PREMIUM, E3_SKU], "Bob's add-on untouched");
        assert_eq!(t.licenses_of("dee@example.com"), vec![E5_SKU.to_owned()]);
        let ann = t.by_upn("ann@example.com").expect("ann created");
        assert_eq!((ann["usageLocation"].as_str(), ann["accountEnabled"].as_bool()), (Some("DE"), Some(true)));
        let cy = t.by_upn("cy@example.com").expect("cy created");
        assert_eq!(cy["usageLocation"], "US", "no country: the app's usage location");
        assert!(t.counts.list >= 3, "the list was read over several pages: {:?}", t.counts);
    }
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(plan["apps"][0]["ops"].as_array().map(Vec::len), Some(0), "settled, the add-on no tier: {plan}");
    cli.ok(&["apply", "--yes"]).await;
    assert_eq!(fake.tenant().licenses_of("bob@example.com"), [AAD_PREMIUM, E3_SKU], "a second pass changes nothing");
    // The live list shows Bob's tier and, apart, every SKU he holds.
    let users = cli.json(&["app", "users", "m365", "--json"]).await;
    let bob = users.as_array().and_then(|u| u.iter().find(|u| u["person"] == "bob@example.com")).cloned();
    let bob = bob.unwrap_or_default();
    assert_eq!(
        (bob["license"].as_str(), bob["licenses_held"].as_str()),
        (Some("SPE_E3"), Some("AAD_PREMIUM,SPE_E3")),
        "{bob}"
    );

    // The report counts used seats per SKU from what Graph holds.
    cli.ok(&["license", "set", "m365", "--tier", "SPE_E3", "--seats", "5", "--cost-per-seat", "36"]).await;
    cli.ok(&["license", "set", "m365", "--tier", "SPE_E5", "--seats", "2", "--cost-per-seat", "57"]).await;
    // One throttled request on the way: waited out for its Retry-After.
    fake.tenant().throttle =
        tenure_testkit::cloud_fake::Throttle { remaining: 1, status: 429, retry_after: Some(Duration::from_secs(1)) };
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    assert_eq!(fake.tenant().counts.throttled, 1);
    let e3 = tier(&report, "SPE_E3");
    assert_eq!((e3["seats"].as_u64(), e3["used"].as_u64(), e3["wasted"].as_u64()), (Some(5), Some(3), Some(2)), "{e3}");
    let e5 = tier(&report, "SPE_E5");
    assert_eq!((e5["used"].as_u64(), e5["wasted"].as_u64()), (Some(2), Some(1)), "dee and the shadow: {e5}");
    assert_eq!(e5["wasted_by_reason"]["unmanaged"]["seats"], 1, "{e5}");
    let app =
        report["apps"].as_array().and_then(|a| a.iter().find(|x| x["app"] == "m365")).cloned().unwrap_or_default();
    assert_eq!((app["used"].as_u64(), app["monthly_cost"].as_f64()), (Some(5), Some(294.0)), "{app}");

    // Graph tells when each user last signed in (signInActivity): Ann not for 100 days, Cy two
    // days ago, Bob never. Unused for more than the pool's 30 days is waste, as from a file.
    let ago = |d: i64| format!("{}T08:15:00Z", time::OffsetDateTime::now_utc().date() - time::Duration::days(d));
    {
        let mut t = fake.tenant();
        for (name, days) in [("ann", 100), ("cy", 2)] {
            let id = t.by_upn(&format!("{name}@example.com")).and_then(|u| u["id"].as_str().map(str::to_owned));
            let user = t.users.get_mut(&id.unwrap_or_default()).expect("user");
            user["signInActivity"] = json!({"lastSignInDateTime": ago(days)});
        }
    }
    cli.ok(&[
        "license",
        "set",
        "m365",
        "--tier",
        "SPE_E3",
        "--seats",
        "5",
        "--cost-per-seat",
        "36",
        "--unused-days",
        "30",
    ])
    .await;
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    let e3 = tier(&report, "SPE_E3");
    assert_eq!((e3["activity_known"].as_u64(), e3["unused_for_days"]["30"].as_u64()), (Some(2), Some(1)), "{e3}");
    assert_eq!(e3["wasted_by_reason"]["unused"]["seats"], 1, "Ann: {e3}");
    // A tenant without Entra ID P1 refuses signInActivity (403): the list is read without it.
    fake.tenant().no_premium = true;
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    let e3 = tier(&report, "SPE_E3");
    assert_eq!((e3["used"].as_u64(), e3["activity_known"].as_u64()), (Some(3), Some(0)), "{e3}");
    fake.tenant().no_premium = false;

    // Bob leaves: remove-license takes his SKU back and leaves his account enabled.
    std::fs::write(&file, people(&["bob"]))?;
    cli.ok(&["sync"]).await;
    let plan = cli.json(&["plan", "--json"]).await;
    let ops = plan["apps"][0]["ops"].as_array().cloned().unwrap_or_default();
    assert_eq!(ops.len(), 1, "{plan}");
    assert_eq!((ops[0]["person"].as_str(), ops[0]["op"].as_str()), (Some("bob@example.com"), Some("change_license")));
    cli.ok(&["apply", "--yes"]).await;
    {
        let t = fake.tenant();
        assert!(t.licenses_of("bob@example.com").is_empty(), "Bob's E3 is back in the pool, his add-on too");
        assert_eq!(t.by_upn("bob@example.com").and_then(|u| u["accountEnabled"].as_bool()), Some(true));
        assert_eq!(t.consumed(E3_SKU), 2);
    }
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    assert_eq!(tier(&report, "SPE_E3")["used"], 2, "{report}");

    // Under deactivate, a leaver is disabled (accountEnabled false), keeping the license.
    cli.ok(&["app", "edit", "m365", "--deprovision", "deactivate"]).await;
    std::fs::write(&file, people(&["bob", "cy"]))?;
    cli.ok(&["sync"]).await;
    cli.ok(&["apply", "--yes"]).await;
    {
        let t = fake.tenant();
        let cy = t.by_upn("cy@example.com").expect("cy stays");
        assert_eq!(cy["accountEnabled"], false);
        assert_eq!(t.licenses_of("cy@example.com"), vec![E3_SKU.to_owned()]);
    }
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    let e3 = tier(&report, "SPE_E3");
    assert!(e3["wasted_by_reason"].to_string().contains("inactive_but_licensed"), "{e3}");
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(plan["apps"][0]["ops"].as_array().map(Vec::len), Some(0), "settled: {plan}");
    Ok(())
}

#[tokio::test]
async fn sqlite_m365_users_and_licenses() -> anyhow::Result<()> {
    m365(TestBackend::Sqlite).await
}

#[tokio::test]
async fn postgres_m365_users_and_licenses() -> anyhow::Result<()> {
    m365(TestBackend::Postgres).await
}

/// Entra groups and group-based licensing through the binary: an assignment's `--app-group`
/// puts people in an existing licensing group (its E3 reaches them from Graph) and in a group
/// Tenure makes; the report counts a license a group gives as used; a leaver under
/// `remove-license` whose license a group gives leaves the group (the license change and the
/// group change both queued with their reasons); a license a dynamic group gives is refused for
/// good, the failed operation naming the group.
async fn m365_groups(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let fake = M365Fake::start().await?;
    {
        let mut t = fake.tenant();
        t.add_sku(E3_SKU, "SPE_E3", 5);
        t.add_sku(E5_SKU, "SPE_E5", 2);
        t.put_group("E3 licensed", &[E3_SKU]);
        // Dee's E5 comes from a rule-based group Graph cannot change by hand.
        t.put_group("All sales E5", &[E5_SKU]);
        t.group_by_name_mut("All sales E5").expect("made").group_types = vec!["DynamicMembership".into()];
        t.put_user("dee@example.com", json!({"mail": "dee@example.com", "usageLocation": "US"}));
        t.add_to_group("All sales E5", "dee@example.com");
        // Several pages for every list, groups and members included.
        t.max_page = Some(1);
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("people.csv");
    std::fs::write(&file, people(&["cy"]))?;
    let secret = dir.path().join("client.secret");
    std::fs::write(&secret, format!("{}\n", m365_fake::CLIENT_SECRET))?;
    let cli = Cli::new(db.url(), dir.path());
    cli.ok(&["source", "add", "csv", "hr", "--file", file.to_str().unwrap()]).await;
    cli.ok(&["sync"]).await;
    let (base, token_url) = (fake.base_url(), fake.token_url());
    cli.ok(&[
        "app",
        "add",
        "m365",
        "m365",
        "--tenant-id",
        m365_fake::TENANT,
        "--client-id",
        m365_fake::CLIENT_ID,
        "--client-secret-file",
        secret.to_str().unwrap(),
        "--api-url",
        &base,
        "--token-url",
        &token_url,
        "--usage-location",
        "us",
        "--deprovision",
        "remove-license",
    ])
    .await;
    cli.ok(&["app", "edit", "m365", "--guard-percent", "100"]).await;
    cli.ok(&["assign", "m365", "--group", "eng", "--app-group", "E3 licensed", "--app-group", "Engineering"]).await;
    cli.ok(&["assign", "m365", "--group", "sales"]).await;
    cli.ok(&["apply", "--yes"]).await;
    {
        let t = fake.tenant();
        assert_eq!(t.members_of("E3 licensed"), ["ann@example.com", "bob@example.com"]);
        assert_eq!(t.members_of("Engineering"), ["ann@example.com", "bob@example.com"]);
        let made = t.group_by_name("Engineering").expect("made by Tenure");
        assert_eq!((made.security_enabled, made.mail_enabled), (true, false), "a security group");
        for name in ["ann", "bob"] {
            assert_eq!(t.licenses_of(&format!("{name}@example.com")), vec![E3_SKU.to_owned()], "from the group");
        }
        assert_eq!(t.counts.assign_license, 0, "no license assigned directly");
    }
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(plan["apps"][0]["ops"].as_array().map(Vec::len), Some(0), "settled: {plan}");

    // Licenses that groups give are used seats.
    cli.ok(&["license", "set", "m365", "--tier", "SPE_E3", "--seats", "5", "--cost-per-seat", "36"]).await;
    cli.ok(&["license", "set", "m365", "--tier", "SPE_E5", "--seats", "2", "--cost-per-seat", "57"]).await;
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    assert_eq!(tier(&report, "SPE_E3")["used"], 2, "{report}");
    assert_eq!(tier(&report, "SPE_E5")["used"], 1, "{report}");

    // Bob leaves: his E3 is the group's, so he leaves the group; his account stays enabled.
    std::fs::write(&file, people(&["bob", "cy"]))?;
    cli.ok(&["sync"]).await;
    let plan = cli.json(&["plan", "--json"]).await;
    let ops = plan["apps"][0]["ops"].as_array().cloned().unwrap_or_default();
    assert!(
        ops.iter().any(|o| o["person"] == "bob@example.com" && o["op"] == "change_license"),
        "remove-license plans the license change: {plan}"
    );
    cli.ok(&["apply", "--yes"]).await;
    {
        let t = fake.tenant();
        assert_eq!(t.members_of("E3 licensed"), ["ann@example.com"]);
        assert_eq!(t.members_of("Engineering"), ["ann@example.com"]);
        assert!(t.licenses_of("bob@example.com").is_empty(), "Bob's E3 is back in the pool");
        assert_eq!(t.by_upn("bob@example.com").and_then(|u| u["accountEnabled"].as_bool()), Some(true));
        assert_eq!(t.consumed(E3_SKU), 1);
    }
    let failed = cli.json(&["ops", "list", "--failed", "--json"]).await;
    assert_eq!(failed.as_array().map(Vec::len), Some(0), "{failed}");
    let report = cli.json(&["license", "report", "--format", "json"]).await;
    assert_eq!(tier(&report, "SPE_E3")["used"], 1, "{report}");

    // Dee leaves: a dynamic group gives her E5, which Tenure cannot take; the license change
    // fails for good, naming the group, and her license stays.
    std::fs::write(&file, people(&["bob", "cy", "dee"]))?;
    cli.ok(&["sync"]).await;
    cli.run(&["apply", "--yes"]).await;
    let failed = cli.json(&["ops", "list", "--failed", "--json"]).await;
    let text = failed.to_string();
    assert!(text.contains("dee@example.com") && text.contains("All sales E5"), "{failed}");
    assert!(text.contains("membership rule"), "{failed}");
    assert_eq!(fake.tenant().licenses_of("dee@example.com"), vec![E5_SKU.to_owned()]);
    // One person's licensing group is no fault of the app's: it is not paused.
    let shown = cli.json(&["app", "show", "m365", "--json"]).await;
    assert!(shown["paused_until_ms"].is_null(), "{shown}");
    Ok(())
}

#[tokio::test]
async fn sqlite_m365_groups_and_group_licenses() -> anyhow::Result<()> {
    m365_groups(TestBackend::Sqlite).await
}

#[tokio::test]
async fn postgres_m365_groups_and_group_licenses() -> anyhow::Result<()> {
    m365_groups(TestBackend::Postgres).await
}
