//! `kinko policy check` and `kinko policy simulate`: stdout, stderr and exit
//! status, against the example policy and event stream of `kinko-policy`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../kinko-policy/examples/data")
        .join(name)
}

fn kinko(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinko"))
        .args(args)
        .output()
        .expect("the kinko binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp file");
    (dir, path)
}

#[test]
fn check_prints_the_loss_bound() {
    let policy = data("policy.toml");
    let o = kinko(&["policy", "check", "--policy", policy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("is valid: 2 asset(s)"), "{out}");
    assert!(out.contains("1h: 2% of custody"), "{out}");
    assert!(out.contains("24h: 5% of custody"), "{out}");

    let o = kinko(&[
        "policy",
        "check",
        "--policy",
        policy.to_str().unwrap(),
        "--custody",
        "XEM=526300010",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let xem = &v["assets"]["XEM"]["loss_bound"];
    // Standard windows: 2% of custody per hour, 5% per day.
    assert_eq!(xem["1h"]["amount"], 10_526_000);
    assert_eq!(xem["1h"]["limited_by"], "velocity 1h");
    assert_eq!(xem["24h"]["amount"], 26_315_000);
    assert_eq!(v["assets"]["BTC"]["loss_bound"]["24h"]["absolute"], 0);
}

#[test]
fn check_names_the_bad_key_and_exits_1() {
    let (_d, p) = tmp_file(
        "bad.toml",
        "[assets.BTC]\nhot_cap = 1\n[[assets.BTC.windows]]\nduration = \"1h\"\n",
    );
    let o = kinko(&["policy", "check", "--policy", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("assets.BTC.windows[0].limit: limit or share is required"),
        "{}",
        stderr(&o)
    );
    let (_d, p) = tmp_file("typo.toml", "[assets.BTC]\nhot_cap = 1\nhotcap = 2\n");
    let o = kinko(&["policy", "check", "--policy", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("hotcap"), "{}", stderr(&o));
}

#[test]
fn check_usage_errors_exit_2() {
    let policy = data("policy.toml");
    let o = kinko(&[
        "policy",
        "check",
        "--policy",
        policy.to_str().unwrap(),
        "--custody",
        "XEM",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = kinko(&["policy", "check"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn simulate_prints_one_decision_per_event_and_a_summary() {
    let policy = data("policy.toml");
    let events = data("events.jsonl");
    let args = [
        "policy",
        "simulate",
        "--policy",
        policy.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ];
    let o = kinko(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().filter(|l| l.starts_with("2026-")).count(), 19);
    assert!(
        out.contains("proposal: sweep 6000000000 hot -> cold"),
        "{out}"
    );
    assert!(out.contains("duplicate id (already reserved)"), "{out}");
    assert!(out.contains("FROZEN: hot balance"), "{out}");
    assert!(out.contains("refused event: event at"), "{out}");
    assert!(out.contains("summary: 19 events, 2 approved"), "{out}");

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let o = kinko(&json_args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["events"].as_array().unwrap().len(), 19);
    assert_eq!(v["events"][3]["decision"]["decision"], "approved");
    assert_eq!(v["summary"]["duplicate"], 1);
    assert_eq!(v["summary"]["assets"]["BTC"]["approved_amount"], 70_000_000);
    assert_eq!(
        v["summary"]["assets"]["BTC"]["frozen"],
        serde_json::Value::Null
    );
}

#[test]
fn simulate_names_the_bad_line() {
    let policy = data("policy.toml");
    let (_d, p) = tmp_file(
        "ev.jsonl",
        "{\"at\":\"2026-03-01T09:00:00Z\",\"type\":\"tick\",\"asset\":\"BTC\"}\n{\"at\":\"yesterday\",\"type\":\"tick\",\"asset\":\"BTC\"}\n",
    );
    let o = kinko(&[
        "policy",
        "simulate",
        "--policy",
        policy.to_str().unwrap(),
        "--events",
        p.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("line 2: invalid event"),
        "{}",
        stderr(&o)
    );
}
