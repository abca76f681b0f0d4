//! Audit export lines (`kinko audit export`, untrusted text handed to an
//! auditor): any input verifies or fails with an error, never a panic; and a
//! valid chain built from the input, edited at one byte, never verifies
//! unchanged against its published heads.
#![no_main]

use kinko_ledger::audit::{verify_export, AuditHead, AuditRecord, GENESIS};
use kinko_policy::Timestamp;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = verify_export(text, &[]);
    }
    if data.len() < 3 {
        return;
    }
    // A valid chain of up to 4 records whose payloads come from the input.
    let (ctl, rest) = data.split_at(2);
    let parts: Vec<&[u8]> = rest.chunks(rest.len().div_ceil(4).max(1)).collect();
    let mut prev = GENESIS.to_owned();
    let mut lines = String::new();
    for (i, p) in parts.iter().enumerate() {
        let payload = String::from_utf8_lossy(p).into_owned();
        let asset = if ctl[0] & 1 == 0 { "BTC" } else { "XEM" };
        let r = AuditRecord::new(asset, i as u64 + 1, Timestamp::from_unix(i as i64), "tick", payload, &prev);
        prev.clone_from(&r.hash);
        lines.push_str(&serde_json::to_string(&r).expect("a record serializes"));
        lines.push('\n');
    }
    let asset = if ctl[0] & 1 == 0 { "BTC" } else { "XEM" };
    let heads = [AuditHead { asset: asset.into(), count: parts.len() as u64, hash: prev }];
    assert_eq!(verify_export(&lines, &heads).expect("a valid chain verifies"), parts.len() as u64);
    // Edit one byte (keeping the text UTF-8): never verifies as the same log.
    let mut bytes = lines.clone().into_bytes();
    let pos = usize::from(ctl[1]) * 7 % bytes.len();
    let old = bytes[pos];
    if !old.is_ascii() || old == b'\n' {
        return;
    }
    let new = if old == b'0' { b'1' } else { b'0' };
    bytes[pos] = new;
    let edited = String::from_utf8(bytes).expect("ascii edit keeps utf-8");
    if verify_export(&edited, &heads).is_ok() {
        // Only an edit that changes no record may pass (e.g. the time's
        // RFC 3339 text written differently for the same instant).
        let parse = |t: &str| -> Vec<AuditRecord> {
            t.lines().map(|l| serde_json::from_str(l).expect("verified lines parse")).collect()
        };
        assert_eq!(parse(&edited), parse(&lines), "edited export verified: byte {pos} {old} -> {new}");
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
