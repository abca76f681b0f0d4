//! Audit export lines (`kinko audit export`, untrusted text handed to an
//! auditor: records, then `{"signed_head": …}` lines): any input verifies or
//! fails with an error, never a panic, with or without the audit key; and a
//! valid chain built from the input, with its signed head, edited at one
//! byte, never verifies unchanged against its published heads or the key.
#![no_main]

use std::sync::OnceLock;

use kinko_keys::bitcoin::secp256k1::{Secp256k1, SecretKey, XOnlyPublicKey};
use kinko_ledger::audit::{
    hash_digest, verify_export, verify_export_with_key, AuditHead, AuditRecord, SignedHeadLine,
    GENESIS,
};
use kinko_ledger::kinko_auth::{Action, ActionKeypair, SetupId, UnixTime};
use kinko_policy::Timestamp;
use libfuzzer_sys::fuzz_target;

/// The audit key (fixed: the target checks the format, not the key).
fn key() -> &'static (ActionKeypair, XOnlyPublicKey) {
    static KEY: OnceLock<(ActionKeypair, XOnlyPublicKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[7; 32]).expect("a valid secret key");
        let kp = ActionKeypair::from_secret_key(&secp, &sk);
        (kp, kp.x_only_public_key().0)
    })
}

fn do_test(data: &[u8]) {
    let (keypair, xonly) = key();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = verify_export(text, &[]);
        let _ = verify_export_with_key(text, xonly, &[]);
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
    let count = parts.len() as u64;
    // The chain's signed head, as the export writes it after the records.
    let signed = Action::AuditHead {
        setup_id: SetupId::of_file(b"fuzz"),
        asset: asset.into(),
        count,
        hash: hash_digest(&prev).expect("a record hash is 64 hex digits"),
        at: UnixTime::from_unix(count as i64 - 1),
    }
    .sign_with_aux_rand(keypair, &[0; 32]);
    let signed_head = serde_json::from_str(&signed.to_json()).expect("a signed action is json");
    lines.push_str(&serde_json::to_string(&SignedHeadLine { signed_head }).expect("serializes"));
    lines.push('\n');
    let heads = [AuditHead { asset: asset.into(), count, hash: prev }];
    assert_eq!(verify_export(&lines, &heads).expect("a valid chain verifies"), count);
    let published = [signed];
    assert_eq!(
        verify_export_with_key(&lines, xonly, &published).expect("a signed chain verifies"),
        count
    );
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
    let keyed = verify_export_with_key(&edited, xonly, &published).is_ok();
    if verify_export(&edited, &heads).is_ok() || keyed {
        // Only an edit that changes no record may pass (e.g. the time's
        // RFC 3339 text written differently for the same instant).
        // (A signed head line may also be written differently for the
        // same signed action: compare the records only.)
        let parse = |t: &str| -> Vec<AuditRecord> {
            t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
        };
        assert_eq!(parse(&edited), parse(&lines), "edited export verified: byte {pos} {old} -> {new}");
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
