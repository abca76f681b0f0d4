//! Wallet files read back: whatever the Coldcard, Caravan or Core reader
//! accepts is a wallet that writes to a file of the same format that reads
//! back to the same wallet (same id). Nothing panics.
#![no_main]

use kinko_wallet::bitcoin::Network;
use kinko_wallet::{CoreImportOptions, MultisigWallet};
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(w) = MultisigWallet::from_coldcard(s, Network::Testnet) {
        let again = MultisigWallet::from_coldcard(&w.to_coldcard("fuzz"), w.network())
            .expect("written coldcard file reads back");
        assert_eq!(again, w);
        assert_eq!(again.id(), w.id());
    }
    if let Ok(w) = MultisigWallet::from_caravan(s) {
        let again = MultisigWallet::from_caravan(&w.to_caravan("fuzz"))
            .expect("written caravan file reads back");
        // Signet is written as testnet: compare keys and threshold by id.
        assert_eq!(again.id(), w.id());
        assert_eq!(again.keys(), w.keys());
    }
    for network in [Network::Bitcoin, Network::Testnet] {
        if let Ok(w) = MultisigWallet::from_core_import(s, network) {
            let again = MultisigWallet::from_core_import(
                &w.to_core_import(&CoreImportOptions::default()),
                w.network(),
            )
            .expect("written core json reads back");
            assert_eq!(again, w);
        }
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
