//! Signing a 2,000-input PSBT of a 2-of-3 wallet with one key: kinko against
//! the floor (per input: sighash, one child key from a cached branch key,
//! low-R ECDSA) and rust-bitcoin's `Psbt::sign` with the master xprv; and
//! 500 inputs against 2,000 for linearity. All in the same run.
//!
//! kinko runs in a one-thread and in a two-thread rayon pool. The floor, as
//! the issue defines it, is single-threaded; a floor on two threads (one
//! `SighashCache` per half of the inputs) is measured too, so both ratios can
//! be read. rust-bitcoin's `Psbt::sign` has no parallel mode.

#![allow(clippy::print_stdout, missing_docs)]

mod common;

use criterion::{criterion_group, BatchSize, Criterion};
use kinko_wallet::bitcoin::bip32::{ChildNumber, Xpriv, Xpub};
use kinko_wallet::bitcoin::psbt::Psbt;
use kinko_wallet::bitcoin::secp256k1::{Message, Scalar, Secp256k1};
use kinko_wallet::bitcoin::sighash::{EcdsaSighashType, SighashCache};
use kinko_wallet::{CreateParams, Keychain, MultisigWallet, XprvSigner};

fn psbt(w: &MultisigWallet, n: u32) -> Psbt {
    let coins = common::utxos(w, n);
    w.create_psbt(
        &coins,
        &CreateParams {
            recipients: vec![(
                "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
                    .parse()
                    .unwrap(),
                kinko_wallet::bitcoin::Amount::from_sat(10_000),
            )],
            fee_rate: kinko_wallet::bitcoin::FeeRate::from_sat_per_vb(1).unwrap(),
            change_index: 0,
            spend_all: true,
        },
    )
    .unwrap()
    .psbt
}

/// The floor: per input, the sighash, the child key and the signature.
fn floor(p: &Psbt, branches: &[(Xpriv, Xpub); 2], locs: &[(Keychain, u32)]) -> usize {
    floor_range(p, branches, locs, 0..p.inputs.len())
}

/// The floor over the inputs in `range` (one sighash cache).
fn floor_range(
    p: &Psbt,
    branches: &[(Xpriv, Xpub); 2],
    locs: &[(Keychain, u32)],
    range: std::ops::Range<usize>,
) -> usize {
    let secp = Secp256k1::signing_only();
    let mut cache = SighashCache::new(&p.unsigned_tx);
    let mut n = 0;
    for i in range {
        let (inp, (kc, idx)) = (&p.inputs[i], &locs[i]);
        let ws = inp.witness_script.as_ref().unwrap();
        let value = inp.witness_utxo.as_ref().unwrap().value;
        let h = cache
            .p2wsh_signature_hash(i, ws, value, EcdsaSighashType::All)
            .unwrap();
        let (xprv, xpub) = &branches[kc.branch() as usize];
        let (t, _) = xpub
            .ckd_pub_tweak(ChildNumber::Normal { index: *idx })
            .unwrap();
        let sk = xprv.private_key.add_tweak(&Scalar::from(t)).unwrap();
        let sig = secp.sign_ecdsa_low_r(&Message::from(h), &sk);
        n += sig.serialize_compact()[0] as usize;
    }
    n
}

/// The floor on two threads: each half of the inputs with its own cache.
fn floor_two_threads(p: &Psbt, branches: &[(Xpriv, Xpub); 2], locs: &[(Keychain, u32)]) -> usize {
    let half = p.inputs.len() / 2;
    let (a, b) = rayon::join(
        || floor_range(p, branches, locs, 0..half),
        || floor_range(p, branches, locs, half..p.inputs.len()),
    );
    a + b
}

