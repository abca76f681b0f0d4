//! `action-key`, `approve`, `sign-action` and `sign-setup` end to end,
//! through the real binary. Expected keys come from an independent
//! derivation (the `bip39` crate's seed, rust-bitcoin's `Xpriv::derive_priv`),
//! and every signed output is checked with kinko-auth.

use std::path::Path;
use std::str::FromStr;

use bitcoin::bip32::{DerivationPath, Xpriv};
use bitcoin::secp256k1::{Secp256k1, XOnlyPublicKey};
use bitcoin::Network;
use kinko_auth::{xonly_hex, Action, SetupId, SignedAction, UnixTime, Verifier};

use crate::fixtures::{keystore_file, run, write_file, Run, PHRASES};

/// The x-only key at `path` of a BIP39 test mnemonic, without kinko code.
fn expected_key(phrase: &str, path: &str) -> XOnlyPublicKey {
    let secp = Secp256k1::new();
    let seed = bip39::Mnemonic::parse(phrase).unwrap().to_seed("");
    let master = Xpriv::new_master(Network::Bitcoin, &seed).unwrap();
    let child = master
        .derive_priv(&secp, &DerivationPath::from_str(path).unwrap())
        .unwrap();
    child.to_keypair(&secp).x_only_public_key().0
}

const SETUP: &str = "version = 1\nasset = \"BTC\"\nnetwork = \"regtest\"\n";

fn setup_file(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("setup.toml");
    write_file(&p, SETUP.as_bytes());
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn action_key_is_the_independent_derivation() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore_file(dir.path(), "a.age", PHRASES[0]);
    let person = run(&["action-key", "--keystore", s(&ks)]);
    assert_eq!(person.code, 0, "{}", person.stderr);
    assert_eq!(
        person.stdout,
        format!(
            "{}\n",
            xonly_hex(&expected_key(PHRASES[0], "m/1057'/0'/0'"))
        )
    );
    let again = run(&["action-key", "--keystore", s(&ks), "--role", "person"]);
    assert_eq!(again.stdout, person.stdout, "deterministic");
    let audit = run(&["action-key", "--keystore", s(&ks), "--role", "audit"]);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    assert_eq!(
        audit.stdout,
        format!(
            "{}\n",
            xonly_hex(&expected_key(PHRASES[0], "m/1057'/1'/0'"))
        )
    );
    assert_ne!(audit.stdout, person.stdout);
    // The example of docs/signed-messages.md ("Keys").
    assert_eq!(
        person.stdout,
        "9824e1d4eaffd1a1990f1977e488d3e7367fdf62d0a29934a6fba5e4bff8b176\n"
    );
    assert_eq!(
        audit.stdout,
        "a36543957b87255cec11e77100847afb712bb4f18ca26b95fe347efe20d5fd97\n"
    );
    // Another mnemonic, another key.
    let other = keystore_file(dir.path(), "b.age", PHRASES[1]);
    let b = run(&["action-key", "--keystore", s(&other)]);
    assert_eq!(
        b.stdout,
        format!(
            "{}\n",
            xonly_hex(&expected_key(PHRASES[1], "m/1057'/0'/0'"))
        )
    );
}

fn approve_args<'a>(ks: &'a str, setup: &'a str) -> Vec<&'a str> {
    vec![
        "approve",
        "--keystore",
        ks,
        "--setup",
        setup,
        "--asset",
        "BTC",
        "--id",
        "w-42",
        "--to",
        "bcrt1qexample",
        "--amount",
        "150000000",
        "--expires",
        "2126-12-04T10:00:00Z",
    ]
}

#[test]
fn approve_signs_what_it_shows_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore_file(dir.path(), "a.age", PHRASES[0]);
    let setup = setup_file(dir.path());
    let out = dir.path().join("approval.json");
    let mut args = approve_args(s(&ks), s(&setup));
    args.extend(["--yes", "--out", s(&out)]);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "", "the signed action went to --out");
    let setup_id = SetupId::of_file(SETUP.as_bytes());
    // What it approves, in words, and the set-up id.
    assert!(
        r.stderr.contains(
            "approve withdrawal \"w-42\" of 150000000 BTC base units to \"bcrt1qexample\""
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&setup_id.to_string()), "{}", r.stderr);

    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
    let signed = SignedAction::from_json(text.trim_end()).unwrap();
    let key = expected_key(PHRASES[0], "m/1057'/0'/0'");
    assert_eq!(signed.verify(), Ok(key));
    assert_eq!(
        signed.action,
        Action::Approval {
            setup_id,
            asset: "BTC".into(),
            withdrawal_id: "w-42".into(),
            destination: "bcrt1qexample".into(),
            amount: 150_000_000,
            expires: UnixTime::parse_rfc3339("2126-12-04T10:00:00Z").unwrap(),
        }
    );
    let keys = vec![("alice".to_owned(), key)];
    let verifier = Verifier {
        setup_id,
        keys: &keys,
        now: UnixTime::parse_rfc3339("2026-12-04T00:00:00Z").unwrap(),
    };
    assert_eq!(verifier.check(&signed, Some("BTC")), Ok("alice"));

    // Never over an existing file: refused before anything is asked.
    let again = run(&args);
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert!(again.stderr.contains("no-overwrite"), "{}", again.stderr);

    // Without --out: one JSON line on stdout, and only that.
    let mut args = approve_args(s(&ks), s(&setup));
    args.push("--yes");
    let r = run(&args);
    let signed = signed_stdout(&r);
    assert_eq!(signed.verify(), Ok(key));
}

