//! Signed action round trip (kinko-auth): whatever `SignedAction::from_json`
//! accepts prints (`to_json`) to text that parses to the same value and
//! prints the same again; `verify()` never panics. Inputs that once failed
//! are kept in `fuzz/regressions/signed_action/` and replayed by
//! kinko-auth's tests (`tests/fuzz_regressions.rs`).
#![no_main]

use kinko_auth::SignedAction;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = SignedAction::from_json(text) else {
        return;
    };
    let printed = parsed.to_json();
    let again = match SignedAction::from_json(&printed) {
        Ok(a) => a,
        Err(e) => panic!("printed form does not parse ({e}): {printed}"),
    };
    assert_eq!(again, parsed);
    assert_eq!(again.to_json(), printed);
    let _ = parsed.verify();
    // The digest of what parsed is computable (no panic on any field).
    let _ = parsed.action.digest();
    let _ = parsed.action.to_string();
}

fuzz_target!(|data: &[u8]| do_test(data));
