//! `kinko-signer init` and `xpub` end to end, through the real binary.
//!
//! Expected xpubs are computed the way the BIP39/BIP32 vector tests check
//! them — the `bip39` crate's seed, then rust-bitcoin's `Xpriv` — not through
//! kinko's own key types.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::Network;
use kinko_keys::{Language, Mnemonic, WordCount};

const BIN: &str = env!("CARGO_BIN_EXE_kinko-signer");
const PASS: &str = "test keystore passphrase";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("KINKO_PASSPHRASE")
        .env_remove("KINKO_BIP39_PASSPHRASE")
        .env("KINKO_INSECURE_SCRYPT_LOG_N", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary runs");
    {
        let mut si = child.stdin.take().expect("piped");
        if let Some(s) = stdin {
            si.write_all(s.as_bytes()).expect("stdin accepts");
        }
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("the binary exits");
    let r = Run {
        code: status.code().expect("exited, not killed"),
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    };
    assert!(!r.stderr.contains("panicked"), "panic: {}", r.stderr);
    r
}

fn with_pass() -> Vec<(&'static str, &'static str)> {
    vec![("KINKO_PASSPHRASE", PASS)]
}

fn ks_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// `[fingerprint/path]xpub` by the vectors' method.
fn expected(phrase: &str, bip39_pass: &str, network: Network, path: &str) -> String {
    let m = bip39::Mnemonic::parse(phrase).unwrap();
    let seed = m.to_seed(bip39_pass);
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(network, &seed).unwrap();
    let path: DerivationPath = path.parse().unwrap();
    let xpub = Xpub::from_priv(&secp, &master.derive_priv(&secp, &path).unwrap());
    let rel = path.to_string().replace('\'', "h");
    let rel = rel.trim_start_matches("m/");
    format!("[{}/{rel}]{xpub}", master.fingerprint(&secp))
}

#[test]
fn imported_mnemonics_of_every_length_and_language_give_the_vector_xpub() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for language in Language::ALL {
        for words in WordCount::ALL {
            let m = Mnemonic::generate(words, language).unwrap();
            let phrase = m.phrase_with_secret().to_string();
            // Alternate: no BIP39 passphrase / an NFKD-sensitive one.
            let bip39_pass = if n % 2 == 0 { "" } else { "㍍ガバヴァ" };
            let file = ks_path(dir.path(), &format!("k{n}.age"));
            let file = file.to_str().unwrap();
            let mut env = with_pass();
            env.push(("KINKO_BIP39_PASSPHRASE", bip39_pass));
            let r = run(
                &["init", "--keystore", file, "--import"],
                Some(&phrase),
                &env,
            );
            assert_eq!(r.code, 0, "{}", r.stderr);
            assert!(
                !r.stdout.contains(&phrase),
                "an import never prints the phrase"
            );

            let r = run(
                &["xpub", "--keystore", file, "--network", "testnet"],
                None,
                &with_pass(),
            );
            assert_eq!(r.code, 0, "{}", r.stderr);
            let want = expected(&phrase, bip39_pass, Network::Testnet, "m/48'/1'/0'/2'");
            assert_eq!(r.stdout.trim_end(), want);
            assert!(want.contains("]tpub"));
            n += 1;
        }
    }
    assert_eq!(n, 10);
}

