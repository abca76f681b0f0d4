//! Signed audit heads, tested as the attacker works: someone who can write
//! the database (raw SQL, not through the ledger) and knows the hash
//! encoding, but not the policy cosigner's audit key. Run on both backends.

use kinko_ledger::audit::{record_hash, verify_export, verify_export_with_key, ExportError};
use kinko_ledger::kinko_auth::{Action, Digest, SignedAction, UnixTime};
use kinko_ledger::{
    AuditRecord, CosignVerdict, DecideError, Ledger, Request, StorageError, VerifyError,
};
use kinko_policy::{EventKind, Timestamp};

use crate::common::*;

both!(
    attacker_without_the_key_is_caught,
    truncation_to_an_older_signed_head_is_caught_by_published_heads,
    nothing_signed_for_a_rolled_back_write,
    every_write_that_appends_signs_its_chains,
    evidence_is_recorded_and_old_records_hash_the_same,
    public_reads_for_chain_replay,
    export_carries_the_signed_heads,
);

/// A SQL text literal.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The records of a chain as stored, read with raw SQL.
fn raw_records(db: &Db, asset: &str) -> Vec<AuditRecord> {
    db.query(&format!(
        "SELECT asset, seq, at, kind, payload, prev_hash, hash FROM kinko_audit
         WHERE asset = {} ORDER BY seq",
        q(asset)
    ))
    .into_iter()
    .map(|r| AuditRecord {
        asset: r[0].clone(),
        seq: r[1].parse().unwrap(),
        at: Timestamp::from_unix(r[2].parse().unwrap()),
        kind: r[3].clone(),
        payload: r[4].clone(),
        prev_hash: r[5].clone(),
        hash: r[6].clone(),
    })
    .collect()
}

/// Writes a record (replacing the one at its place) with raw SQL.
fn raw_put(db: &Db, r: &AuditRecord) {
    db.raw(&format!(
        "DELETE FROM kinko_audit WHERE asset = {a} AND seq = {s};
         INSERT INTO kinko_audit (asset, seq, at, kind, payload, prev_hash, hash)
         VALUES ({a}, {s}, {at}, {k}, {p}, {prev}, {h});",
        a = q(&r.asset),
        s = r.seq,
        at = r.at.unix(),
        k = q(&r.kind),
        p = q(&r.payload),
        prev = q(&r.prev_hash),
        h = q(&r.hash),
    ));
}

/// Sets the asset row's (unsigned) head, as a writer covering their tracks.
fn raw_set_head(db: &Db, asset: &str, count: u64, hash: &str) {
    db.raw(&format!(
        "UPDATE kinko_asset SET audit_count = {count}, audit_head = {} WHERE asset = {}",
        q(hash),
        q(asset)
    ));
}

/// The stored signed head's text.
fn raw_signed_head(db: &Db, asset: &str) -> String {
    db.query(&format!(
        "SELECT signed FROM kinko_audit_signed_head WHERE asset = {}",
        q(asset)
    ))[0][0]
        .clone()
}

fn raw_set_signed_head(db: &Db, asset: &str, signed: &str) {
    db.raw(&format!(
        "UPDATE kinko_audit_signed_head SET signed = {} WHERE asset = {}",
        q(signed),
        q(asset)
    ));
}

/// With the signer: BTC gets 5 records (one batch among them), XEM 1.
/// Returns the ledger and BTC's signed head after its second record.
fn signed_ledger(db: &Db) -> (Ledger, String) {
    let mut l = db.open_signed();
    l.decide_at(t(0), deposit("BTC", 100_000_000)).unwrap();
    l.decide_at(t(1), withdrawal("BTC", "w1", "u1", "bc1qa", 1_000_000))
        .unwrap();
    let old = raw_signed_head(db, "BTC");
    let req = |s, kind| Request {
        at: Some(t(s)),
        kind,
        evidence: None,
    };
    for r in l
        .decide_batch(&[
            req(2, withdrawal("BTC", "w2", "u2", "bc1qb", 2_000_000)),
            req(3, deposit("XEM", 5)),
            req(4, deposit("BTC", 7)),
        ])
        .unwrap()
    {
        r.unwrap();
    }
    l.decide_at(
        t(5),
        EventKind::Confirmed {
            asset: "BTC".parse().unwrap(),
            id: "w1".parse().unwrap(),
        },
    )
    .unwrap();
    assert_eq!(l.verify_audit_with_key(&audit_key()).unwrap().records, 6);
    (l, old)
}

