//! Issue #13: payouts as exchanges make them — many reservations in one
//! transaction, fee bumps bound to the reservations, consolidations, fees in
//! the books. Every transaction the cosigner signs here is checked by
//! Bitcoin Core's interpreter (libbitcoinconsensus, `Fixture::verify`).

mod common;

use bitcoin::psbt::Psbt;
use bitcoin::{Address, Amount, FeeRate, Network, ScriptBuf};
use common::*;
use kinko_policy::{Decision, WithdrawalStatus};
use kinko_wallet::{CreateParams, Keychain, Utxo};
use rusqlite::params;

/// A distinct regtest P2WSH destination per `i`.
fn dest(i: u32) -> Address {
    let mut script = vec![0x04];
    script.extend_from_slice(&i.to_be_bytes());
    script.extend_from_slice(&[0x75, 0x51]);
    Address::p2wsh(&ScriptBuf::from_bytes(script), Network::Regtest)
}

/// Requests and expects approval of `id` paying `amount` to `to`.
fn reserve(f: &mut Fixture, id: &str, to: &Address, amount: u64) {
    let d = f
        .authority
        .request_withdrawal(id, &format!("user-{id}"), &to.to_string(), amount)
        .unwrap()
        .outcome
        .decision;
    assert!(matches!(d, Decision::Approved { .. }), "{id}: {d:?}");
}

/// An unsigned PSBT of the hot wallet from `utxos` paying `to`.
fn build(f: &Fixture, utxos: &[Utxo], to: &[(Address, u64)], rate: u64, spend_all: bool) -> Psbt {
    f.hot
        .create_psbt(
            utxos,
            &CreateParams {
                recipients: to
                    .iter()
                    .map(|(a, s)| (a.as_unchecked().clone(), Amount::from_sat(*s)))
                    .collect(),
                fee_rate: FeeRate::from_sat_per_vb(rate).unwrap(),
                change_index: 0,
                spend_all,
            },
        )
        .unwrap()
        .psbt
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The rule of a refused payout; the PSBT must be unchanged.
fn refused(f: &mut Fixture, ids: &[String], psbt: &Psbt) -> String {
    let mut p = psbt.clone();
    let r = rule(f.authority.cosign_payout(ids, &mut p));
    assert_eq!(&p, psbt, "a refused PSBT is left unchanged");
    r
}

fn fee_of(psbt: &Psbt, f: &Fixture) -> u64 {
    let ins: u64 = psbt
        .unsigned_tx
        .input
        .iter()
        .map(|i| f.txouts[&i.previous_output].value.to_sat())
        .sum();
    let outs: u64 = psbt
        .unsigned_tx
        .output
        .iter()
        .map(|o| o.value.to_sat())
        .sum();
    ins - outs
}

fn batch_of(f: &mut Fixture, prefix: &str, n: u32) {
    let mut to = Vec::new();
    let mut names = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}{i}");
        let d = dest(i);
        // Amounts differ so the match is by destination and amount.
        let amount = 50_000 + u64::from(i);
        reserve(f, &id, &d, amount);
        to.push((d, amount));
        names.push(id);
    }
    let unsigned = build(f, &f.utxos.clone(), &to, 5, false);
    let mut psbt = f.exchange_signs(unsigned);
    let done = f.authority.cosign_payout(&names, &mut psbt).unwrap();
    assert!(!done.again && done.signatures > 0 && done.replaces.is_none());
    assert_eq!(done.audit_seqs.1 - done.audit_seqs.0 + 1, u64::from(n));
    assert_eq!(done.payout.payment_outputs.len(), n as usize);
    for (k, o) in done.payout.payment_outputs.iter().enumerate() {
        assert_eq!(
            psbt.unsigned_tx.output[*o].value.to_sat(),
            50_000 + k as u64
        );
    }
    f.verify(psbt);
    for id in &names {
        assert_eq!(
            f.authority.replay().cosigned(id),
            Some(done.txid.to_string().as_str())
        );
    }
}