fn bench(c: &mut Criterion) {
    let (w, ms) = common::wallet_2of3();
    let secp = Secp256k1::new();
    let signer = XprvSigner::from_master(&ms[0], &common::account_path()).unwrap();
    let account = ms[0].derive_priv(&secp, &common::account_path()).unwrap();
    let branches = [0u32, 1].map(|b| {
        let x = account
            .derive_priv(&secp, &[ChildNumber::Normal { index: b }])
            .unwrap();
        (x, Xpub::from_priv(&secp, &x))
    });
    let p2000 = psbt(&w, 2_000);
    let p500 = psbt(&w, 500);
    let locs = |p: &Psbt| -> Vec<(Keychain, u32)> {
        let coins = common::utxos(&w, p.inputs.len() as u32);
        p.unsigned_tx
            .input
            .iter()
            .map(|txin| {
                let u = coins
                    .iter()
                    .find(|u| u.outpoint == txin.previous_output)
                    .unwrap();
                (u.keychain, u.index)
            })
            .collect()
    };
    let locs2000 = locs(&p2000);
    let index = w.script_index(0, 2_000).unwrap();

    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    // The floor signs what kinko signs.
    let mut check = p2000.clone();
    w.sign(&mut check, &signer).unwrap();
    assert_eq!(
        floor(&p2000, &branches, &locs2000),
        check
            .inputs
            .iter()
            .map(|i| i
                .partial_sigs
                .values()
                .next()
                .unwrap()
                .signature
                .serialize_compact()[0] as usize)
            .sum::<usize>()
    );

    let mut g = c.benchmark_group("signing");
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_millis(500));
    g.measurement_time(std::time::Duration::from_secs(4));
    g.bench_function("floor_2000", |b| {
        b.iter(|| floor(&p2000, &branches, &locs2000))
    });
    g.bench_function("floor_2000_2cores", |b| {
        b.iter(|| two.install(|| floor_two_threads(&p2000, &branches, &locs2000)))
    });
    g.bench_function("kinko_2000", |b| {
        b.iter_batched_ref(
            || p2000.clone(),
            |p| one.install(|| w.sign(p, &signer).unwrap()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("kinko_2000_2cores", |b| {
        b.iter_batched_ref(
            || p2000.clone(),
            |p| two.install(|| w.sign(p, &signer).unwrap()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("kinko_indexed_2000", |b| {
        b.iter_batched_ref(
            || p2000.clone(),
            |p| one.install(|| w.sign_with_index(p, &signer, &index).unwrap()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("kinko_500", |b| {
        b.iter_batched_ref(
            || p500.clone(),
            |p| one.install(|| w.sign(p, &signer).unwrap()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("rust_bitcoin_2000", |b| {
        b.iter_batched_ref(
            || p2000.clone(),
            |p| p.sign(&ms[0], &secp).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    let started = std::time::SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    common::report(
        "signing",
        started,
        &[
            (
                "kinko / floor, one core each (target <= 1.25)",
                "kinko_2000",
                "floor_2000",
            ),
            (
                "kinko on two cores / floor on one core (the issue's floor)",
                "kinko_2000_2cores",
                "floor_2000",
            ),
            (
                "kinko on two cores / floor on two cores",
                "kinko_2000_2cores",
                "floor_2000_2cores",
            ),
            (
                "kinko indexed / floor, one core each",
                "kinko_indexed_2000",
                "floor_2000",
            ),
            (
                "rust-bitcoin / kinko, one core each (target >= 4)",
                "rust_bitcoin_2000",
                "kinko_2000",
            ),
            (
                "rust-bitcoin (one core, no parallel mode) / kinko on two cores",
                "rust_bitcoin_2000",
                "kinko_2000_2cores",
            ),
            (
                "rust-bitcoin / kinko indexed, one core each",
                "rust_bitcoin_2000",
                "kinko_indexed_2000",
            ),
            (
                "kinko one core / two cores (speed-up)",
                "kinko_2000",
                "kinko_2000_2cores",
            ),
            (
                "2000 / 500 inputs, one core (linear: about 4)",
                "kinko_2000",
                "kinko_500",
            ),
        ],
    );
}
