//! `kinko psbt batch` through the binary: many withdrawals in one PSBT.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::str::FromStr;

use kinko_wallet::bitcoin::hashes::Hash;
use kinko_wallet::bitcoin::{absolute, Address, Network, ScriptBuf, WPubkeyHash};
use kinko_wallet::{decode_psbt, Keychain};
use serde_json::{json, Value};

use common::{kinko, p, setup, sign, verify_with_core, Setup};

const TIP: u32 = 900_000;

fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_string(v).unwrap()).unwrap();
}

/// A P2WPKH testnet address of someone else, distinct per `n`.
fn external(n: u32) -> String {
    let mut h = [0x5a; 20];
    h[..4].copy_from_slice(&n.to_be_bytes());
    let spk = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(h));
    Address::from_script(&spk, Network::Testnet)
        .unwrap()
        .to_string()
}

/// `count` payouts `w-0`… of 20,000 + 100·i sat.
fn payouts(count: u32) -> Value {
    json!((0..count)
        .map(|i| json!({
            "id": format!("w-{i}"),
            "address": external(i),
            "amount_sat": 20_000 + 100 * u64::from(i),
        }))
        .collect::<Vec<_>>())
}

/// `kinko psbt batch` with the set-up's files and `extra` arguments.
fn batch(s: &Setup, out: &str, extra: &[&str]) -> Output {
    let d = s.dir.path();
    let (utxos, payouts) = (p(d, "utxos.json"), p(d, "payouts.json"));
    let mut args = vec![
        "psbt",
        "batch",
        "--descriptor",
        &s.descriptor,
        "--utxos",
        &utxos,
        "--payouts",
        &payouts,
        "--fee-rate",
        "3",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    kinko(&args)
}

fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const SEED_A: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const SEED_B: &str = "0202020202020202020202020202020202020202020202020202020202020202";

#[test]
fn batch_pays_each_payout_once_and_signs() {
    let s = setup(6, 1_000_000);
    let d = s.dir.path();
    write_json(&d.join("payouts.json"), &payouts(40));
    let out = p(d, "batch.psbt");
    let tip = TIP.to_string();
    let summary = ok(&batch(
        &s,
        &out,
        &["--seed", SEED_A, "--tip-height", &tip, "--json"],
    ));

    let (psbt, _) = decode_psbt(&std::fs::read(&out).unwrap()).unwrap();
    let tx = &psbt.unsigned_tx;
    assert_eq!(summary["txid"], tx.compute_txid().to_string());
    assert_eq!(summary["payouts"], 40);
    assert_eq!(summary["outputs"], 41);
    assert_eq!(summary["inputs"], tx.input.len());
    let lock = summary["lock_time"].as_u64().unwrap();
    assert_eq!(lock, u64::from(tx.lock_time.to_consensus_u32()));
    assert!((u64::from(TIP) - 99..=u64::from(TIP)).contains(&lock));
    // Change one past the highest change index among the UTXOs (5).
    assert_eq!(summary["change"]["index"], 6);
    let change_pos = summary["change"]["output"].as_u64().unwrap() as usize;
    assert_eq!(
        tx.output[change_pos].script_pubkey,
        s.wallet.script_pubkey(Keychain::Change, 6).unwrap()
    );
    let mut used = BTreeSet::from([change_pos]);
    for (i, pos) in summary["positions"].as_array().unwrap().iter().enumerate() {
        assert_eq!(pos["id"], format!("w-{i}"));
        let at = pos["output"].as_u64().unwrap() as usize;
        assert!(used.insert(at));
        let addr = Address::from_str(&external(i as u32)).unwrap();
        assert_eq!(
            tx.output[at].script_pubkey,
            addr.assume_checked().script_pubkey()
        );
        assert_eq!(tx.output[at].value.to_sat(), 20_000 + 100 * i as u64);
    }
    let fee = summary["fee_sat"].as_u64().unwrap();
    let total_in: u64 = tx.input.len() as u64 * 1_000_000;
    let total_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    assert_eq!(total_in - total_out, fee);
    assert_eq!(
        summary["saved_vsize"].as_i64().unwrap(),
        summary["unbatched_vsize"].as_i64().unwrap() - summary["estimated_vsize"].as_i64().unwrap()
    );
    // 40 single payouts of 189 vB at 3 sat/vB (750 sat/kwu: 567 sat each).
    assert_eq!(summary["unbatched_vsize"], 40 * 189);
    assert_eq!(summary["unbatched_fee_sat"], 40 * 567);

    // The same seed gives the same file; another seed another order.
    let again = p(d, "again.psbt");
    ok(&batch(
        &s,
        &again,
        &["--seed", SEED_A, "--tip-height", &tip, "--json"],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    let other = ok(&batch(
        &s,
        &p(d, "other.psbt"),
        &["--seed", SEED_B, "--tip-height", &tip, "--json"],
    ));
    assert_ne!(other["positions"], summary["positions"]);
    assert_ne!(other["txid"], summary["txid"]);

    // Two cosigners sign; Bitcoin Core's interpreter accepts the transaction.
    let mut psbt = psbt;
    sign(&s, 0, &mut psbt);
    sign(&s, 1, &mut psbt);
    kinko_wallet::finalize(&mut psbt).unwrap();
    let tx = kinko_wallet::extract(psbt, kinko_wallet::MAX_FEE_RATE).unwrap();
    verify_with_core(&tx, &s.spent);
    // At least 3 sat/vB (750 sat/kwu) on the real weight.
    assert!(fee * 1000 >= 750 * tx.weight().to_wu());
}

#[test]
fn batch_text_output_and_no_tip() {
    let s = setup(2, 1_000_000);
    let d = s.dir.path();
    write_json(&d.join("payouts.json"), &payouts(3));
    let out = p(d, "batch.psbt");
    let run = batch(&s, &out, &["--change-index", "40"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8(run.stdout).unwrap();
    let (psbt, _) = decode_psbt(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(psbt.unsigned_tx.lock_time, absolute::LockTime::ZERO);
    assert!(text.contains("3 payouts"), "{text}");
    assert!(text.contains("lock time 0,"), "{text}");
    assert!(text.contains("to change/40 at output"), "{text}");
    assert!(
        text.contains(&format!("txid {}", psbt.unsigned_tx.compute_txid())),
        "{text}"
    );
    // One line per payout: position, tab, id.
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ids, ["w-0", "w-1", "w-2"]);
}

#[test]
fn batch_refusals() {
    let s = setup(2, 1_000_000);
    let d = s.dir.path();
    let out = p(d, "batch.psbt");
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let mut dup = payouts(3);
    dup[2]["id"] = json!("w-0");
    write_json(&d.join("payouts.json"), &dup);
    let run = batch(&s, &out, &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("payout id \"w-0\" given twice"),
        "{}",
        stderr(&run)
    );

    write_json(&d.join("payouts.json"), &payouts(3));
    let run = batch(&s, &out, &["--max-payouts", "2"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("3 payouts, at most 2"),
        "{}",
        stderr(&run)
    );

    let run = batch(&s, &out, &["--seed", "abcd"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));

    let run = batch(&s, &out, &["--tip-height", "500000000"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("not a block height"),
        "{}",
        stderr(&run)
    );

    write_json(&d.join("payouts.json"), &json!([]));
    let run = batch(&s, &out, &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("no payout"), "{}", stderr(&run));

    // A mainnet address in a testnet batch is named by its payout.
    write_json(
        &d.join("payouts.json"),
        &json!([{"id": "w-9", "address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "amount_sat": 5000}]),
    );
    let run = batch(&s, &out, &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("payout \"w-9\""), "{}", stderr(&run));

    // `destination` is read as `address`; unknown fields are refused.
    write_json(
        &d.join("payouts.json"),
        &json!([{"id": "w-1", "destination": external(1), "amount_sat": 5000}]),
    );
    ok(&batch(&s, &out, &["--json"]));
    write_json(
        &d.join("payouts.json"),
        &json!([{"id": "w-1", "address": external(1), "amount": 5000}]),
    );
    let run = batch(&s, &out, &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("is not a payout list"),
        "{}",
        stderr(&run)
    );
}