#[test]
fn batches_of_100_and_500_payouts_are_cosigned_and_consensus_valid() {
    let mut f = Fixture::new(POLICY);
    batch_of(&mut f, "a", 100);
    batch_of(&mut f, "b", 500);
    // A restart replays both batches from the chain.
    let again = f.reopen().unwrap();
    assert!(again.replay().cosigned("b499").is_some());
    f.authority
        .ledger()
        .verify_audit_with_key(&f.setup.audit_key())
        .unwrap();
}

#[test]
fn a_batch_that_pays_anything_else_is_refused_by_rule() {
    let mut f = Fixture::new(POLICY);
    for i in 1..=6 {
        reserve(&mut f, &format!("r{i}"), &dest(i), 100_000);
    }
    let utxos = f.utxos.clone();
    let p = |f: &Fixture, to: &[(Address, u64)]| f.exchange_signs(build(f, &utxos, to, 5, false));
    let three = ids(&["r1", "r2", "r3"]);
    let pay = |i: u32| (dest(i), 100_000);
    let count = f.records().len();

    // An output to a destination with no reservation.
    let psbt = p(&f, &[pay(1), pay(2), pay(3), (outside(9), 100_000)]);
    assert_eq!(refused(&mut f, &three, &psbt), "extra-output");
    // An amount off by one satoshi.
    let psbt = p(&f, &[pay(1), (dest(2), 100_001), pay(3)]);
    assert_eq!(refused(&mut f, &three, &psbt), "amount-mismatch");
    // A reservation paid twice: named twice, or two outputs for one.
    let psbt = p(&f, &[pay(1), pay(1), pay(2)]);
    assert_eq!(
        refused(&mut f, &ids(&["r1", "r1", "r2"]), &psbt),
        "reservation-paid-twice"
    );
    assert_eq!(
        refused(&mut f, &ids(&["r1", "r2"]), &psbt),
        "reservation-paid-twice"
    );
    // A reservation the transaction does not pay.
    let psbt = p(&f, &[pay(1), pay(2)]);
    assert_eq!(refused(&mut f, &three, &psbt), "destination-mismatch");
    // More than the set-up's 500 in one payout.
    let many: Vec<String> = (0..501).map(|i| format!("x{i}")).collect();
    assert_eq!(refused(&mut f, &many, &psbt), "batch-too-large");
    // Refusals of the transaction are recorded, nothing marked.
    assert!(f.records().len() > count);
    assert!(f.authority.replay().cosigned("r1").is_none());

    // A reservation of another asset, written into the ledger.
    let w = serde_json::json!({"user": "mallory", "destination": dest(7).to_string(),
        "amount": 100_000, "requested_at": "2026-01-26T09:00:00Z", "status": "reserved",
        "required_approvals": 0, "approvals": []});
    f.sql()
        .execute(
            "INSERT INTO kinko_withdrawal (id, asset, user_id, status, amount, record)
             VALUES ('xem-1', 'XEM', 'mallory', 'reserved', 100000, ?1)",
            params![w.to_string()],
        )
        .unwrap();
    let psbt = p(&f, &[pay(1), (dest(7), 100_000)]);
    assert_eq!(
        refused(&mut f, &ids(&["r1", "xem-1"]), &psbt),
        "wrong-asset"
    );

    // A released reservation, and a settled one.
    f.authority.fail("r4").unwrap();
    let psbt = p(&f, &[pay(1), pay(4)]);
    assert_eq!(refused(&mut f, &ids(&["r1", "r4"]), &psbt), "not-reserved");
    let mut single = p(&f, &[pay(5)]);
    let done = f
        .authority
        .cosign_payout(&ids(&["r5"]), &mut single)
        .unwrap();
    f.authority.confirm_tx(&done.txid.to_string()).unwrap();
    let psbt = p(&f, &[pay(1), pay(5)]);
    assert_eq!(refused(&mut f, &ids(&["r1", "r5"]), &psbt), "not-reserved");

    // A second batch that pays a reservation already in a cosigned batch.
    let mut first = p(&f, &[pay(1), pay(2)]);
    f.authority
        .cosign_payout(&ids(&["r1", "r2"]), &mut first)
        .unwrap();
    let psbt = p(&f, &[pay(2), pay(3)]);
    assert_eq!(
        refused(&mut f, &ids(&["r2", "r3"]), &psbt),
        "reservation-spent"
    );
    assert!(f.authority.replay().cosigned("r3").is_none());
    f.reopen().unwrap();
}

