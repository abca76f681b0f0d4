//! 100,000 receive addresses of a 2-of-3 wallet: kinko's range path on one
//! and two cores, against the bare floor (three child pubkeys from cached
//! branch keys, BIP67 sort, script, SHA-256, bech32) and a loop over
//! miniscript's `at_derivation_index(i).address()`, all in the same run.
//!
//! The floor derives child keys with the fastest primitive kinko has,
//! `kinko_wallet::child_pubkey` (a table of multiples of G); a second floor
//! row uses rust-bitcoin's path (`ckd_pub_tweak` + `add_exp_tweak`, i.e.
//! libsecp256k1's `tweak_add`) to show what the table saves.

#![allow(clippy::print_stdout, missing_docs)]

mod common;

use criterion::{criterion_group, Criterion, Throughput};
use kinko_wallet::bitcoin::bip32::{ChildNumber, Xpub};
use kinko_wallet::bitcoin::secp256k1::{PublicKey, Scalar, Secp256k1};
use kinko_wallet::bitcoin::{Address, Network, Script};
use kinko_wallet::{child_pubkey, Keychain};

const N: u32 = 100_000;
/// The miniscript loop is measured on fewer addresses (it is ~9× slower) and
/// reported per address.
const N_MINISCRIPT: u32 = 10_000;

/// The floor: nothing but the work every address needs.
fn floor(branches: &[Xpub], n: u32) -> Vec<String> {
    floor_with(branches, n, |b, i| child_pubkey(b, i).unwrap())
}

/// The floor with rust-bitcoin's child key (libsecp256k1 `tweak_add`).
fn floor_tweak_add(branches: &[Xpub], n: u32) -> Vec<String> {
    let secp = Secp256k1::verification_only();
    floor_with(branches, n, |b, i| {
        let (t, _) = b.ckd_pub_tweak(ChildNumber::Normal { index: i }).unwrap();
        b.public_key.add_exp_tweak(&secp, &Scalar::from(t)).unwrap()
    })
}

fn floor_with(branches: &[Xpub], n: u32, child: impl Fn(&Xpub, u32) -> PublicKey) -> Vec<String> {
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut keys = [[0u8; 33]; 3];
        for (k, b) in keys.iter_mut().zip(branches) {
            *k = child(b, i).serialize();
        }
        keys.sort_unstable();
        let mut script = [0u8; 105];
        script[0] = 0x52;
        for (j, k) in keys.iter().enumerate() {
            script[1 + j * 34] = 0x21;
            script[2 + j * 34..35 + j * 34].copy_from_slice(k);
        }
        script[103] = 0x53;
        script[104] = 0xae;
        out.push(Address::p2wsh(Script::from_bytes(&script), Network::Testnet).to_string());
    }
    out
}

fn bench(c: &mut Criterion) {
    let (w, _) = common::wallet_2of3();
    let secp = Secp256k1::verification_only();
    let branches: Vec<Xpub> = w
        .keys()
        .iter()
        .map(|k| {
            k.xpub
                .ckd_pub(&secp, ChildNumber::Normal { index: 0 })
                .unwrap()
        })
        .collect();
    // The floor computes what the wallet computes.
    assert_eq!(floor(&branches, 3), floor_tweak_add(&branches, 3));
    assert_eq!(
        floor(&branches, 3),
        w.addresses(Keychain::Receive, 0, 3)
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
    );
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let desc = w.miniscript_descriptor(Keychain::Receive);

    let mut g = c.benchmark_group("addresses");
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_millis(500));
    g.measurement_time(std::time::Duration::from_secs(5));
    g.throughput(Throughput::Elements(N.into()));
    g.bench_function("floor_1core", |b| b.iter(|| floor(&branches, N)));
    g.bench_function("floor_tweak_add_1core", |b| {
        b.iter(|| floor_tweak_add(&branches, N))
    });
    g.bench_function("kinko_1core", |b| {
        b.iter(|| {
            one.install(|| {
                w.addresses(Keychain::Receive, 0, N)
                    .unwrap()
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
            })
        })
    });
    g.bench_function("kinko_2cores", |b| {
        b.iter(|| {
            two.install(|| {
                use rayon::prelude::*;
                w.addresses(Keychain::Receive, 0, N)
                    .unwrap()
                    .par_iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
            })
        })
    });
    g.throughput(Throughput::Elements(N_MINISCRIPT.into()));
    g.bench_function("miniscript_loop_10k", |b| {
        b.iter(|| {
            (0..N_MINISCRIPT)
                .map(|i| {
                    desc.at_derivation_index(i)
                        .unwrap()
                        .address(Network::Testnet)
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    let started = std::time::SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    common::report(
        "addresses",
        started,
        &[
            (
                "kinko / floor, one core (target <= 1.15)",
                "kinko_1core",
                "floor_1core",
            ),
            (
                "one core / two cores (target >= 1.8)",
                "kinko_1core",
                "kinko_2cores",
            ),
            (
                "floor with tweak_add / floor with the table, one core",
                "floor_tweak_add_1core",
                "floor_1core",
            ),
        ],
    );
    if let (Some(m), Some(f)) = (
        common::mean_ns("addresses", "miniscript_loop_10k", started),
        common::mean_ns("addresses", "floor_1core", started),
    ) {
        let per_m = m / f64::from(N_MINISCRIPT);
        let per_f = f / f64::from(N);
        println!("miniscript loop / floor, per address: {:.2}", per_m / per_f);
    }
}
