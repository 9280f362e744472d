//! `tenure demo --once`: the newcomer's first command converges and reports accounts in every
//! sandbox app.

#[test]
fn demo_once_provisions_every_sandbox_app_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["demo", "--once", "--people", "80", "--listen", "127.0.0.1:0"])
        .env("TMPDIR", tmp.path())
        .env_remove("TENURE_DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("80 people"), "{stdout}");
    assert!(stdout.contains("converged in"), "{stdout}");
    assert!(
        stdout.contains("console    http://127.0.0.1:")
            && stdout.contains("sign in as admin@demo.example with password "),
        "the console's URL and sign-in: {stdout}"
    );
    for app in ["slack", "notion", "jira", "github"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(app))
            .unwrap_or_else(|| panic!("no line for {app}: {stdout}"));
        let created: usize = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {line:?}"));
        assert!(created > 0, "{line}");
    }
    // The money view of the demo's pools: Jira's is short of seats, GitHub's priced in USD.
    assert!(stdout.contains("seats bought, used and wasted"), "{stdout}");
    let jira = stdout.lines().filter(|l| l.trim_start().starts_with("jira")).nth(1).expect("jira's license line");
    assert!(jira.contains("over-allocated"), "{jira}");
    assert!(stdout.contains("total (EUR)") && stdout.contains("total (USD)"), "{stdout}");
    // Its temporary directory is gone.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().starts_with("tenure-demo-")), "{left:?}");
}
