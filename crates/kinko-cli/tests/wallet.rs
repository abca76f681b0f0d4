//! `kinko wallet create | export | import`: the binary against the library,
//! and the round trip create → export → import to the same wallet id.

use std::process::{Command, Output};
use std::str::FromStr;

use kinko_wallet::bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use kinko_wallet::bitcoin::secp256k1::Secp256k1;
use kinko_wallet::bitcoin::Network;
use kinko_wallet::{CoreImportOptions, Keychain, MultisigWallet};

/// BIP48 P2WSH account keys of three fixed test seeds, written as
/// `kinko-signer xpub` prints them: `[fp/48h/1h/0h/2h]tpub…`.
fn origins() -> Vec<String> {
    let secp = Secp256k1::new();
    let path = DerivationPath::from_str("m/48'/1'/0'/2'").unwrap();
    (1..=3u8)
        .map(|s| {
            let m = Xpriv::new_master(Network::Testnet, &[s; 32]).unwrap();
            let x = Xpub::from_priv(&secp, &m.derive_priv(&secp, &path).unwrap());
            format!("[{}/48h/1h/0h/2h]{}", m.fingerprint(&secp), x)
        })
        .collect()
}

/// The same wallet through the library: `wsh(sortedmulti(2, …/<0;1>/*))`.
fn library_wallet() -> MultisigWallet {
    // Origins as `kinko-signer` prints them (`h` steps) read by miniscript.
    let keys: Vec<String> = origins().iter().map(|o| format!("{o}/<0;1>/*")).collect();
    MultisigWallet::from_descriptor(
        &format!("wsh(sortedmulti(2,{}))", keys.join(",")),
        Network::Testnet,
    )
    .unwrap()
}

fn kinko(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinko"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn create_args(origins: &[String]) -> Vec<String> {
    let mut args: Vec<String> = ["wallet", "create", "--threshold", "2"]
        .map(String::from)
        .to_vec();
    for o in origins {
        args.push("--key".into());
        args.push(o.clone());
    }
    args
}

fn run(args: &[String]) -> Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    kinko(&refs)
}

#[test]
fn create_prints_the_descriptor_and_id() {
    let w = library_wallet();
    let stdout = ok(&run(&create_args(&origins())));
    assert_eq!(stdout, format!("{}\nid: {}\n", w.descriptor(), w.id()));

    // Key order does not matter to sortedmulti, but the descriptor keeps it:
    // same addresses, another id.
    let mut reversed = origins();
    reversed.reverse();
    let mut args = create_args(&reversed);
    args.push("--json".into());
    let v: serde_json::Value = serde_json::from_str(&ok(&run(&args))).unwrap();
    let back = MultisigWallet::from_descriptor(v["descriptor"].as_str().unwrap(), Network::Testnet)
        .unwrap();
    assert_eq!(v["id"], back.id());
    assert_ne!(v["id"], w.id());
    assert_eq!(v["network"], "testnet");
    assert_eq!(v["threshold"], 2);
    assert_eq!(v["keys"], 3);
    assert_eq!(v["warnings"], serde_json::json!([]));
    assert_eq!(
        back.address(Keychain::Receive, 0).unwrap(),
        w.address(Keychain::Receive, 0).unwrap()
    );

    let mut args = create_args(&origins());
    args.extend(["--network".into(), "regtest".into()]);
    let stdout = ok(&run(&args));
    assert!(stdout.ends_with(&format!("id: {}\n", w.id())), "{stdout}");
}