fn keyed(l: &mut Ledger) -> VerifyError {
    let e = l
        .verify_audit_with_key(&audit_key())
        .expect_err("tampering not detected with the key");
    // The attacker fixed the asset rows: the unkeyed check passes.
    l.verify_audit()
        .unwrap_or_else(|e2| panic!("unkeyed check failed ({e2}); keyed said {e}"));
    e
}

fn mismatch(asset: &str, signed_count: u64, chain_count: u64) -> String {
    format!(
        "{:?}",
        VerifyError::HeadMismatch {
            asset: asset.parse().unwrap(),
            signed_count,
            chain_count,
        }
    )
}

const SNAPSHOT: &str = "CREATE TABLE audit_copy AS SELECT * FROM kinko_audit;
    CREATE TABLE asset_copy AS SELECT * FROM kinko_asset;
    CREATE TABLE signed_copy AS SELECT * FROM kinko_audit_signed_head;";
const RESTORE: &str = "DELETE FROM kinko_audit; INSERT INTO kinko_audit SELECT * FROM audit_copy;
    DELETE FROM kinko_asset; INSERT INTO kinko_asset SELECT * FROM asset_copy;
    DELETE FROM kinko_audit_signed_head;
    INSERT INTO kinko_audit_signed_head SELECT * FROM signed_copy;";

fn attacker_without_the_key_is_caught(db: &Db) {
    let (mut l, _) = signed_ledger(db);
    db.raw(SNAPSHOT);
    let good = raw_records(db, "BTC");
    assert_eq!(good.len(), 5);
    let last = good.last().unwrap().clone();

    // 1. Append a record with a correct hash, and move the asset row's head.
    let mut forged = AuditRecord::new(
        "BTC",
        6,
        last.at,
        "deposit",
        last.payload.clone(),
        &last.hash,
    );
    raw_put(db, &forged);
    raw_set_head(db, "BTC", 6, &forged.hash);
    assert_eq!(format!("{:?}", keyed(&mut l)), mismatch("BTC", 5, 6));
    db.raw(RESTORE);

    // 2. Rewrite record 2's payload, recompute every later hash and the head.
    let mut chain = good.clone();
    chain[1].payload = chain[1].payload.replace("1000000", "9000000");
    assert_ne!(chain[1].payload, good[1].payload);
    for i in 1..chain.len() {
        chain[i].prev_hash = chain[i - 1].hash.clone();
        let r = &chain[i];
        chain[i].hash = record_hash(&r.prev_hash, &r.asset, r.seq, r.at, &r.kind, &r.payload);
    }
    for r in &chain[1..] {
        raw_put(db, r);
    }
    raw_set_head(db, "BTC", 5, &chain[4].hash);
    assert_eq!(format!("{:?}", keyed(&mut l)), mismatch("BTC", 5, 5));
    db.raw(RESTORE);

    // 3. Delete the last record and fix the asset row.
    db.raw("DELETE FROM kinko_audit WHERE asset = 'BTC' AND seq = 5");
    raw_set_head(db, "BTC", 4, &good[3].hash);
    assert_eq!(format!("{:?}", keyed(&mut l)), mismatch("BTC", 5, 4));
    db.raw(RESTORE);

    // 4. Delete the signed head.
    db.raw("DELETE FROM kinko_audit_signed_head WHERE asset = 'BTC'");
    assert!(matches!(keyed(&mut l), VerifyError::UnsignedHead { asset } if asset == "BTC"));
    db.raw(RESTORE);

    // 5. Replace it with the true head signed by another key.
    let other = Action::AuditHead {
        setup_id: setup_id(),
        asset: "BTC".parse().unwrap(),
        count: 5,
        hash: last.hash.parse::<Digest>().unwrap(),
        at: UnixTime::from_unix(last.at.unix()),
    }
    .sign(&audit_keypair(8));
    raw_set_signed_head(db, "BTC", &other.to_json());
    let e = keyed(&mut l);
    assert!(matches!(&e, VerifyError::BadHeadSignature { asset } if asset == "BTC"));
    assert_eq!(e.rule(), Some("audit-bad-head-signature"));
    db.raw(RESTORE);
    // ... or its own signature edited, or junk.
    let real = raw_signed_head(db, "BTC");
    let sig_at = real.find("\"signature\":\"").unwrap() + 13;
    let mut edited = real.into_bytes();
    edited[sig_at] = if edited[sig_at] == b'0' { b'1' } else { b'0' };
    raw_set_signed_head(db, "BTC", std::str::from_utf8(&edited).unwrap());
    assert!(matches!(keyed(&mut l), VerifyError::BadHeadSignature { asset } if asset == "BTC"));
    raw_set_signed_head(db, "BTC", "not json");
    assert!(matches!(keyed(&mut l), VerifyError::BadHeadSignature { asset } if asset == "BTC"));
    db.raw(RESTORE);

    // 6. Another chain's (genuine) head stored as this chain's.
    raw_set_signed_head(db, "BTC", &raw_signed_head(db, "XEM"));
    let e = keyed(&mut l);
    assert!(matches!(&e, VerifyError::HeadNotForChain { asset } if asset == "BTC"));
    assert_eq!(e.rule(), Some("audit-head-mismatch"));
    db.raw(RESTORE);

    // 7. A chain deleted whole (records and asset row): its signed head
    // names a chain without records.
    db.raw(
        "DELETE FROM kinko_audit WHERE asset = 'XEM'; DELETE FROM kinko_asset WHERE asset = 'XEM'",
    );
    assert_eq!(format!("{:?}", keyed(&mut l)), mismatch("XEM", 1, 0));
    db.raw(RESTORE);

    // Restored: everything verifies again; a forged record nobody signed
    // is still caught without the key as before.
    assert_eq!(l.verify_audit_with_key(&audit_key()).unwrap().records, 6);
    forged.seq = 6;
    raw_put(db, &forged);
    assert!(matches!(
        l.verify_audit_with_key(&audit_key()),
        Err(VerifyError::BadRecord { seq: 6, .. })
    ));
    // Another key does not verify the genuine heads.
    db.raw(RESTORE);
    let other_key = audit_keypair(8).x_only_public_key().0;
    assert!(matches!(
        l.verify_audit_with_key(&other_key),
        Err(VerifyError::BadHeadSignature { .. })
    ));
}

