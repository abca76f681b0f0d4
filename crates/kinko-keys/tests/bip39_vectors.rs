//! BIP39 test vectors: English and Japanese.
//!
//! - English, passphrase "TREZOR": trezor/python-mnemonic `vectors.json`,
//!   https://github.com/trezor/python-mnemonic/blob/master/vectors.json
//!   (the "english" array, `[entropy, mnemonic, seed, xprv]`), copied into
//!   `tests/data/trezor_vectors_english.json`.
//! - Japanese, with the NFKD-sensitive passphrase "㍍ガバヴァぱばぐゞちぢ十人十色":
//!   bip32JP `test_JP_BIP39.json`, the vectors BIP39 links to,
//!   https://github.com/bip32JP/bip32JP.github.io/blob/master/test_JP_BIP39.json
//!   copied whole (24 vectors) into `tests/data/test_JP_BIP39.json`.

use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::NetworkKind;
use kinko_keys::{Language, Mnemonic, Passphrase, SecretXpriv, IDEOGRAPHIC_SPACE};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Deserialize)]
struct Trezor {
    english: Vec<(String, String, String, String)>,
}

#[derive(Deserialize)]
struct Japanese {
    entropy: String,
    phrase: String,
    salt: String,
    seed: String,
    bip32_xprv: String,
}

#[test]
fn trezor_english_vectors() {
    let v: Trezor = serde_json::from_str(include_str!("data/trezor_vectors_english.json")).unwrap();
    assert_eq!(v.english.len(), 24);
    let pass = Passphrase::from("TREZOR");
    for (entropy, phrase, seed, xprv) in &v.english {
        let entropy = Vec::<u8>::from_hex(entropy).unwrap();
        let m = Mnemonic::from_entropy(&entropy, Language::English).unwrap();
        assert_eq!(m.phrase_with_secret().as_str(), phrase);
        let parsed = Mnemonic::parse(phrase).unwrap();
        assert_eq!(parsed, m);
        assert_eq!(parsed.language(), Language::English);
        assert_eq!(&parsed.entropy_with_secret()[..], &entropy[..]);
        let s = parsed.to_seed(&pass);
        assert_eq!(s.expose_bytes().to_lower_hex_string(), *seed);
        let master = SecretXpriv::new_master(NetworkKind::Main, &s).unwrap();
        assert_eq!(master.to_string_with_secret().as_str(), xprv);
    }
}

#[test]
fn japanese_vectors_with_nfkd_passphrase() {
    let v: Vec<Japanese> = serde_json::from_str(include_str!("data/test_JP_BIP39.json")).unwrap();
    assert_eq!(v.len(), 24);
    for t in &v {
        // The passphrase differs from its NFKD form: this vector would fail
        // if normalization were skipped or NFD used.
        assert_ne!(t.salt, t.salt.nfkd().collect::<String>());
        assert_ne!(
            t.salt.nfd().collect::<String>(),
            t.salt.nfkd().collect::<String>()
        );
        let pass = Passphrase::from(t.salt.as_str());
        let entropy = Vec::<u8>::from_hex(&t.entropy).unwrap();

        // Written form, U+3000 separated as in the file.
        let parsed = Mnemonic::parse(&t.phrase).unwrap();
        assert_eq!(parsed.language(), Language::Japanese);
        assert_eq!(&parsed.entropy_with_secret()[..], &entropy[..]);
        let generated = Mnemonic::from_entropy(&entropy, Language::Japanese).unwrap();
        assert_eq!(generated, parsed);
        // Our output uses U+3000 and equals the vector up to NFKD.
        let out = generated.phrase_with_secret();
        assert!(out.contains(IDEOGRAPHIC_SPACE));
        assert_eq!(
            out.nfkd().collect::<String>(),
            t.phrase.nfkd().collect::<String>()
        );

        // ASCII spaces are accepted too.
        let ascii = t.phrase.replace(IDEOGRAPHIC_SPACE, " ");
        assert_eq!(Mnemonic::parse(&ascii).unwrap(), parsed);
        assert_eq!(
            Mnemonic::parse_in(&ascii, Language::Japanese).unwrap(),
            parsed
        );

        let seed = parsed.to_seed(&pass);
        assert_eq!(seed.expose_bytes().to_lower_hex_string(), t.seed);
        let master = SecretXpriv::new_master(NetworkKind::Main, &seed).unwrap();
        assert_eq!(master.to_string_with_secret().as_str(), t.bip32_xprv);
    }
}
