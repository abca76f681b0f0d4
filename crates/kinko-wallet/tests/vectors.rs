//! Official test vectors that apply to kinko-wallet.

use std::collections::HashMap;

use kinko_wallet::bitcoin::base64::engine::general_purpose::STANDARD;
use kinko_wallet::bitcoin::base64::Engine as _;
use kinko_wallet::bitcoin::consensus::encode::serialize_hex;
use kinko_wallet::bitcoin::hex::{DisplayHex, FromHex};
use kinko_wallet::bitcoin::psbt::{self, Psbt};
use kinko_wallet::bitcoin::{Address, Network, OutPoint, TxOut};
use kinko_wallet::miniscript::descriptor::checksum::desc_checksum;
use kinko_wallet::{
    combine, decode_psbt, encode_psbt, extract, finalize, sorted_multisig_script, AnalysisOptions,
    DecodePsbtError, ExtractError, FinalizeError, MultisigWallet, PsbtEncoding, MAX_FEE_RATE,
};

use crate::common::wallet;

fn key(hex: &str) -> [u8; 33] {
    <[u8; 33]>::from_hex(hex.trim()).expect("33-byte hex key")
}

/// BIP67 test vectors, from bitcoin/bips `bip-0067.mediawiki` section "Test vectors"
/// (keys in the listed order, expected script hex and P2SH address).
#[test]
fn bip67_vectors() {
    let vectors: [(&[&str], &str, &str); 4] = [
        (
            &[
                "02ff12471208c14bd580709cb2358d98975247d8765f92bc25eab3b2763ed605f8",
                "02fe6f0a5a297eb38c391581c4413e084773ea23954d93f7753db7dc0adc188b2f",
            ],
            "522102fe6f0a5a297eb38c391581c4413e084773ea23954d93f7753db7dc0adc188b2f2102ff12471208c14bd580709cb2358d98975247d8765f92bc25eab3b2763ed605f852ae",
            "39bgKC7RFbpoCRbtD5KEdkYKtNyhpsNa3Z",
        ),
        (
            &[
                "02632b12f4ac5b1d1b72b2a3b508c19172de44f6f46bcee50ba33f3f9291e47ed0",
                "027735a29bae7780a9755fae7a1c4374c656ac6a69ea9f3697fda61bb99a4f3e77",
                "02e2cc6bd5f45edd43bebe7cb9b675f0ce9ed3efe613b177588290ad188d11b404",
            ],
            "522102632b12f4ac5b1d1b72b2a3b508c19172de44f6f46bcee50ba33f3f9291e47ed021027735a29bae7780a9755fae7a1c4374c656ac6a69ea9f3697fda61bb99a4f3e772102e2cc6bd5f45edd43bebe7cb9b675f0ce9ed3efe613b177588290ad188d11b40453ae",
            "3CKHTjBKxCARLzwABMu9yD85kvtm7WnMfH",
        ),
        (
            &[
                "030000000000000000000000000000000000004141414141414141414141414141",
                "020000000000000000000000000000000000004141414141414141414141414141",
                "020000000000000000000000000000000000004141414141414141414141414140",
                "030000000000000000000000000000000000004141414141414141414141414140",
            ],
            "522102000000000000000000000000000000000000414141414141414141414141414021020000000000000000000000000000000000004141414141414141414141414141210300000000000000000000000000000000000041414141414141414141414141402103000000000000000000000000000000000000414141414141414141414141414154ae",
            "32V85igBri9zcfBRVupVvwK18NFtS37FuD",
        ),
        (
            &[
                "022df8750480ad5b26950b25c7ba79d3e37d75f640f8e5d9bcd5b150a0f85014da",
                "03e3818b65bcc73a7d64064106a859cc1a5a728c4345ff0b641209fba0d90de6e9",
                "021f2f6e1e50cb6a953935c3601284925decd3fd21bc445712576873fb8c6ebc18",
            ],
            "5221021f2f6e1e50cb6a953935c3601284925decd3fd21bc445712576873fb8c6ebc1821022df8750480ad5b26950b25c7ba79d3e37d75f640f8e5d9bcd5b150a0f85014da2103e3818b65bcc73a7d64064106a859cc1a5a728c4345ff0b641209fba0d90de6e953ae",
            "3Q4sF6tv9wsdqu2NtARzNCpQgwifm2rAba",
        ),
    ];
    for (keys, script_hex, address) in vectors {
        let keys: Vec<[u8; 33]> = keys.iter().map(|k| key(k)).collect();
        let script = sorted_multisig_script(2, &keys).expect("valid threshold");
        assert_eq!(script.as_bytes().to_lower_hex_string(), script_hex);
        assert_eq!(
            Address::p2sh(&script, Network::Bitcoin)
                .unwrap()
                .to_string(),
            address
        );
    }
}

