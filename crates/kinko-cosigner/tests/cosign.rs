//! The cosigner against a real ledger (SQLite) and real PSBTs: what it signs
//! passes Bitcoin Core's script interpreter (libbitcoinconsensus); everything
//! else is refused, naming the rule, and recorded in the audit log.

use std::collections::HashMap;

use bitcoin::absolute::LockTime;
use bitcoin::bip32::{DerivationPath, Xpriv};
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, FeeRate, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Txid, Witness,
};
use kinko_cosigner::{CosignError, CosignRule, Cosigner};
use kinko_ledger::{Ledger, Policy};
use kinko_policy::{Decision, EventKind, Timestamp, Wallet as Side};
use kinko_wallet::{CreateParams, Keychain, MultisigWallet, Utxo, XprvSigner};

const POLICY: &str = r#"
[assets.BTC]
hot_cap = 100_000_000_000
max_withdrawal = 300_000_000
"#;

fn signer(seed: u8) -> XprvSigner {
    let master = Xpriv::new_master(Network::Testnet, &[seed; 32]).unwrap();
    let path: DerivationPath = "m/48'/1'/0'/2'".parse().unwrap();
    XprvSigner::from_master(&master, &path).unwrap()
}

fn key(s: &XprvSigner) -> String {
    let (fp, path) = s.origin();
    let p = path.to_string();
    let p = p.trim_start_matches("m/");
    format!("[{fp}/{p}]{}/<0;1>/*", s.account_xpub())
}

fn wallet(seeds: [u8; 3]) -> MultisigWallet {
    let keys: Vec<String> = seeds.iter().map(|s| key(&signer(*s))).collect();
    MultisigWallet::from_descriptor(
        &format!("wsh(sortedmulti(2,{}))", keys.join(",")),
        Network::Testnet,
    )
    .unwrap()
}

/// Hot wallet of seeds [1 exchange, 2 cosigner, 3 backup]; cold of [4, 5, 6].
struct Fixture {
    hot: MultisigWallet,
    cold: MultisigWallet,
    exchange: XprvSigner,
    /// The hot wallet's third key, to complete what the exchange signed.
    backup: XprvSigner,
    cosigner: Cosigner<XprvSigner>,
    ledger: Ledger,
    utxos: Vec<Utxo>,
    txouts: HashMap<OutPoint, TxOut>,
    t: Timestamp,
    _dir: tempfile::TempDir,
}

fn outside(n: u8) -> Address {
    let script = ScriptBuf::from_bytes(vec![0x51, n]);
    Address::p2wsh(&script, Network::Testnet)
}

fn fixture() -> Fixture {
    let hot = wallet([1, 2, 3]);
    let cold = wallet([4, 5, 6]);
    let cosigner = Cosigner::new(hot.clone(), signer(2))
        .unwrap()
        .with_cold_wallet(cold.clone())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("l.db").display());
    let mut ledger = Ledger::open(&url)
        .unwrap()
        .with_policy(Policy::from_toml_str(POLICY).unwrap());
    let t = Timestamp::parse_rfc3339("2026-01-26T09:00:00Z").unwrap();
    // A fabricated funding transaction: four coins of 1 BTC to hot addresses.
    let outs: Vec<TxOut> = (0..4)
        .map(|i| TxOut {
            value: Amount::from_btc(1.0).unwrap(),
            script_pubkey: hot.script_pubkey(Keychain::Receive, i).unwrap(),
        })
        .collect();
    let prev = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([7; 32]), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outs,
    };
    let txid = prev.compute_txid();
    let mut txouts = HashMap::new();
    let utxos = (0..4)
        .map(|i| {
            txouts.insert(OutPoint::new(txid, i), prev.output[i as usize].clone());
            Utxo {
                outpoint: OutPoint::new(txid, i),
                amount: prev.output[i as usize].value,
                keychain: Keychain::Receive,
                index: i,
                prev_tx: prev.clone(),
            }
        })
        .collect();
    ledger
        .decide_at(
            t,
            EventKind::Deposit {
                asset: "BTC".into(),
                wallet: Side::Hot,
                amount: 400_000_000,
            },
        )
        .unwrap();
    Fixture {
        hot,
        cold,
        exchange: signer(1),
        backup: signer(3),
        cosigner,
        ledger,
        utxos,
        txouts,
        t,
        _dir: dir,
    }
}