#[test]
fn a_fee_bump_pays_the_same_reservations_and_the_books_follow_the_chain() {
    let mut f = Fixture::new(POLICY);
    reserve(&mut f, "p1", &dest(1), 20_000_000);
    reserve(&mut f, "p2", &dest(2), 30_000_000);
    let both = ids(&["p1", "p2"]);
    let to = [(dest(1), 20_000_000), (dest(2), 30_000_000)];
    let first_coin = vec![f.utxos[0].clone()];
    let other_coin = vec![f.utxos[1].clone()];
    let signed = |f: &Fixture, utxos: &[Utxo], to: &[(Address, u64)], rate| {
        f.exchange_signs(build(f, utxos, to, rate, false))
    };

    let mut original = signed(&f, &first_coin, &to, 2);
    let orig = f.authority.cosign_payout(&both, &mut original).unwrap();
    f.verify(original.clone());
    let orig_txid = orig.txid.to_string();

    // A higher fee with the same payments, spending the same coin: cosigned.
    let mut bump = signed(&f, &first_coin, &to, 10);
    let b = f.authority.cosign_payout(&both, &mut bump).unwrap();
    assert_eq!(b.replaces.as_deref(), Some(orig_txid.as_str()));
    f.verify(bump.clone());
    assert_eq!(
        f.authority.replay().family("p1"),
        [orig_txid.clone(), b.txid.to_string()]
    );

    // Refused: a changed amount, a changed destination, an added output, a
    // fee above the limit, a fee not above the family's, a transaction that
    // does not conflict, a "bump" of only some of the reservations.
    let cases: Vec<(&str, Psbt)> = vec![
        (
            "amount-mismatch",
            signed(&f, &first_coin, &[(dest(1), 20_000_001), to[1].clone()], 20),
        ),
        (
            "extra-output",
            signed(&f, &first_coin, &[(dest(3), 20_000_000), to[1].clone()], 20),
        ),
        (
            "extra-output",
            signed(
                &f,
                &first_coin,
                &[to[0].clone(), to[1].clone(), (dest(3), 1_000)],
                20,
            ),
        ),
        // 2 payouts: at most 100,000 + 10,000 sat; every coin at 199
        // sat/vB (under the rate limit) is more.
        (
            "fee-too-high",
            f.exchange_signs(build(&f, &f.utxos, &to, 199, true)),
        ),
        (
            "replacement-fee-not-higher",
            signed(&f, &first_coin, &to, 8),
        ),
        (
            "replacement-not-conflicting",
            signed(&f, &other_coin, &to, 20),
        ),
    ];
    for (want, psbt) in &cases {
        assert_eq!(refused(&mut f, &both, psbt), *want);
    }
    let part = signed(&f, &first_coin, &to[..1], 20);
    assert_eq!(refused(&mut f, &ids(&["p1"]), &part), "reservation-spent");
    // A retry of the original is signed again (it was signed before).
    let mut retry = signed(&f, &first_coin, &to, 2);
    assert!(f.authority.cosign_payout(&both, &mut retry).unwrap().again);
    // confirm by id is ambiguous now: the txid must be named.
    assert_eq!(rule(f.authority.confirm("p1")), "unknown-transaction");

    // The bump confirms: both reservations settle once, with its fee.
    let fee = fee_of(&bump, &f);
    f.authority.confirm_tx(&b.txid.to_string()).unwrap();
    let rec = f.last_record();
    assert_eq!(rec.kind, "tx_confirmed");
    assert!(
        rec.payload
            .contains(&format!("\"replaced\":[\"{orig_txid}\"]")),
        "{}",
        rec.payload
    );
    let s = f.authority.state();
    assert_eq!(
        s.withdrawal("p1").unwrap().status,
        WithdrawalStatus::Settled
    );
    assert_eq!(
        s.withdrawal("p2").unwrap().status,
        WithdrawalStatus::Settled
    );
    // The chain: the three coins not spent, plus the bump's change.
    let change: u64 = bump
        .unsigned_tx
        .output
        .iter()
        .filter(|o| !to.iter().any(|(d, _)| d.script_pubkey() == o.script_pubkey))
        .map(|o| o.value.to_sat())
        .sum();
    let chain = 3 * COIN + change;
    assert_eq!(s.hot(), chain, "books equal the chain to the satoshi");
    assert_eq!(s.hot(), 4 * COIN - 50_000_000 - fee);
    // A truthful observation of the chain changes nothing.
    f.authority.report_hot_balance(chain).unwrap();
    assert!(f.authority.state().freeze().is_none());
    // The original is replaced: confirming it too is refused.
    assert_eq!(
        rule(f.authority.confirm_tx(&orig_txid)),
        "already-confirmed"
    );
    assert_eq!(rule(f.authority.confirm_tx("00ff")), "unknown-transaction");
    f.reopen().unwrap();
}

