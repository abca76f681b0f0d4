//! The `/v1` API's request bodies (kinko-client's types, kinko-cosignd's
//! router): any bytes, as the body of any endpoint, get an answer of the
//! API — never a panic, never a `500 internal`, always JSON (`ErrorBody`
//! for errors) — and whatever parses as a request type round-trips and has
//! a digest. The router runs in-process (no socket, no TLS) over one
//! authority of the committed example set-up on a SQLite ledger in a
//! temporary file, funded with 20 BTC, so requests that parse are decided
//! and change the state the next inputs meet.
//!
//! Input: byte 0 chooses the endpoint (`ENDPOINTS`, modulo), byte 1 the
//! withdrawal id put in a `{id}` path, the rest is the body. Inputs that
//! once failed are kept in `fuzz/regressions/api_bodies/` and replayed by
//! kinko-cosignd's `tests/api.rs` (`fuzz_regressions`).
#![no_main]

use std::sync::OnceLock;

use kinko_client::api::{self, ENDPOINTS};
use kinko_cosigner::{Authority, Clock, Setup};
use kinko_wallet::bitcoin::bip32::{DerivationPath, Xpriv};
use kinko_wallet::bitcoin::secp256k1::Secp256k1;
use kinko_wallet::bitcoin::{Address, Network, ScriptBuf};
use kinko_wallet::XprvSigner;
use libfuzzer_sys::fuzz_target;

/// Ids the paths name: one the seed reserves, one unknown, one that needs
/// percent-encoding, an empty one and one that is not UTF-8.
const IDS: [&str; 5] = ["w-1", "nobody", "w%2F1.x", "", "%FF"];

/// The example set-up's cosigner (keystore 2 of the test keys).
fn router() -> &'static kinko_cosignd::fuzz::Router {
    static R: OnceLock<kinko_cosignd::fuzz::Router> = OnceLock::new();
    R.get_or_init(|| {
        let setup = Setup::load_signed(
            include_bytes!("../../crates/kinko-cosigner/tests/data/setup.toml"),
            include_str!("../../crates/kinko-cosigner/tests/data/setup.sigs"),
        )
        .expect("the committed example set-up");
        let master = Xpriv::new_master(Network::Regtest, &[2; 32]).expect("master");
        let path: DerivationPath = "m/48'/1'/0'/2'".parse().expect("path");
        let signer = XprvSigner::from_master(&master, &path).expect("signer");
        let audit: DerivationPath = "m/1057'/1'/0'".parse().expect("path");
        let secp = Secp256k1::new();
        let audit = master
            .derive_priv(&secp, &audit)
            .expect("audit key")
            .to_keypair(&secp);
        let dir = std::env::temp_dir().join(format!("kinko-fuzz-api-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite:{}", dir.join("ledger.db").display());
        let mut a = Authority::open(setup, &url, signer, audit, Clock::System).expect("authority");
        a.report_deposit(kinko_policy::Wallet::Hot, 2_000_000_000)
            .expect("funding");
        // The fixture's `outside(1)`: an address of no wallet of the set-up.
        let dest = Address::p2wsh(&ScriptBuf::from_bytes(vec![0x51, 1]), Network::Regtest);
        a.request_withdrawal("w-1", "u", &dest.to_string(), 50_000)
            .expect("a reservation");
        kinko_cosignd::fuzz::Router::new(a).expect("router")
    })
}

/// Whatever parses as `T` prints to JSON that parses to the same value,
/// and has a digest.
fn round_trip<T>(data: &[u8]) -> Option<T>
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let t: T = serde_json::from_slice(data).ok()?;
    let printed = serde_json::to_vec(&t).expect("a parsed request prints");
    let again: T = serde_json::from_slice(&printed).expect("the printed request parses");
    assert_eq!(again, t);
    assert_eq!(api::request_digest("/e", &t).len(), 64);
    Some(t)
}

fn signed_action(v: &serde_json::Value) {
    let _ = kinko_auth::SignedAction::from_json(&v.to_string());
}

fn do_test(data: &[u8]) {
    let (Some(&e), Some(&i)) = (data.first(), data.get(1)) else {
        return;
    };
    let body = &data[2..];

    // Every type, whatever the endpoint.
    round_trip::<api::WithdrawalRequest>(body);
    round_trip::<api::IdRequest>(body);
    round_trip::<api::DepositRequest>(body);
    round_trip::<api::AmountRequest>(body);
    round_trip::<api::FreezeRequest>(body);
    round_trip::<api::CosignRequest>(body);
    if let Some(s) = round_trip::<api::SignedRequest>(body) {
        signed_action(&s.signed);
    }
    if let Some(q) = round_trip::<api::QuorumRequest>(body) {
        q.signed.iter().for_each(signed_action);
    }
    if let Some(p) = round_trip::<api::PolicyChangeRequest>(body) {
        p.signed.iter().for_each(signed_action);
    }

    // The router.
    let ep = ENDPOINTS[e as usize % ENDPOINTS.len()];
    let path = ep.path.replace("{id}", IDS[i as usize % IDS.len()]);
    let (status, answer) = router().call(ep.method, &path, body);
    assert_ne!(status, 0, "{path}: the request did not build");
    assert_ne!(
        status,
        500,
        "{} {path}: {}",
        ep.method,
        String::from_utf8_lossy(&answer)
    );
    if status == 200 {
        if ep.path == "/metrics" || ep.path == "/v1/audit/export" {
            return;
        }
        let v: serde_json::Value = serde_json::from_slice(&answer).expect("a JSON answer");
        assert!(v.is_object(), "{path}: {v}");
    } else {
        let err: api::ErrorBody = serde_json::from_slice(&answer).unwrap_or_else(|e| {
            panic!(
                "{path} {status}: not an ErrorBody ({e}): {}",
                String::from_utf8_lossy(&answer)
            )
        });
        assert!(!err.error.kind.is_empty());
        if err.error.kind == "refused" || err.error.kind == "conflict" {
            assert!(err.error.rule.is_some(), "{path}: {err:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
