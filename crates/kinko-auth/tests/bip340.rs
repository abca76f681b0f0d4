//! Our BIP-340 wiring (rust-secp256k1 through `bitcoin`, the calls
//! `Action::sign_with_aux_rand` and `SignedAction::verify` make, keys read
//! by `parse_xonly`) against BIP-340's own test vectors,
//! `tests/data/bip340-test-vectors.csv` (see `tests/data/README.md` for its
//! source).

use bitcoin::hex::FromHex;
use bitcoin::secp256k1::{schnorr, Keypair, Message, Secp256k1};
use kinko_auth::{parse_xonly, xonly_hex};

use crate::common::read_data;

#[test]
fn official_bip340_vectors() {
    let secp = Secp256k1::new();
    let text = read_data("bip340-test-vectors.csv");
    let mut rows = 0;
    let mut signed = 0;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        // The comment (last column) may contain commas; the first seven
        // columns do not.
        let cols: Vec<&str> = line.trim_end().splitn(8, ',').collect();
        let [index, secret, public, aux, msg, sig, result, ..] = cols[..] else {
            panic!("short row: {line}");
        };
        let expect = match result {
            "TRUE" => true,
            "FALSE" => false,
            other => panic!("row {index}: result {other:?}"),
        };
        let msg = Message::from_digest(<[u8; 32]>::from_hex(msg).expect("32-byte message"));
        let sig_bytes = <[u8; 64]>::from_hex(sig).expect("64-byte signature");

        if !secret.is_empty() {
            let key = Keypair::from_seckey_slice(&secp, &<[u8; 32]>::from_hex(secret).unwrap())
                .expect("valid secret key");
            assert_eq!(
                xonly_hex(&key.x_only_public_key().0),
                public.to_ascii_lowercase(),
                "row {index}: public key"
            );
            let aux = <[u8; 32]>::from_hex(aux).expect("32-byte aux_rand");
            let ours = secp.sign_schnorr_with_aux_rand(&msg, &key, &aux);
            assert_eq!(ours.serialize(), sig_bytes, "row {index}: signature");
            signed += 1;
        }

        // A key that is not a valid x coordinate is refused when read: the
        // signature cannot verify.
        let verified = match (
            parse_xonly(&public.to_ascii_lowercase()),
            schnorr::Signature::from_slice(&sig_bytes),
        ) {
            (Ok(pk), Ok(s)) => secp.verify_schnorr(&s, &msg, &pk).is_ok(),
            _ => false,
        };
        assert_eq!(verified, expect, "row {index}: verification");
        rows += 1;
    }
    assert_eq!((rows, signed), (15, 4), "every row of the file was checked");
}