/// BIP380 checksum vectors, from bitcoin/bips `bip-0380.mediawiki` section
/// "Test Vectors" (`raw(deadbeef)#89f8spxm` and the invalid forms), applied to
/// the checksum function kinko writes with and to a wallet descriptor.
#[test]
fn bip380_checksum_vectors() {
    assert_eq!(desc_checksum("raw(deadbeef)").unwrap(), "89f8spxm");
    assert!(desc_checksum("raw(Ü)").is_err(), "invalid character");

    let (w, _) = wallet(2, 3);
    let good = w.descriptor();
    let (body, sum) = good.split_once('#').unwrap();
    assert!(MultisigWallet::from_descriptor(&good, Network::Testnet).is_ok());
    assert!(
        MultisigWallet::from_descriptor(body, Network::Testnet).is_ok(),
        "no checksum"
    );
    let mut flipped_sum = sum.to_string();
    let last = flipped_sum.pop().unwrap();
    flipped_sum.push(if last == 'q' { 'p' } else { 'q' });
    let payload_error = good.replacen("sortedmulti(2", "sortedmulti(1", 1);
    let bad = [
        format!("{body}#"),               // missing checksum
        format!("{body}#{sum}x"),         // too long
        format!("{body}#{}", &sum[..7]),  // too short
        format!("{body}#{flipped_sum}"),  // error in checksum
        payload_error,                    // error in payload
        format!("{body}##{}", &sum[1..]), // error in checksum (extra '#')
        format!("{body}Ü#{sum}"),         // invalid character
    ];
    for d in bad {
        assert!(
            MultisigWallet::from_descriptor(&d, Network::Testnet).is_err(),
            "{d}"
        );
    }
}

/// BIP389 invalid multipath descriptors, from bitcoin/bips `bip-0389.mediawiki`
/// section "Test Vectors": each is refused with an error (never a panic).
/// The valid vectors are not kinko wallets (no sortedmulti); the BIP's rule that
/// the first path is for receiving and the second for change is checked in
/// `descriptor::pair_equals_multipath`.
#[test]
fn bip389_invalid_vectors() {
    let invalid = [
        "pkh(xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSpSBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U/<0;1>/<2;3>)",
        "pkh([deadbeef/<0;1>]xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB/0)",
        "wpkh(xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB/<>/*)",
        "wpkh(xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB/0>/*)",
        "wpkh(xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB/<0/*)",
        "wpkh(xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB/<0;>/*)",
    ];
    for d in invalid {
        assert!(MultisigWallet::parse_infer_network(d).is_err(), "{d}");
        // The same key expressions inside a kinko-shaped descriptor.
        let inner = d
            .trim_start_matches("pkh(")
            .trim_start_matches("wpkh(")
            .trim_end_matches(')');
        let wrapped = format!("wsh(sortedmulti(1,{inner}))");
        assert!(
            MultisigWallet::parse_infer_network(&wrapped).is_err(),
            "{wrapped}"
        );
    }
    // A reversed tuple is valid BIP389, but not receive-then-change: refused.
    let (w, _) = wallet(2, 3);
    let reversed = w
        .descriptor()
        .split('#')
        .next()
        .unwrap()
        .replace("<0;1>", "<1;0>");
    assert!(MultisigWallet::from_descriptor(&reversed, Network::Testnet).is_err());
}

/// BIP174 invalid PSBTs: a verbatim subset of the `invalid` list of Bitcoin
/// Core's `test/functional/data/rpc_psbt.json` (source and commit in the data
/// file). Each must fail to decode, with an error and no panic; and each must
/// fail kinko's decoder too.
#[test]
fn bip174_invalid_psbts_fail_to_decode() {
    let data: serde_json::Value =
        serde_json::from_str(include_str!("data/rpc_psbt_invalid.json")).unwrap();
    let list = data["invalid"].as_array().unwrap();
    assert!(list.len() >= 15);
    let mut accepted = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let text = v.as_str().unwrap();
        if kinko_wallet::decode_psbt(text.as_bytes()).is_ok() {
            accepted.push(i);
        }
    }
    assert!(accepted.is_empty(), "invalid vectors decoded: {accepted:?}");
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("vector file is json")
}

