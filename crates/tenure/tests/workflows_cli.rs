//! `tenure workflow` and `tenure tenant set|show` through the binary: a workflow defined in the
//! documented spelling reads back the same, a bad one gets one precise line and a non-zero exit
//! with nothing written, and the tenant's timezone is checked against the tz database.

use std::process::Output;

fn tenure(args: &[&str], database_url: &str, home: &std::path::Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(args)
        .env("TENURE_DATABASE_URL", database_url)
        .env("TENURE_MASTER_KEYS", tenure_testkit::TEST_MASTER_KEYS)
        .env("XDG_DATA_HOME", home)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tenure")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn workflows_are_defined_listed_and_refused_precisely() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let run = |args: &[&str]| tenure(args, &url, dir.path());

    let bad_zone = run(&["tenant", "set", "--timezone", "Europe/Atlantis"]);
    assert!(!bad_zone.status.success());
    assert!(
        stderr(&bad_zone).contains("timezone: \"Europe/Atlantis\" is not a known IANA timezone"),
        "{}",
        stderr(&bad_zone)
    );
    let set = run(&["tenant", "set", "--timezone", "Europe/Berlin"]);
    assert!(set.status.success(), "{}", stderr(&set));
    let show = run(&["tenant", "show", "--json"]);
    let settings: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(settings["timezone"], "Europe/Berlin");

    let steps = ["notify:manager,org-admins", "wait:2", "approval:org-admin:1", "deprovision+continue"];
    let mut args = vec!["workflow", "add", "leavers", "--trigger", "leave-date", "--offset-days", "-3"];
    for s in &steps {
        args.extend(["--step", s]);
    }
    let add = run(&args);
    assert!(add.status.success(), "{}", stderr(&add));
    let list = run(&["workflow", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed[0]["when"], "leave-date 3 days before");
    assert_eq!(listed[0]["steps"], serde_json::json!(steps));

    let bad = run(&[
        "workflow",
        "add",
        "movers",
        "--trigger",
        "manager-change",
        "--step",
        "notify:manager",
        "--step",
        "wait:two",
    ]);
    assert!(!bad.status.success());
    let err = stderr(&bad);
    assert!(err.contains("steps[1]: \"wait:two\": wait takes a whole number of days"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let list = run(&["workflow", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "nothing written by the refused one");

    let approve = run(&["workflow", "approve", "0b7c"]);
    assert!(!approve.status.success() && stderr(&approve).contains("is not a run id"), "{}", stderr(&approve));
    let runs = run(&["workflow", "runs"]);
    assert!(runs.status.success() && String::from_utf8_lossy(&runs.stdout).contains("no workflow run"));
    let removed = run(&["workflow", "remove", "leavers"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
}
