//! The committed test vectors, `tests/data/vectors.json`.
//!
//! The vectors are defined here ([`cases`]) and the file must be exactly what
//! they produce, so a change to the encoding, a tag or the JSON form fails
//! this test. A second test reads only the file and recomputes every vector
//! from it, as another implementation would.
//!
//! After a deliberate change (a new action, a new version of a message):
//! `KINKO_WRITE_VECTORS=1 cargo test -p kinko-auth --test tests vectors`
//! rewrites the file; review the diff.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::secp256k1::{Keypair, Secp256k1};
use kinko_auth::{
    parse_xonly, xonly_hex, Action, ActionRule, Digest, SetupId, SignedAction, UnixTime, Verifier,
};
use serde_json::{json, Value};

use crate::common::{data_path, read_data};

/// The set-up file every vector is bound to (its bytes give the set-up id).
pub const SETUP_FILE: &str = "version = 1\nasset = \"BTC\"\nnetwork = \"regtest\"\n";
/// Another set-up, for the negative vectors.
const OTHER_SETUP_FILE: &str = "version = 1\nasset = \"BTC\"\nnetwork = \"signet\"\n";
/// The auxiliary randomness of every vector.
const AUX: [u8; 32] = [0; 32];

/// Test-only keys: never use them for anything else.
pub const ALICE: [u8; 32] = [0x01; 32];
const BOB: [u8; 32] = [0x02; 32];
const CAROL: [u8; 32] = [0x03; 32];
const AUDIT: [u8; 32] = [0x04; 32];

fn keypair(secret: &[u8; 32]) -> Keypair {
    Keypair::from_seckey_slice(&Secp256k1::new(), secret).expect("test key is valid")
}

fn t(s: &str) -> UnixTime {
    UnixTime::parse_rfc3339(s).expect("test time")
}

fn setup() -> SetupId {
    SetupId::of_file(SETUP_FILE.as_bytes())
}

fn approval(amount: u64, setup_id: SetupId) -> Action {
    Action::Approval {
        setup_id,
        asset: "BTC".into(),
        withdrawal_id: "w-2026-0001".into(),
        destination: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
        amount,
        expires: t("2026-12-04T10:00:00Z"),
    }
}

fn allowlist_fields() -> (String, String, UnixTime) {
    (
        "BTC".into(),
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
        t("2026-12-11T00:00:00Z"),
    )
}

/// The positive vectors: a name, the signer's secret key and the action.
/// At least one per action.
pub fn cases() -> Vec<(&'static str, [u8; 32], Action)> {
    let s = setup();
    let (asset, destination, expires) = allowlist_fields();
    vec![
        (
            "setup-signature",
            CAROL,
            Action::SetupSignature { setup_id: s },
        ),
        ("approval", ALICE, approval(150_000_000, s)),
        (
            // Lengths count UTF-8 bytes, not characters ("é" is 2 bytes).
            "approval-utf8-and-empty",
            BOB,
            Action::Approval {
                setup_id: s,
                asset: "BTC".into(),
                withdrawal_id: "retrait-é".into(),
                destination: String::new(),
                amount: u64::MAX,
                expires: UnixTime::from_unix(0),
            },
        ),
        (
            "unfreeze",
            BOB,
            Action::Unfreeze {
                setup_id: s,
                asset: "BTC".into(),
                frozen_at: t("2026-12-03T22:15:00Z"),
                expires: t("2026-12-04T22:15:00Z"),
            },
        ),
        (
            "allowlist-add",
            CAROL,
            Action::AllowlistAdd {
                setup_id: s,
                asset: asset.clone(),
                destination: destination.clone(),
                expires,
            },
        ),
        (
            "allowlist-cancel",
            CAROL,
            Action::AllowlistCancel {
                setup_id: s,
                asset,
                destination,
                expires,
            },
        ),
        (
            "policy-change",
            CAROL,
            Action::PolicyChange {
                setup_id: s,
                asset: "BTC".into(),
                policy_sha256: Digest(
                    sha256::Hash::hash(b"[assets.BTC]\nhot_cap = 2_000_000_000\n").to_byte_array(),
                ),
                sequence: 1,
                expires: t("2026-12-11T00:00:00Z"),
            },
        ),
        (
            "policy-cancel",
            CAROL,
            Action::PolicyCancel {
                setup_id: s,
                asset: "BTC".into(),
                sequence: 1,
                expires: t("2026-12-11T00:00:00Z"),
            },
        ),
        (
            "custody-statement",
            CAROL,
            Action::CustodyStatement {
                setup_id: s,
                asset: "BTC".into(),
                amount: 12_345_678_900,
                as_of: t("2026-12-01T00:00:00Z"),
                expires: t("2026-12-08T00:00:00Z"),
            },
        ),
        (
            "audit-head",
            AUDIT,
            Action::AuditHead {
                setup_id: s,
                asset: "BTC".into(),
                count: 42,
                hash: Digest(sha256::Hash::hash(b"the 42nd record").to_byte_array()),
                at: t("2026-12-04T09:30:00Z"),
            },
        ),
        (
            // An empty chain's head: the all-zero hash.
            "audit-head-empty-chain",
            AUDIT,
            Action::AuditHead {
                setup_id: s,
                asset: "BTC".into(),
                count: 0,
                hash: Digest([0; 32]),
                at: t("2026-12-01T00:00:00Z"),
            },
        ),
    ]
}

