//! The custody set-up file: the committed example (`tests/data/setup.toml`
//! and `setup.sigs`, written by [`example`] from fixed test keys; run with
//! `KINKO_BLESS=1` to rewrite them), each validation rule, and the
//! signatures file.

mod common;

use bitcoin::Network;
use common::{action_key, hex, person, sign_setup as sign, signed_setup, wallet, POLICY};
use kinko_auth::{Action, ActionRule, SetupId, UnixTime};
use kinko_cosigner::setup::{Role, Setup, SetupError, WalletRole};

/// The example set-up ([`common::signed_setup`] of the example policy).
fn example() -> (String, String) {
    signed_setup(POLICY)
}

fn err(text: &str) -> SetupError {
    Setup::parse_unsigned(text.as_bytes()).unwrap_err()
}

#[test]
fn golden_files_are_the_example() {
    let (text, sigs) = example();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    if std::env::var_os("KINKO_BLESS").is_some() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(format!("{dir}/setup.toml"), &text).unwrap();
        std::fs::write(format!("{dir}/setup.sigs"), &sigs).unwrap();
    }
    let want = std::fs::read_to_string(format!("{dir}/setup.toml"))
        .expect("golden file (KINKO_BLESS=1 writes it)");
    assert_eq!(text, want);
    let want_sigs = std::fs::read_to_string(format!("{dir}/setup.sigs")).unwrap();
    assert_eq!(sigs, want_sigs);
    let s = Setup::load_signed(want.as_bytes(), &want_sigs).unwrap();
    assert_eq!(s.id(), SetupId::of_file(want.as_bytes()));
    assert_eq!(s.signed_by(&want_sigs).unwrap(), ["carol", "dave"]);
}

#[test]
fn the_example_reads_back() {
    let (text, sigs) = example();
    let s = Setup::load_signed(text.as_bytes(), &sigs).unwrap();
    assert_eq!(s.asset(), "BTC");
    assert_eq!(s.network(), Network::Regtest);
    assert_eq!(s.hot_wallet(), &wallet([1, 2, 3]));
    assert_eq!(s.cold_wallet(), &wallet([4, 5, 6]));
    assert_eq!(s.policy_text(), POLICY);
    // The policy's hash is the text's.
    assert_eq!(
        s.policy().sha256().unwrap(),
        kinko_ledger::Policy::from_toml_str(POLICY)
            .unwrap()
            .sha256()
            .unwrap()
    );
    let (fee, rate) = s.fee_limits();
    assert_eq!(fee.to_sat(), 100_000);
    assert_eq!(rate.to_sat_per_vb_floor(), 200);
    assert_eq!(s.change_gap(), 1000);
    assert_eq!(s.chain_reference(), Some((870_000, 1_732_060_800)));
    let names = |v: &[(String, _)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(s.approvers()), ["alice", "bob"]);
    assert_eq!(names(s.admins()), ["carol", "dave", "erin"]);
    assert_eq!(s.approvers()[0].1, person(0x11).x_only_public_key().0);
    assert_eq!(s.admin_quorum(), 2);
    assert_eq!(
        s.audit_key(),
        action_key(2, "m/1057'/1'/0'").x_only_public_key().0
    );
    assert_eq!(
        s.signature_action(),
        Action::SetupSignature { setup_id: s.id() }
    );
    // One byte more (a trailing newline): another set-up, another id.
    let other = format!("{text}\n");
    assert_ne!(
        Setup::parse_unsigned(other.as_bytes()).unwrap().id(),
        s.id()
    );
}