fn truncation_to_an_older_signed_head_is_caught_by_published_heads(db: &Db) {
    let (mut l, old_head) = signed_ledger(db);
    // The exchange published the heads (e.g. `kinko audit heads` daily).
    let published = l.signed_heads().unwrap();
    assert_eq!(published.len(), 2);
    let records = raw_records(db, "BTC");
    // Truncate BTC back to 2 records and restore the signed head saved then.
    db.raw("DELETE FROM kinko_audit WHERE asset = 'BTC' AND seq > 2");
    raw_set_head(db, "BTC", 2, &records[1].hash);
    raw_set_signed_head(db, "BTC", &old_head);
    l.verify_audit().unwrap();
    assert_eq!(l.verify_audit_with_key(&audit_key()).unwrap().records, 3);
    let e = l
        .verify_audit_with_published(&audit_key(), &published)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            VerifyError::PublishedHeadMismatch {
                asset,
                published_count: 5,
                chain_count: 2
            } if asset == "BTC"
        ),
        "{e:?}"
    );
    assert_eq!(e.rule(), Some("audit-published-head"));
    // A published head that is a prefix passes; one by another key does not.
    let older = SignedAction::from_json(&old_head).unwrap();
    assert_eq!(
        l.verify_audit_with_published(&audit_key(), std::slice::from_ref(&older))
            .unwrap()
            .records,
        3
    );
    let mut forged = older.clone();
    forged.signer = audit_keypair(8).x_only_public_key().0;
    assert!(matches!(
        l.verify_audit_with_published(&audit_key(), &[older, forged]),
        Err(VerifyError::BadPublishedHead { index: 1 })
    ));
}

fn nothing_signed_for_a_rolled_back_write(db: &Db) {
    let (mut l, _) = signed_ledger(db);
    let before = l.signed_heads().unwrap();
    // The head cannot be written: the whole write fails, records included.
    db.raw("ALTER TABLE kinko_audit_signed_head RENAME TO hidden_heads");
    let mut fresh = db.open_signed();
    let e = fresh.decide_at(t(9), deposit("BTC", 1)).unwrap_err();
    assert!(
        matches!(
            e,
            DecideError::Storage(StorageError::Sqlite(_) | StorageError::Postgres(_))
        ),
        "{e:?}"
    );
    db.raw("ALTER TABLE hidden_heads RENAME TO kinko_audit_signed_head");
    assert_eq!(l.signed_heads().unwrap(), before);
    assert_eq!(l.verify_audit_with_key(&audit_key()).unwrap().records, 6);
    assert_eq!(l.audit_head("BTC").unwrap().unwrap().count, 5);
    // A refused event appends nothing and signs nothing.
    let e = l.decide_at(t(9), deposit("DOGE", 1)).unwrap_err();
    assert!(matches!(e, DecideError::Refused(_)));
    assert_eq!(l.signed_heads().unwrap(), before);
}

