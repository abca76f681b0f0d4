//! Addresses against miniscript, ranges, limits.

use kinko_wallet::bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use kinko_wallet::bitcoin::secp256k1::Secp256k1;
use kinko_wallet::bitcoin::Network;
use kinko_wallet::{AddressError, Keychain, MultisigWallet, WalletKey};
use proptest::prelude::*;

use crate::common::wallet;

/// A reference model: miniscript's own derivation of the branch descriptor.
fn miniscript_address(w: &MultisigWallet, kc: Keychain, i: u32) -> String {
    w.miniscript_descriptor(kc)
        .at_derivation_index(i)
        .expect("index")
        .address(w.network())
        .expect("wsh has an address")
        .to_string()
}

fn arb_wallet() -> impl Strategy<Value = MultisigWallet> {
    (
        1usize..=7,
        proptest::collection::vec(any::<[u8; 32]>(), 1..=7),
        any::<bool>(),
    )
        .prop_filter_map("threshold above n", |(m, seeds, mainnet)| {
            let n = seeds.len();
            if m > n {
                return None;
            }
            let secp = Secp256k1::new();
            let net = if mainnet {
                Network::Bitcoin
            } else {
                Network::Regtest
            };
            let path: DerivationPath = "m/48'/0'/3'/2'".parse().ok()?;
            let keys = seeds
                .iter()
                .map(|s| {
                    let master = Xpriv::new_master(net, s).ok()?;
                    let acct = master.derive_priv(&secp, &path).ok()?;
                    Some(WalletKey {
                        fingerprint: master.fingerprint(&secp),
                        origin_path: path.clone(),
                        xpub: Xpub::from_priv(&secp, &acct),
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            MultisigWallet::new(m, keys, net).ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The fast path equals miniscript's `at_derivation_index(i).address()`
    /// for random keys, thresholds, keychains and indexes.
    #[test]
    fn fast_path_equals_miniscript(
        w in arb_wallet(),
        change in any::<bool>(),
        i in prop_oneof![0u32..100, (1u32 << 31) - 100..(1u32 << 31)],
    ) {
        let kc = if change { Keychain::Change } else { Keychain::Receive };
        let fast = w.address(kc, i).unwrap().to_string();
        prop_assert_eq!(&fast, &miniscript_address(&w, kc, i));
        // The range path gives the same.
        let range = w.addresses(kc, i, 1).unwrap();
        prop_assert_eq!(range[0].to_string(), fast);
        // The descriptor round-trips.
        let again = MultisigWallet::from_descriptor(&w.descriptor(), w.network()).unwrap();
        prop_assert_eq!(again, w);
    }
}

#[test]
fn ranges_match_single_addresses_sequential_and_parallel() {
    let (w, _) = wallet(2, 3);
    for kc in [Keychain::Receive, Keychain::Change] {
        // 2,000 is above the parallel threshold.
        let range = w.addresses(kc, 5, 2_000).unwrap();
        assert_eq!(range.len(), 2_000);
        for (k, a) in range.iter().enumerate().step_by(97) {
            assert_eq!(*a, w.address(kc, 5 + k as u32).unwrap());
        }
        assert_eq!(range[0].to_string(), miniscript_address(&w, kc, 5));
        assert_eq!(range[1_999].to_string(), miniscript_address(&w, kc, 2_004));
    }
    assert!(w.addresses(Keychain::Receive, 0, 0).unwrap().is_empty());
}

#[test]
fn index_at_or_above_2_pow_31_is_an_error() {
    let (w, _) = wallet(2, 3);
    let h = 1u32 << 31;
    assert_eq!(
        w.address(Keychain::Receive, h),
        Err(AddressError::IndexTooLarge(h.into()))
    );
    assert!(w.address(Keychain::Receive, u32::MAX).is_err());
    assert!(w.address(Keychain::Receive, h - 1).is_ok());
    assert!(matches!(
        w.addresses(Keychain::Change, h - 1, 2),
        Err(AddressError::IndexTooLarge(_))
    ));
    assert_eq!(w.addresses(Keychain::Change, h - 1, 1).unwrap().len(), 1);
    assert!(w.witness_script(Keychain::Receive, h).is_err());
}

#[test]
fn twenty_keys_match_miniscript() {
    // 17..=20 use a one-byte push instead of OP_N.
    let cs = crate::common::cosigners(20);
    let w = MultisigWallet::from_descriptor(&crate::common::descriptor(17, &cs), Network::Testnet)
        .unwrap();
    for i in [0, 1, 77] {
        assert_eq!(
            w.address(Keychain::Receive, i).unwrap().to_string(),
            miniscript_address(&w, Keychain::Receive, i)
        );
        assert_eq!(
            w.witness_script(Keychain::Receive, i).unwrap(),
            w.miniscript_descriptor(Keychain::Receive)
                .at_derivation_index(i)
                .unwrap()
                .explicit_script()
                .unwrap()
        );
    }
}

#[test]
fn networks_change_the_prefix() {
    let (w, _) = wallet(1, 2);
    let regtest = MultisigWallet::from_descriptor(&w.descriptor(), Network::Regtest).unwrap();
    assert!(w
        .address(Keychain::Receive, 0)
        .unwrap()
        .to_string()
        .starts_with("tb1q"));
    assert!(regtest
        .address(Keychain::Receive, 0)
        .unwrap()
        .to_string()
        .starts_with("bcrt1q"));
}