#[test]
fn file_and_format_rules() {
    let (text, _) = example();
    let big = vec![b' '; kinko_cosigner::setup::MAX_SETUP_LEN + 1];
    assert!(matches!(
        Setup::parse_unsigned(&big),
        Err(SetupError::TooLarge { .. })
    ));
    assert!(matches!(
        Setup::parse_unsigned(b"version = 1\n\xff"),
        Err(SetupError::NotUtf8)
    ));
    assert!(matches!(err("version = "), SetupError::Toml(_)));
    let v2 = text.replace("version = 1", "version = 2\nnew_field = 1");
    assert!(
        matches!(err(&v2), SetupError::UnsupportedVersion { ref found } if found == "2"),
        "{}",
        err(&v2)
    );
    let none = text.replace("version = 1\n", "");
    assert!(
        matches!(err(&none), SetupError::UnsupportedVersion { ref found } if found == "missing")
    );
    let quoted = text.replace("version = 1", "version = \"1\"");
    assert!(matches!(
        err(&quoted),
        SetupError::UnsupportedVersion { .. }
    ));
    let unknown = text.replace("change_gap = 1000", "change_gap = 1000\ncolour = \"red\"");
    assert!(matches!(err(&unknown), SetupError::Toml(_)));
    let unknown_fee = text.replace("max_fee_sat = 100000", "max_fee_sat = 100000\nmin = 1");
    assert!(matches!(err(&unknown_fee), SetupError::Toml(_)));
    let net = text.replace("\"regtest\"", "\"mainnet\"");
    assert!(matches!(err(&net), SetupError::UnknownNetwork { .. }));
}

#[test]
fn wallet_rules() {
    let (text, _) = example();
    // tpub keys are not keys of the bitcoin network.
    let main = text.replace("\"regtest\"", "\"bitcoin\"");
    assert!(matches!(
        err(&main),
        SetupError::Descriptor {
            which: WalletRole::Hot,
            network: Network::Bitcoin,
            ..
        }
    ));
    let hot = wallet([1, 2, 3]).descriptor();
    let cold = wallet([4, 5, 6]).descriptor();
    let same = text.replace(&cold, &hot);
    assert!(matches!(err(&same), SetupError::SameWallet));
    // The same keys in another order are the same sortedmulti wallet.
    let reordered = wallet([3, 1, 2]).descriptor();
    let same = text.replace(&cold, &reordered);
    assert!(matches!(err(&same), SetupError::SameWallet));
    let broken = text.replace(&cold, "wsh(multi(1,x))");
    assert!(matches!(
        err(&broken),
        SetupError::Descriptor {
            which: WalletRole::Cold,
            ..
        }
    ));
}

#[test]
fn policy_rules() {
    let (text, _) = example();
    let bad = text.replace("quorum = 1", "quorum = 3");
    assert!(matches!(err(&bad), SetupError::Policy(_)));
    let other_asset = text.replace("assets.BTC", "assets.ETH");
    assert!(matches!(err(&other_asset), SetupError::PolicyAssets { .. }));
    let two = text.replace(
        "[assets.BTC]\n",
        "[assets.LTC]\nhot_cap = 1\n\n[assets.BTC]\n",
    );
    assert!(matches!(err(&two), SetupError::PolicyAssets { ref found, .. } if found.len() == 2));
    // An approver the policy names without a key.
    let frank = text.replace("[\"alice\", \"bob\"]", "[\"alice\", \"frank\"]");
    assert!(matches!(err(&frank), SetupError::ApproverWithoutKey { ref name } if name == "frank"));
    // An approver the policy does not use is allowed.
    let only_alice = text.replace("[\"alice\", \"bob\"]", "[\"alice\"]");
    Setup::parse_unsigned(only_alice.as_bytes()).unwrap();
}

#[test]
fn people_rules() {
    let (text, _) = example();
    let upper = text.replace("name = \"carol\"", "name = \"Carol\"");
    assert!(matches!(
        err(&upper),
        SetupError::InvalidName {
            role: Role::Admin,
            ..
        }
    ));
    let long = text.replace("name = \"bob\"", &format!("name = \"{}\"", "b".repeat(65)));
    assert!(matches!(
        err(&long),
        SetupError::InvalidName {
            role: Role::Approver,
            ..
        }
    ));
    let twice = text.replace("name = \"dave\"", "name = \"carol\"");
    assert!(matches!(
        err(&twice),
        SetupError::DuplicateName {
            role: Role::Admin,
            ..
        }
    ));
    let carol = hex(&person(0x21));
    let dave = hex(&person(0x22));
    let alice = hex(&person(0x11));
    let audit = hex(&action_key(2, "m/1057'/1'/0'"));
    let bad_key = text.replace(&dave, &"z".repeat(64));
    assert!(
        matches!(err(&bad_key), SetupError::InvalidKey { ref field } if field == "admins[1].key")
    );
    let bad_audit = text.replace(&audit, "00");
    assert!(
        matches!(err(&bad_audit), SetupError::InvalidKey { ref field } if field == "audit_key")
    );
    // One key for two admins, for an approver and an admin, for the audit key.
    let shared = text.replace(&dave, &carol);
    assert!(matches!(err(&shared), SetupError::DuplicateKey { .. }));
    let roles = text.replace(&carol, &alice);
    let e = err(&roles);
    assert_eq!(
        e.to_string(),
        "approver \"alice\" and admin \"carol\" have the same key"
    );
    let audit_reused = text.replace(&audit, &carol);
    assert_eq!(
        err(&audit_reused).to_string(),
        "admin \"carol\" and audit key have the same key"
    );
    // The same name in two roles (one person, two keystores) is allowed.
    let both = text.replace("name = \"bob\"", "name = \"carol\"");
    let both = both.replace("[\"alice\", \"bob\"]", "[\"alice\", \"carol\"]");
    Setup::parse_unsigned(both.as_bytes()).unwrap();
}