fn psbt_of(b64: &str) -> Psbt {
    decode_psbt(b64.as_bytes()).expect("vector decodes").0
}

/// The PSBTv2 (BIP370) entries of the `valid` list: rust-bitcoin 0.32, and so
/// kinko, reads version 0 only; each is refused with the typed version error.
const VALID_V2: std::ops::RangeInclusive<usize> = 34..=47;

/// Entries that decode to a PSBT which re-encodes to the same PSBT but not
/// to the same bytes: 6 writes `PSBT_GLOBAL_VERSION = 0` explicitly, which
/// rust-bitcoin leaves out of a version 0 PSBT (BIP174 makes it optional);
/// 18 holds a taproot tree, whose leaves rust-bitcoin writes in its own
/// (equally valid) depth-first order.
const VALID_REENCODED: [usize; 2] = [6, 18];

/// BIP174 valid PSBTs: the whole `valid` list of Bitcoin Core's
/// `test/functional/data/rpc_psbt.json` (source and commit in the data file).
/// Every version 0 PSBT decodes with kinko's reader, re-encodes to the same
/// bytes, and kinko's analysis, signer and finalizer run on it without
/// panicking and without signing anything (none is kinko's wallet).
#[test]
fn bip174_valid_psbts_decode_round_trip_and_analyse() {
    let data = json(include_str!("data/rpc_psbt_valid.json"));
    let list = data["valid"].as_array().unwrap();
    assert_eq!(list.len(), 48);
    let (w, cs) = wallet(2, 3);
    let (mut checked, mut reencoded) = (0, Vec::new());
    for (i, v) in list.iter().enumerate() {
        let text = v.as_str().unwrap();
        let decoded = decode_psbt(text.as_bytes());
        if VALID_V2.contains(&i) {
            assert!(
                matches!(decoded, Err(DecodePsbtError::Psbt(psbt::Error::Version(_)))),
                "vector {i}: {decoded:?}"
            );
            continue;
        }
        let (mut p, form) = decoded.unwrap_or_else(|e| panic!("vector {i}: {e}"));
        assert_eq!(form, PsbtEncoding::Base64);
        let raw = STANDARD.decode(text).unwrap();
        let bytes = encode_psbt(&p, PsbtEncoding::Binary);
        assert_eq!(decode_psbt(&bytes).unwrap().0, p, "vector {i}");
        if bytes != raw {
            reencoded.push(i);
        }
        let a = w.analyze(&p, &AnalysisOptions::default());
        assert!(a.inputs.iter().all(|i| i.ours.is_none()), "vector {i}");
        assert_eq!(a.inputs.is_empty(), p.inputs.is_empty(), "vector {i}");
        if !p.inputs.is_empty() {
            assert!(!a.is_safe_to_sign(), "vector {i}");
        }
        let before = p.clone();
        if let Ok(report) = w.sign(&mut p, &cs[0].signer()) {
            assert_eq!(report.signatures(), 0, "vector {i}");
        }
        assert_eq!(p, before, "vector {i}: kinko signed a foreign psbt");
        let _ = finalize(&mut p);
        checked += 1;
    }
    assert_eq!(checked, 34);
    assert_eq!(reencoded, VALID_REENCODED);
}

/// BIP174's combiner example (`combiner` in rpc_psbt.json): kinko's combine
/// gives Core's PSBT (not byte for byte: Core writes partial signatures in the
/// order of their key ids, HASH160 of the key, rust-bitcoin in the order of
/// the keys, and input 1's two keys sort differently the two ways). The inputs are P2SH and P2SH-P2WSH 2-of-2 multisig, not
/// kinko's wallet: kinko's signer signs nothing of them (so the `signer`
/// section, which signs them with WIF keys, does not apply; nor does `creator`,
/// which builds a bare PSBT from raw outpoints, not from a wallet's UTXOs).
#[test]
fn bip174_combiner_example() {
    let data = json(include_str!("data/rpc_psbt_roles.json"));
    for case in data["combiner"].as_array().unwrap() {
        let parts: Vec<Psbt> = case["combine"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| psbt_of(p.as_str().unwrap()))
            .collect();
        let (w, cs) = wallet(2, 3);
        for part in &parts {
            let mut p = part.clone();
            if let Ok(report) = w.sign(&mut p, &cs[0].signer()) {
                assert_eq!(report.signatures(), 0);
            }
            assert_eq!(&p, part);
        }
        let combined = combine(parts).unwrap();
        assert_eq!(combined, psbt_of(case["result"].as_str().unwrap()));
        assert_eq!(combined.inputs[1].partial_sigs.len(), 2);
    }
}