fn signed(secret: &[u8; 32], action: &Action) -> SignedAction {
    action.sign_with_aux_rand(&keypair(secret), &AUX)
}

/// The negative vectors: each a signature that must not verify.
fn negatives() -> Vec<(&'static str, &'static str, SignedAction)> {
    let s = setup();
    let good = signed(&ALICE, &approval(150_000_000, s));
    let (asset, destination, expires) = allowlist_fields();
    let add = signed(
        &CAROL,
        &Action::AllowlistAdd {
            setup_id: s,
            asset: asset.clone(),
            destination: destination.clone(),
            expires,
        },
    );
    let mut flipped = good.signature.serialize();
    flipped[63] ^= 0x01;
    vec![
        (
            "approval-other-amount",
            "the approval's signature with the amount changed by one base unit",
            SignedAction {
                action: approval(150_000_001, s),
                ..good.clone()
            },
        ),
        (
            "allowlist-add-as-cancel",
            "an allowlist-add signature presented as an allowlist-cancel: the same field bytes under another tag",
            SignedAction {
                action: Action::AllowlistCancel {
                    setup_id: s,
                    asset,
                    destination,
                    expires,
                },
                ..add
            },
        ),
        (
            "approval-other-setup",
            "the approval's signature presented for another set-up",
            SignedAction {
                action: approval(150_000_000, SetupId::of_file(OTHER_SETUP_FILE.as_bytes())),
                ..good.clone()
            },
        ),
        (
            "approval-flipped-bit",
            "the approval's signature with the lowest bit of its last byte flipped",
            SignedAction {
                signature: bitcoin::secp256k1::schnorr::Signature::from_slice(&flipped)
                    .expect("64 bytes"),
                ..good.clone()
            },
        ),
        (
            "approval-other-signer",
            "alice's approval signature naming bob as the signer",
            SignedAction {
                signer: keypair(&BOB).x_only_public_key().0,
                ..good
            },
        ),
    ]
}