impl Fixture {
    /// Requests a withdrawal; returns whether it was approved.
    fn withdraw(&mut self, id: &str, dest: &Address, sat: u64) -> bool {
        let c = self
            .ledger
            .decide_at(
                self.t,
                EventKind::Withdrawal {
                    id: id.into(),
                    user: "alice".into(),
                    asset: "BTC".into(),
                    destination: dest.to_string(),
                    amount: sat,
                },
            )
            .unwrap();
        matches!(c.outcome.decision, Decision::Approved { .. })
    }

    /// A PSBT paying `to`, signed by the exchange's hot key.
    fn psbt(&self, to: &[(&Address, u64)], sat_per_vb: u64) -> Psbt {
        let created = self
            .hot
            .create_psbt(
                &self.utxos,
                &CreateParams {
                    recipients: to
                        .iter()
                        .map(|(a, s)| (a.as_unchecked().clone(), Amount::from_sat(*s)))
                        .collect(),
                    fee_rate: FeeRate::from_sat_per_vb(sat_per_vb).unwrap(),
                    change_index: 0,
                    spend_all: false,
                },
            )
            .unwrap();
        let mut psbt = created.psbt;
        let r = self.hot.sign(&mut psbt, &self.exchange).unwrap();
        assert_eq!(r.signatures(), psbt.inputs.len());
        // The exchange's signatures are valid: with the backup key's, the
        // transaction passes Bitcoin Core's interpreter.
        let mut full = psbt.clone();
        self.hot.sign(&mut full, &self.backup).unwrap();
        self.verify(full);
        psbt
    }

    fn cosign(
        &mut self,
        id: &str,
        psbt: &mut Psbt,
    ) -> Result<kinko_cosigner::Cosigned, CosignError> {
        let t = self.t;
        self.cosigner
            .cosign_withdrawal(&mut self.ledger, id, psbt, Some(t))
    }

    /// Finalizes and checks the transaction with libbitcoinconsensus.
    fn verify(&self, mut psbt: Psbt) {
        kinko_wallet::finalize(&mut psbt).unwrap();
        let tx = kinko_wallet::extract(psbt, kinko_wallet::MAX_FEE_RATE).unwrap();
        tx.verify(|op| self.txouts.get(op).cloned())
            .expect("libbitcoinconsensus accepts the cosigned transaction");
    }
}