#[test]
fn number_rules() {
    let (text, _) = example();
    for (from, to) in [
        ("admin_quorum = 2", "admin_quorum = 0"),
        ("admin_quorum = 2", "admin_quorum = 4"),
    ] {
        assert!(matches!(
            err(&text.replace(from, to)),
            SetupError::AdminQuorum { admins: 3, .. }
        ));
    }
    Setup::parse_unsigned(
        text.replace("admin_quorum = 2", "admin_quorum = 3")
            .as_bytes(),
    )
    .unwrap();
    for (from, to) in [
        ("max_fee_sat = 100000", "max_fee_sat = 0"),
        ("max_fee_rate_sat_vb = 200", "max_fee_rate_sat_vb = 0"),
        ("max_fee_sat = 100000", "max_fee_sat = 2100000000000001"),
    ] {
        assert!(matches!(
            err(&text.replace(from, to)),
            SetupError::FeeLimit { .. }
        ));
    }
    assert!(matches!(
        err(&text.replace("max_fee_sat = 100000", "max_fee_sat = -1")),
        SetupError::Toml(_)
    ));
    for gap in ["0", "100001"] {
        assert!(matches!(
            err(&text.replace("change_gap = 1000", &format!("change_gap = {gap}"))),
            SetupError::ChangeGap { .. }
        ));
    }
    Setup::parse_unsigned(
        text.replace("change_gap = 1000", "change_gap = 100000")
            .as_bytes(),
    )
    .unwrap();
    for t in ["2024-11-20", "2024-11-20T00:00:00.5Z", "yesterday"] {
        let bad = text.replace("2024-11-20T00:00:00Z", t);
        assert!(matches!(err(&bad), SetupError::ChainTime { .. }), "{t}");
    }
    let high = text.replace("870000", "500000000");
    assert!(matches!(err(&high), SetupError::ChainHeight { .. }));
    // [chain] is optional.
    let no_chain = text.replace(
        "[chain]\nreference_height = 870000\nreference_time = \"2024-11-20T00:00:00Z\"\n",
        "",
    );
    assert_eq!(
        Setup::parse_unsigned(no_chain.as_bytes())
            .unwrap()
            .chain_reference(),
        None
    );
}

#[test]
fn service_rules() {
    let (text, _) = example();
    assert!(Setup::parse_unsigned(text.as_bytes())
        .unwrap()
        .backend_certificates()
        .is_empty());
    let a = "ab".repeat(32);
    let b = "0f".repeat(32);
    let with = |pins: &str| format!("{text}\n[service]\nbackend_certificates = [{pins}]\n");
    let two = Setup::parse_unsigned(with(&format!("\"{a}\", \"{b}\"")).as_bytes()).unwrap();
    assert_eq!(two.backend_certificates(), &[[0xab; 32], [0x0f; 32]]);
    let upper = a.to_uppercase();
    let many = vec![format!("\"{a}\""); 17].join(", ");
    for bad in [
        String::new(),
        format!("\"{}\"", &a[..62]),
        format!("\"{upper}\""),
        format!("\"{}zz\"", &a[..62]),
        format!("\"{a}\", \"{a}\""),
        many,
    ] {
        assert!(
            matches!(err(&with(&bad)), SetupError::BackendCertificates { .. }),
            "{bad}"
        );
    }
    // Only the one key is known in the table.
    let extra = format!("{text}\n[service]\nbackend_certificates = [\"{a}\"]\nport = 1\n");
    assert!(matches!(err(&extra), SetupError::Toml(_)));
}

