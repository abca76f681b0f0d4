//! The authority as the attacker works: they own the exchange's backend host
//! — the hot key, the backend's files, the cosigner's SQLite ledger file
//! (opened here with `rusqlite` or a `kinko_ledger::Ledger` of their own) and
//! every library call — but not the cosigner's keystore (its hot-wallet key
//! and audit key) nor the approvers' or admins' keys. They may ask; every
//! attempt to decide, loosen or choose is refused, naming the rule, with
//! nothing signed. What the cosigner does sign passes Bitcoin Core's script
//! interpreter (libbitcoinconsensus).

mod common;

use bitcoin::absolute::LockTime;
use bitcoin::psbt::Psbt;
use bitcoin::Sequence;
use common::*;
use kinko_auth::{Action, ActionRule, SetupId, UnixTime};
use kinko_cosigner::setup::SetupError;
use kinko_cosigner::{Authority, OpenAuthorityError, Setup};
use kinko_ledger::audit::record_hash;
use kinko_ledger::{Ledger, Policy};
use kinko_policy::{
    decide_asset, Decision, Event, EventKind, Timestamp, Wallet, Withdrawal, WithdrawalStatus,
};
use kinko_wallet::{Keychain, XprvSigner};
use rusqlite::params;

/// A policy that lets anything through (what the attacker would like).
const PERMISSIVE: &str = r#"[assets.BTC]
hot_cap = 100_000_000_000
max_withdrawal = 100_000_000_000
"#;

/// What the backend would like on the books: 20,000,000 BTC.
const FAKE: u64 = 2_000_000_000_000_000;

/// A policy whose per-withdrawal maximum is a share of custody.
const SHARE_POLICY: &str = r#"[assets.BTC]
hot_cap = 2_000_000_000
max_withdrawal_share = "10%"
"#;

/// An amount above the example policy's approval threshold (1 BTC).
const BIG: u64 = 200_000_000;
/// An amount below it: approved at once.
const SMALL: u64 = 50_000_000;

fn status(f: &Fixture, id: &str) -> WithdrawalStatus {
    f.authority.state().withdrawal(id).unwrap().status
}

/// Requests `id` of `amount` to `dest`; returns the decision.
fn withdraw(f: &mut Fixture, id: &str, dest: &bitcoin::Address, amount: u64) -> Decision {
    f.authority
        .request_withdrawal(id, "user-1", &dest.to_string(), amount)
        .unwrap()
        .outcome
        .decision
}

/// `id` of `amount` to `dest`, requested and approved by alice.
fn reserved(f: &mut Fixture, id: &str, dest: &bitcoin::Address, amount: u64) {
    if let Decision::Pending { .. } = withdraw(f, id, dest, amount) {
        let s = f.approval(0x11, id, dest, amount);
        f.authority.approve(&s).unwrap();
    }
    assert_eq!(status(f, id), WithdrawalStatus::Reserved);
}

/// Cosigns `psbt` for `id`, expecting a refusal: returns the rule and checks
/// nothing was signed.
fn cosign_refused(f: &mut Fixture, id: &str, psbt: &Psbt) -> (String, String) {
    let mut p = psbt.clone();
    let r = refusal(f.authority.cosign_withdrawal(id, &mut p));
    assert_eq!(&p, psbt, "a refused PSBT is left unchanged");
    r
}

/// The state-mismatch refusal of `r`, its detail.
fn mismatch<T: std::fmt::Debug>(r: Result<T, kinko_cosigner::AuthorityError>) -> String {
    let (rule, detail) = refusal(r);
    assert_eq!(rule, "state-mismatch", "{detail}");
    detail
}

/// The state-mismatch refusal of a restart.
fn reopen_mismatch(f: &Fixture) -> String {
    match f.reopen() {
        Err(OpenAuthorityError::Refused(e)) => mismatch::<()>(Err(e)),
        Err(e) => panic!("expected state-mismatch, got {e}"),
        Ok(_) => panic!("expected state-mismatch, the authority opened"),
    }
}

// ----- 1. approvals need the approvers' keys -----

