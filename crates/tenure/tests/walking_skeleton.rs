//! The walking skeleton, end to end through the `tenure` binary: CSV import → assignment by a
//! (nested) group → plan with reasons → apply through the SCIM client into the independent
//! `scim2-server` → accounts linked to people → unassign deactivates them. Once per backend.

use serde_json::Value;
use tenure_testkit::{Scim2Server, TestBackend, TestDb};

mod common;
use common::Cli;

const PEOPLE: &str = "\
employee_id,email,given_name,family_name,department,title,org_unit,status,groups,cost_center
E1,ada@example.com,Ada,Lovelace,Engineering,Engineer,/Engineering/Platform,active,platform,100
E2,bob@example.com,Bob,Builder,Engineering,Engineer,/Engineering/Apps,active,apps,100
E3,cy@example.com,Cy,Young,Sales,Rep,/Sales/EMEA,active,sales,200
E4,dee@example.com,Dee,Suspended,Engineering,Engineer,/Engineering/Apps,suspended,apps,100
";

const GROUPS: &str = "name,parents\nplatform,engineering\napps,engineering\n";

fn ops_of<'a>(plan: &'a Value, kind: &str) -> Vec<&'a Value> {
    plan["apps"][0]["ops"].as_array().expect("ops").iter().filter(|o| o["op"] == kind).collect()
}

async fn walking_skeleton(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let peer = Scim2Server::start().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("people.csv"), PEOPLE)?;
    std::fs::write(dir.path().join("groups.csv"), GROUPS)?;
    let cli = Cli::new(db.url(), dir.path());
    let people = dir.path().join("people.csv");
    let groups = dir.path().join("groups.csv");

    cli.ok(&[
        "source",
        "add",
        "csv",
        "hr",
        "--file",
        people.to_str().unwrap(),
        "--groups-file",
        groups.to_str().unwrap(),
    ])
    .await;
    let synced = cli.json(&["sync", "--json"]).await;
    assert_eq!(synced[0]["created"], 4, "{synced}");
    cli.ok(&["app", "add", "scim", "peer", "--base-url", peer.base_url(), "--token", peer.token()]).await;
    cli.ok(&["assign", "peer", "--group", "engineering"]).await;

    // The plan: creates for the two active engineers (reached through nested groups), none for
    // the suspended one or the salesperson, each with its reason.
    let plan = cli.json(&["plan", "--json"]).await;
    let creates = ops_of(&plan, "create");
    let mut who: Vec<&str> = creates.iter().map(|o| o["person"].as_str().unwrap()).collect();
    who.sort_unstable();
    assert_eq!(who, ["ada@example.com", "bob@example.com"], "{plan}");
    for op in &creates {
        assert_eq!(op["reason"]["kind"], "granted");
        assert_eq!(op["reason"]["grant"]["group"], "engineering");
        assert!(op["reason_text"].as_str().unwrap().contains("member of group engineering via"), "{op}");
    }
    assert_eq!(plan["totals"]["create"], 2);

    // Nothing is written without confirmation.
    let refused = cli.run(&["apply"]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));

    let applied = cli.json(&["apply", "--yes", "--json"]).await;
    assert_eq!(applied["apps"][0]["succeeded"]["create"], 2, "{applied}");

    // The accounts exist in the peer server, linked to their people.
    let users = cli.json(&["app", "users", "peer", "--json"]).await;
    let users = users.as_array().expect("users");
    assert_eq!(users.len(), 2, "{users:?}");
    for u in users {
        assert_eq!(u["active"], true);
        assert_eq!(u["origin"], "created");
        assert_eq!(u["person"], u["user_name"], "userName is the email by default: {u}");
    }
    assert_eq!(cli.json(&["plan", "--json"]).await["totals"]["create"], 0, "a second plan is empty");
    let report = cli.ok(&["report", "--format", "csv"]).await;
    assert!(
        report.starts_with("app,user_name,display_name,email,active,class,person,other_apps,remote_id,note\n"),
        "{report}"
    );
    assert!(
        report.contains("peer,ada@example.com,Ada Lovelace,ada@example.com,true,managed,ada@example.com,,"),
        "{report}"
    );
    assert!(cli.ok(&["apply", "--yes"]).await.contains("Nothing to do"));

    // Unassigning deactivates, with the reason.
    cli.ok(&["unassign", "peer", "--group", "engineering"]).await;
    let plan = cli.json(&["plan", "--json"]).await;
    let deactivations = ops_of(&plan, "deactivate");
    assert_eq!(deactivations.len(), 2, "{plan}");
    assert!(deactivations.iter().all(|o| o["reason"]["revocation"] == "unassigned"));
    // Two of two managed accounts is over the guard's 10%: held, nothing done, until approved.
    let held = cli.run(&["apply", "--yes"]).await;
    assert!(!held.status.success());
    let out = String::from_utf8_lossy(&held.stdout);
    assert!(out.contains("Held by the deprovisioning guard") && out.contains("2 losses in"), "{out}");
    assert!(out.contains("of its 2 managed accounts"), "{out}");
    let users = cli.json(&["app", "users", "peer", "--json"]).await;
    assert!(users.as_array().unwrap().iter().all(|u| u["active"] == true), "{users}");
    let plans = cli.json(&["plan", "list", "--json"]).await;
    let held_id = plans.as_array().unwrap().iter().find(|p| p["status"] == "held").expect("a held plan")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    cli.ok(&["plan", "approve", &held_id]).await;
    assert!(!cli.run(&["plan", "approve", &held_id]).await.status.success(), "approved once");
    cli.ok(&["apply", "--yes"]).await;
    let users = cli.json(&["app", "users", "peer", "--json"]).await;
    assert!(users.as_array().unwrap().iter().all(|u| u["active"] == false), "{users}");
    assert_eq!(cli.json(&["plan", "--json"]).await["totals"]["deactivate"], 0);
    Ok(())
}

