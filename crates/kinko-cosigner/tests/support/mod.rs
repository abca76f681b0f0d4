//! Test keys shared by the set-up and transaction-rule tests: regtest
//! keystores from fixed seeds, and 2-of-3 wallets of them.

use bitcoin::bip32::{DerivationPath, Xpriv};
use bitcoin::Network;
use kinko_wallet::{MultisigWallet, XprvSigner};

/// The master key of test keystore `seed` (regtest).
pub fn master(seed: u8) -> Xpriv {
    Xpriv::new_master(Network::Regtest, &[seed; 32]).unwrap()
}

/// The 2-of-3 regtest wallet of these keystores' keys at `m/48'/1'/0'/2'`.
pub fn wallet(seeds: [u8; 3]) -> MultisigWallet {
    let path: DerivationPath = "m/48'/1'/0'/2'".parse().unwrap();
    let keys: Vec<String> = seeds
        .iter()
        .map(|s| {
            let signer = XprvSigner::from_master(&master(*s), &path).unwrap();
            let (fp, origin) = signer.origin();
            let origin = origin.to_string();
            let origin = origin.trim_start_matches("m/");
            format!("[{fp}/{origin}]{}/<0;1>/*", signer.account_xpub())
        })
        .collect();
    MultisigWallet::from_descriptor(
        &format!("wsh(sortedmulti(2,{}))", keys.join(",")),
        Network::Regtest,
    )
    .unwrap()
}
