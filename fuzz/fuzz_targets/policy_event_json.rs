//! Event lines (the JSON of `kinko policy simulate` and of the audit
//! payloads): any bytes parse to an event or a typed error, never a panic;
//! the names in a parsed event keep their rules, and the engine decides it
//! (or refuses it) without panicking.
#![no_main]

use kinko_policy::{decide, valid_name, Config, Event, EventKind, State, WithdrawalId};
use libfuzzer_sys::fuzz_target;

const POLICY: &str = r#"
[assets.BTC]
hot_cap = 1_000_000
max_withdrawal = 50_000
[[assets.BTC.windows]]
duration = "1h"
limit = 200_000
[assets.BTC.allowlist]
mode = "require-approval"
activation_delay = "1h"
[assets.BTC.approvals]
approvers = ["ann", "bob"]
quorum = 2
"#;

fn do_test(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        // A name parses exactly when it keeps the rule.
        assert_eq!(text.parse::<WithdrawalId>().is_ok(), valid_name(text));
    }
    let event: Event = match serde_json::from_slice(data) {
        Ok(e) => e,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    if let EventKind::Withdrawal { id, user, destination, .. } = &event.kind {
        assert!(valid_name(id) && valid_name(user) && valid_name(destination));
    }
    let back = serde_json::to_string(&event).expect("an event serializes");
    let again: Event = serde_json::from_str(&back).expect("and parses back");
    assert_eq!(again, event);
    let config = Config::from_toml_str(POLICY).expect("the target's policy is valid");
    let mut state = State::default();
    let before = state.clone();
    if decide(&config, &mut state, &event).is_err() {
        assert_eq!(state, before, "a refused event changes nothing");
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