fn refused(r: Result<kinko_cosigner::Cosigned, CosignError>) -> String {
    match r {
        Err(CosignError::Refused(r)) => r.rule.as_str().to_owned(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn approved_payment_is_cosigned_once_and_verifies() {
    let mut f = fixture();
    let dest = outside(1);
    assert!(f.withdraw("w1", &dest, 50_000_000));
    let mut psbt = f.psbt(&[(&dest, 50_000_000)], 5);
    let before = psbt.clone();
    let done = f.cosign("w1", &mut psbt).unwrap();
    assert!(done.signatures > 0 && !done.again);
    assert_eq!(done.asset, "BTC");
    f.verify(psbt);

    // The same transaction again (a retry): signed again, marked as such.
    let mut retry = before.clone();
    assert!(f.cosign("w1", &mut retry).unwrap().again);
    f.verify(retry);

    // Another transaction for the spent reservation: refused.
    let mut other = f.psbt(&[(&dest, 50_000_000)], 6);
    assert_ne!(
        other.unsigned_tx.compute_txid(),
        before.unsigned_tx.compute_txid()
    );
    let snapshot = other.clone();
    assert_eq!(refused(f.cosign("w1", &mut other)), "reservation-spent");
    assert_eq!(other, snapshot, "a refused PSBT is left unchanged");

    // The audit log holds every decision and verifies.
    assert!(f.ledger.verify_audit().unwrap().records >= 5);
}

#[test]
fn each_mismatch_is_refused_naming_the_rule() {
    let mut f = fixture();
    let dest = outside(1);
    assert!(f.withdraw("w1", &dest, 50_000_000));
    let cases: Vec<(&str, Psbt)> = vec![
        (
            "destination-mismatch",
            f.psbt(&[(&outside(2), 50_000_000)], 5),
        ),
        ("amount-mismatch", f.psbt(&[(&dest, 50_000_001)], 5)),
        (
            "extra-output",
            f.psbt(&[(&dest, 50_000_000), (&outside(3), 10_000)], 5),
        ),
        // 900 sat/vB: a fee far above the cosigner's 0.001 BTC limit.
        ("fee-too-high", f.psbt(&[(&dest, 50_000_000)], 900)),
    ];
    for (rule, mut psbt) in cases {
        assert_eq!(refused(f.cosign("w1", &mut psbt)), rule);
    }
    // After the refusals, the right PSBT still goes through.
    let mut good = f.psbt(&[(&dest, 50_000_000)], 5);
    f.cosign("w1", &mut good).unwrap();
    f.verify(good);
}

#[test]
fn unknown_denied_and_settled_withdrawals_are_refused() {
    let mut f = fixture();
    let dest = outside(1);
    let mut p = f.psbt(&[(&dest, 50_000_000)], 5);
    assert_eq!(refused(f.cosign("nobody", &mut p)), "unknown-withdrawal");

    // Above the per-withdrawal maximum: denied, so nothing to cosign.
    assert!(!f.withdraw("big", &dest, 350_000_000));
    let mut p = f.psbt(&[(&dest, 350_000_000)], 5);
    assert_eq!(refused(f.cosign("big", &mut p)), "not-reserved");

    // Settled: the reservation is gone.
    assert!(f.withdraw("w2", &dest, 50_000_000));
    let mut p = f.psbt(&[(&dest, 50_000_000)], 5);
    f.cosign("w2", &mut p).unwrap();
    f.verify(p);
    f.ledger
        .decide_at(
            f.t,
            EventKind::Confirmed {
                asset: "BTC".into(),
                id: "w2".into(),
            },
        )
        .unwrap();
    let mut again = f.psbt(&[(&dest, 50_000_000)], 7);
    assert_eq!(refused(f.cosign("w2", &mut again)), "not-reserved");
    f.ledger.verify_audit().unwrap();
}

#[test]
fn a_psbt_of_another_wallet_is_refused() {
    let mut f = fixture();
    let dest = outside(1);
    assert!(f.withdraw("w1", &dest, 50_000_000));
    // Claim change on the wallet's path that does not derive from it.
    let mut p = f.psbt(&[(&dest, 50_000_000)], 5);
    let change = p
        .outputs
        .iter()
        .position(|o| !o.bip32_derivation.is_empty())
        .unwrap();
    p.unsigned_tx.output[change].script_pubkey = outside(9).script_pubkey();
    assert_eq!(refused(f.cosign("w1", &mut p)), "change-fraud");
}

#[test]
fn sweeps_pay_the_cold_wallet_only() {
    let f = fixture();
    let cold0 = f.cold.address(Keychain::Receive, 0).unwrap();
    let mut p = f.psbt(&[(&cold0, 150_000_000)], 5);
    let done = f.cosigner.cosign_sweep(&mut p, 0).unwrap();
    assert_eq!(done.amount, Amount::from_sat(150_000_000));
    f.verify(p);

    // Index 0 claimed, another cold index paid: refused.
    let cold1 = f.cold.address(Keychain::Receive, 1).unwrap();
    let mut p = f.psbt(&[(&cold1, 150_000_000)], 5);
    assert_eq!(
        f.cosigner.cosign_sweep(&mut p, 0).unwrap_err().rule(),
        Some(CosignRule::SweepNotCold)
    );
    // An outside address: refused.
    let mut p = f.psbt(&[(&outside(4), 150_000_000)], 5);
    assert_eq!(
        f.cosigner.cosign_sweep(&mut p, 0).unwrap_err().rule(),
        Some(CosignRule::SweepNotCold)
    );
}

#[test]
fn a_key_outside_the_wallet_cannot_be_a_cosigner() {
    assert!(Cosigner::new(wallet([1, 2, 3]), signer(9)).is_err());
}