#[test]
fn a_payout_whose_inputs_were_spent_elsewhere_is_released_with_evidence_only() {
    let mut f = Fixture::new(POLICY);
    reserve(&mut f, "c1", &dest(1), 10_000_000);
    let coin0 = vec![f.utxos[0].clone()];
    let mut payout = f.exchange_signs(build(&f, &coin0, &[(dest(1), 10_000_000)], 2, false));
    let a = f
        .authority
        .cosign_payout(&ids(&["c1"]), &mut payout)
        .unwrap();

    // A consolidation of coins 0 and 1 to the hot wallet's change (it
    // spends the stuck payout's input).
    let two = f.utxos[..2].to_vec();
    let mut consolidation = f.exchange_signs(build(&f, &two, &[], 1, true));
    assert_eq!(consolidation.unsigned_tx.output.len(), 1);
    let c = f
        .authority
        .cosign_consolidation(&mut consolidation)
        .unwrap();
    f.verify(consolidation.clone());
    // A "consolidation" that pays out is not one.
    let mut leak = f.exchange_signs(build(&f, &two, &[(outside(9), 10_000)], 1, true));
    assert_eq!(
        rule(f.authority.cosign_consolidation(&mut leak)),
        "not-consolidation"
    );

    // A bare failure report does not release the cosigned reservation;
    // neither does evidence that is not a confirmed conflicting transaction.
    assert_eq!(rule(f.authority.fail("c1")), "reservation-cosigned");
    let txid_c = c.txid.to_string();
    for bogus in [a.txid.to_string(), txid_c.clone(), "ab".repeat(32)] {
        assert_eq!(
            rule(f.authority.fail_with_conflict("c1", &bogus)),
            "conflict-not-proven"
        );
    }
    let hot = f.authority.state().hot().units();
    f.authority.confirm_tx(&txid_c).unwrap();
    assert_eq!(f.authority.state().hot(), hot - c.fee.to_sat());
    f.authority.fail_with_conflict("c1", &txid_c).unwrap();
    let s = f.authority.state();
    assert_eq!(
        s.withdrawal("c1").unwrap().status,
        WithdrawalStatus::Released
    );
    assert_eq!(s.reserved(), 0);
    // The chain: coins 2 and 3 and the consolidation's one output.
    assert_eq!(
        s.hot(),
        2 * COIN + consolidation.unsigned_tx.output[0].value.to_sat()
    );
    assert_eq!(
        f.hot.script_pubkey(Keychain::Change, 0).unwrap(),
        consolidation.unsigned_tx.output[0].script_pubkey,
        "the consolidation's output is the wallet's change"
    );
    f.reopen().unwrap();
}