/// The outputs a PSBT's inputs spend, as the PSBT (a Bitcoin Core vector)
/// states them: the witness UTXO, else the previous transaction's output.
fn spent_by(p: &Psbt) -> HashMap<OutPoint, TxOut> {
    p.unsigned_tx
        .input
        .iter()
        .zip(&p.inputs)
        .map(|(txin, inp)| {
            let op = txin.previous_output;
            let out = inp.witness_utxo.clone().unwrap_or_else(|| {
                inp.non_witness_utxo.as_ref().unwrap().output[op.vout as usize].clone()
            });
            (op, out)
        })
        .collect()
}

/// BIP174's finalizer example: kinko's finalizer (miniscript's, for the
/// P2SH and P2SH-P2WSH multisig inputs) gives Core's bytes, and the
/// transaction it makes passes Bitcoin Core's interpreter.
#[test]
fn bip174_finalizer_example() {
    let data = json(include_str!("data/rpc_psbt_roles.json"));
    for case in data["finalizer"].as_array().unwrap() {
        let mut p = psbt_of(case["finalize"].as_str().unwrap());
        let spent = spent_by(&p);
        finalize(&mut p).unwrap();
        assert_eq!(p, psbt_of(case["result"].as_str().unwrap()));
        assert_eq!(
            encode_psbt(&p, PsbtEncoding::Base64),
            format!("{}\n", case["result"].as_str().unwrap()).into_bytes()
        );
        let tx = extract(p, MAX_FEE_RATE).unwrap();
        tx.verify(|op| spent.get(op).cloned())
            .expect("Bitcoin Core's interpreter accepts the finalized vector");
    }
}

/// BIP174's extractor example: kinko's extract gives Core's transaction,
/// which passes Bitcoin Core's interpreter; with a signature removed, extract
/// refuses the unfinalized PSBT and finalize fails, each with kinko's typed
/// error naming the inputs.
#[test]
fn bip174_extractor_example() {
    let data = json(include_str!("data/rpc_psbt_roles.json"));
    for case in data["extractor"].as_array().unwrap() {
        let p = psbt_of(case["extract"].as_str().unwrap());
        let spent = spent_by(&p);
        let tx = extract(p, MAX_FEE_RATE).unwrap();
        assert_eq!(serialize_hex(&tx), case["result"].as_str().unwrap());
        tx.verify(|op| spent.get(op).cloned())
            .expect("Bitcoin Core's interpreter accepts the extracted vector");
    }
    // The finalizer's input with one signature of input 0 taken away.
    let mut short = psbt_of(data["finalizer"][0]["finalize"].as_str().unwrap());
    let key = *short.inputs[0].partial_sigs.keys().next().unwrap();
    short.inputs[0].partial_sigs.remove(&key);
    // Extract refuses the unfinalized PSBT, naming every input without a
    // final script (rust-bitcoin's own extractor returns an unsigned
    // transaction here).
    match extract(short.clone(), MAX_FEE_RATE) {
        Err(ExtractError::NotFinalized { inputs }) => {
            assert_eq!(inputs, (0..short.inputs.len()).collect::<Vec<_>>())
        }
        other => panic!("{other:?}"),
    }
    match finalize(&mut short) {
        Err(FinalizeError::Inputs { inputs, .. }) => assert_eq!(inputs, vec![0]),
        other => panic!("{other:?}"),
    }
    // The other input is finalized now; extract names only the one left.
    match extract(short, MAX_FEE_RATE) {
        Err(ExtractError::NotFinalized { inputs }) => assert_eq!(inputs, vec![0]),
        other => panic!("{other:?}"),
    }
}
