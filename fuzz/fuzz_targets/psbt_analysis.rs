//! PSBT decode, then everything a signer or the cosigner does with untrusted
//! bytes: analysis, signing, finalizing and extracting. None may panic.
#![no_main]

use std::sync::OnceLock;

use kinko_wallet::bitcoin::bip32::Xpriv;
use kinko_wallet::bitcoin::Network;
use kinko_wallet::{AnalysisOptions, MultisigWallet, XprvSigner};
use libfuzzer_sys::fuzz_target;

/// The 2-of-3 test wallet of kinko-wallet (seeds [1; 32], [2; 32], [3; 32],
/// m/48'/1'/0'/2'), and a signer for its first key.
fn fixture() -> &'static (MultisigWallet, XprvSigner) {
    static F: OnceLock<(MultisigWallet, XprvSigner)> = OnceLock::new();
    F.get_or_init(|| {
        let d = "wsh(sortedmulti(2,\
[4ba43603/48'/1'/0'/2']tpubDDwf2gdFxFahr9RUtDQCuZmsx34CfdZ7RALAirwC2FGeLBzW1TDiEpqFeRdxLdZD7rfsbZHYwSaT6CLM3TAcYRw6xfRv4U6KCQt4Zuhvjkz/<0;1>/*,\
[8dfc9b34/48'/1'/0'/2']tpubDEXiq2SVhhqALktxfVFgj3C9M3T2G7xL11iezYg2LJAf245YkNyqp2K9TrvHABDCp2232k34UegU4aKEtUZNigit8EEqoLNe2JKMzMiLwYq/<0;1>/*,\
[56c4fac3/48'/1'/0'/2']tpubDEg3kqr2jo5ergkJbFqRHvCpiob7wR7Hi44J7y987G1JZfbzBND77XKTyPZzGvh3uyDf8kexMJnFD9W8FuraJ4wLMsx6YuZVXRSRRcx6QdD/<0;1>/*))";
        let w = MultisigWallet::from_descriptor(d, Network::Testnet).expect("fixture wallet");
        let master = Xpriv::new_master(Network::Testnet, &[1; 32]).expect("seed");
        let signer = XprvSigner::from_master(&master, &"m/48'/1'/0'/2'".parse().expect("path"))
            .expect("signer");
        (w, signer)
    })
}

fn do_test(data: &[u8]) {
    let Ok((psbt, _)) = kinko_wallet::decode_psbt(data) else {
        return;
    };
    let (w, signer) = fixture();
    let a = w.analyze(&psbt, &AnalysisOptions::default());
    for f in &a.findings {
        let _ = f.to_string();
    }
    let mut signed = psbt.clone();
    if w.sign(&mut signed, signer).is_err() {
        assert_eq!(signed, psbt, "a failed sign leaves the psbt unchanged");
    }
    let mut fin = signed.clone();
    let _ = kinko_wallet::finalize(&mut fin);
    let _ = kinko_wallet::extract(fin, kinko_wallet::MAX_FEE_RATE);
    let _ = kinko_wallet::encode_psbt(&signed, kinko_wallet::PsbtEncoding::Base64);
}

fuzz_target!(|data: &[u8]| do_test(data));