/// Checks in context ([`Verifier`]): what a verifier with the set-up,
/// alice's and bob's keys and its own clock answers.
fn checks() -> Vec<(
    &'static str,
    SignedAction,
    Option<&'static str>,
    &'static str,
    Value,
)> {
    let s = setup();
    let other = SetupId::of_file(OTHER_SETUP_FILE.as_bytes());
    let mallory = [0x05; 32];
    let good = signed(&ALICE, &approval(150_000_000, s));
    let mut forged = signed(&mallory, &approval(150_000_000, s));
    forged.signer = keypair(&ALICE).x_only_public_key().0;
    vec![
        (
            "accepted",
            good.clone(),
            Some("BTC"),
            "2026-12-04T09:00:00Z",
            json!({"signer": "alice"}),
        ),
        (
            "at-the-expiry",
            good.clone(),
            Some("BTC"),
            "2026-12-04T10:00:00Z",
            json!({"signer": "alice"}),
        ),
        (
            "expired",
            good.clone(),
            Some("BTC"),
            "2026-12-04T10:00:01Z",
            json!({"rule": "expired"}),
        ),
        (
            "wrong-asset",
            good.clone(),
            Some("LTC"),
            "2026-12-04T09:00:00Z",
            json!({"rule": "wrong-asset"}),
        ),
        (
            "wrong-setup-first",
            // Another set-up, another asset, a stranger's key, expired: the
            // set-up rule is checked first.
            signed(
                &mallory,
                &Action::Unfreeze {
                    setup_id: other,
                    asset: "LTC".into(),
                    frozen_at: t("2026-12-01T00:00:00Z"),
                    expires: t("2026-12-01T00:00:00Z"),
                },
            ),
            Some("BTC"),
            "2026-12-04T09:00:00Z",
            json!({"rule": "wrong-setup"}),
        ),
        (
            "unknown-signer",
            signed(&mallory, &approval(150_000_000, s)),
            Some("BTC"),
            "2026-12-04T09:00:00Z",
            json!({"rule": "unknown-signer"}),
        ),
        (
            "unknown-signer-before-expired",
            signed(&mallory, &approval(150_000_000, s)),
            Some("BTC"),
            "2027-01-01T00:00:00Z",
            json!({"rule": "unknown-signer"}),
        ),
        (
            "bad-signature",
            forged,
            Some("BTC"),
            "2026-12-04T09:00:00Z",
            json!({"rule": "bad-signature"}),
        ),
        (
            "setup-signature-no-asset",
            signed(&ALICE, &Action::SetupSignature { setup_id: s }),
            None,
            "2030-01-01T00:00:00Z",
            json!({"signer": "alice"}),
        ),
    ]
}

fn verifier_keys() -> Vec<(String, bitcoin::secp256k1::XOnlyPublicKey)> {
    vec![
        ("alice".into(), keypair(&ALICE).x_only_public_key().0),
        ("bob".into(), keypair(&BOB).x_only_public_key().0),
    ]
}

/// The whole file, from the cases.
fn expected_file() -> String {
    let positive: Vec<Value> = cases()
        .into_iter()
        .map(|(name, secret, action)| {
            let s = signed(&secret, &action);
            json!({
                "name": name,
                "secret_key": secret.as_hex().to_string(),
                "public_key": xonly_hex(&s.signer),
                "action": serde_json::to_value(&action).expect("action is JSON"),
                "display": action.to_string(),
                "tag": action.tag(),
                "fields": action.encode().as_hex().to_string(),
                "digest": action.digest().as_hex().to_string(),
                "aux_rand": AUX.as_hex().to_string(),
                "signature": s.signature.serialize().as_hex().to_string(),
                "signed": s.to_json(),
            })
        })
        .collect();
    let negative: Vec<Value> = negatives()
        .into_iter()
        .map(|(name, reason, s)| json!({"name": name, "reason": reason, "signed": s.to_json()}))
        .collect();
    let checks: Vec<Value> = checks()
        .into_iter()
        .map(|(name, s, asset, now, expect)| {
            json!({"name": name, "signed": s.to_json(), "asset": asset, "now": now, "expect": expect})
        })
        .collect();
    let keys: Vec<Value> = verifier_keys()
        .iter()
        .map(|(n, k)| json!({"name": n, "key": xonly_hex(k)}))
        .collect();
    let doc = json!({
        "about": "kinko signed actions, test vectors (docs/signed-messages.md). The keys are test-only keys: never use them. `fields` is the canonical encoding, `digest` = sha256(sha256(tag) || sha256(tag) || fields), `signature` = BIP-340 over `digest` with `aux_rand`. Negative vectors must not verify. Checks are answers of a verifier holding `setup_id` and `verifier_keys`, with its clock at `now`.",
        "setup_file": SETUP_FILE,
        "setup_id": setup().to_string(),
        "verifier_keys": keys,
        "positive": positive,
        "negative": negative,
        "checks": checks,
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON");
    text.push('\n');
    text
}

#[test]
fn file_is_what_the_cases_produce() {
    let want = expected_file();
    if std::env::var_os("KINKO_WRITE_VECTORS").is_some() {
        std::fs::write(data_path("vectors.json"), &want).expect("write vectors.json");
    }
    let got = read_data("vectors.json");
    assert!(
        got == want,
        "tests/data/vectors.json differs from what the code produces; if the change is \
         deliberate, rerun with KINKO_WRITE_VECTORS=1 and review the diff"
    );
}

#[test]
fn every_action_has_a_vector() {
    let names: std::collections::BTreeSet<&str> =
        cases().iter().map(|(_, _, a)| a.name()).collect();
    for want in [
        "setup-signature",
        "approval",
        "unfreeze",
        "allowlist-add",
        "allowlist-cancel",
        "policy-change",
        "policy-cancel",
        "custody-statement",
        "audit-head",
    ] {
        assert!(names.contains(want), "no vector for {want}");
    }
    assert_eq!(
        names.len(),
        9,
        "a new action needs a vector here and in the docs"
    );
}

fn hex_str<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string"))
}

fn bytes<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    <[u8; N]>::from_hex(hex_str(v, key)).unwrap_or_else(|_| panic!("{key} is {N} bytes of hex"))
}

