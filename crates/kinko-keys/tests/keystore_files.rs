//! The keystore file as an independent tool sees it: opened with the `age`
//! library directly, never holding the mnemonic in clear; plus a golden
//! version-1 file that must keep opening.

use std::io::Read;

use age::secrecy::SecretString;
use kinko_keys::keystore::{KEYSTORE_VERSION, MIN_WORK_FACTOR};
use kinko_keys::{
    Keystore, KeystoreOpenError, KeystoreOptions, Language, Mnemonic, Passphrase, WordCount,
};

fn fast() -> KeystoreOptions {
    KeystoreOptions::new()
        .with_work_factor(MIN_WORK_FACTOR)
        .unwrap()
}

/// Decrypts with the age crate alone, as `age -d` would.
fn age_decrypt(bytes: &[u8], passphrase: &str) -> Vec<u8> {
    let decryptor = age::Decryptor::new(bytes).unwrap();
    assert!(decryptor.is_scrypt());
    let identity = age::scrypt::Identity::new(SecretString::from(passphrase.to_owned()));
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn an_independent_age_reader_opens_the_keystore_and_the_mnemonic_is_not_in_clear() {
    for language in Language::ALL {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore.age");
        let mnemonic = Mnemonic::generate(WordCount::W24, language).unwrap();
        let phrase = mnemonic.phrase_with_secret().to_string();
        let ks = Keystore::new(mnemonic, Passphrase::from("bip39 extra"));
        ks.create_file(&path, &Passphrase::from("file passphrase"), &fast())
            .unwrap();

        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n-> scrypt "));
        // Not the phrase, not any of its words (Japanese words are >= 6 bytes,
        // English >= 3; 3-byte collisions with random bytes are possible, so
        // check words of 4 bytes or more).
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(&phrase));
        for word in phrase.split([' ', kinko_keys::IDEOGRAPHIC_SPACE]) {
            if word.len() >= 4 {
                assert!(!hay.contains(word), "a word of the mnemonic is in clear");
            }
        }
        assert!(!hay.contains("bip39 extra"));

        let plain = age_decrypt(&bytes, "file passphrase");
        let doc: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(doc["version"], KEYSTORE_VERSION);
        assert_eq!(doc["language"], language.as_str());
        assert_eq!(doc["mnemonic"], phrase.as_str());
        assert_eq!(doc["bip39_passphrase"], "bip39 extra");
        assert_eq!(doc["registrations"], serde_json::json!([]));
    }
}

const GOLDEN_PASSPHRASE: &str = "kinko golden keystore";
const GOLDEN_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// A version-1 keystore written by this code, kept as a golden file:
/// every later kinko must open it and derive the same keys.
#[test]
fn golden_version_1_keystore_opens() {
    let bytes = include_bytes!("data/keystore_v1.age");
    let ks = Keystore::decrypt(bytes, &Passphrase::from(GOLDEN_PASSPHRASE), &fast()).unwrap();
    assert_eq!(ks.mnemonic().phrase_with_secret().as_str(), GOLDEN_MNEMONIC);
    assert_eq!(ks.bip39_passphrase().expose_secret(), "TREZOR");
    assert_eq!(ks.registrations().len(), 1);
    // The seed and master key of trezor's first vector (vectors.json).
    let master = ks.master_key(bitcoin::NetworkKind::Main).unwrap();
    assert_eq!(
        master.to_string_with_secret().as_str(),
        "xprv9s21ZrQH143K3h3fDYiay8mocZ3afhfULfb5GX8kCBdno77K4HiA15Tg23wpbeF1pLfs1c5SPmYHrEpTuuRhxMwvKDwqdKiGJS9XFKzUsAF"
    );
    let wrong = Keystore::decrypt(bytes, &Passphrase::from("nope"), &fast()).unwrap_err();
    assert!(matches!(wrong, KeystoreOpenError::WrongPassphrase));
}

/// Writes `tests/data/keystore_v1.age`. Run by hand only:
/// `cargo test -p kinko-keys --test tests -- --ignored regenerate_golden`.
#[test]
#[ignore = "writes the golden file"]
fn regenerate_golden_keystore() {
    let mut ks = Keystore::new(
        Mnemonic::parse(GOLDEN_MNEMONIC).unwrap(),
        Passphrase::from("TREZOR"),
    );
    ks.registrations_mut().push(kinko_keys::Registration::new(
        "example",
        "wsh(sortedmulti(2,[73c5da0a/48h/1h/0h/2h]tpubExample/<0;1>/*))",
    ));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/keystore_v1.age");
    let bytes = ks
        .encrypt(&Passphrase::from(GOLDEN_PASSPHRASE), &fast())
        .unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn truncated_and_foreign_files_are_refused_clearly() {
    let ks = Keystore::new(
        Mnemonic::parse(GOLDEN_MNEMONIC).unwrap(),
        Passphrase::empty(),
    );
    let pw = Passphrase::from("pw");
    let ct = ks.encrypt(&pw, &fast()).unwrap();
    // Truncated payload: the passphrase is right, the rest fails.
    let err = Keystore::decrypt(&ct[..ct.len() - 10], &pw, &fast()).unwrap_err();
    assert!(matches!(err, KeystoreOpenError::Corrupted), "{err:?}");
    // Header damaged (inside the scrypt line).
    let mut bad = ct.clone();
    bad[35] = b'!';
    let err = Keystore::decrypt(&bad, &pw, &fast()).unwrap_err();
    assert!(matches!(err, KeystoreOpenError::Corrupted), "{err:?}");
    // An age file encrypted to a key, not a passphrase.
    let id = age::x25519::Identity::generate();
    let enc =
        age::Encryptor::with_recipients(std::iter::once(&id.to_public() as &dyn age::Recipient))
            .unwrap();
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).unwrap();
    std::io::Write::write_all(&mut w, b"{}").unwrap();
    w.finish().unwrap();
    let err = Keystore::decrypt(&out, &pw, &fast()).unwrap_err();
    assert!(
        matches!(err, KeystoreOpenError::NotPassphraseEncrypted),
        "{err:?}"
    );
    // Empty and random files.
    assert!(matches!(
        Keystore::decrypt(b"", &pw, &fast()),
        Err(KeystoreOpenError::NotAge)
    ));
    assert!(matches!(
        Keystore::decrypt(&[0xff; 100], &pw, &fast()),
        Err(KeystoreOpenError::NotAge)
    ));
    // Too large.
    assert!(matches!(
        Keystore::decrypt(&vec![b'a'; (1 << 20) + 1], &pw, &fast()),
        Err(KeystoreOpenError::TooLarge)
    ));
}
