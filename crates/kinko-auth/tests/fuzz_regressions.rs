//! Inputs the `signed_action` fuzz target once failed on
//! (`fuzz/regressions/signed_action/`), replayed with the target's checks:
//! what parses prints to JSON that parses to the same value, and verifying
//! never panics.

use kinko_auth::SignedAction;

use crate::common::workspace_path;

/// The fuzz target's property for one input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = SignedAction::from_json(text) else {
        return;
    };
    let printed = parsed.to_json();
    let again = SignedAction::from_json(&printed)
        .unwrap_or_else(|e| panic!("printed form does not parse ({e}): {printed}"));
    assert_eq!(again, parsed);
    assert_eq!(again.to_json(), printed);
    let _ = parsed.verify();
}

#[test]
fn regressions_stay_fixed() {
    let dir = workspace_path("fuzz/regressions/signed_action");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries {
        let p = e.expect("dir entry").path();
        check(&std::fs::read(&p).expect("readable"));
    }
}