/// Reads only the file and recomputes every vector, as another
/// implementation would.
#[test]
fn vectors_recompute_from_the_file() {
    let file: Value = serde_json::from_str(&read_data("vectors.json")).expect("JSON");
    let setup_id = SetupId::of_file(file["setup_file"].as_str().expect("setup_file").as_bytes());
    assert_eq!(setup_id.to_string(), file["setup_id"]);

    let positive = file["positive"].as_array().expect("positive");
    assert!(positive.len() >= 9);
    for v in positive {
        let name = hex_str(v, "name");
        let key = keypair(&bytes::<32>(v, "secret_key"));
        assert_eq!(
            xonly_hex(&key.x_only_public_key().0),
            v["public_key"],
            "{name}"
        );
        let action: Action = serde_json::from_value(v["action"].clone()).expect("action");
        assert_eq!(action.setup_id(), setup_id, "{name}");
        assert_eq!(action.tag(), v["tag"], "{name}");
        assert_eq!(action.to_string(), v["display"], "{name}");
        assert_eq!(action.encode().as_hex().to_string(), v["fields"], "{name}");
        assert_eq!(action.digest(), bytes::<32>(v, "digest"), "{name}");
        assert_eq!(
            kinko_auth::tagged_hash(action.tag(), &action.encode()),
            bytes::<32>(v, "digest"),
            "{name}"
        );
        let s = action.sign_with_aux_rand(&key, &bytes::<32>(v, "aux_rand"));
        assert_eq!(
            s.signature.serialize(),
            bytes::<64>(v, "signature"),
            "{name}"
        );
        let parsed = SignedAction::from_json(hex_str(v, "signed")).expect("signed parses");
        assert_eq!(parsed, s, "{name}");
        assert_eq!(parsed.verify(), Ok(key.x_only_public_key().0), "{name}");
        assert_eq!(parsed.to_json(), v["signed"], "{name}");
    }

    let negative = file["negative"].as_array().expect("negative");
    assert!(negative.len() >= 4);
    for v in negative {
        let s = SignedAction::from_json(hex_str(v, "signed")).expect("negative parses");
        assert!(s.verify().is_err(), "{} verifies", v["name"]);
    }

    let keys: Vec<(String, _)> = file["verifier_keys"]
        .as_array()
        .expect("verifier_keys")
        .iter()
        .map(|k| {
            (
                hex_str(k, "name").to_owned(),
                parse_xonly(hex_str(k, "key")).expect("key"),
            )
        })
        .collect();
    for v in file["checks"].as_array().expect("checks") {
        let verifier = Verifier {
            setup_id,
            keys: &keys,
            now: t(hex_str(v, "now")),
        };
        let s = SignedAction::from_json(hex_str(v, "signed")).expect("check parses");
        let got = match verifier.check(&s, v["asset"].as_str()) {
            Ok(name) => json!({ "signer": name }),
            Err(r) => json!({ "rule": r.rule.as_str() }),
        };
        assert_eq!(got, v["expect"], "{}", v["name"]);
    }
}

#[test]
fn rule_names_are_stable() {
    // The docs and other implementations name rules by these strings.
    let all = [
        (ActionRule::BadSignature, "bad-signature"),
        (ActionRule::UnknownSigner, "unknown-signer"),
        (ActionRule::WrongSetup, "wrong-setup"),
        (ActionRule::WrongAsset, "wrong-asset"),
        (ActionRule::WrongAction, "wrong-action"),
        (ActionRule::Expired, "expired"),
        (ActionRule::ObjectMismatch, "object-mismatch"),
        (ActionRule::Replayed, "replayed"),
        (ActionRule::Malformed, "malformed"),
    ];
    for (rule, name) in all {
        assert_eq!(rule.as_str(), name);
    }
}