fn every_write_that_appends_signs_its_chains(db: &Db) {
    let mut l = db.open_signed();
    // Without a signer nothing is signed.
    let mut plain = db.open();
    plain.decide_at(t(0), deposit("BTC", 50_000_000)).unwrap();
    assert!(plain.signed_heads().unwrap().is_empty());
    assert!(matches!(
        plain.verify_audit_with_key(&audit_key()),
        Err(VerifyError::UnsignedHead { asset }) if asset == "BTC"
    ));
    // The signer's next write signs the whole chain's end.
    l.decide_at(t(1), withdrawal("BTC", "w1", "u1", "bc1qa", 1_000_000))
        .unwrap();
    let head = |l: &mut Ledger| match &l.signed_heads().unwrap()[0].action {
        Action::AuditHead {
            setup_id: s,
            asset,
            count,
            hash,
            at,
        } => {
            assert_eq!((*s, asset.as_str()), (setup_id(), "BTC"));
            (*count, hash.to_string(), *at)
        }
        other => panic!("{other:?}"),
    };
    let h = l.audit_head("BTC").unwrap().unwrap();
    assert_eq!(head(&mut l), (2, h.hash, UnixTime::from_unix(t(1).unix())));
    // cosign appends a record: signed.
    let c = l
        .cosign("w1", Some(t(2)), |_, _| CosignVerdict::Sign {
            txid: "aa".repeat(32),
        })
        .unwrap();
    assert_eq!(c.audit_seq, 3);
    assert_eq!(head(&mut l).0, 3);
    // The recorded refusal of a failure report for the cosigned reservation.
    let e = l
        .decide_at(
            t(3),
            EventKind::Failed {
                asset: "BTC".parse().unwrap(),
                id: "w1".parse().unwrap(),
            },
        )
        .unwrap_err();
    assert!(matches!(
        e,
        DecideError::ReservationCosigned { audit_seq: 4, .. }
    ));
    assert_eq!(
        head(&mut l),
        (
            4,
            l.audit_head("BTC").unwrap().unwrap().hash,
            UnixTime::from_unix(t(3).unix())
        )
    );
    assert_eq!(l.verify_audit_with_key(&audit_key()).unwrap().records, 4);
    // Debug never shows the secret.
    let shown = format!("{:?} {l:?}", audit_signer());
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains(&"07".repeat(32)), "{shown}");
}

fn evidence_is_recorded_and_old_records_hash_the_same(db: &Db) {
    // Hashes of these records before `evidence` existed (commit 49efb7e):
    // a request without evidence writes the same bytes.
    let mut l = db.open_signed();
    let a = l.decide_at(t(0), deposit("BTC", 100_000_000)).unwrap();
    let b = l
        .decide_at(t(1), withdrawal("BTC", "w1", "u1", "bc1qa", 1_000_000))
        .unwrap();
    let c = l
        .decide_at(
            t(2),
            EventKind::Confirmed {
                asset: "BTC".parse().unwrap(),
                id: "w1".parse().unwrap(),
            },
        )
        .unwrap();
    assert_eq!(
        [a.audit_hash, b.audit_hash, c.audit_hash],
        [
            "8e612e1ec9fe9fa2e86a04f17c985a1f3ee821688eea34a1f2466ff9d7071931",
            "17332a59e614014256a8a6f8323de9abbdaf8c74259665c849378950336ceaef",
            "d09fb823ab6d3ab8643ed691f002d1e438f9b1f5850dd16a2db3744d19396c97",
        ]
    );
    // With evidence: the last field of the payload.
    let evidence = serde_json::json!({ "approvals": ["{\"action\":\"approval\"}"], "txid": "ab" });
    let r = l
        .decide_batch(&[Request {
            at: Some(t(3)),
            kind: withdrawal("BTC", "w2", "u1", "bc1qa", 4_000_000),
            evidence: Some(evidence.clone()),
        }])
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    let rec = &l.audit_records("BTC", r.audit_seq - 1, 1).unwrap()[0];
    let payload: serde_json::Value = serde_json::from_str(&rec.payload).unwrap();
    assert_eq!(payload["evidence"], evidence);
    assert!(rec
        .payload
        .ends_with(&format!(",\"evidence\":{evidence}}}")));
    // With the store's clock.
    let now = l
        .decide_with_evidence(deposit("BTC", 1), serde_json::json!({ "cold_index": 7 }))
        .unwrap();
    let rec = &l.audit_records("BTC", now.audit_seq - 1, 1).unwrap()[0];
    assert!(
        rec.payload.ends_with(",\"evidence\":{\"cold_index\":7}}"),
        "{}",
        rec.payload
    );
    assert_eq!(l.verify_audit_with_key(&audit_key()).unwrap().records, 5);
}