#[test]
fn approve_without_yes_and_without_a_terminal_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore_file(dir.path(), "a.age", PHRASES[0]);
    let setup = setup_file(dir.path());
    let out = dir.path().join("approval.json");
    let mut args = approve_args(s(&ks), s(&setup));
    args.extend(["--out", s(&out)]);
    let r = run(&args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    assert!(!out.exists(), "nothing is written");
    assert_eq!(r.stdout, "");
}

#[test]
fn approve_refuses_bad_arguments_as_usage() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore_file(dir.path(), "a.age", PHRASES[0]);
    let setup = setup_file(dir.path());
    for (flag, bad) in [
        ("--expires", "2026-12-04T10:00:00.5Z"),
        ("--expires", "tomorrow"),
        ("--amount", "-1"),
        ("--amount", "1.5"),
    ] {
        let mut args = approve_args(s(&ks), s(&setup));
        let i = args.iter().position(|a| *a == flag).unwrap();
        args[i + 1] = bad;
        args.push("--yes");
        let r = run(&args);
        assert_eq!(r.code, 2, "{flag} {bad}: {}", r.stderr);
    }
    let long = "x".repeat(2000);
    let mut args = approve_args(s(&ks), s(&setup));
    let i = args.iter().position(|a| *a == "--id").unwrap();
    args[i + 1] = &long;
    args.push("--yes");
    let r = run(&args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("longer than 1024 bytes"), "{}", r.stderr);
}

/// `sign-action --yes` on an action file.
fn sign_action(ks: &Path, file: &Path) -> Run {
    run(&[
        "sign-action",
        "--keystore",
        s(ks),
        "--action",
        s(file),
        "--yes",
    ])
}

/// The signed action a successful run wrote on stdout (one line).
fn signed_stdout(r: &Run) -> SignedAction {
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    SignedAction::from_json(r.stdout.trim_end()).unwrap()
}

#[test]
fn sign_action_and_sign_setup() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore_file(dir.path(), "c.age", PHRASES[2]);
    let key = expected_key(PHRASES[2], "m/1057'/0'/0'");
    let setup = setup_file(dir.path());
    let setup_id = SetupId::of_file(SETUP.as_bytes());

    let unfreeze = Action::Unfreeze {
        setup_id,
        asset: "BTC".into(),
        frozen_at: UnixTime::parse_rfc3339("2026-12-03T22:15:00Z").unwrap(),
        expires: UnixTime::parse_rfc3339("2026-12-04T22:15:00Z").unwrap(),
    };
    let file = dir.path().join("unfreeze.json");
    write_file(&file, serde_json::to_string(&unfreeze).unwrap().as_bytes());
    let r = sign_action(&ks, &file);
    let signed = signed_stdout(&r);
    assert!(
        r.stderr.contains("vote to lift the freeze of BTC"),
        "{}",
        r.stderr
    );
    assert_eq!(signed.action, unfreeze);
    assert_eq!(signed.verify(), Ok(key));

    let r = run(&[
        "sign-setup",
        "--keystore",
        s(&ks),
        "--setup",
        s(&setup),
        "--yes",
    ]);
    let signed = signed_stdout(&r);
    assert_eq!(signed.action, Action::SetupSignature { setup_id });
    assert_eq!(signed.verify(), Ok(key));

    // The same set-up signature through sign-action's general form.
    let file = dir.path().join("setup-signature.json");
    write_file(
        &file,
        format!(r#"{{"action":"setup-signature","setup_id":"{setup_id}"}}"#).as_bytes(),
    );
    let r = sign_action(&ks, &file);
    let again = signed_stdout(&r);
    assert_eq!(again.action, signed.action);
}

#[test]
fn sign_action_refuses_malformed_files_and_audit_heads() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore_file(dir.path(), "a.age", PHRASES[0]);
    let file = dir.path().join("bad.json");
    for (text, says) in [
        (
            r#"{"action":"approval","setup_id":"zz"}"#.to_owned(),
            "malformed action",
        ),
        (
            format!(
                r#"{{"action":"setup-signature","setup_id":"{}","extra":1}}"#,
                "00".repeat(32)
            ),
            "unknown field",
        ),
        ("not json".to_owned(), "malformed action"),
        ("x".repeat(20_000), "is larger than 16384 bytes"),
    ] {
        std::fs::remove_file(&file).ok();
        write_file(&file, text.as_bytes());
        let r = sign_action(&ks, &file);
        assert_eq!(r.code, 1, "{text}: {}", r.stderr);
        assert!(
            (r.stderr.contains("cannot read the action in") || says.starts_with("is larger"))
                && r.stderr.contains(says),
            "{}",
            r.stderr
        );
        assert_eq!(r.stdout, "");
    }

    let head = format!(
        r#"{{"action":"audit-head","setup_id":"{}","asset":"BTC","count":1,"hash":"{}","at":"2026-12-04T00:00:00Z"}}"#,
        "00".repeat(32),
        "11".repeat(32)
    );
    std::fs::remove_file(&file).ok();
    write_file(&file, head.as_bytes());
    let r = sign_action(&ks, &file);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("not-a-person-action"), "{}", r.stderr);
    assert_eq!(r.stdout, "");
}