/// Policy beyond plain assignments, through the binary: a rule grants, an exclusion wins, an
/// assignment carries a role, a mapping shapes displayName; `explain` says why; a saved plan is
/// compared with a later one; bad expressions are refused with the column they fail at.
async fn policy_end_to_end(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let peer = Scim2Server::start().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("people.csv"), PEOPLE)?;
    std::fs::write(dir.path().join("groups.csv"), GROUPS)?;
    let cli = Cli::new(db.url(), dir.path());
    let (people, groups) = (dir.path().join("people.csv"), dir.path().join("groups.csv"));
    let (people, groups) = (people.to_str().unwrap(), groups.to_str().unwrap());
    cli.ok(&["source", "add", "csv", "hr", "--file", people, "--groups-file", groups]).await;
    cli.ok(&["sync"]).await;

    let bad = cli
        .run(&[
            "app",
            "add",
            "scim",
            "peer",
            "--base-url",
            peer.base_url(),
            "--token",
            peer.token(),
            "--map",
            "displayName=lowr(familyName)",
        ])
        .await;
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("unknown function 'lowr'") && err.contains("did you mean 'lower'") && err.contains('^'),
        "{err}"
    );
    cli.ok(&[
        "app",
        "add",
        "scim",
        "peer",
        "--base-url",
        peer.base_url(),
        "--token",
        peer.token(),
        "--map",
        r#"displayName=concat(upper(familyName), ", ", givenName)"#,
        // A three-person app: the default 10% would hold every single leaver.
        "--guard-percent",
        "100",
    ])
    .await;
    let bad = cli.run(&["assign", "peer", "--rule", r#"departmnt == "Engineering""#]).await;
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("unknown attribute 'departmnt'") && err.contains("1:1"), "{err}");

    // A preview shows what an assignment would do and saves nothing.
    let preview = cli.ok(&["assign", "peer", "--rule", r#"department == "Engineering""#, "--preview"]).await;
    assert!(preview.contains("Preview, nothing saved") && preview.contains("create (2)"), "{preview}");
    assert!(preview.contains("ada@example.com") && preview.contains("bob@example.com"), "{preview}");
    assert_eq!(cli.json(&["plan", "--json"]).await["totals"]["create"], 0, "the preview saved nothing");
    cli.ok(&[
        "assign",
        "peer",
        "--rule",
        r#"department == "Engineering""#,
        "--role",
        "member",
        "--app-group",
        "eng-team",
    ])
    .await;
    cli.ok(&["assign", "peer", "--group", "apps", "--exclude"]).await;

    // Ada (Engineering, platform) gets the app; Bob is excluded through `apps`; Dee is suspended.
    let saved = cli.run(&["plan", "--json", "--save"]).await;
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    let plan: Value = serde_json::from_slice(&saved.stdout)?;
    let creates = ops_of(&plan, "create");
    assert_eq!(creates.len(), 1, "{plan}");
    assert_eq!(creates[0]["person"], "ada@example.com");
    assert_eq!(creates[0]["attributes"]["displayName"], "LOVELACE, Ada");
    assert_eq!(creates[0]["attributes"]["role"], "member");
    assert!(creates[0]["reason_text"].as_str().unwrap().contains("matches rule"), "{plan}");
    let stderr = String::from_utf8_lossy(&saved.stderr);
    let plan_id = stderr
        .split_whitespace()
        .skip_while(|w| *w != "plan")
        .nth(1)
        .map(|w| w.trim_end_matches(';').to_owned())
        .unwrap_or_else(|| panic!("no plan id in {stderr}"));

    let why = cli.ok(&["explain", "bob@example.com", "peer"]).await;
    assert!(why.contains("An exclusion covers bob@example.com: member of group apps"), "{why}");
    assert!(why.contains("matches rule department == \"Engineering\""), "{why}");
    assert!(why.contains("has no account in peer and should have none"), "{why}");
    let why = cli.json(&["explain", "ada@example.com", "peer", "--json"]).await;
    assert_eq!(why["standing"], "will_get", "{why}");

    let group_ops = &plan["apps"][0]["group_ops"];
    assert_eq!(group_ops[0]["group"], "eng-team", "{plan}");
    assert_eq!(group_ops[0]["add"][0]["person"], "ada@example.com", "{plan}");

    cli.ok(&["apply", "--yes"]).await;
    // What scim2-server holds now reads back exactly as planned, role, mapped name and the
    // app group included.
    let after = cli.json(&["plan", "--json"]).await;
    assert_eq!(after["apps"][0]["ops"].as_array().map(Vec::len), Some(0), "{after}");
    assert!(after["apps"][0].get("group_ops").is_none_or(|g| g.as_array().is_some_and(Vec::is_empty)), "{after}");
    let client = tenure_connectors::ScimClient::new(
        peer.base_url(),
        tenure_core::Secret::new(peer.token()),
        Default::default(),
    )?;
    let app_groups = client.list_groups().await?;
    let team = app_groups.iter().find(|g| g.name == "eng-team").expect("the group was created");
    let ada = cli.json(&["app", "users", "peer", "--json"]).await;
    let ada_id =
        ada.as_array().unwrap().iter().find(|u| u["person"] == "ada@example.com").unwrap()["remote_id"].clone();
    assert_eq!(team.members, [ada_id.as_str().unwrap()]);
    let why = cli.ok(&["explain", "ada@example.com", "peer"]).await;
    assert!(why.contains("has the account they should have") && why.contains("created by Tenure"), "{why}");

    // The saved plan's create is no longer planned; lifting the exclusion brings Bob in.
    cli.ok(&["unassign", "peer", "--group", "apps"]).await;
    let diff = cli.json(&["plan", "diff", &plan_id, "--json"]).await;
    let people_of = |ops: &Value| -> Vec<String> {
        ops.as_array()
            .unwrap()
            .iter()
            .map(|o| format!("{} {}", o["op"].as_str().unwrap(), o["person"].as_str().unwrap()))
            .collect()
    };
    assert_eq!(people_of(&diff["removed"]), ["create ada@example.com"], "{diff}");
    assert_eq!(people_of(&diff["added"]), ["create bob@example.com"], "{diff}");
    let shown = cli.ok(&["plan", "show", &plan_id]).await;
    assert!(shown.contains("preview") && shown.contains("ada@example.com"), "{shown}");

    // Two hand-made accounts carry Cy's email: a case for an admin, not a third account.
    let mut hand_made = Vec::new();
    for user_name in ["cy-1", "cy-2"] {
        let attrs = tenure_core::attributes::Attributes::from([("userName", user_name), ("email", "cy@example.com")]);
        hand_made.push(client.create_user(&attrs).await?.remote_id);
    }
    cli.ok(&["assign", "peer", "--person", "cy@example.com"]).await;
    let plan = cli.json(&["plan", "--json"]).await;
    let cases = plan["apps"][0]["correlation_cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 1, "{plan}");
    assert_eq!(cases[0]["key"], "email");
    assert_eq!(cases[0]["accounts"].as_array().map(Vec::len), Some(2));
    assert!(ops_of(&plan, "create").iter().all(|o| o["person"] != "cy@example.com"), "{plan}");
    assert!(cli.ok(&["plan"]).await.contains("needs an admin: cy@example.com"));

    cli.ok(&["adopt", "peer", &hand_made[0], "--person", "cy@example.com"]).await;
    let refused = cli.run(&["adopt", "peer", &hand_made[1], "--person", "cy@example.com"]).await;
    assert!(!refused.status.success(), "one managed account per person");
    // The other is known: marked external, it leaves the unmanaged count, and the live list,
    // searched, says so.
    cli.ok(&["app", "external", "peer", &hand_made[1], "--note", "Cy's test login"]).await;
    let found = cli.json(&["app", "users", "peer", "--search", "CY-2", "--json"]).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(
        (found[0]["class"].as_str(), found[0]["note"].as_str()),
        (Some("known_external"), Some("Cy's test login"))
    );
    let paged = cli.ok(&["app", "users", "peer", "--count", "1"]).await;
    assert!(paged.starts_with("peer: accounts 1-1 of "), "{paged}");
    assert!(!cli.run(&["app", "users", "peer", "--count", "0"]).await.status.success());
    let plan = cli.json(&["plan", "--json"]).await;
    assert_eq!(plan["apps"][0]["correlation_cases"].as_array().map(Vec::len), Some(0), "{plan}");
    let cy: Vec<&Value> =
        plan["apps"][0]["ops"].as_array().unwrap().iter().filter(|o| o["person"] == "cy@example.com").collect();
    assert_eq!(cy.len(), 1, "{plan}");
    assert_eq!((cy[0]["op"].as_str(), cy[0]["remote_id"].as_str()), (Some("update"), Some(hand_made[0].as_str())));
    cli.ok(&["apply", "--yes"]).await;
    let why = cli.ok(&["explain", "cy@example.com", "peer"]).await;
    assert!(why.contains("adopted by an admin"), "{why}");
    cli.ok(&["unlink", "peer", &hand_made[0]]).await;

    // Ada moves to Sales: the rule that granted her account no longer covers her, and the plan
    // says so (the link remembers which assignment granted it); she also leaves eng-team.
    std::fs::write(dir.path().join("people.csv"), PEOPLE.replace("Ada,Lovelace,Engineering", "Ada,Lovelace,Sales"))?;
    cli.ok(&["sync"]).await;
    let plan = cli.json(&["plan", "--json"]).await;
    let ada: Vec<&Value> =
        plan["apps"][0]["ops"].as_array().unwrap().iter().filter(|o| o["person"] == "ada@example.com").collect();
    assert_eq!(ada.len(), 1, "{plan}");
    assert_eq!(ada[0]["op"], "deactivate");
    assert_eq!(ada[0]["reason"]["revocation"], "moved_out_of_scope", "{plan}");
    assert!(ada[0]["reason_text"].as_str().unwrap().contains("matches rule department"), "{plan}");
    assert_eq!(plan["apps"][0]["group_ops"][0]["remove"].as_array().map(Vec::len), Some(1), "{plan}");
    let applied = cli.json(&["apply", "--yes", "--json"]).await;
    assert_eq!(applied["apps"][0]["succeeded"]["group_members"], 1, "{applied}");
    let team = client.list_groups().await?.into_iter().find(|g| g.name == "eng-team").expect("eng-team");
    assert!(!team.members.iter().any(|m| m == ada_id.as_str().unwrap()), "Ada left eng-team: {team:?} {plan}");
    assert_eq!(team.members.len(), 1, "Bob, still in Engineering, stays: {team:?}");
    Ok(())
}

#[tokio::test]
async fn policy_end_to_end_on_sqlite() -> anyhow::Result<()> {
    policy_end_to_end(TestBackend::Sqlite).await
}

#[tokio::test]
async fn policy_end_to_end_on_postgres() -> anyhow::Result<()> {
    policy_end_to_end(TestBackend::Postgres).await
}

#[tokio::test]
async fn walking_skeleton_on_sqlite() -> anyhow::Result<()> {
    walking_skeleton(TestBackend::Sqlite).await
}

#[tokio::test]
async fn walking_skeleton_on_postgres() -> anyhow::Result<()> {
    walking_skeleton(TestBackend::Postgres).await
}

/// A source's sync scope: people outside it never enter the directory, and someone who leaves
/// it leaves (their accounts go with the reason "left the directory").
#[tokio::test]
async fn sync_scope_keeps_people_out_and_leaving_it_is_leaving() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), dir.path());
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let bad = cli
        .run(&["source", "add", "csv", "hr", "--file", people.to_str().unwrap(), "--scope-rule", "status = 1"])
        .await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--scope-rule"), "{}", String::from_utf8_lossy(&bad.stderr));
    cli.ok(&[
        "source",
        "add",
        "csv",
        "hr",
        "--file",
        people.to_str().unwrap(),
        "--exclude-org-unit",
        "/Sales",
        "--scope-rule",
        r#"status == "active""#,
    ])
    .await;
    let synced = cli.json(&["sync", "--json"]).await;
    assert_eq!((synced[0]["created"].as_u64(), synced[0]["out_of_scope"].as_u64()), (Some(2), Some(2)), "{synced}");

    // Bob moves to Sales: out of scope, so he has left.
    std::fs::write(
        &people,
        PEOPLE.replace("Bob,Builder,Engineering,Engineer,/Engineering/Apps", "Bob,Builder,Sales,Rep,/Sales/EMEA"),
    )?;
    let synced = cli.json(&["sync", "--json"]).await;
    assert_eq!((synced[0]["left"].as_u64(), synced[0]["out_of_scope"].as_u64()), (Some(1), Some(3)), "{synced}");
    Ok(())
}

/// The source guard: an empty export, or one far smaller than the last, is not applied (nothing
/// changes); `sync --force` applies it anyway, and the override is audited.
#[tokio::test]
async fn the_source_guard_refuses_an_export_that_would_empty_the_directory() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), dir.path());
    let people = dir.path().join("people.csv");
    std::fs::write(&people, PEOPLE)?;
    let file = people.to_str().unwrap();
    cli.ok(&["source", "add", "csv", "hr", "--file", file, "--guard-min-share", "50"]).await;
    assert_eq!(cli.json(&["sync", "--json"]).await[0]["created"], 4);

    let header = PEOPLE.lines().next().unwrap_or_default();
    let first = PEOPLE.lines().nth(1).unwrap_or_default();
    for (export, got) in [(format!("{header}\n"), 0), (format!("{header}\n{first}\n"), 1)] {
        std::fs::write(&people, export)?;
        let refused = cli.run(&["sync"]).await;
        assert!(!refused.status.success());
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains(&format!("returned {got} people where the last sync had 4")), "{err}");
        assert!(err.contains("--force"), "{err}");
    }
    let synced = cli.json(&["sync", "--json", "--force"]).await;
    assert_eq!(synced[0]["left"], 3, "{synced}");
    Ok(())
}