#[test]
fn approvals_without_the_approvers_key_are_refused() {
    let mut f = Fixture::new(POLICY);
    let dest = outside(1);
    assert!(matches!(
        withdraw(&mut f, "w1", &dest, BIG),
        Decision::Pending { .. }
    ));
    let count = f.records().len();

    // Keys that are not approvers': a stranger's, an admin's.
    for seed in [0x66, 0x21] {
        let s = f.approval(seed, "w1", &dest, BIG);
        assert_eq!(rule(f.authority.approve(&s)), "unknown-signer");
    }
    // alice's key named, another key's signature.
    let mut forged = f.approval(0x66, "w1", &dest, BIG);
    forged.signer = person(0x11).x_only_public_key().0;
    assert_eq!(rule(f.authority.approve(&forged)), "bad-signature");
    // Another amount, another destination, another withdrawal.
    for s in [
        f.approval(0x11, "w1", &dest, BIG + 1),
        f.approval(0x11, "w1", &outside(2), BIG),
        f.approval(0x11, "w2", &dest, BIG),
    ] {
        assert_eq!(rule(f.authority.approve(&s)), "object-mismatch");
    }
    // Another set-up.
    let mut action = f.approval_action("w1", &dest, BIG);
    if let Action::Approval { setup_id, .. } = &mut action {
        *setup_id = SetupId::of_file(b"another set-up");
    }
    let other = action.sign(&person(0x11));
    assert_eq!(rule(f.authority.approve(&other)), "wrong-setup");
    // Expired on the cosigner's clock.
    let mut action = f.approval_action("w1", &dest, BIG);
    if let Action::Approval { expires, .. } = &mut action {
        *expires = f.expires_in(60);
    }
    let soon = action.sign(&person(0x11));
    f.advance(61);
    assert_eq!(rule(f.authority.approve(&soon)), "expired");
    // A signed action of another kind.
    let vote = Action::Unfreeze {
        setup_id: f.setup.id(),
        asset: "BTC".parse().unwrap(),
        frozen_at: UnixTime::from_unix(f.now().unix()),
        expires: f.expires_in(3600),
    }
    .sign(&person(0x11));
    assert_eq!(rule(f.authority.approve(&vote)), "wrong-action");

    // Nothing was decided; each refusal of a signature for w1 is in its
    // chain as a `refused` record naming the rule (the other kind of action
    // names no withdrawal and is not recorded).
    let records = f.records();
    let refused: Vec<String> = records[count..]
        .iter()
        .map(|r| {
            assert_eq!(r.kind, "refused");
            let p: serde_json::Value = serde_json::from_str(&r.payload).unwrap();
            assert_eq!(p["refused"]["id"], "w1");
            p["refused"]["rule"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        refused.contains(&"unknown-signer".to_owned()),
        "{refused:?}"
    );
    assert!(refused.contains(&"bad-signature".to_owned()), "{refused:?}");
    assert!(refused.contains(&"expired".to_owned()), "{refused:?}");
    assert_eq!(status(&f, "w1"), WithdrawalStatus::Pending);

    // The honest path: alice's signed approval reserves the withdrawal, and
    // the audit record carries it.
    let ok = f.approval(0x11, "w1", &dest, BIG);
    let c = f.authority.approve(&ok).unwrap();
    assert!(Authority::<XprvSigner>::approved(&c));
    assert_eq!(status(&f, "w1"), WithdrawalStatus::Reserved);
    let rec = f.last_record();
    assert_eq!(rec.kind, "approval");
    assert!(rec.payload.contains(&ok.signature.to_string()));

    // Replayed: the same signed action again; alice again with a fresh
    // signature; and the same signed action after a restart.
    assert_eq!(rule(f.authority.approve(&ok)), "replayed");
    f.advance(1);
    let again = f.approval(0x11, "w1", &dest, BIG);
    assert_ne!(again.signature, ok.signature);
    assert_eq!(rule(f.authority.approve(&again)), "replayed");
    let mut restarted = f.reopen().unwrap();
    assert_eq!(rule(restarted.approve(&ok)), "replayed");
}

#[test]
fn a_replayed_approval_is_refused_on_another_withdrawal_too() {
    // Quorum two: alice's approval leaves w1 pending; her signature cannot
    // count twice, and bob's completes the quorum.
    let policy = POLICY.replace("quorum = 1", "quorum = 2");
    let mut f = Fixture::new(&policy);
    let dest = outside(1);
    withdraw(&mut f, "w1", &dest, BIG);
    let alice = f.approval(0x11, "w1", &dest, BIG);
    f.authority.approve(&alice).unwrap();
    assert_eq!(status(&f, "w1"), WithdrawalStatus::Pending);
    assert_eq!(rule(f.authority.approve(&alice)), "replayed");
    f.advance(1);
    let alice2 = f.approval(0x11, "w1", &dest, BIG);
    assert_eq!(rule(f.authority.approve(&alice2)), "replayed");
    let bob = f.approval(0x12, "w1", &dest, BIG);
    f.authority.approve(&bob).unwrap();
    assert_eq!(status(&f, "w1"), WithdrawalStatus::Reserved);
}

// ----- 2. a permissive policy needs the admins -----

#[test]
fn a_loosened_setup_is_refused_without_the_admins() {
    let (text, sigs) = signed_setup(POLICY);
    Setup::load_signed(text.as_bytes(), &sigs).unwrap();
    let loose = text.replace(
        "max_withdrawal = 500_000_000",
        "max_withdrawal = 50_000_000_000",
    );
    assert_ne!(loose, text);
    // Valid as a set-up, but the signatures are of the original's id.
    Setup::parse_unsigned(loose.as_bytes()).unwrap();
    let e = Setup::load_signed(loose.as_bytes(), &sigs).unwrap_err();
    assert_eq!(e.action_rule(), Some(ActionRule::WrongSetup), "{e}");
    assert!(matches!(e, SetupError::SignatureRefused { line: 1, .. }));

    // One admin where the quorum is two: the original, the loosened one,
    // and one admin's signature given twice.
    let carol = sign_setup(&text, 0x21);
    let carol_loose = sign_setup(&loose, 0x21);
    for (t, s) in [
        (&text, carol.clone()),
        (&loose, carol_loose),
        (&text, format!("{carol}\n{carol}\n")),
    ] {
        let e = Setup::load_signed(t.as_bytes(), &s).unwrap_err();
        assert!(
            matches!(e, SetupError::NotEnoughSignatures { have: 1, need: 2 }),
            "{e}"
        );
    }
}

// ----- 3. a ledger written around the authority -----

/// The attacker's own ledger on the cosigner's file: no audit signer (they
/// lack the key).
fn around(f: &Fixture, policy: &str) -> Ledger {
    Ledger::open(&f.url)
        .unwrap()
        .with_policy(Policy::from_toml_str(policy).unwrap())
}

#[test]
fn a_withdrawal_decided_around_the_authority_is_refused() {
    let mut f = Fixture::new(POLICY);
    let loot = outside(9);
    let amount = 900_000_000;
    let d = around(&f, PERMISSIVE)
        .decide_at(
            f.now(),
            EventKind::Withdrawal {
                id: "loot".parse().unwrap(),
                user: "mallory".parse().unwrap(),
                asset: "BTC".parse().unwrap(),
                destination: loot.to_string().parse().unwrap(),
                amount: kinko_policy::Amount::from_units(amount),
            },
        )
        .unwrap();
    assert!(matches!(d.outcome.decision, Decision::Approved { .. }));
    let seq = d.audit_seq;
    let psbt = f.psbt(&[(&loot, amount)], 5);
    let (rule, detail) = cosign_refused(&mut f, "loot", &psbt);
    assert_eq!(rule, "state-mismatch");
    assert!(
        detail.contains(&format!("audit record BTC#{seq}")),
        "{detail}"
    );
    assert!(mismatch(f.authority.tick()).contains(&format!("BTC#{seq}")));
    assert!(reopen_mismatch(&f).contains(&format!("BTC#{seq}")));
}

#[test]
fn a_far_future_record_written_around_the_authority_is_refused() {
    for policy in [PERMISSIVE, POLICY] {
        let mut f = Fixture::new(POLICY);
        let d = around(&f, policy)
            .decide_at(
                Timestamp::parse_rfc3339("9999-12-31T23:59:59Z").unwrap(),
                EventKind::Tick {
                    asset: "BTC".parse().unwrap(),
                },
            )
            .unwrap();
        // Under another policy the record is named; under the set-up's own
        // (the attacker can read it) the engine agrees, but the chain's end
        // is not the head the audit key signed.
        let want = if policy == POLICY {
            format!("record {}, which is not the head", d.audit_seq)
        } else {
            format!("audit record BTC#{}", d.audit_seq)
        };
        let detail = mismatch(f.authority.tick());
        assert!(detail.contains(&want), "{detail}");
        assert!(reopen_mismatch(&f).contains(&want));
    }
}

#[test]
fn an_approval_by_name_written_around_the_authority_is_refused() {
    // The set-up's own policy: the engine takes a name as an approval, only
    // the audit key's signature on the chain's head tells it apart.
    let mut f = Fixture::new(POLICY);
    let dest = outside(1);
    withdraw(&mut f, "w1", &dest, BIG);
    let d = around(&f, POLICY)
        .decide_at(
            f.now(),
            EventKind::Approval {
                asset: "BTC".parse().unwrap(),
                id: "w1".parse().unwrap(),
                approver: "alice".into(),
            },
        )
        .unwrap();
    assert!(matches!(d.outcome.decision, Decision::Approved { .. }));
    let psbt = f.psbt(&[(&dest, BIG)], 5);
    let (rule, detail) = cosign_refused(&mut f, "w1", &psbt);
    assert_eq!(rule, "state-mismatch");
    assert!(
        detail.contains("not the head the audit key signed"),
        "{detail}"
    );
    reopen_mismatch(&f);
}

// ----- 4. direct SQL edits of the ledger file -----

/// INSERTs a reserved withdrawal row of `asset` paying `amount` to `dest`.
fn insert_reservation(f: &Fixture, id: &str, asset: &str, dest: &bitcoin::Address, amount: u64) {
    let w = Withdrawal {
        user: "mallory".parse().unwrap(),
        destination: dest.to_string().parse().unwrap(),
        amount: kinko_policy::Amount::from_units(amount),
        requested_at: f.now(),
        status: WithdrawalStatus::Reserved,
        required_approvals: 0,
        approvals: Default::default(),
    };
    f.sql()
        .execute(
            "INSERT INTO kinko_withdrawal (id, asset, user_id, status, amount, record)
             VALUES (?1, ?2, 'mallory', 'reserved', ?3, ?4)",
            params![id, asset, amount as i64, serde_json::to_string(&w).unwrap()],
        )
        .unwrap();
}

#[test]
fn an_inserted_reservation_is_not_cosigned() {
    let mut f = Fixture::new(POLICY);
    let loot = outside(9);
    insert_reservation(&f, "loot", "BTC", &loot, 300_000_000);
    let count = f.records().len();
    let psbt = f.psbt(&[(&loot, 300_000_000)], 5);
    let (rule, detail) = cosign_refused(&mut f, "loot", &psbt);
    assert_eq!(rule, "state-mismatch");
    assert!(detail.contains("\"loot\""), "{detail}");
    assert_eq!(
        f.records().len(),
        count,
        "no chain withdrawal to attach it to"
    );
}

/// Edits the BTC row's `core` JSON.
fn edit_core(f: &Fixture, edit: impl FnOnce(&mut serde_json::Value)) {
    let db = f.sql();
    let core: String = db
        .query_row(
            "SELECT core FROM kinko_asset WHERE asset = 'BTC'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&core).unwrap();
    edit(&mut v);
    db.execute(
        "UPDATE kinko_asset SET core = ?1 WHERE asset = 'BTC'",
        params![v.to_string()],
    )
    .unwrap();
}

#[test]
fn edited_window_usage_is_refused() {
    let mut f = Fixture::new(POLICY);
    assert!(matches!(
        withdraw(&mut f, "w1", &outside(1), 90_000_000),
        Decision::Approved { .. }
    ));
    edit_core(&f, |v| {
        let windows = v["windows"].as_array_mut().unwrap();
        assert!(!windows.is_empty());
        for w in windows {
            *w = serde_json::json!({ "buckets": [] });
        }
    });
    let detail = mismatch(f.authority.request_withdrawal(
        "w2",
        "user-1",
        &outside(1).to_string(),
        90_000_000,
    ));
    assert!(detail.contains("velocity window"), "{detail}");
    reopen_mismatch(&f);
}

#[test]
fn a_cleared_freeze_is_refused() {
    let mut f = Fixture::new(POLICY);
    f.authority.freeze("ops", "suspicious logins").unwrap();
    edit_core(&f, |v| v["freeze"] = serde_json::Value::Null);
    let detail =
        mismatch(
            f.authority
                .request_withdrawal("w1", "user-1", &outside(1).to_string(), SMALL),
        );
    assert!(detail.contains("freeze"), "{detail}");
    reopen_mismatch(&f);
}

#[test]
fn an_inserted_allowlist_entry_is_refused() {
    let mut f = Fixture::new(POLICY);
    let loot = outside(9).to_string();
    f.sql()
        .execute(
            "INSERT INTO kinko_allowlist (asset, destination, added_at, active_at)
             VALUES ('BTC', ?1, 0, 0)",
            params![loot],
        )
        .unwrap();
    let detail = mismatch(f.authority.request_withdrawal("w1", "user-1", &loot, SMALL));
    assert!(detail.contains("allowlist entry"), "{detail}");
    reopen_mismatch(&f);
}

/// Writes `records` over the BTC chain from their first `seq` on and sets
/// the asset row's head to the last: what a database writer can do without
/// the audit key.
fn put_chain(f: &Fixture, records: &[kinko_ledger::AuditRecord]) {
    let db = f.sql();
    for r in records {
        db.execute(
            "INSERT OR REPLACE INTO kinko_audit (asset, seq, at, kind, payload, prev_hash, hash)
             VALUES ('BTC', ?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                r.seq as i64,
                r.at.unix(),
                r.kind,
                r.payload,
                r.prev_hash,
                r.hash
            ],
        )
        .unwrap();
    }
    let last = records.last().unwrap();
    db.execute(
        "UPDATE kinko_asset SET audit_count = ?1, audit_head = ?2 WHERE asset = 'BTC'",
        params![last.seq as i64, last.hash],
    )
    .unwrap();
}

/// A record after the chain's last, its hash recomputed and linked: what a
/// database writer can forge without the audit key.
fn forge_next(f: &mut Fixture, kind: &str, payload: String) -> kinko_ledger::AuditRecord {
    let head = f.last_record();
    let seq = head.seq + 1;
    kinko_ledger::AuditRecord {
        asset: "BTC".parse().unwrap(),
        seq,
        at: f.now(),
        kind: kind.into(),
        hash: record_hash(&head.hash, "BTC", seq, f.now(), kind, &payload),
        payload,
        prev_hash: head.hash,
    }
}

/// A deposit of 20,000,000 BTC to the hot wallet forged as the chain's next
/// record under the set-up's policy: decided by the engine on the chain's
/// own state (`engine`), or leaving out its changes (which the engine, which
/// applies what it decides, disagrees with).
fn forge_deposit(f: &mut Fixture, engine: bool) -> kinko_ledger::AuditRecord {
    let event = Event::new(
        f.now(),
        EventKind::Deposit {
            asset: "BTC".parse().unwrap(),
            wallet: Wallet::Hot,
            amount: kinko_policy::Amount::from_units(FAKE),
        },
    );
    let mut out = kinko_policy::Outcome {
        decision: Decision::Recorded,
        changes: Vec::new(),
        proposals: Vec::new(),
    };
    if engine {
        let policy = f.setup.policy().config().asset("BTC").unwrap();
        let mut state = f.authority.state().clone();
        out = decide_asset(policy, &mut state, &event).unwrap();
    }
    let payload = serde_json::json!({
        "event": event,
        "decision": out.decision,
        "changes": out.changes,
        "proposals": out.proposals,
        "policy": f.setup.policy().sha256(),
    })
    .to_string();
    forge_next(f, "deposit", payload)
}

#[test]
fn an_appended_record_is_refused() {
    let mut f = Fixture::new(POLICY);
    // A record the engine itself would write: a deposit of 20,000,000 BTC,
    // decided under the set-up's policy on the chain's own state, its hash
    // recomputed and linked, the asset row's head fixed up.
    let forged = forge_deposit(&mut f, true);
    put_chain(&f, &[forged]);
    f.sql()
        .execute(
            "UPDATE kinko_asset SET hot = hot + 2000000000000000 WHERE asset = 'BTC'",
            [],
        )
        .unwrap();
    // The chain verifies without the key; the signed head does not.
    f.authority.ledger().verify_audit().unwrap();
    assert!(f
        .authority
        .ledger()
        .verify_audit_with_key(&f.setup.audit_key())
        .is_err());
    let detail = mismatch(f.authority.tick());
    assert!(
        detail.contains("not the head the audit key signed"),
        "{detail}"
    );
    assert!(reopen_mismatch(&f).contains("not the head the audit key signed"));
}

#[test]
fn a_rewritten_record_is_refused() {
    let mut f = Fixture::new(POLICY);
    withdraw(&mut f, "w1", &outside(1), SMALL);
    f.authority.tick().unwrap();
    // The funding deposit rewritten ten times larger, event and changes
    // alike (the engine agrees), every later record relinked, the head
    // fixed up.
    let mut chain = f.records();
    assert!(chain.len() >= 3);
    chain[0].payload = chain[0].payload.replace(
        &format!("\"amount\":{}", 4 * COIN),
        &format!("\"amount\":{}", 40 * COIN),
    );
    let mut prev = kinko_ledger::audit::GENESIS.to_owned();
    for r in &mut chain {
        r.prev_hash = prev;
        r.hash = record_hash(&r.prev_hash, &r.asset, r.seq, r.at, &r.kind, &r.payload);
        prev = r.hash.clone();
    }
    put_chain(&f, &chain);
    f.authority.ledger().verify_audit().unwrap();
    // The running authority (which replayed the records before) refuses to
    // build on the rewritten chain, and signs nothing over it; a restart
    // refuses it too.
    let signed = f.authority.ledger().signed_heads().unwrap();
    let detail = mismatch(f.authority.tick());
    assert!(detail.contains("stored head"), "{detail}");
    assert_eq!(f.authority.ledger().signed_heads().unwrap(), signed);
    reopen_mismatch(&f);

    // Rewritten without recomputing the hash: the record is named.
    let mut f = Fixture::new(POLICY);
    f.authority.tick().unwrap();
    f.sql()
        .execute(
            "UPDATE kinko_audit SET payload = replace(payload, ?1, ?2)
             WHERE asset = 'BTC' AND seq = 1",
            params![(4 * COIN).to_string(), (40 * COIN).to_string()],
        )
        .unwrap();
    assert!(reopen_mismatch(&f).contains("BTC#1 was edited"));
}

#[test]
fn a_record_refused_half_way_leaves_nothing_behind() {
    // No custody statement: the share limit is measured on the books.
    let mut f = Fixture::new(SHARE_POLICY);
    let head = f.last_record();
    // A deposit of 20,000,000 BTC whose record leaves out its changes: the
    // engine (which applies what it decides) disagrees.
    let forged = forge_deposit(&mut f, false);
    put_chain(&f, &[forged]);
    let detail = mismatch(f.authority.tick());
    assert!(detail.contains("changes"), "{detail}");
    // The attacker takes the record back and sets the books to what the
    // engine applied before it refused: the authority still refuses.
    f.sql()
        .execute(
            "DELETE FROM kinko_audit WHERE asset = 'BTC' AND seq = ?1",
            params![(head.seq + 1) as i64],
        )
        .unwrap();
    f.sql()
        .execute(
            "UPDATE kinko_asset SET audit_count = ?1, audit_head = ?2,
             hot = hot + 2000000000000000 WHERE asset = 'BTC'",
            params![head.seq as i64, head.hash],
        )
        .unwrap();
    // 15 BTC is far above 10% of the real 20 BTC.
    mismatch(f.authority.request_withdrawal(
        "loot",
        "mallory",
        &outside(9).to_string(),
        1_500_000_000,
    ));
    let detail = reopen_mismatch(&f);
    assert!(detail.contains("books row"), "{detail}");
}

#[test]
fn a_deleted_cosign_mark_neither_respends_nor_releases_a_reservation() {
    let mut f = Fixture::new(POLICY);
    let dest = outside(1);
    reserved(&mut f, "w1", &dest, BIG);
    let mut p = f.psbt(&[(&dest, BIG)], 5);
    f.authority.cosign_withdrawal("w1", &mut p).unwrap();
    f.verify(p);
    f.sql()
        .execute("DELETE FROM kinko_cosign WHERE id = 'w1'", [])
        .unwrap();
    let count = f.records().len();
    // A second transaction for the reservation: nothing signed, nothing
    // recorded as signed.
    let other = f.psbt(&[(&dest, BIG)], 6);
    let (rule, detail) = cosign_refused(&mut f, "w1", &other);
    assert_eq!(rule, "state-mismatch");
    assert!(detail.contains("cosign mark"), "{detail}");
    // A failure report does not release it.
    let detail = mismatch(f.authority.fail("w1"));
    assert!(detail.contains("cosign mark"), "{detail}");
    assert_eq!(f.records().len(), count);
    assert_eq!(status(&f, "w1"), WithdrawalStatus::Reserved);

    // A release written around the authority (the ledger no longer sees
    // the mark) is refused by the replay, naming the record.
    let d = around(&f, POLICY)
        .decide_at(
            f.now(),
            EventKind::Failed {
                asset: "BTC".parse().unwrap(),
                id: "w1".parse().unwrap(),
            },
        )
        .unwrap();
    let detail = reopen_mismatch(&f);
    assert!(
        detail.contains(&format!("BTC#{} releases withdrawal \"w1\"", d.audit_seq)),
        "{detail}"
    );
}

// ----- 5. custody the cosigner can vouch for -----

#[test]
fn a_fake_cold_deposit_is_refused() {
    let mut f = Fixture::new(POLICY);
    let count = f.records().len();
    assert_eq!(
        rule(f.authority.report_deposit(Wallet::Cold, 100_000_000_000)),
        "unvouched-cold-deposit"
    );
    assert_eq!(f.records().len(), count);
    assert_eq!(f.authority.state().cold(), 0);
}

#[test]
fn a_fake_hot_deposit_does_not_lift_a_share_limit() {
    let mut f = Fixture::new(SHARE_POLICY);
    // The admins vouch for the 20 BTC in custody.
    let statement = Action::CustodyStatement {
        setup_id: f.setup.id(),
        asset: "BTC".parse().unwrap(),
        amount: 4 * COIN,
        as_of: UnixTime::from_unix(f.now().unix()),
        expires: f.expires_in(3600),
    };
    let one = statement.sign(&person(0x21));
    assert_eq!(
        rule(f.authority.custody_statement(std::slice::from_ref(&one))),
        "quorum-not-met"
    );
    let two = [one, statement.sign(&person(0x22))];
    f.authority.custody_statement(&two).unwrap();
    // The backend reports 20,000,000 BTC on the hot wallet.
    f.authority.report_deposit(Wallet::Hot, FAKE).unwrap();
    // The maximum is 10% of the vouched 20 BTC, not of the books.
    let dest = outside(1);
    match withdraw(&mut f, "w1", &dest, 200_000_001) {
        Decision::Denied { rule, .. } => assert_eq!(rule.name(), "max_withdrawal"),
        d => panic!("expected max_withdrawal, got {d:?}"),
    }
    assert!(matches!(
        withdraw(&mut f, "w2", &dest, 200_000_000),
        Decision::Approved { .. }
    ));
    // A statement the backend held back, counted before the one in force
    // and for more, is refused: it would vouch again for what left since.
    f.advance(60);
    let older = Action::CustodyStatement {
        setup_id: f.setup.id(),
        asset: "BTC".parse().unwrap(),
        amount: 40 * COIN,
        as_of: UnixTime::from_unix(f.now().unix() - 3600),
        expires: f.expires_in(3600),
    };
    let two = [older.sign(&person(0x21)), older.sign(&person(0x22))];
    assert_eq!(rule(f.authority.custody_statement(&two)), "object-mismatch");
    assert_eq!(
        f.authority.state().vouched(),
        Some(kinko_policy::Amount::from_units(4 * COIN))
    );
}

// ----- 6. sweeps pay the pinned cold wallet at the index handed out -----

#[test]
fn sweeps_pay_only_the_cold_address_handed_out() {
    let mut f = Fixture::new(POLICY);
    let (index, cold0) = f.authority.next_sweep_address().unwrap();
    assert_eq!(index, 0);
    assert_eq!(
        cold0,
        f.setup.cold_wallet().address(Keychain::Receive, 0).unwrap()
    );
    let count = f.records().len();
    // The attacker's own descriptor, and the cold wallet at another index.
    let mine = wallet([7, 8, 9]).address(Keychain::Receive, 0).unwrap();
    let cold1 = f.setup.cold_wallet().address(Keychain::Receive, 1).unwrap();
    for to in [&mine, &cold1] {
        let psbt = f.psbt(&[(to, COIN)], 5);
        let mut p = psbt.clone();
        assert_eq!(rule(f.authority.cosign_sweep(&mut p)), "sweep-not-cold");
        assert_eq!(p, psbt);
    }
    assert_eq!(f.records().len(), count);

    // The honest sweep: cosigned, valid, recorded with its cold index.
    let mut p = f.psbt(&[(&cold0, COIN)], 5);
    let done = f.authority.cosign_sweep(&mut p).unwrap();
    assert!(done.signatures > 0);
    f.verify(p);
    let rec = f.last_record();
    assert_eq!(rec.kind, "sweep");
    assert!(rec.payload.contains("\"cold_index\":0"), "{}", rec.payload);
    assert_eq!(f.authority.state().cold(), COIN);
    assert_eq!(f.authority.next_sweep_address().unwrap().0, 1);
    // Index 0 is spent: another sweep there is refused.
    let mut p = f.psbt(&[(&cold0, COIN / 2)], 5);
    assert_eq!(rule(f.authority.cosign_sweep(&mut p)), "sweep-not-cold");
    let (i, cold1b) = f.reopen().unwrap().next_sweep_address().unwrap();
    assert_eq!((i, &cold1b), (1, &cold1));
}

// ----- 7. another asset's reservation -----

#[test]
fn another_assets_reservation_is_refused() {
    let mut f = Fixture::new(POLICY);
    let loot = outside(9);
    insert_reservation(&f, "xem-1", "XEM", &loot, 1_200_000_000);
    let count = f.records().len();
    // 1,200,000,000 units of XEM paid as 12 BTC.
    let psbt = f.psbt(&[(&loot, 1_200_000_000)], 5);
    let (rule, detail) = cosign_refused(&mut f, "xem-1", &psbt);
    assert_eq!(rule, "wrong-asset", "{detail}");
    assert_eq!(f.records().len(), count);
}

// ----- 8. transactions the cosigner can stand behind -----

#[test]
fn transaction_rules_refuse_and_do_not_spend_the_reservation() {
    let mut f = Fixture::new(POLICY);
    let dest = outside(1);
    reserved(&mut f, "w1", &dest, BIG);
    let to = [(&dest, BIG)];
    let ahead = f.now().unix() + 2 * 3600 + 1;
    let cases: Vec<(&str, Psbt)> = vec![
        (
            "non-final-locktime",
            f.psbt_edited(&to, |tx| tx.lock_time = LockTime::from_consensus(2_000_000)),
        ),
        (
            "non-final-locktime",
            f.psbt_edited(&to, |tx| {
                tx.lock_time = LockTime::from_consensus(u32::try_from(ahead).unwrap());
            }),
        ),
        (
            "relative-locktime",
            f.psbt_edited(&to, |tx| {
                assert_eq!(tx.version.0, 2);
                tx.input[0].sequence = Sequence(1);
            }),
        ),
        (
            "change-beyond-gap",
            f.exchange_signs(f.create(&to, 5, 5_000)),
        ),
        ("fee-too-high", f.psbt(&to, 900)),
    ];
    for (want, psbt) in cases {
        let (rule, detail) = cosign_refused(&mut f, "w1", &psbt);
        assert_eq!(rule, want, "{detail}");
        let rec = f.last_record();
        assert_eq!(rec.kind, "cosign");
        let p: serde_json::Value = serde_json::from_str(&rec.payload).unwrap();
        assert_eq!(p["id"], "w1");
        assert_eq!(p["result"], "refused");
        assert_eq!(p["rule"], want);
    }
    assert_eq!(f.authority.ledger().cosign_mark("w1").unwrap(), None);

    // The honest PSBT for the same reservation is still cosigned.
    let mut p = f.psbt(&to, 5);
    let done = f.authority.cosign_withdrawal("w1", &mut p).unwrap();
    assert!(!done.again);
    f.verify(p);
}

// ----- 9. the honest day in small -----

#[test]
fn the_honest_day() {
    let mut f = Fixture::new(POLICY);
    let dest = outside(1);
    f.advance(60);
    reserved(&mut f, "w1", &dest, BIG);
    f.advance(60);
    let mut p = f.psbt(&[(&dest, BIG)], 5);
    let before = p.clone();
    let done = f.authority.cosign_withdrawal("w1", &mut p).unwrap();
    assert_eq!(done.asset, "BTC");
    f.verify(p);
    assert_eq!(
        f.authority.replay().cosigned("w1"),
        Some(done.txid.to_string().as_str())
    );
    // A retry of the same transaction is signed again.
    let mut retry = before;
    assert!(
        f.authority
            .cosign_withdrawal("w1", &mut retry)
            .unwrap()
            .again
    );

    // A failure report of a cosigned reservation is refused and recorded.
    f.advance(60);
    assert_eq!(rule(f.authority.fail("w1")), "reservation-cosigned");
    assert_eq!(f.last_record().kind, "refused");
    assert_eq!(status(&f, "w1"), WithdrawalStatus::Reserved);

    f.advance(60);
    f.authority.confirm("w1").unwrap();
    assert_eq!(status(&f, "w1"), WithdrawalStatus::Settled);
    // The fee left the books with the payment (issue #13).
    assert_eq!(
        f.authority.state().hot(),
        4 * COIN - BIG - done.payment.fee.to_sat()
    );

    let summary = f
        .authority
        .ledger()
        .verify_audit_with_key(&f.setup.audit_key())
        .unwrap();
    assert_eq!(summary.records, f.records().len() as u64);
    // A restart replays the same state.
    let again = f.reopen().unwrap();
    assert_eq!(again.replay().head(), f.authority.replay().head());
}

/// Requests a withdrawal and, when it waits, alice approves it: the final
/// decision.
fn decided(f: &mut Fixture, id: &str, dest: &bitcoin::Address, amount: u64) -> Decision {
    match withdraw(f, id, dest, amount) {
        Decision::Pending { .. } => {
            let s = f.approval(0x11, id, dest, amount);
            f.authority.approve(&s).unwrap().outcome.decision
        }
        d => d,
    }
}

/// A loosening change waits the set-up's delay (48 h) on the cosigner's own
/// clock and an admin can cancel it; a tightening applies at once; window
/// usage carries over every change; the chain replays to the same policy
/// after a restart.
#[test]
fn policy_changes_loosen_only_after_the_delay_and_keep_usage() {
    let mut f = Fixture::new(POLICY);
    let dest = outside(1);
    // 24h window of 10 BTC: spend 4 BTC of it.
    assert!(matches!(
        decided(&mut f, "w1", &dest, 400_000_000),
        Decision::Approved { .. }
    ));
    let loose = POLICY.replace(
        "max_withdrawal = 500_000_000",
        "max_withdrawal = 900_000_000",
    );
    // Under the quorum: refused.
    let one = policy_change(&f, &loose, 1, &[0x21]);
    assert_eq!(
        rule(f.authority.propose_policy_change(&loose, &one)),
        "quorum-not-met"
    );
    // Signed for another text.
    let sigs = policy_change(&f, &loose, 1, &[0x21, 0x22]);
    assert_eq!(
        rule(f.authority.propose_policy_change(POLICY, &sigs)),
        "object-mismatch"
    );
    f.authority.propose_policy_change(&loose, &sigs).unwrap();
    // The same signatures again: replayed.
    assert_eq!(
        rule(f.authority.propose_policy_change(&loose, &sigs)),
        "replayed"
    );
    let pending = f.authority.replay().pending_change(f.now()).unwrap();
    assert!(pending.loosening);
    assert_eq!(pending.active_at.unix() - f.now().unix(), 48 * 3600);
    // Not yet: 6 BTC is above the old maximum of 5.
    f.advance(47 * 3600);
    assert!(matches!(
        decided(&mut f, "w2", &dest, 600_000_000),
        Decision::Denied { .. }
    ));
    // After the delay the new maximum is in force, and the 24h window's usage
    // was kept: 4 BTC (w1) is out of the window by now, 6 fits the 10 BTC.
    f.advance(3600);
    assert!(matches!(
        decided(&mut f, "w3", &dest, 600_000_000),
        Decision::Approved { .. }
    ));
    // Within the same 24h, 6 more exceed the window: usage carried over.
    match decided(&mut f, "w4", &dest, 600_000_000) {
        Decision::Denied { rule, .. } => assert_eq!(rule.name(), "velocity"),
        other => panic!("{other:?}"),
    }

    // A second loosening is cancelled by one admin before it takes effect.
    let looser = loose.replace(
        "max_withdrawal = 900_000_000",
        "max_withdrawal = 990_000_000",
    );
    let sigs = policy_change(&f, &looser, 2, &[0x22, 0x23]);
    f.authority.propose_policy_change(&looser, &sigs).unwrap();
    let cancel = Action::PolicyCancel {
        setup_id: f.setup.id(),
        asset: "BTC".parse().unwrap(),
        sequence: 2,
        expires: f.expires_in(3600),
    }
    .sign(&person(0x23));
    f.authority.cancel_policy_change(&cancel).unwrap();
    f.advance(49 * 3600);
    assert!(f.authority.replay().pending_change(f.now()).is_none());
    assert_eq!(
        f.authority.replay().policy_at(f.now()).sha256(),
        Policy::from_toml_str(&loose).unwrap().sha256()
    );

    // A tightening applies at once; a window moved is refused outright.
    let tight = loose.replace(
        "max_withdrawal = 900_000_000",
        "max_withdrawal = 100_000_000",
    );
    let sigs = policy_change(&f, &tight, 3, &[0x21, 0x22]);
    f.authority.propose_policy_change(&tight, &sigs).unwrap();
    match decided(&mut f, "w5", &dest, 100_000_001) {
        Decision::Denied { rule, .. } => assert_eq!(rule.name(), "max_withdrawal"),
        other => panic!("{other:?}"),
    }
    let moved = tight.replace("duration = \"24h\"", "duration = \"12h\"");
    let sigs = policy_change(&f, &moved, 4, &[0x21, 0x22]);
    assert_eq!(
        rule(f.authority.propose_policy_change(&moved, &sigs)),
        "invalid-policy"
    );

    // A restart replays the chain to the same policy and state.
    let again = f.reopen().unwrap();
    assert_eq!(
        again.replay().policy_at(f.now()).sha256(),
        Policy::from_toml_str(&tight).unwrap().sha256()
    );
    assert_eq!(again.state(), f.authority.state());
}