fn refused_rule(text: &str, sigs: &str) -> (usize, ActionRule) {
    match Setup::load_signed(text.as_bytes(), sigs) {
        Err(SetupError::SignatureRefused { line, rule, .. }) => (line, rule),
        other => panic!("expected a refused line, got {other:?}"),
    }
}

#[test]
fn signatures_rules() {
    let (text, sigs) = example();
    let carol = sign(&text, 0x21);
    let dave = sign(&text, 0x22);
    let erin = sign(&text, 0x23);
    // Quorum: 2 of carol, dave, erin; blank lines ignored; a second
    // signature by the same admin counts once.
    Setup::load_signed(text.as_bytes(), &format!("\n{erin}\r\n\n  {dave}  \n")).unwrap();
    for (lines, have) in [
        (String::new(), 0),
        (format!("{carol}\n"), 1),
        (format!("{carol}\n{carol}\n"), 1),
    ] {
        match Setup::load_signed(text.as_bytes(), &lines) {
            Err(SetupError::NotEnoughSignatures { have: h, need: 2 }) => assert_eq!(h, have),
            other => panic!("{other:?}"),
        }
    }
    // Malformed.
    assert_eq!(
        refused_rule(&text, &format!("{sigs}not json\n")),
        (3, ActionRule::Malformed)
    );
    // For another set-up (the same text plus a newline).
    let other = sign(&format!("{text}\n"), 0x23);
    assert_eq!(
        refused_rule(&text, &format!("{carol}\n\n{other}\n")),
        (3, ActionRule::WrongSetup)
    );
    // By a non-admin: an approver, the audit key.
    let alice = sign(&text, 0x11);
    assert_eq!(
        refused_rule(&text, &format!("{alice}\n{sigs}")),
        (1, ActionRule::UnknownSigner)
    );
    // Not verifying: carol's signature with dave's key named as signer.
    let forged = carol.replace(&hex(&person(0x21)), &hex(&person(0x22)));
    assert_eq!(
        refused_rule(&text, &format!("{sigs}{forged}\n")),
        (3, ActionRule::BadSignature)
    );
    // Another action, even by an admin.
    let approval = Action::Approval {
        setup_id: SetupId::of_file(text.as_bytes()),
        asset: "BTC".into(),
        withdrawal_id: "w".into(),
        destination: "d".into(),
        amount: 1,
        expires: UnixTime::from_unix(2_000_000_000),
    }
    .sign(&person(0x21))
    .to_json();
    assert_eq!(
        refused_rule(&text, &format!("{sigs}{approval}\n")),
        (3, ActionRule::WrongAction)
    );
    let e = Setup::load_signed(text.as_bytes(), &format!("{sigs}{approval}\n")).unwrap_err();
    assert_eq!(e.action_rule(), Some(ActionRule::WrongAction));
    assert!(e
        .to_string()
        .starts_with("signatures line 3: refused by rule wrong-action"));
    // Too large.
    let big = " ".repeat(kinko_cosigner::setup::MAX_SIGNATURES_LEN + 1);
    assert!(matches!(
        Setup::load_signed(text.as_bytes(), &big),
        Err(SetupError::SignaturesTooLarge { .. })
    ));
}

/// Inputs the fuzz target found stay fixed.
///
/// `crash-dd23302c…`: a signatures line whose JSON error message, quoting
/// non-ASCII input, was cut inside a character by kinko-auth's
/// `SignedAction::from_json` (a panic; fixed there, `json_error`).
#[test]
fn fuzz_regressions() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/regressions/setup");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        let (setup, sigs) = split_fuzz_input(&data);
        let _ = Setup::load_signed(setup, &sigs);
        let _ = Setup::parse_unsigned(setup);
    }
}

/// The fuzz target's split: the set-up bytes up to the first NUL, the
/// signatures text after it.
fn split_fuzz_input(data: &[u8]) -> (&[u8], String) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (
            &data[..i],
            String::from_utf8_lossy(&data[i + 1..]).into_owned(),
        ),
        None => (data, String::new()),
    }
}