#[test]
fn create_refusals() {
    let o = origins();
    // Threshold above n: exit 1, no panic.
    let mut args = create_args(&o);
    args[3] = "4".into();
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("kinko: the keys do not make a wallet: invalid threshold 4 of 3"),
        "{err}"
    );
    // A key without its origin.
    let bare = o[1].split_once(']').unwrap().1.to_owned();
    let out = run(&create_args(&[o[0].clone(), bare]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("kinko: invalid --key 2"));
    // The same key twice.
    let out = run(&create_args(&[o[0].clone(), o[0].clone()]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keys 0 and 1 are the same key"));
    // tpubs on mainnet.
    let mut args = create_args(&o);
    args.extend(["--network".into(), "bitcoin".into()]);
    assert_eq!(run(&args).status.code(), Some(1));
    // No key at all: clap's usage error.
    assert_eq!(
        kinko(&["wallet", "create", "--threshold", "1"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn export_writes_what_the_library_writes() {
    let w = library_wallet();
    let d = w.descriptor();
    let stdout = ok(&kinko(&[
        "wallet",
        "export",
        "--descriptor",
        &d,
        "--format",
        "coldcard",
        "--name",
        "cold",
    ]));
    assert_eq!(stdout, w.to_coldcard("cold"));
    let stdout = ok(&kinko(&[
        "wallet",
        "export",
        "--descriptor",
        &d,
        "--format",
        "caravan",
        "--name",
        "cold",
    ]));
    assert_eq!(stdout, format!("{}\n", w.to_caravan("cold")));
    let stdout = ok(&kinko(&[
        "wallet",
        "export",
        "--descriptor",
        &d,
        "--format",
        "core",
        "--range-end",
        "50",
        "--timestamp",
        "1700000000",
    ]));
    assert_eq!(
        stdout,
        format!(
            "{}\n",
            w.to_core_import(&CoreImportOptions {
                range_end: 50,
                timestamp: Some(1_700_000_000)
            })
        )
    );
    // Core-only flags with another format: usage, exit 2.
    let out = kinko(&[
        "wallet",
        "export",
        "--descriptor",
        &d,
        "--format",
        "caravan",
        "--range-end",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "kinko: usage: --range-end and --timestamp are for --format core\n"
    );
}

#[test]
fn create_export_import_round_trip_keeps_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let created = ok(&run(&create_args(&origins())));
    let descriptor = created.lines().next().unwrap().to_owned();
    let id_line = created.lines().nth(1).unwrap().to_owned();
    for format in ["core", "coldcard", "caravan"] {
        let file = dir.path().join(format!("wallet.{format}"));
        let file = file.to_str().unwrap();
        ok(&kinko(&[
            "wallet",
            "export",
            "--descriptor",
            &descriptor,
            "--format",
            format,
            "--out",
            file,
        ]));
        let imported = ok(&kinko(&["wallet", "import", "--format", format, file]));
        assert_eq!(imported, created, "{format}");
        assert_eq!(imported.lines().nth(1).unwrap(), id_line);
    }
}

/// `kinko wallet import --format FORMAT [MORE…] FILE`.
fn import(format: &str, more: &[&str], file: &str) -> Output {
    let mut args = vec!["wallet", "import", "--format", format];
    args.extend_from_slice(more);
    args.push(file);
    kinko(&args)
}

/// The standard error of a command that must exit 1.
fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn import_refusals_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let w = library_wallet();
    let path = dir.path().join("wallet.file");
    let p = path.to_str().unwrap();
    let p2sh = w.to_coldcard("x").replace("Format: P2WSH", "Format: P2SH");
    std::fs::write(&path, p2sh).unwrap();
    assert_eq!(
        failed(&import("coldcard", &[], p)),
        format!("kinko: invalid coldcard wallet file {p}: not a p2wsh wallet\n")
    );
    // A testnet file read for bitcoin on request: refused, not re-read.
    std::fs::write(&path, w.to_coldcard("x")).unwrap();
    assert_eq!(
        failed(&import("coldcard", &["--network", "bitcoin"], p)),
        format!(
            "kinko: invalid coldcard wallet file {p}: \
             key 0 is for Test but the wallet network is bitcoin\n"
        )
    );
    // Caravan's network is the file's: --network must agree (signet reads a testnet file).
    std::fs::write(&path, w.to_caravan("x")).unwrap();
    assert_eq!(
        failed(&import("caravan", &["--network", "regtest"], p)),
        format!(
            "kinko: invalid caravan wallet file {p}: \
             the file is for testnet but --network is regtest\n"
        )
    );
    let out = import("caravan", &["--network", "signet", "--json"], p);
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["network"], "signet");
    assert_eq!(v["id"], w.id());
    // Larger than the cap: refused before it is read whole.
    std::fs::write(&path, vec![b' '; kinko_wallet::MAX_WALLET_FILE + 1]).unwrap();
    assert_eq!(
        failed(&import("caravan", &[], p)),
        format!("kinko: {p} is larger than 65536 bytes\n")
    );
}
