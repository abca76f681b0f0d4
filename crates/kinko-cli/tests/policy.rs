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

/// `kinko policy simulate` of two files, with `--json` or not.
fn simulate(policy: &std::path::Path, events: &std::path::Path, json: bool) -> Output {
    let (policy, events) = (policy.to_str().unwrap(), events.to_str().unwrap());
    let args = [
        "policy", "simulate", "--policy", policy, "--events", events, "--json",
    ];
    kinko(&args[..if json { 7 } else { 6 }])
}

/// Issue 14's policy: the standard preset's `max_withdrawal_share` stays
/// beside the written `max_withdrawal` (docs/policy.md, "Presets").
const PRESET_POLICY: &str = r#"[assets.BTC]
preset = "standard"
hot_cap = 400000
max_withdrawal = 48505
[assets.BTC.approvals]
approvers = ["alice", "bob"]
quorum = 2
"#;

const PRESET_EVENTS: &str = r#"{"at":"2026-03-01T09:00:00Z","type":"deposit","asset":"BTC","wallet":"cold","amount":866722}
{"at":"2026-03-01T09:00:00Z","type":"deposit","asset":"BTC","wallet":"hot","amount":80000}
{"at":"2026-03-01T09:00:05Z","type":"withdrawal","asset":"BTC","id":"w-1","user":"u-1","destination":"bc1qx","amount":9000}
"#;

#[test]
fn check_prints_the_merged_pair_and_warns_about_the_presets_half() {
    for preset in ["standard", "japan"] {
        let (_d, p) = tmp_file(
            "p.toml",
            &PRESET_POLICY.replace("\"standard\"", &format!("\"{preset}\"")),
        );
        let o = kinko(&["policy", "check", "--policy", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("max withdrawal: min(48505, 0.5% of custody)"),
            "{out}"
        );
        let hot = if preset == "japan" { "5%" } else { "10%" };
        assert!(
            out.contains(&format!("hot cap:        min(400000, {hot} of custody)")),
            "{out}"
        );
        assert!(out.contains(&format!(
            "warning: assets.BTC.max_withdrawal_share = 0.5% comes from preset \"{preset}\", beside the max_withdrawal the file writes"
        )), "{out}");
        assert!(out.contains("warning: assets.BTC.hot_cap_share"), "{out}");

        let o = kinko(&["policy", "check", "--policy", p.to_str().unwrap(), "--json"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let btc = &v["assets"]["BTC"];
        assert_eq!(btc["preset"], preset);
        assert_eq!(
            btc["max_withdrawal"],
            serde_json::json!({"amount": 48505, "share": "0.5%"})
        );
        let w = btc["warnings"].as_array().unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(w[1]["key"], "max_withdrawal_share");
        assert_eq!(w[1]["value"], "0.5%");
        assert_eq!(w[1]["beside"], "max_withdrawal");
    }
    // Both keys written, or none: no warning.
    let policy = data("policy.toml");
    let o = kinko(&["policy", "check", "--policy", policy.to_str().unwrap()]);
    assert!(!stdout(&o).contains("warning"), "{}", stdout(&o));
}

#[test]
fn simulate_denies_the_issue_example_by_the_merged_maximum() {
    for preset in ["standard", "japan"] {
        let (_d, p) = tmp_file(
            "p.toml",
            &PRESET_POLICY.replace("\"standard\"", &format!("\"{preset}\"")),
        );
        let (_e, ev) = tmp_file("ev.jsonl", PRESET_EVENTS);
        let o = simulate(&p, &ev, false);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("denied [max_withdrawal]: above the per-withdrawal maximum 4733"),
            "{preset}: {out}"
        );
        assert!(out.contains("0 approved"), "{out}");
    }
}

/// docs/policy.md, "Event streams": a malformed line stops the replay after
/// the decisions of the lines before it, without a summary; an event the
/// engine refuses is refused alone.
#[test]
fn simulate_stops_at_a_malformed_line_but_not_at_a_refused_event() {
    let policy = data("policy.toml");
    let tick = |at: &str| format!("{{\"at\":\"{at}\",\"type\":\"tick\",\"asset\":\"BTC\"}}\n");
    let refused = tick("2026-03-01T09:00:00Z")
        + &tick("2026-03-01T08:00:00Z")
        + &tick("2026-03-01T09:01:00Z");
    let (_d, p) = tmp_file("ok.jsonl", &refused);
    let o = simulate(&policy, &p, false);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("summary: 3 events"), "{}", stdout(&o));

    let bad = tick("2026-03-01T09:00:00Z")
        + "{\"at\":\"2026-03-01T09:00:01Z\",\"type\":\"tick\",\"asset\":\"BTC\",\"x\":1}\n"
        + &tick("2026-03-01T09:01:00Z");
    let (_d, p) = tmp_file("bad.jsonl", &bad);
    for json in [false, true] {
        let o = simulate(&policy, &p, json);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("line 2: invalid event"),
            "{}",
            stderr(&o)
        );
        let out = stdout(&o);
        assert!(!out.contains("summary"), "{out}");
        assert_eq!(out.lines().count(), usize::from(!json), "{out}");
    }
}

#[test]
fn simulate_counts_an_event_with_a_bad_name_as_refused() {
    let policy = data("policy.toml");
    let (_d, p) = tmp_file(
        "ev.jsonl",
        concat!(
            "{\"at\":\"2026-03-01T09:00:00Z\",\"type\":\"tick\",\"asset\":\"BTC\"}\n",
            "{\"at\":\"2026-03-01T09:00:01Z\",\"type\":\"withdrawal\",\"id\":\"w 1\",\"user\":\"u\",",
            "\"asset\":\"BTC\",\"destination\":\"d\",\"amount\":5}\n",
        ),
    );
    let o = kinko(&[
        "policy",
        "simulate",
        "--policy",
        policy.to_str().unwrap(),
        "--events",
        p.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("refused event: invalid withdrawal id: 1 to 256 characters"),
        "{out}"
    );
    assert!(
        out.contains("2 events") && out.contains("1 refused"),
        "{out}"
    );
}
