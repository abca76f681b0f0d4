//! BIP32 test vectors 1–5.
//!
//! Source: the "Test Vectors" section of BIP32,
//! https://github.com/bitcoin/bips/blob/master/bip-0032.mediawiki
//! copied into `tests/data/bip32_vectors.json` (vector 1–4 chains as
//! `[path, xpub, xprv]`, vector 5 as `[key, reason]`).

use std::str::FromStr;

use bitcoin::bip32::{Xpriv, Xpub};
use bitcoin::hex::FromHex;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::NetworkKind;
use kinko_keys::{
    decode_xkey, parse_xpub, ExtendedKey, KeyOrigin, KeyPath, OriginXpub, SecretXpriv, Seed,
    XkeyError,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    valid: Vec<Valid>,
    invalid: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct Valid {
    name: String,
    seed: String,
    chains: Vec<(String, String, String)>,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("data/bip32_vectors.json")).expect("valid test data")
}

#[test]
fn vectors_1_to_4_derive_and_round_trip() {
    let secp = Secp256k1::new();
    let v = vectors();
    assert_eq!(v.valid.len(), 4);
    let mut checked = 0;
    for vector in &v.valid {
        let seed = Seed::from_bytes(&Vec::<u8>::from_hex(&vector.seed).unwrap()).unwrap();
        let master = SecretXpriv::new_master(NetworkKind::Main, &seed).unwrap();
        for (path, xpub, xprv) in &vector.chains {
            let path = KeyPath::parse(path).unwrap();
            let key = master.derive(&secp, &path).unwrap();
            assert_eq!(
                key.to_string_with_secret().as_str(),
                xprv,
                "{} {path}",
                vector.name
            );
            assert_eq!(
                key.to_xpub(&secp).to_string(),
                *xpub,
                "{} {path}",
                vector.name
            );

            // Strict decoding accepts every valid key and round-trips it.
            let parsed: SecretXpriv = xprv.parse().unwrap();
            assert_eq!(parsed.to_string_with_secret().as_str(), xprv);
            assert_eq!(parse_xpub(xpub).unwrap().to_string(), *xpub);
            assert!(matches!(decode_xkey(xpub), Ok(ExtendedKey::Public(_))));
            assert!(matches!(decode_xkey(xprv), Ok(ExtendedKey::Private(_))));

            // With its origin, the xpub prints and parses back.
            let origin = KeyOrigin::new(master.fingerprint(&secp), path.clone());
            let ox = OriginXpub::new(origin, parse_xpub(xpub).unwrap()).unwrap();
            assert_eq!(ox.to_string().parse::<OriginXpub>().unwrap(), ox);
            checked += 1;
        }
    }
    assert_eq!(checked, 6 + 6 + 2 + 3);
}

#[test]
fn vector_5_every_invalid_key_is_rejected() {
    let v = vectors();
    assert_eq!(v.invalid.len(), 16);
    for (key, reason) in &v.invalid {
        let err = decode_xkey(key).expect_err(reason);
        assert!(parse_xpub(key).is_err(), "{reason}");
        assert!(SecretXpriv::from_str(key).is_err(), "{reason}");
        assert!(
            format!("[d34db33f]{key}").parse::<OriginXpub>().is_err(),
            "{reason}"
        );
        // The error names the same defect as the BIP's label.
        let expected = match reason.as_str() {
            "pubkey version / prvkey mismatch" => XkeyError::PublicVersionPrivateData,
            "prvkey version / pubkey mismatch" => XkeyError::PrivateVersionPublicData,
            "invalid pubkey prefix 04" => XkeyError::PublicKeyPrefix(4),
            "invalid prvkey prefix 04" => XkeyError::PrivateKeyPrefix(4),
            "invalid pubkey prefix 01" => XkeyError::PublicKeyPrefix(1),
            "invalid prvkey prefix 01" => XkeyError::PrivateKeyPrefix(1),
            "zero depth with non-zero parent fingerprint" => XkeyError::ZeroDepthParentFingerprint,
            "zero depth with non-zero index" => XkeyError::ZeroDepthChildNumber,
            "unknown extended key version" => match err {
                XkeyError::UnknownVersion(_) => err.clone(),
                _ => panic!("{reason}: {err:?}"),
            },
            "private key 0 not in 1..n-1" | "private key n not in 1..n-1" => {
                XkeyError::PrivateKeyOutOfRange
            }
            r if r.starts_with("invalid pubkey 0200") => XkeyError::PublicKeyNotOnCurve,
            "invalid checksum" => XkeyError::Base58,
            other => panic!("unexpected label {other}"),
        };
        assert_eq!(err, expected, "{reason}");
    }
}

/// Why the strict wrapper exists: rust-bitcoin 0.32 alone accepts some of
/// vector 5. If this starts failing, rust-bitcoin got stricter (good news);
/// kinko's own checks stay.
#[test]
fn rust_bitcoin_alone_accepts_some_of_vector_5() {
    let accepted = vectors()
        .invalid
        .iter()
        .filter(|(k, _)| Xpub::from_str(k).is_ok() || Xpriv::from_str(k).is_ok())
        .count();
    assert!(accepted > 0, "rust-bitcoin now rejects all of vector 5");
}