/// Issue #13: two cosigners (two authorities, each its own connection to one
/// PostgreSQL schema) cosign overlapping batches at the same time: each
/// reservation ends in at most one cosigned payout family, and a fresh
/// authority replays the chain to the same state.
#[test]
fn two_cosigners_on_overlapping_batches_pay_each_reservation_once() {
    let Some(schema) = Schema::new("kinko_payout_race", "the payout race") else {
        return;
    };
    let mut f = Fixture::with_url(POLICY, &schema.url);
    let n = 12u32;
    for i in 0..n {
        reserve(&mut f, &format!("o{i}"), &dest(i), 100_000 + u64::from(i));
    }
    // Batches of four consecutive reservations, overlapping by two, each
    // from its own coin set, so none is a fee bump of another.
    let batches: Vec<(Vec<String>, Psbt)> = (0..n - 3)
        .step_by(2)
        .map(|start| {
            let names: Vec<String> = (start..start + 4).map(|i| format!("o{i}")).collect();
            let to: Vec<(Address, u64)> = (start..start + 4)
                .map(|i| (dest(i), 100_000 + u64::from(i)))
                .collect();
            let coin = vec![f.utxos[(start as usize / 2) % 4].clone()];
            (names, f.exchange_signs(build(&f, &coin, &to, 3, false)))
        })
        .collect();
    let results: Vec<(Vec<String>, Result<String, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|host| {
                let batches = &batches;
                let (setup, url, clock) = (&f.setup, &schema.url, &f.clock);
                s.spawn(move || {
                    let mut a = open(setup, url, clock).unwrap();
                    let mut out = Vec::new();
                    // One host from the front, the other from the back.
                    let order: Vec<usize> = if host == 0 {
                        (0..batches.len()).collect()
                    } else {
                        (0..batches.len()).rev().collect()
                    };
                    for k in order {
                        let (names, psbt) = &batches[k];
                        let mut p = psbt.clone();
                        let r = a
                            .cosign_payout(names, &mut p)
                            .map(|c| c.txid.to_string())
                            .map_err(|e| e.rule().map_or(e.to_string(), |r| r.as_str().into()));
                        out.push((names.clone(), r));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut paid_by: std::collections::HashMap<String, String> = Default::default();
    for (names, r) in &results {
        match r {
            Ok(txid) => {
                for id in names {
                    let before = paid_by.insert(id.clone(), txid.clone());
                    assert!(
                        before.is_none_or(|b| b == *txid),
                        "{id} in two payouts: {results:?}"
                    );
                }
            }
            Err(rule) => assert_eq!(rule, "reservation-spent", "{results:?}"),
        }
    }
    assert!(!paid_by.is_empty());
    let fresh = f.reopen().expect("the chain replays");
    for i in 0..n {
        let id = format!("o{i}");
        assert!(fresh.replay().family(&id).len() <= 1, "{id}");
        assert_eq!(
            fresh.replay().cosigned(&id),
            paid_by.get(&id).map(String::as_str)
        );
    }
}

/// Issue #13: a child pays for a stuck payout from the payout's own change
/// (CPFP): a consolidation spending the unconfirmed change output.
#[test]
fn a_child_pays_for_a_stuck_payout_from_its_change() {
    let mut f = Fixture::new(POLICY);
    reserve(&mut f, "s1", &dest(1), 10_000_000);
    let coin0 = vec![f.utxos[0].clone()];
    let mut parent = f.exchange_signs(build(&f, &coin0, &[(dest(1), 10_000_000)], 1, false));
    let p = f
        .authority
        .cosign_payout(&ids(&["s1"]), &mut parent)
        .unwrap();
    f.verify(parent.clone());
    let (pos, index, amount) = p.payout.change.expect("change");
    let change = Utxo {
        outpoint: bitcoin::OutPoint::new(p.txid, pos as u32),
        amount,
        keychain: Keychain::Change,
        index,
        prev_tx: parent.unsigned_tx.clone(),
    };
    f.txouts
        .insert(change.outpoint, parent.unsigned_tx.output[pos].clone());
    let mut child = f.hot.create_psbt(
        &[change],
        &CreateParams {
            recipients: vec![],
            fee_rate: FeeRate::from_sat_per_vb(60).unwrap(),
            change_index: index + 1,
            spend_all: true,
        },
    );
    let child = f.exchange_signs(child.as_mut().unwrap().psbt.clone());
    let mut signed = child.clone();
    let c = f.authority.cosign_consolidation(&mut signed).unwrap();
    f.verify(signed);
    // Both confirm: the books lose the payment and both fees.
    let hot = f.authority.state().hot().units();
    f.authority.confirm_tx(&p.txid.to_string()).unwrap();
    f.authority.confirm_tx(&c.txid.to_string()).unwrap();
    assert_eq!(
        f.authority.state().hot(),
        hot - 10_000_000 - p.payout.fee.to_sat() - c.fee.to_sat()
    );
    f.reopen().unwrap();
}

/// Fees have a 24-hour budget (`max_fees_24h_sat`): a payout family counts
/// once, at its highest fee; what would pass the budget is refused
/// (`fee-budget-exceeded`), recorded, and passes again a day later.
#[test]
fn fees_have_a_daily_budget_and_a_fee_bump_counts_once() {
    let f = Fixture::new(POLICY);
    let coin0 = vec![f.utxos[0].clone()];
    let coins12 = f.utxos[1..3].to_vec();
    let to = [(dest(1), 10_000_000)];
    let payout = f.exchange_signs(build(&f, &coin0, &to, 60, false));
    let bump = f.exchange_signs(build(&f, &coin0, &to, 100, false));
    let consolidation = f.exchange_signs(build(&f, &coins12, &[], 40, true));
    let (fee_p, fee_b, fee_c) = (
        fee_of(&payout, &f),
        fee_of(&bump, &f),
        fee_of(&consolidation, &f),
    );
    // A budget that holds the bump's family once but not the consolidation
    // on top of it.
    let budget = fee_b + fee_c - 1;
    // Summed, the payout and its bump would not fit: the test shows they
    // count once.
    assert!(fee_p + fee_b > budget, "{fee_p} {fee_b} {fee_c}");
    let text = setup_text(POLICY)
        .replace(
            "max_fee_sat = 100000\n",
            &format!("max_fee_sat = {fee_b}\n"),
        )
        .replace(
            "max_fee_rate_sat_vb = 200\n",
            &format!("max_fee_rate_sat_vb = 200\nmax_fees_24h_sat = {budget}\n"),
        );
    let sigs: String = [0x21, 0x22]
        .iter()
        .map(|s| sign_setup(&text, *s) + "\n")
        .collect();
    let setup = kinko_cosigner::Setup::load_signed(text.as_bytes(), &sigs).unwrap();
    assert_eq!(setup.batch_limits().max_fees_24h.to_sat(), budget);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("budget.db").display());
    let mut a = open(&setup, &url, &f.clock).unwrap();
    a.report_deposit(kinko_policy::Wallet::Hot, 4 * COIN)
        .unwrap();
    let d = a
        .request_withdrawal("b1", "user-b1", &dest(1).to_string(), 10_000_000)
        .unwrap();
    assert!(matches!(d.outcome.decision, Decision::Approved { .. }));

    a.cosign_payout(&ids(&["b1"]), &mut payout.clone()).unwrap();
    // The bump replaces the payout's fee in the budget; it does not add.
    let b = a.cosign_payout(&ids(&["b1"]), &mut bump.clone()).unwrap();
    assert!(b.replaces.is_some());
    let mut c = consolidation.clone();
    let r = a.cosign_consolidation(&mut c);
    assert_eq!(rule(r), "fee-budget-exceeded");
    // A day later the first fees have aged out.
    f.advance(24 * 60 * 60 + 1);
    a.cosign_consolidation(&mut c).unwrap();
    f.verify(c);
}