#[test]
fn defaults_and_explicit_paths_on_mainnet() {
    let dir = tempfile::tempdir().unwrap();
    let file = ks_path(dir.path(), "k.age");
    let file = file.to_str().unwrap();
    let phrase = "legal winner thank year wave sausage worth useful legal winner thank yellow";
    let r = run(
        &["init", "--keystore", file, "--import"],
        Some(phrase),
        &with_pass(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    let r = run(&["xpub", "--keystore", file], None, &with_pass());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim_end(),
        expected(phrase, "", Network::Bitcoin, "m/48'/0'/0'/2'")
    );
    assert!(r.stdout.contains("/48h/0h/0h/2h]xpub"));
    assert_eq!(r.stdout.lines().count(), 1);

    let r = run(
        &["xpub", "--keystore", file, "--path", "m/84'/0'/3'"],
        None,
        &with_pass(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim_end(),
        expected(phrase, "", Network::Bitcoin, "m/84'/0'/3'")
    );
    for net in ["signet", "regtest", "testnet4"] {
        let r = run(
            &["xpub", "--keystore", file, "--network", net],
            None,
            &with_pass(),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("/48h/1h/0h/2h]tpub"), "{net}");
    }
}

#[test]
fn a_new_mnemonic_is_printed_once_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    for (language, words) in [("english", "12"), ("japanese", "24")] {
        let file = ks_path(dir.path(), &format!("{language}.age"));
        let file = file.to_str().unwrap();
        let r = run(
            &[
                "init",
                "--keystore",
                file,
                "--words",
                words,
                "--language",
                language,
            ],
            None,
            &with_pass(),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        // Numbered lines "   1. word".
        let printed: Vec<&str> = r
            .stdout
            .lines()
            .filter_map(|l| l.trim_start().split_once(". "))
            .filter(|(n, _)| n.parse::<usize>().is_ok())
            .map(|(_, w)| w)
            .collect();
        assert_eq!(printed.len().to_string(), words);
        assert!(r.stdout.contains("master fingerprint: "));
        let phrase = printed.join(" ");
        assert!(Mnemonic::parse(&phrase).is_ok());

        let r = run(
            &["xpub", "--keystore", file, "--network", "regtest"],
            None,
            &with_pass(),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            r.stdout.trim_end(),
            expected(&phrase, "", Network::Regtest, "m/48'/1'/0'/2'")
        );
    }
}

#[test]
fn japanese_with_ascii_spaces_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let m = Mnemonic::generate(WordCount::W12, Language::Japanese).unwrap();
    let ascii = m.phrase_with_secret().replace('\u{3000}', " ");
    let file = ks_path(dir.path(), "jp.age");
    let file = file.to_str().unwrap();
    let r = run(
        &[
            "init",
            "--keystore",
            file,
            "--import",
            "--language",
            "japanese",
        ],
        Some(&format!("  {ascii}\n")),
        &with_pass(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(
        &["xpub", "--keystore", file, "--network", "signet"],
        None,
        &with_pass(),
    );
    assert_eq!(
        r.stdout.trim_end(),
        expected(&ascii, "", Network::Signet, "m/48'/1'/0'/2'")
    );
}

#[test]
fn bad_mnemonics_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = "legal winner thank year wave sausage worth useful legal winner thank yellow";
    let cases = [
        (good.replace("yellow", "year"), "checksum"),
        (
            good.replace("wave", "wavy"),
            "word 5 is not in the english word list",
        ),
        (good.replace(" yellow", ""), "has 11 words"),
        (String::new(), "empty"),
        ("   \n".to_owned(), "empty"),
        ("qwerty asdfgh".to_owned(), "neither"),
        (format!("{good} yellow"), "has 13 words"),
    ];
    for (i, (input, want)) in cases.iter().enumerate() {
        let file = ks_path(dir.path(), &format!("bad{i}.age"));
        let r = run(
            &["init", "--keystore", file.to_str().unwrap(), "--import"],
            Some(input),
            &with_pass(),
        );
        assert_eq!(r.code, 1, "{input:?}: {}", r.stderr);
        assert!(r.stderr.contains("invalid mnemonic"), "{}", r.stderr);
        assert!(r.stderr.contains(want), "{input:?}: {}", r.stderr);
        assert!(!file.exists(), "no keystore is written");
        for w in ["legal", "winner", "wavy"] {
            assert!(
                !r.stderr.contains(w),
                "the error echoes the phrase: {}",
                r.stderr
            );
        }
    }
    // Not UTF-8.
    let file = ks_path(dir.path(), "bin.age");
    let mut cmd = Command::new(BIN);
    cmd.args(["init", "--keystore", file.to_str().unwrap(), "--import"])
        .env("KINKO_PASSPHRASE", PASS)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&[0xff, 0xfe, 0x00])
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
}

#[test]
fn bad_paths_and_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = ks_path(dir.path(), "k.age");
    let file = file.to_str().unwrap();
    for path in [
        "48h/0h",
        "m/48x",
        "m//1",
        "m/2147483648",
        "m/-1",
        "",
        "m/1/m",
    ] {
        let r = run(
            &["xpub", "--keystore", file, "--path", path],
            None,
            &with_pass(),
        );
        assert_eq!(r.code, 2, "{path:?}: {}", r.stderr);
        assert!(r.stderr.contains("--path"), "{}", r.stderr);
    }
    let usage: &[&[&str]] = &[
        &["xpub", "--keystore", file, "--network", "mainnet"],
        &["init", "--keystore", file, "--words", "13"],
        &["init", "--keystore", file, "--words", "twelve"],
        &["init", "--keystore", file, "--language", "french"],
        &["init", "--keystore", file, "--import", "--words", "12"],
        &["init"],
        &["frobnicate"],
    ];
    for args in usage {
        let r = run(args, None, &with_pass());
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    let r = run(
        &["init", "--keystore", file],
        None,
        &[
            ("KINKO_PASSPHRASE", PASS),
            ("KINKO_INSECURE_SCRYPT_LOG_N", "4"),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!Path::new(file).exists());
}

#[test]
fn wrong_passphrase_missing_file_and_security_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let file = ks_path(dir.path(), "k.age");
    let f = file.to_str().unwrap();
    let r = run(
        &["init", "--keystore", f, "--words", "12"],
        None,
        &with_pass(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before = std::fs::read(&file).unwrap();

    let r = run(
        &["xpub", "--keystore", f],
        None,
        &[("KINKO_PASSPHRASE", "not it")],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("wrong keystore passphrase"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("not it"));

    let missing = ks_path(dir.path(), "missing.age");
    let r = run(
        &["xpub", "--keystore", missing.to_str().unwrap()],
        None,
        &with_pass(),
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot open keystore"), "{}", r.stderr);

    // A damaged keystore: distinct from a wrong passphrase.
    let damaged = ks_path(dir.path(), "damaged.age");
    let mut bytes = before.clone();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    std::fs::write(&damaged, bytes).unwrap();
    let r = run(
        &["xpub", "--keystore", damaged.to_str().unwrap()],
        None,
        &with_pass(),
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("corrupted"), "{}", r.stderr);

    // Never overwrite: exit 3 naming the rule, file untouched.
    let r = run(
        &["init", "--keystore", f, "--words", "12"],
        None,
        &with_pass(),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("no-overwrite"), "{}", r.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // Empty keystore passphrase.
    let other = ks_path(dir.path(), "empty-pass.age");
    let r = run(
        &["init", "--keystore", other.to_str().unwrap()],
        None,
        &[("KINKO_PASSPHRASE", "")],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("empty-passphrase"));
    assert!(!other.exists());

    // A BIP48 path of the other network.
    let r = run(
        &[
            "xpub",
            "--keystore",
            f,
            "--path",
            "m/48h/1h/0h/2h",
            "--network",
            "bitcoin",
        ],
        None,
        &with_pass(),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("bip48-coin-type"));
}
