//! Bad input gets one clear line and a non-zero exit, and nothing is half-done.

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
fn a_bad_csv_is_rejected_with_its_line_and_nothing_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let file = dir.path().join("people.csv");
    std::fs::write(&file, "employee_id,email\nE1,a@x.com\nE2,b@x.com\nE1,c@x.com\n").unwrap();
    let add = tenure(&["source", "add", "csv", "hr", "--file", file.to_str().unwrap()], &url, dir.path());
    assert!(add.status.success(), "{}", stderr(&add));
    let sync = tenure(&["sync"], &url, dir.path());
    assert!(!sync.status.success());
    let err = stderr(&sync);
    assert!(err.contains("line 4") && err.contains("E1"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let plan = tenure(&["sync", "--json"], &url, dir.path());
    assert!(!plan.status.success());

    // Fixed file: the import works and holds exactly the rows of the good file.
    std::fs::write(&file, "employee_id,email\nE1,a@x.com\nE2,b@x.com\n").unwrap();
    let sync = tenure(&["sync", "--json"], &url, dir.path());
    assert!(sync.status.success(), "{}", stderr(&sync));
    let report: serde_json::Value = serde_json::from_slice(&sync.stdout).unwrap();
    assert_eq!(report[0]["created"], 2);
}

#[test]
fn missing_required_column_names_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let file = dir.path().join("people.csv");
    std::fs::write(&file, "employee_id,mail\nE1,a@x.com\n").unwrap();
    tenure(&["source", "add", "csv", "hr", "--file", file.to_str().unwrap()], &url, dir.path());
    let sync = tenure(&["sync"], &url, dir.path());
    assert!(!sync.status.success());
    assert!(stderr(&sync).contains("email"), "{}", stderr(&sync));
}

#[test]
fn an_unreachable_database_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there.
    let out = tenure(&["plan"], "postgres://nobody@127.0.0.1:1/none", dir.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("error: cannot reach the database at postgres://nobody@127.0.0.1:1/none"), "{err}");
    assert!(err.to_lowercase().contains("refused"), "the cause is named: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = tenure(&["plan"], "mysql://x", dir.path());
    assert!(stderr(&out).contains("unsupported database URL"), "{}", stderr(&out));
}

#[test]
fn a_port_in_use_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let out = tenure(&["serve", "--listen", &addr], &url, dir.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

#[test]
fn unknown_app_group_and_person_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let out = tenure(&["assign", "nope", "--group", "g"], &url, dir.path());
    assert!(stderr(&out).contains("app nope not found"), "{}", stderr(&out));
    let out = tenure(&["app", "add", "scim", "a", "--base-url", "not a url", "--token", "t"], &url, dir.path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("base URL"), "{}", stderr(&out));
    let out = tenure(
        &["app", "add", "scim", "a", "--base-url", "http://127.0.0.1:9/scim/v2", "--token", "t"],
        &url,
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tenure(&["assign", "a", "--group", "nope"], &url, dir.path());
    assert!(stderr(&out).contains("no group named \"nope\""), "{}", stderr(&out));
    let out = tenure(&["assign", "a", "--person", "x@y.z"], &url, dir.path());
    assert!(stderr(&out).contains("no person with email x@y.z"), "{}", stderr(&out));
}

#[test]
fn bench_plan_prints_one_json_line_of_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["bench", "plan", "--people", "300", "--groups", "10", "--apps", "3"])
        .env("XDG_DATA_HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    let figures: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(figures["people"], 300);
    assert_eq!(figures["apps"], 3);
    let accounts = figures["accounts"].as_u64().unwrap();
    assert!(accounts > 0);
    // 99% converged: a few creates; empty apps: one create per desired account.
    assert!(figures["ops"].as_u64().unwrap() < accounts);
    assert_eq!(figures["initial_ops"].as_u64().unwrap(), accounts);
    assert!(figures["plan_ms"].as_f64().is_some());
}

#[test]
fn a_reader_that_stops_early_ends_the_command_without_a_panic() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    // The catalog needs no database and prints far more than a pipe holds (about 200 KB).
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["app", "catalog", "--json"])
        .env("XDG_DATA_HOME", dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tenure");
    let mut first = [0u8; 100];
    child.stdout.take().expect("stdout").read_exact(&mut first).expect("the start of the catalog");
    // The pipe's reading end is closed here, as `head` closes it.
    let out = child.wait_with_output().expect("wait for tenure");
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(141), "ended as a closed pipe ends a Unix tool");
}
