//! kinko-signer's whole path from a PSBT file's bytes to a decision:
//! decode (binary or base64), choose among the registered wallets, analyse,
//! decide, print the summary (text and JSON), and — when the decision is to
//! sign — sign. None may panic; a decision to sign must never be followed
//! by a signing error (the analysis must catch everything `sign` checks).
#![no_main]

use std::sync::OnceLock;

use kinko_signer::kinko_wallet::bitcoin::bip32::Xpriv;
use kinko_signer::kinko_wallet::bitcoin::Network;
use kinko_signer::kinko_wallet::{AnalysisOptions, MultisigWallet, XprvSigner};
use libfuzzer_sys::fuzz_target;

const KEYS: &str = "\
[4ba43603/48'/1'/0'/2']tpubDDwf2gdFxFahr9RUtDQCuZmsx34CfdZ7RALAirwC2FGeLBzW1TDiEpqFeRdxLdZD7rfsbZHYwSaT6CLM3TAcYRw6xfRv4U6KCQt4Zuhvjkz/<0;1>/*,\
[8dfc9b34/48'/1'/0'/2']tpubDEXiq2SVhhqALktxfVFgj3C9M3T2G7xL11iezYg2LJAf245YkNyqp2K9TrvHABDCp2232k34UegU4aKEtUZNigit8EEqoLNe2JKMzMiLwYq/<0;1>/*,\
[56c4fac3/48'/1'/0'/2']tpubDEg3kqr2jo5ergkJbFqRHvCpiob7wR7Hi44J7y987G1JZfbzBND77XKTyPZzGvh3uyDf8kexMJnFD9W8FuraJ4wLMsx6YuZVXRSRRcx6QdD/<0;1>/*";

/// Two registered wallets on kinko-wallet's test keys (seeds [1; 32],
/// [2; 32], [3; 32] at m/48'/1'/0'/2'): 2-of-3 and 1-of-3; and the signer
/// of the first key.
fn fixture() -> &'static (Vec<MultisigWallet>, XprvSigner) {
    static F: OnceLock<(Vec<MultisigWallet>, XprvSigner)> = OnceLock::new();
    F.get_or_init(|| {
        let wallets = [2, 1]
            .iter()
            .map(|m| {
                MultisigWallet::from_descriptor(
                    &format!("wsh(sortedmulti({m},{KEYS}))"),
                    Network::Testnet,
                )
                .expect("fixture wallet")
            })
            .collect();
        let master = Xpriv::new_master(Network::Testnet, &[1; 32]).expect("seed");
        let signer = XprvSigner::from_master(&master, &"m/48'/1'/0'/2'".parse().expect("path"))
            .expect("signer");
        (wallets, signer)
    })
}

fn do_test(data: &[u8]) {
    let (wallets, signer) = fixture();
    let opts = AnalysisOptions {
        expected_network: Some(Network::Testnet),
        ..AnalysisOptions::default()
    };
    let Ok((mut psbt, _, d)) = kinko_signer::decide_bytes(wallets, data, &opts) else {
        return;
    };
    let named = d.wallet.map(|i| ("fuzz", &wallets[i]));
    let _ = kinko_signer::summary_text(named, &d);
    let _ = kinko_signer::summary_json(named, &d).to_string();
    let a = d.analysis.as_ref().expect("wallets are registered");
    assert_eq!(d.may_sign(), a.is_safe_to_sign());
    if let Some(r) = &d.refusal {
        assert_eq!(Some(r.rule), a.first_refusal().map(|f| f.rule));
        return;
    }
    let w = &wallets[d.wallet.expect("a wallet was chosen")];
    if let Err(e) = w.sign(&mut psbt, signer) {
        panic!("decided to sign, then sign failed: {e}");
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