fn public_reads_for_chain_replay(db: &Db) {
    let (mut l, _) = signed_ledger(db);
    let all = raw_records(db, "BTC");
    let page = l.audit_records("BTC", 2, 2).unwrap();
    assert_eq!(page, all[2..4]);
    assert_eq!(l.audit_records("BTC", 0, 100).unwrap(), all);
    assert!(l.audit_records("BTC", 5, 10).unwrap().is_empty());
    assert!(l.audit_records("DOGE", 0, 10).unwrap().is_empty());
    let h = l.audit_head("BTC").unwrap().unwrap();
    assert_eq!((h.count, h.hash.as_str()), (5, all[4].hash.as_str()));
    assert!(l.audit_head("DOGE").unwrap().is_none());
    // The replay re-derives every hash from the public fields.
    let mut prev = kinko_ledger::audit::GENESIS.to_owned();
    for r in &all {
        assert_eq!(r.prev_hash, prev);
        assert_eq!(
            record_hash(&prev, &r.asset, r.seq, r.at, &r.kind, &r.payload),
            r.hash
        );
        prev.clone_from(&r.hash);
    }
}

fn export_carries_the_signed_heads(db: &Db) {
    let (mut l, old_head) = signed_ledger(db);
    let key = audit_key();
    let mut out = Vec::new();
    assert_eq!(l.export_audit(&mut out).unwrap(), 6);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8);
    assert!(lines[6].starts_with("{\"signed_head\":{"), "{}", lines[6]);
    let published = l.signed_heads().unwrap();
    assert_eq!(verify_export_with_key(&text, &key, &published).unwrap(), 6);
    // The unkeyed check still reads the file.
    assert_eq!(verify_export(&text, &l.audit_heads().unwrap()).unwrap(), 6);

    let without = |skip: usize| -> String {
        lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, l)| format!("{l}\n"))
            .collect()
    };
    let verify_err = |t: &str| match verify_export_with_key(t, &key, &[]) {
        Err(ExportError::Verify(e)) => e,
        other => panic!("{other:?}"),
    };
    // BTC's last record dropped (lines: BTC 1..5, XEM 1, heads BTC, XEM).
    assert_eq!(
        format!("{:?}", verify_err(&without(4))),
        mismatch("BTC", 5, 4)
    );
    // BTC's signed head dropped.
    assert!(
        matches!(verify_err(&without(6)), VerifyError::UnsignedHead { asset } if asset == "BTC")
    );
    // Truncated with the older head, against the heads published since.
    let truncated = format!(
        "{}{}\n{{\"signed_head\":{old_head}}}\n{}\n",
        lines[..2]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
        lines[5],
        lines[7]
    );
    assert_eq!(verify_export_with_key(&truncated, &key, &[]).unwrap(), 3);
    assert!(matches!(
        verify_export_with_key(&truncated, &key, &published),
        Err(ExportError::Verify(VerifyError::PublishedHeadMismatch {
            published_count: 5,
            ..
        }))
    ));
    // Another key; a second head of one chain; a damaged head line.
    let other = audit_keypair(8).x_only_public_key().0;
    assert!(matches!(
        verify_export_with_key(&text, &other, &[]),
        Err(ExportError::Verify(VerifyError::BadHeadSignature { .. }))
    ));
    let twice = format!("{text}{}\n", lines[6]);
    assert!(matches!(
        verify_export_with_key(&twice, &key, &[]),
        Err(ExportError::DuplicateSignedHead { line: 9 })
    ));
    let damaged = text.replacen("{\"signed_head\":{", "{\"signed_head\":{\"x\":1,", 1);
    assert!(matches!(
        verify_export_with_key(&damaged, &key, &[]),
        Err(ExportError::SignedHead { line: 7, .. })
    ));
}
