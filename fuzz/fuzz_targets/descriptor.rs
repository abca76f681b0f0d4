//! Descriptor parse round trip: whatever parses as a wallet prints to a
//! descriptor that parses to the same wallet, and its branches pair up.
#![no_main]

use kinko_wallet::{Keychain, MultisigWallet};
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(w) = MultisigWallet::parse_infer_network(s) else {
        return;
    };
    let printed = w.descriptor();
    let again = MultisigWallet::from_descriptor(&printed, w.network()).expect("printed descriptor parses");
    assert_eq!(again, w);
    assert_eq!(again.descriptor(), printed);
    let pair = MultisigWallet::from_pair(
        &w.branch_descriptor(Keychain::Receive),
        &w.branch_descriptor(Keychain::Change),
        w.network(),
    )
    .expect("branch pair parses");
    assert_eq!(pair, w);
    let fast = w.address(Keychain::Change, 3).expect("index below 2^31");
    let slow = w
        .miniscript_descriptor(Keychain::Change)
        .at_derivation_index(3)
        .expect("index")
        .address(w.network())
        .expect("address");
    assert_eq!(fast, slow);
    let _ = w.to_coldcard("fuzz");
    let _ = w.to_core_import(&Default::default());
}

fuzz_target!(|data: &[u8]| do_test(data));
