//! `kinko` on the backend's host: the same commands through the cosigner
//! service (`--cosigner URL` and the backend's TLS files), against a
//! `kinko-cosignd` spawned in this process over the cosigner fixture's
//! ledger. The answers are printed as on the cosigner's host, a retry with
//! the same request id gets the first answer, and refusals exit 3 naming
//! their rule.

#[path = "../../kinko-cosigner/tests/common/mod.rs"]
mod common;
mod payout_answer;
#[path = "../../kinko-cosignd/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{outside, Fixture};
use kinko_wallet::PsbtEncoding;
use payout_answer::assert_first_payout;
use support::Service;

/// Two approvals above 1 BTC; at most 3 BTC a withdrawal.
const POLICY: &str = r#"[assets.BTC]
hot_cap = 2_000_000_000
max_withdrawal = 300_000_000

[[assets.BTC.windows]]
duration = "24h"
limit = 1_000_000_000

[assets.BTC.approvals]
approvers = ["alice", "bob"]
quorum = 2
threshold = 100_000_000
"#;

/// The service over the fixture's ledger and the backend's TLS files.
struct Backend {
    svc: Service,
    dir: tempfile::TempDir,
}

impl Backend {
    fn start(f: &Fixture) -> Self {
        let svc = Service::start(f);
        let dir = tempfile::tempdir().unwrap();
        for (name, pem) in [
            ("ca.pem", &svc.certs.ca_pem),
            ("backend.pem", &svc.certs.client_pem),
            ("backend.key", &svc.certs.client_key_pem),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Backend { svc, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `kinko <args> --cosigner URL --client-cert … --client-key …
    /// --cosigner-ca …`, with no local mode in the environment.
    fn kinko(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kinko"))
            .args(args)
            .arg("--cosigner")
            .arg(self.svc.url())
            .arg("--client-cert")
            .arg(self.path("backend.pem"))
            .arg("--client-key")
            .arg(self.path("backend.key"))
            .arg("--cosigner-ca")
            .arg(self.path("ca.pem"))
            .env_remove("KINKO_LEDGER")
            .env_remove("KINKO_PASSPHRASE")
            .env_remove("KINKO_COSIGNER")
            .output()
            .unwrap()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout {}\nstderr {}",
        out(o),
        String::from_utf8_lossy(&o.stderr)
    );
    out(o)
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(ok(o).trim()).unwrap()
}

/// Exit 3, the message naming `rule`.
fn refused(o: &Output, rule: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "stdout {}\nstderr {err}", out(o));
    assert!(
        err.contains(&format!("refused by rule {rule}:")),
        "expected rule {rule}: {err}"
    );
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_withdrawal_approved_twice_cosigned_and_confirmed_through_the_service() {
    let f = Fixture::new(POLICY);
    let b = Backend::start(&f);
    let to = outside(1);
    let amount = 200_000_000u64;
    let to_s = to.to_string();
    let w = |extra: &[&str]| {
        let mut args = vec![
            "withdraw",
            "--id",
            "w-1",
            "--user",
            "u1",
            "--to",
            &to_s,
            "--amount",
            "200000000",
        ];
        args.extend_from_slice(extra);
        b.kinko(&args)
    };

    let first = json(&w(&["--json"]));
    assert_eq!(first["request_id"], "w-1", "withdraw's request id: its id");
    assert_eq!(first["asset"], "BTC");
    let seq = first["audit"]["seq"].as_u64().unwrap();
    let text = ok(&w(&[]));
    assert!(text.starts_with("pending w-1: 0 of 2 approvals"), "{text}");
    assert!(
        text.contains(&format!("audit BTC#{seq}]")),
        "a retry is answered from the first answer's record: {text}"
    );
    assert!(text.contains("request id w-1"), "{text}");

    for (seed, name, want) in [
        (0x11, "alice.json", "pending w-1: 1 of 2 approvals"),
        (0x12, "bob.json", "approved w-1: amount reserved"),
    ] {
        let file = b.write(name, &f.approval(seed, "w-1", &to, amount).to_json());
        let text = ok(&b.kinko(&["approve", "--signed", p(&file)]));
        assert!(text.starts_with(want), "{text}");
        // A fresh request id, printed for a retry.
        assert!(text.contains("request id r-"), "{text}");
    }

    let psbt = f.psbt(&[(&to, amount)], 5);
    let inp = b.path("w-1.psbt");
    std::fs::write(&inp, kinko_wallet::encode_psbt(&psbt, PsbtEncoding::Base64)).unwrap();
    let outp = b.path("w-1.cosigned.psbt");
    let done = json(&b.kinko(&[
        "cosign",
        "--id",
        "w-1",
        "--psbt",
        p(&inp),
        "--out",
        p(&outp),
        "--json",
    ]));
    assert_eq!(done["cosigned"], "withdrawal");
    assert_eq!(done["asset"], "BTC");
    assert_eq!(done["again"], false);
    assert_eq!(done["signatures"], psbt.inputs.len());
    let (cosigned, form) = kinko_wallet::decode_psbt(&std::fs::read(&outp).unwrap()).unwrap();
    assert_eq!(form, PsbtEncoding::Base64, "written in the form read");
    assert_eq!(
        cosigned.unsigned_tx.compute_txid().to_string(),
        done["txid"]
    );
    // The exchange's and the cosigner's signatures: Bitcoin Core's
    // interpreter accepts the transaction.
    f.verify(cosigned);

    let text = ok(&b.kinko(&["confirm", "--id", "w-1", "--request-id", "c-1"]));
    assert!(text.starts_with("recorded"), "{text}");
    assert!(text.contains("request id c-1"), "{text}");
    let st = json(&b.kinko(&["state", "--json"]));
    assert_eq!(st["reserved"], 0, "{st}");
    // Settled, and the fee left the books with the transaction.
    assert_eq!(
        st["hot"],
        4 * common::COIN - amount - fee_of(&psbt),
        "settled: {st}"
    );
}

#[test]
fn refusals_through_the_service_exit_3_naming_their_rule() {
    let f = Fixture::new(POLICY);
    let b = Backend::start(&f);
    let to = outside(2).to_string();
    let withdraw = |id: &str, to: &str, amount: &str, extra: &[&str]| {
        let mut args = vec![
            "withdraw", "--id", id, "--user", "u1", "--to", to, "--amount", amount,
        ];
        args.extend_from_slice(extra);
        b.kinko(&args)
    };

    // Denied by the policy (a decision, recorded).
    let o = withdraw("w-big", &to, "300000001", &[]);
    refused(&o, "max_withdrawal");
    assert!(out(&o).starts_with("denied w-big"), "{}", out(&o));
    // Refused by the authority before deciding (the service's 422).
    refused(
        &withdraw("w-bad", "not-an-address", "1000", &[]),
        "destination-invalid",
    );
    // A request id answered for another request (the service's 409).
    ok(&withdraw("w-2", &to, "1000", &[]));
    refused(
        &withdraw("w-3", &to, "1000", &["--request-id", "w-2"]),
        "request-id-reused",
    );
    // An approval for another amount.
    let file = b.write(
        "alice.json",
        &f.approval(0x11, "w-2", &outside(2), 999).to_json(),
    );
    let approve = || b.kinko(&["approve", "--signed", p(&file), "--request-id", "a-1"]);
    refused(&approve(), "object-mismatch");
    // Its retry is answered from the refusal's record, not decided again.
    let records = json(&b.kinko(&["state", "--json"]))["audit"]["count"].clone();
    refused(&approve(), "object-mismatch");
    assert_eq!(
        json(&b.kinko(&["state", "--json"]))["audit"]["count"],
        records
    );
    // A cold deposit is not taken from a report.
    refused(
        &b.kinko(&["deposit", "--amount", "5", "--wallet", "cold"]),
        "unvouched-cold-deposit",
    );
    let st = json(&b.kinko(&["state", "--json"]));
    assert_eq!(st["reserved"], 1000, "only w-2 is reserved: {st}");

    // The two modes exclude each other.
    let o = b.kinko(&["state", "--ledger", "sqlite:/nonexistent"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The fee of `psbt`: what its inputs spend less what its outputs pay.
fn fee_of(psbt: &bitcoin::psbt::Psbt) -> u64 {
    let spent: u64 = psbt
        .inputs
        .iter()
        .map(|i| i.witness_utxo.as_ref().unwrap().value.to_sat())
        .sum();
    let paid: u64 = psbt
        .unsigned_tx
        .output
        .iter()
        .map(|o| o.value.to_sat())
        .sum();
    spent - paid
}

#[test]
fn a_batch_cosigned_and_confirmed_by_its_txid_through_the_service() {
    let f = Fixture::new(POLICY);
    let b = Backend::start(&f);
    let payouts = [
        ("w-1", outside(1), 10_000_000u64),
        ("w-2", outside(2), 20_000_000),
        ("w-3", outside(3), 30_000_000),
    ];
    for (id, to, amount) in &payouts {
        let text = ok(&b.kinko(&[
            "withdraw",
            "--id",
            id,
            "--user",
            "u1",
            "--to",
            &to.to_string(),
            "--amount",
            &amount.to_string(),
        ]));
        assert!(text.starts_with(&format!("approved {id}")), "{text}");
    }
    // One transaction paying the three, outputs in this order, change last.
    let psbt = f.psbt(
        &payouts
            .iter()
            .map(|(_, to, amount)| (to, *amount))
            .collect::<Vec<_>>(),
        5,
    );
    let fee = fee_of(&psbt);
    let txid = psbt.unsigned_tx.compute_txid().to_string();
    let inp = b.path("batch.psbt");
    std::fs::write(&inp, kinko_wallet::encode_psbt(&psbt, PsbtEncoding::Base64)).unwrap();
    let outp = b.path("batch.cosigned.psbt");
    let cosign = |ids: &[&str]| {
        let mut args = vec!["cosign"];
        args.extend(ids.iter().flat_map(|id| ["--id", *id]));
        args.extend(["--psbt", p(&inp), "--out", p(&outp), "--json"]);
        b.kinko(&args)
    };
    refused(
        &cosign(&["w-1", "w-2", "w-2", "w-3"]),
        "reservation-paid-twice",
    );
    assert!(!outp.exists(), "nothing is written");
    let done = json(&cosign(&["w-2", "w-1", "w-3"]));
    assert_first_payout(
        &done,
        &txid,
        &[("w-2", 1), ("w-1", 0), ("w-3", 2)],
        fee,
        psbt.inputs.len(),
    );
    let (cosigned, _) = kinko_wallet::decode_psbt(&std::fs::read(&outp).unwrap()).unwrap();
    f.verify(cosigned);

    let text = ok(&b.kinko(&["confirm", "--tx", &txid, "--request-id", "t-1"]));
    assert!(text.starts_with("recorded"), "{text}");
    assert!(text.contains("request id t-1"), "{text}");
    refused(&b.kinko(&["confirm", "--tx", &txid]), "already-confirmed");
    let st = json(&b.kinko(&["state", "--json"]));
    assert_eq!(st["reserved"], 0, "{st}");
    assert_eq!(st["hot"], 4 * common::COIN - 60_000_000 - fee, "{st}");
}

#[test]
fn a_consolidation_confirmed_through_the_service_releases_a_cosigned_withdrawal() {
    let f = Fixture::new(POLICY);
    let b = Backend::start(&f);
    let to = outside(4);
    ok(&b.kinko(&[
        "withdraw",
        "--id",
        "w-4",
        "--user",
        "u1",
        "--to",
        &to.to_string(),
        "--amount",
        "50000000",
    ]));
    let write = |name: &str, psbt: &bitcoin::psbt::Psbt| {
        let path = b.path(name);
        std::fs::write(&path, kinko_wallet::encode_psbt(psbt, PsbtEncoding::Base64)).unwrap();
        path
    };
    // The withdrawal from the first coin alone (one --id: the payout path).
    let pay = f.exchange_signs(common::create_psbt(
        &f.hot,
        &f.utxos[..1],
        &[(&to, 50_000_000)],
        5,
        0,
    ));
    let pay_file = write("w-4.psbt", &pay);
    let done = json(&b.kinko(&[
        "cosign",
        "--id",
        "w-4",
        "--psbt",
        p(&pay_file),
        "--out",
        p(&b.path("w-4.cosigned")),
        "--json",
    ]));
    assert_first_payout(
        &done,
        &pay.unsigned_tx.compute_txid().to_string(),
        &[("w-4", 0)],
        fee_of(&pay),
        1,
    );

    // Every coin to change, the withdrawal's included.
    let all = f
        .hot
        .create_psbt(
            &f.utxos,
            &kinko_wallet::CreateParams {
                recipients: vec![],
                fee_rate: bitcoin::FeeRate::from_sat_per_vb(5).unwrap(),
                change_index: 1,
                spend_all: true,
            },
        )
        .unwrap()
        .psbt;
    let all = f.exchange_signs(all);
    let c_fee = fee_of(&all);
    let c_txid = all.unsigned_tx.compute_txid().to_string();
    let all_file = write("all.psbt", &all);
    let c_out = b.path("all.cosigned");
    let c = json(&b.kinko(&[
        "cosign",
        "--consolidation",
        "--psbt",
        p(&all_file),
        "--out",
        p(&c_out),
        "--json",
    ]));
    assert_eq!(
        c,
        serde_json::json!({
            "cosigned": "consolidation",
            "txid": c_txid,
            "fee_sat": c_fee,
            "signatures": 4,
        })
    );
    let (cosigned, _) = kinko_wallet::decode_psbt(&std::fs::read(&c_out).unwrap()).unwrap();
    f.verify(cosigned);
    refused(
        &b.kinko(&[
            "cosign",
            "--consolidation",
            "--psbt",
            p(&pay_file),
            "--out",
            p(&c_out),
        ]),
        "not-consolidation",
    );

    refused(
        &b.kinko(&["fail", "--id", "w-4", "--conflict", &c_txid]),
        "conflict-not-proven",
    );
    ok(&b.kinko(&["confirm", "--tx", &c_txid]));
    let text = ok(&b.kinko(&["fail", "--id", "w-4", "--conflict", &c_txid]));
    assert!(text.starts_with("recorded"), "{text}");
    let st = json(&b.kinko(&["state", "--json"]));
    assert_eq!(st["reserved"], 0, "{st}");
    assert_eq!(st["hot"], 4 * common::COIN - c_fee, "{st}");
}
