//! Official test vectors that apply to kinko-wallet.

use kinko_wallet::bitcoin::hex::{DisplayHex, FromHex};
use kinko_wallet::bitcoin::{Address, Network};
use kinko_wallet::miniscript::descriptor::checksum::desc_checksum;
use kinko_wallet::{sorted_multisig_script, MultisigWallet};

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
