//! `kinko-sim`: an exchange's day, end to end: the key ceremony and the
//! signed custody set-up, thousands of deposits, withdrawals (some approved
//! by two approvers' signatures) paid in batches (one of them fee-bumped),
//! sweeps to cold and a refill from cold, all
//! through the policy cosigner service (`kinko-cosignd`, its [`Authority`]
//! on a loopback port with mutual TLS); then the theft of the hot key and
//! of the backend host, the attacks that gives through the service's API,
//! and what the attacker got against the policy's loss bound.
//!
//! [`run`] is what `cargo run --release --example exchange_day` runs (the
//! full day) and what the root package's integration test runs (a shorter
//! day). The library prints nothing: progress goes to a callback and the
//! result is a [`DayReport`] ([`DayReport::table`] renders it as text,
//! [`picture::svg`] draws it).
//!
//! The cold keys are used as on air-gapped machines: each holder's keystore
//! is a file that only `kinko-signer` processes make and open (the caller
//! says which executable runs as the signer, [`DayConfig::signer`] and
//! [`DayConfig::signer_prefix`]). At the key ceremony
//! each signer makes its key, gives its xpub and registers the cold wallet
//! in its keystore; for each refill the coordinator writes the unsigned
//! PSBT to a file, two signer processes each write a signed copy, and the
//! coordinator combines them.
//!
//! The exchange's hot key, the cosigner's key, and the approvers' and
//! admins' action keys (`m/1057'/0'/0'`) come from keystores made in memory
//! with fresh 24-word mnemonics, never written; the cosigner's audit key is
//! `m/1057'/1'/0'` of the cosigner's keystore. The admins sign the set-up
//! file, which the authority is opened from ([`Setup::load_signed`]), and
//! the custody statements the share limits are measured against. The set-up
//! pins the backend's client certificate (`[service]
//! backend_certificates`), made at the ceremony with the service's
//! certificates (`kinko_cosignd::certs`).
//!
//! Two hosts, as at an exchange. The cosigner's: the service owns the
//! authority, the cosigner's key, its audit key and its SQLite ledger, and
//! reads the day's simulated clock ([`Clock::Custom`]), which only the
//! simulated world moves. The backend's: the hot key, the client
//! certificate and the CA (its files), its coins and its own count of
//! requests; every withdrawal, approval it relays, cosignature, sweep,
//! report and custody statement is a `/v1` request with a request id
//! (`kinko-client`). The attacker who owns the backend tries everything
//! through the same API; editing the cosigner's ledger file needs the
//! cosigner's host too, and is tried last, as defense in depth. The audit
//! log is verified from the API's export with the audit key.
//!
//! Funding transactions of deposits are fabricated (their inputs spend
//! nothing real); every transaction kinko signs spends them or their
//! descendants and is handed to the caller's `verify` function — the example
//! and the test pass Bitcoin Core's script interpreter (libbitcoinconsensus).
//!
//! The simulated chain mines a block every 10 minutes from the set-up's
//! chain reference on. Approved withdrawals wait in the backend's queue;
//! every [`DayConfig::batch_every`] seconds a block mines the mempool's
//! payout batches (each reported confirmed by its txid:
//! `POST /v1/transactions/{txid}/confirmed`, which settles its withdrawals
//! and books its fee) and the backend pays the queue in one batch
//! ([`MultisigWallet::build_batch`]: random output order, anti-fee-sniping
//! lock time at the simulated tip), signed with the hot key and cosigned
//! (`POST /v1/payouts/cosign`). One batch pays too low a fee to be mined and
//! is replaced (BIP125) from its own coins at a higher fee, cosigned as the
//! fee bump of its payout family. Sweeps, refills and the attacker's
//! payments are mined at once; sweeps are reported confirmed the same way,
//! so that the cosigner's hot books equal the chain's hot balance, which
//! the backend reports after the withdrawals and at the end of the day.

#![forbid(unsafe_code)]

pub mod picture;

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Keypair, Secp256k1, XOnlyPublicKey};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, FeeRate, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Txid, Witness,
};
use kinko_auth::{derive_action_key, xonly_hex, Action, KeyRole, SetupId, SignedAction, UnixTime};
use kinko_client::api::{
    AmountRequest, CosignRequest, CosignedPayout, Decided, DepositRequest, IdRequest,
    PayoutRequest, QuorumRequest, SignedRequest, State as ApiState, WalletName, WithdrawalRequest,
};
use kinko_client::{Client, ClientError, TlsFiles};
use kinko_cosignd::Options;
use kinko_keys::keystore::{DEFAULT_WORK_FACTOR, MIN_WORK_FACTOR};
use kinko_keys::{KeyPath, Keystore, Language, Mnemonic, Passphrase, WordCount};
use kinko_policy::{
    loss_bound, Decision, Duration, Proposal, Timestamp, Wallet as Side, Withdrawal,
    WithdrawalStatus,
};
use kinko_wallet::report::btc;
use kinko_wallet::{
    decode_psbt, encode_psbt, Batch, BatchParams, CreateError, CreateParams, CreatedPsbt, Keychain,
    MultisigWallet, Payout, PsbtEncoding, Utxo, XprvSigner, DEFAULT_MAX_PAYOUTS, MAX_PSBT_FILE,
};

use kinko_cosigner::setup::Setup;
use kinko_cosigner::{Authority, Clock};

/// The asset of the day.
pub const ASSET: &str = "BTC";

/// The approvers the day's policy names; each signs with its own action key.
pub const APPROVERS: [&str; 2] = ["risk-officer", "compliance-officer"];

/// The admins of the set-up; two of them sign it and the custody statements.
pub const ADMINS: [&str; 3] = ["admin-aoki", "admin-baba", "admin-chiba"];

/// The day's policy: the `standard` preset's windows and breaker, with a
/// lower sweep target and a higher refill floor so that one day shows both
/// sweeps and refills; withdrawals above `threshold` (base units) need both
/// approvers' signatures.
pub fn policy(threshold: u64) -> String {
    format!(
        r#"[assets.BTC]
preset = "standard"
hot_cap_share = "10%"
sweep_target = "60%"
refill_floor = "55%"
refill_target = "60%"

[assets.BTC.approvals]
approvers = ["{}", "{}"]
quorum = 2
threshold = {threshold}
"#,
        APPROVERS[0], APPROVERS[1]
    )
}

/// The cosigner's fee limits in the set-up: sweeps consolidate up to 300
/// deposits (0.002 BTC at 5 sat/vB).
const MAX_FEE_SAT: u64 = 200_000;
/// The largest fee rate the cosigner signs (sat/vB).
const MAX_FEE_RATE_SAT_VB: u64 = 200;
/// The chain reference pinned at the ceremony (the day before the day).
const CHAIN_HEIGHT: u32 = 933_000;
/// When block [`CHAIN_HEIGHT`] was mined.
const CHAIN_TIME: &str = "2026-01-25T00:00:00Z";
/// The simulated chain mines a block every 600 s after the set-up's chain
/// reference ([`CHAIN_HEIGHT`] at [`CHAIN_TIME`]): the day's tip heights,
/// and so its batches' anti-fee-sniping lock times, stay under the bound the
/// cosigner's `non-final-locktime` rule estimates from the same reference
/// (a block per 480 s, plus a margin).
const BLOCK_SECS: i64 = 600;
/// A block takes payout batches paying at least this fee rate (2 sat/vB):
/// the fee-bumped batch's first transaction pays less and stays unconfirmed.
const MINED_FEE_RATE: FeeRate = FeeRate::from_sat_per_kwu(500);
/// The fee rate of the one batch the day lets get stuck (1 sat/vB).
const STUCK_FEE_RATE: FeeRate = FeeRate::from_sat_per_kwu(250);
/// The fee rate of its replacement (10 sat/vB).
const BUMP_FEE_RATE: FeeRate = FeeRate::from_sat_per_kwu(2_500);

/// How big a day, and the signer it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayConfig {
    /// Customer deposits (each to its own derived address).
    pub deposits: u32,
    /// Customer withdrawal requests.
    pub withdrawals: u32,
    /// scrypt work factor (log2 N) of the cold keystores (passed to the
    /// signer through its test-only variable when not its default).
    pub keystore_work_factor: u8,
    /// Seed of the day's deterministic pseudo-random amounts.
    pub seed: u64,
    /// Seconds between the backend's payout batches (each pays every
    /// approved withdrawal queued since the last).
    pub batch_every: i64,
    /// The executable the cold key holders run as `kinko-signer`.
    pub signer: PathBuf,
    /// Arguments before the signer's own: empty for the `kinko-signer`
    /// binary; `["kinko-signer"]` for an executable that runs the signer's
    /// entry point when so started (the example runs itself).
    pub signer_prefix: Vec<String>,
}

impl DayConfig {
    /// The full day of the example: 3,000 deposits, 300 withdrawals paid
    /// in batches every 10 minutes, the real keystore work factor (2^18,
    /// the signer's default), the cold keys held through `signer`.
    pub fn full(signer: impl Into<PathBuf>) -> Self {
        DayConfig {
            deposits: 3_000,
            withdrawals: 300,
            keystore_work_factor: DEFAULT_WORK_FACTOR,
            seed: 20_180_126,
            batch_every: 600,
            signer: signer.into(),
            signer_prefix: Vec::new(),
        }
    }

    /// A short day for CI: 300 deposits, 40 withdrawals paid in hourly
    /// batches (its withdrawals come every 18 minutes: 10-minute batches
    /// would hold one each), the least work factor (the signer is told so
    /// through its test-only variable).
    pub fn short(signer: impl Into<PathBuf>) -> Self {
        DayConfig {
            deposits: 300,
            withdrawals: 40,
            keystore_work_factor: MIN_WORK_FACTOR,
            seed: 20_180_126,
            batch_every: 3_600,
            signer: signer.into(),
            signer_prefix: Vec::new(),
        }
    }

    /// The signer run as `program prefix… <command> …` (see
    /// [`DayConfig::signer_prefix`]).
    pub fn with_signer_prefix(mut self, prefix: &[&str]) -> Self {
        self.signer_prefix = prefix.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// The approval threshold pinned in the set-up: 0.4% of the custody the
    /// day's deposits are expected to bring (a deposit averages 0.0505 BTC),
    /// below the per-withdrawal maximum of 0.5%.
    pub fn approval_threshold(&self) -> u64 {
        u64::from(self.deposits) * 20_200
    }
}

/// Why the day stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DayError {
    /// A step failed (the message says which and why).
    #[error("{step}: {message}")]
    Step {
        /// The step.
        step: &'static str,
        /// What went wrong.
        message: String,
    },
}

fn step<E: std::fmt::Display>(step: &'static str) -> impl Fn(E) -> DayError {
    move |e| DayError::Step {
        step,
        message: e.to_string(),
    }
}

/// Checks a signed transaction, given the outputs it spends (the example and
/// the test pass Bitcoin Core's script interpreter).
pub type Verify<'a> = &'a dyn Fn(&Transaction, &HashMap<OutPoint, TxOut>) -> Result<(), String>;

/// Hot and cold balances (on chain, from the day's UTXOs) at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// When.
    pub at: Timestamp,
    /// What had just happened.
    pub label: &'static str,
    /// Hot wallet balance.
    pub hot: Amount,
    /// Cold wallet balance.
    pub cold: Amount,
}

/// One kind of attack, and what the authority did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackTry {
    /// What the attacker tried.
    pub attack: String,
    /// The rule that should refuse it.
    pub expected: &'static str,
    /// The rule that refused it each time (`None`: the authority did what
    /// the attacker asked at least once: TAKEN).
    pub refused_by: Option<String>,
    /// How many times it was tried.
    pub tries: u32,
    /// Tried with the cosigner's host also breached (its ledger file
    /// edited: defense in depth), not through the API as the backend
    /// host's owner.
    pub cosigner_host: bool,
}

impl AttackTry {
    /// Refused every time, by the expected rule.
    pub fn refused_as_expected(&self) -> bool {
        self.refused_by.as_deref() == Some(self.expected)
    }
}

/// The attack, in numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttackReport {
    /// Every kind of attack on the cosigner tried, in order.
    pub tries: Vec<AttackTry>,
    /// Withdrawal requests the attacker submitted through the backend.
    pub requests: u32,
    /// The engine's decisions on those, by decision or denial rule.
    pub denials: std::collections::BTreeMap<String, u32>,
    /// The attacker's withdrawals paid (approved, cosigned, on chain).
    pub paid: u32,
    /// What the attacker received (approved, cosigned, on chain).
    pub stolen: Amount,
    /// The policy's loss bound over the attack's horizon at the custody the
    /// share limits were measured against.
    pub bound: Amount,
    /// The rule setting the bound.
    pub bound_rule: String,
    /// The attack's horizon.
    pub horizon: String,
    /// Custody on the books when the attack began.
    pub custody: Amount,
    /// The custody share limits were measured against (vouched) then.
    pub limit_custody: Amount,
    /// When the circuit breaker froze the asset, if it did.
    pub breaker_fired_at: Option<Timestamp>,
    /// When the attack began.
    pub started_at: Option<Timestamp>,
    /// When the attacker's last try was made (the attack's end).
    pub ended_at: Option<Timestamp>,
    /// What the attacker had received over time: zero at `started_at`, then
    /// the cumulative `stolen` each time one of the attacker's withdrawals
    /// was paid.
    pub stolen_over_time: Vec<(Timestamp, Amount)>,
}

impl AttackReport {
    /// Notes one try of `attack`: `refused` is the rule that refused it,
    /// `None` when it was taken; `cosigner_host` when tried from the
    /// cosigner's host, breached too.
    fn note(
        &mut self,
        attack: &str,
        expected: &'static str,
        refused: Option<String>,
        cosigner_host: bool,
    ) {
        let i = match self.tries.iter().position(|t| t.attack == attack) {
            Some(i) => i,
            None => {
                self.tries.push(AttackTry {
                    attack: attack.to_owned(),
                    expected,
                    refused_by: refused.clone(),
                    tries: 0,
                    cosigner_host,
                });
                self.tries.len() - 1
            }
        };
        let t = &mut self.tries[i];
        t.tries += 1;
        match refused {
            // Taken once is taken.
            None => t.refused_by = None,
            // An unexpected rule is shown rather than the expected one.
            Some(r) if t.refused_by.is_some() && r != expected => t.refused_by = Some(r),
            Some(_) => {}
        }
    }
}

/// The backend's payout batches over the day, against paying each
/// withdrawal in a transaction of its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchingReport {
    /// Batches confirmed on the simulated chain.
    pub batches: u32,
    /// Withdrawals they paid.
    pub payouts: u32,
    /// The most withdrawals one batch paid.
    pub largest: u32,
    /// Their virtual size, as the wallet estimates it (signatures at their
    /// largest; [`Batch::vsize`]).
    pub vsize: u64,
    /// Their fees.
    pub fees: Amount,
    /// The virtual size of one transaction per withdrawal (one input, the
    /// payment and change; [`Batch::unbatched_vsize`]), same estimate.
    pub unbatched_vsize: u64,
    /// What those would have paid at the same fee rates
    /// ([`Batch::unbatched_fee`]).
    pub unbatched_fees: Amount,
    /// The day's fee bump, if one was made.
    pub bump: Option<FeeBump>,
}

impl BatchingReport {
    /// Counts a mined batch (`None` on overflow).
    fn add(&mut self, p: &Pending) -> Option<()> {
        let count = u32::try_from(p.payouts.len()).ok()?;
        self.batches = self.batches.checked_add(1)?;
        self.payouts = self.payouts.checked_add(count)?;
        self.largest = self.largest.max(count);
        self.vsize = self.vsize.checked_add(p.vsize)?;
        self.fees = self.fees.checked_add(p.fee)?;
        self.unbatched_vsize = self.unbatched_vsize.checked_add(p.unbatched_vsize)?;
        self.unbatched_fees = self.unbatched_fees.checked_add(p.unbatched_fee)?;
        Some(())
    }

    /// Fees saved by batching: the single transactions' fees less the
    /// batches' (zero when batching saved nothing).
    pub fn saved(&self) -> Amount {
        self.unbatched_fees
            .checked_sub(self.fees)
            .unwrap_or(Amount::ZERO)
    }
}

/// A payout batch that stayed unconfirmed, and the replacement (BIP125)
/// that paid its withdrawals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeBump {
    /// Withdrawals the batch pays.
    pub payouts: u32,
    /// The stuck transaction (dropped from the simulated mempool).
    pub original: Txid,
    /// Its fee.
    pub original_fee: Amount,
    /// The replacement, which confirmed.
    pub replacement: Txid,
    /// Its fee.
    pub replacement_fee: Amount,
    /// When the replacement was cosigned.
    pub at: Timestamp,
}

/// A hot balance the backend saw on chain and reported to the cosigner
/// (`POST /v1/hot-balance`), and the cosigner's books then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotCheck {
    /// When.
    pub at: Timestamp,
    /// What had just happened.
    pub label: &'static str,
    /// The hot balance on the cosigner's books (`GET /v1/state`).
    pub books: Amount,
    /// The hot wallet's balance on the simulated chain (what was reported).
    pub chain: Amount,
    /// The report froze outflow (a shortfall against the books) where
    /// nothing had, or changed why it was frozen.
    pub froze: bool,
}

/// What happened during the day.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DayReport {
    /// Deposits and their total.
    pub deposits: (u32, Amount),
    /// Withdrawal requests by customers.
    pub requests: u32,
    /// Customer withdrawals paid (cosigned, on chain, confirmed) and their total.
    pub paid: (u32, Amount),
    /// Seconds between payout batches.
    pub batch_every: i64,
    /// The payout batches, against one transaction per withdrawal.
    pub batching: BatchingReport,
    /// The hot balances the backend reported, against the books.
    pub hot_checks: Vec<HotCheck>,
    /// Engine decisions on customer requests, by decision or denial rule.
    pub decisions: std::collections::BTreeMap<String, u32>,
    /// Signed approvals the authority took (two per withdrawal above the
    /// approval threshold).
    pub approvals: u32,
    /// Custody statements signed by two admins, and the last one's amount.
    pub statements: (u32, Amount),
    /// Sweeps hot → cold and their total.
    pub sweeps: (u32, Amount),
    /// Refills cold → hot and their total.
    pub refills: (u32, Amount),
    /// Transactions signed and verified by the interpreter, and their inputs.
    pub verified: (u32, u64),
    /// Fees paid by all transactions.
    pub fees: Amount,
    /// Hot and cold over the day.
    pub snapshots: Vec<Snapshot>,
    /// The attack.
    pub attack: AttackReport,
    /// Audit records verified with the audit key.
    pub audit_records: u64,
    /// The cosigner's audit key (signs the audit chain's heads).
    pub audit_key: Option<XOnlyPublicKey>,
    /// The wallets' descriptors: (hot, cold).
    pub descriptors: (String, String),
}

fn pct(part: Amount, whole: Amount) -> String {
    if whole == Amount::ZERO {
        return "-".into();
    }
    let bps = u128::from(part.to_sat()) * 10_000 / u128::from(whole.to_sat());
    format!("{}.{:02}%", bps / 100, bps % 100)
}

impl DayReport {
    /// The summary table, as text.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{:<44}{:>10}  {:>36}", "", "count", "amount");
        let mut row = |name: &str, n: u32, a: Option<Amount>| {
            let _ = writeln!(
                s,
                "{name:<44}{n:>10}  {:>36}",
                a.map(btc).unwrap_or_default()
            );
        };
        row("deposits", self.deposits.0, Some(self.deposits.1));
        row(
            "custody statements (2 admins; last)",
            self.statements.0,
            Some(self.statements.1),
        );
        row("withdrawal requests", self.requests, None);
        row("withdrawals paid", self.paid.0, Some(self.paid.1));
        for (k, v) in &self.decisions {
            row(&format!("  decision: {k}"), *v, None);
        }
        row("  signed approvals taken", self.approvals, None);
        row("sweeps hot -> cold", self.sweeps.0, Some(self.sweeps.1));
        row("refills cold -> hot", self.refills.0, Some(self.refills.1));
        row(
            "transactions verified by libbitcoinconsensus",
            self.verified.0,
            None,
        );
        let _ = writeln!(s, "{:<44}{:>10}", "  inputs verified", self.verified.1);
        let _ = writeln!(s, "{:<44}{:>10}  {:>36}", "fees paid", "", btc(self.fees));
        self.batching_table(&mut s);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<21}{:<25}{:>35}{:>35}{:>8}",
            "time", "after", "hot", "cold", "hot %"
        );
        for p in &self.snapshots {
            let total = p.hot.checked_add(p.cold).unwrap_or(Amount::MAX);
            let _ = writeln!(
                s,
                "{:<21}{:<25}{:>35}{:>35}{:>8}",
                p.at.to_string(),
                p.label,
                btc(p.hot),
                btc(p.cold),
                pct(p.hot, total)
            );
        }
        self.attack_table(&mut s);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "audit log: {} records, hash chain and signed head verified with the audit key {}",
            self.audit_records,
            self.audit_key.map_or("-".into(), |k| xonly_hex(&k))
        );
        s
    }

    fn batching_table(&self, s: &mut String) {
        use std::fmt::Write;
        let b = &self.batching;
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "payout batches (one every {} min): {} paying {} withdrawals (at most {} in one)",
            self.batch_every / 60,
            b.batches,
            b.payouts,
            b.largest
        );
        let _ = writeln!(s, "  {:<42}{:>16}{:>36}", "", "virtual bytes", "fees");
        let _ = writeln!(s, "  {:<42}{:>16}{:>36}", "batches", b.vsize, btc(b.fees));
        let _ = writeln!(
            s,
            "  {:<42}{:>16}{:>36}",
            "one transaction per withdrawal",
            b.unbatched_vsize,
            btc(b.unbatched_fees)
        );
        let _ = writeln!(
            s,
            "  {:<42}{:>16}{:>36}",
            "saved by batching",
            b.unbatched_vsize.saturating_sub(b.vsize),
            btc(b.saved())
        );
        if let Some(f) = &b.bump {
            let _ = writeln!(
                s,
                "  fee bump at {}: {} withdrawals; {} (fee {}) stuck, replaced by {} (fee {})",
                f.at,
                f.payouts,
                f.original,
                btc(f.original_fee),
                f.replacement,
                btc(f.replacement_fee)
            );
        }
        for c in &self.hot_checks {
            let _ = writeln!(
                s,
                "hot wallet at {} ({}): books {}, chain {}: {}; reported to the cosigner: {}",
                c.at,
                c.label,
                btc(c.books),
                btc(c.chain),
                if c.books == c.chain {
                    "equal"
                } else {
                    "DIFFER"
                },
                if c.froze { "FROZE" } else { "no freeze" }
            );
        }
    }

    fn attack_table(&self, s: &mut String) {
        use std::fmt::Write;
        let a = &self.attack;
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "attack (hot key and backend host stolen at {}):",
            a.started_at.map_or("-".into(), |t| t.to_string())
        );
        let _ = writeln!(
            s,
            "  {:<58}{:>6}  {:<29}result",
            "attack through the cosigner's API", "tries", "rule"
        );
        let mut host_section = false;
        for t in &a.tries {
            if t.cosigner_host && !host_section {
                host_section = true;
                let _ = writeln!(
                    s,
                    "  if the cosigner's host were also breached (defense in depth):"
                );
            }
            let (rule, result) = match &t.refused_by {
                Some(r) if r == t.expected => (r.clone(), "refused".to_owned()),
                Some(r) => (r.clone(), format!("refused (expected {})", t.expected)),
                None => (t.expected.to_owned(), "TAKEN".to_owned()),
            };
            let _ = writeln!(s, "  {:<58}{:>6}  {rule:<29}{result}", t.attack, t.tries);
        }
        let _ = writeln!(
            s,
            "  withdrawal requests through the backend: {}",
            a.requests
        );
        for (k, v) in &a.denials {
            let _ = writeln!(s, "    {k}: {v}");
        }
        let _ = writeln!(
            s,
            "  circuit breaker fired at: {}",
            a.breaker_fired_at.map_or("never".into(), |t| t.to_string())
        );
        let _ = writeln!(
            s,
            "  attacker got: {} in {} payments ({} of custody {})",
            btc(a.stolen),
            a.paid,
            pct(a.stolen, a.custody),
            btc(a.custody)
        );
        let _ = writeln!(
            s,
            "  loss bound over {} at the vouched custody {}: {} ({}, set by {})",
            a.horizon,
            btc(a.limit_custody),
            btc(a.bound),
            pct(a.bound, a.custody),
            a.bound_rule
        );
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// The day's generator also orders the batches' outputs and draws their
/// lock times ([`MultisigWallet::build_batch`]), so a day is repeatable.
impl bitcoin::secp256k1::rand::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.next()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), bitcoin::secp256k1::rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// An address nobody in the day controls (a customer's, or the attacker's):
/// a P2WSH of a script that names it.
fn outside_address(tag: &str, n: u64, network: Network) -> Address {
    let mut bytes = tag.as_bytes().to_vec();
    bytes.extend_from_slice(&n.to_be_bytes());
    let script = bitcoin::script::Builder::new()
        .push_slice(
            <&bitcoin::script::PushBytes>::try_from(bytes.as_slice())
                .unwrap_or_else(|_| <&bitcoin::script::PushBytes>::from(&[0u8; 0])),
        )
        .push_opcode(bitcoin::opcodes::all::OP_DROP)
        .push_opcode(bitcoin::opcodes::OP_TRUE)
        .into_script();
    Address::p2wsh(&script, network)
}

/// One wallet's coins on chain and its next fresh indices.
struct Coins {
    utxos: Vec<Utxo>,
    next_receive: u32,
    next_change: u32,
}

impl Coins {
    fn balance(&self) -> Amount {
        self.utxos.iter().map(|u| u.amount).sum()
    }
}

struct World<'a> {
    network: Network,
    hot: MultisigWallet,
    cold: MultisigWallet,
    hot_coins: Coins,
    cold_coins: Coins,
    /// Every output ever created, for the verifier.
    txouts: HashMap<OutPoint, TxOut>,
    verify: Verify<'a>,
    report: DayReport,
    /// The day's simulated clock, shared with the authority.
    clock: SimClock,
    /// The chain reference of the set-up: a height and when it was mined.
    chain_ref: (u32, i64),
    /// Payout batches broadcast and not yet mined.
    mempool: Vec<Pending>,
}

/// A payout batch in the simulated mempool: signed by both keys, verified.
struct Pending {
    tx: Transaction,
    txid: Txid,
    /// What it pays.
    payouts: Vec<Payout>,
    /// The coins it spends (a fee bump spends them again).
    coins: Vec<Utxo>,
    change: Change,
    fee: Amount,
    fee_rate: FeeRate,
    vsize: u64,
    unbatched_vsize: u64,
    unbatched_fee: Amount,
}

/// The day's simulated time: the authority reads it ([`Clock::Custom`]),
/// the day moves it on.
#[derive(Clone)]
struct SimClock(Arc<AtomicI64>);

impl SimClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix(self.0.load(Ordering::SeqCst))
    }

    fn set(&self, t: Timestamp) {
        self.0.store(t.unix(), Ordering::SeqCst);
    }

    fn clock(&self) -> Clock {
        let c = self.clone();
        Clock::Custom(Arc::new(move || c.now()))
    }
}

const FEE_RATE: FeeRate = FeeRate::from_sat_per_kwu(1_250); // 5 sat/vB

impl World<'_> {
    /// Checks a signed transaction with the verifier, then applies it to the
    /// coins: spent inputs leave, outputs to our wallets arrive.
    fn settle(
        &mut self,
        tx: &Transaction,
        arrivals: &[(usize, Side, Keychain, u32)],
    ) -> Result<(), DayError> {
        self.check(tx)?;
        self.mined(tx, arrivals);
        Ok(())
    }

    /// Checks a signed transaction with the verifier (as it is broadcast).
    fn check(&mut self, tx: &Transaction) -> Result<(), DayError> {
        (self.verify)(tx, &self.txouts).map_err(step("script verification"))?;
        self.report.verified.0 += 1;
        self.report.verified.1 += tx.input.len() as u64;
        Ok(())
    }

    /// Applies a mined transaction to the coins: spent inputs leave, outputs
    /// to our wallets arrive; its fee is paid.
    fn mined(&mut self, tx: &Transaction, arrivals: &[(usize, Side, Keychain, u32)]) {
        let spent: Vec<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
        let mut fee = Amount::ZERO;
        for op in &spent {
            fee += self.txouts.get(op).map(|o| o.value).unwrap_or_default();
        }
        fee -= tx.output.iter().map(|o| o.value).sum::<Amount>();
        self.report.fees += fee;
        for c in [&mut self.hot_coins, &mut self.cold_coins] {
            c.utxos.retain(|u| !spent.contains(&u.outpoint));
        }
        let txid = tx.compute_txid();
        for (vout, out) in tx.output.iter().enumerate() {
            self.txouts
                .insert(OutPoint::new(txid, vout as u32), out.clone());
        }
        for &(vout, side, keychain, index) in arrivals {
            self.coins_mut(side).utxos.push(Utxo {
                outpoint: OutPoint::new(txid, vout as u32),
                amount: tx.output[vout].value,
                keychain,
                index,
                prev_tx: tx.clone(),
            });
        }
    }

    /// The simulated chain's tip height now: a block every [`BLOCK_SECS`]
    /// after the set-up's chain reference.
    fn height(&self) -> u32 {
        let (height, at) = self.chain_ref;
        let blocks = (self.now().unix() - at).max(0) / BLOCK_SECS;
        height.saturating_add(u32::try_from(blocks).unwrap_or(u32::MAX))
    }

    /// The hot wallet's confirmed coins that no transaction in the mempool
    /// spends.
    fn free_hot_coins(&self) -> Vec<Utxo> {
        let locked: BTreeSet<OutPoint> = self
            .mempool
            .iter()
            .flat_map(|p| p.tx.input.iter().map(|i| i.previous_output))
            .collect();
        self.hot_coins
            .utxos
            .iter()
            .filter(|u| !locked.contains(&u.outpoint))
            .cloned()
            .collect()
    }

    fn coins_mut(&mut self, side: Side) -> &mut Coins {
        match side {
            Side::Hot => &mut self.hot_coins,
            Side::Cold => &mut self.cold_coins,
        }
    }

    fn snapshot(&mut self, label: &'static str) {
        self.report.snapshots.push(Snapshot {
            at: self.now(),
            label,
            hot: self.hot_coins.balance(),
            cold: self.cold_coins.balance(),
        });
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn tick(&mut self, secs: i64) {
        self.clock
            .set(Timestamp::from_unix(self.now().unix() + secs));
    }

    /// Moves the clock on to `t` if it is earlier.
    fn at_least(&mut self, t: &str) -> Result<(), DayError> {
        let t = Timestamp::parse_rfc3339(t).map_err(step("clock"))?;
        if self.now() < t {
            self.clock.set(t);
        }
        Ok(())
    }

    /// Custody on chain (hot and cold coins), what the admins count.
    fn on_chain(&self) -> Amount {
        self.hot_coins.balance() + self.cold_coins.balance()
    }
}

/// A fabricated funding transaction paying `outputs` (its one input spends
/// a made-up outpoint numbered `n`).
fn funding_tx(n: u64, outputs: Vec<TxOut>) -> Transaction {
    let mut fake = [0u8; 32];
    fake[..8].copy_from_slice(&n.to_be_bytes());
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array(fake), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outputs,
    }
}

fn finalize_extract(mut psbt: Psbt) -> Result<Transaction, DayError> {
    kinko_wallet::finalize(&mut psbt).map_err(step("finalize"))?;
    kinko_wallet::extract(psbt, kinko_wallet::MAX_FEE_RATE).map_err(step("extract"))
}

/// The exchange's backend: the hot key, the client of the cosigner
/// service (its client certificate and the service's CA, read from the
/// backend's files) and its own count of requests. Every decision,
/// cosignature and report goes through the service's `/v1` API with a
/// request id; nothing here reaches the cosigner's authority, ledger or
/// keystore (they are on the cosigner's host). The backend's coins and
/// the chain are the [`World`]'s.
struct Backend {
    /// The exchange's hot key (one of the hot wallet's 2-of-3).
    key: XprvSigner,
    api: Client,
    /// Requests sent so far (request ids are `backend-NNNNNN`).
    requests: u64,
}

/// A signed action as the API carries it.
fn signed_json(a: &SignedAction) -> Result<serde_json::Value, ClientError> {
    serde_json::from_str(&a.to_json()).map_err(|e| ClientError::Decode(e.to_string()))
}

fn psbt_base64(psbt: &Psbt) -> String {
    String::from_utf8_lossy(&encode_psbt(psbt, PsbtEncoding::Base64)).into_owned()
}

fn psbt_from_base64(b64: &str) -> Result<Psbt, ClientError> {
    decode_psbt(b64.as_bytes())
        .map(|(p, _)| p)
        .map_err(|e| ClientError::Decode(e.to_string()))
}

impl Backend {
    /// The backend on its host: the hot key, and a client of the service at
    /// `url` with the TLS files in `files` (`ca.pem`, `client.pem`,
    /// `client.key`).
    fn connect(url: &str, files: &Path, key: XprvSigner) -> Result<Self, DayError> {
        let tls = TlsFiles::read(
            files.join("ca.pem"),
            files.join("client.pem"),
            files.join("client.key"),
        )
        .map_err(step("backend TLS files"))?;
        Ok(Backend {
            key,
            api: Client::connect(url, &tls).map_err(step("backend client"))?,
            requests: 0,
        })
    }

    /// The id of the `n`th request the backend sent.
    fn request_id_of(n: u64) -> String {
        format!("backend-{n:06}")
    }

    /// A new request id.
    fn request_id(&mut self) -> String {
        self.requests += 1;
        Self::request_id_of(self.requests)
    }

    fn withdraw(
        &mut self,
        id: &str,
        user: &str,
        destination: &str,
        amount: u64,
    ) -> Result<Decided, ClientError> {
        let request_id = self.request_id();
        self.api.request_withdrawal(&WithdrawalRequest {
            request_id,
            id: id.into(),
            user: user.into(),
            destination: destination.into(),
            amount_sat: amount,
        })
    }

    /// Relays an approver's signed approval under withdrawal `id`'s path.
    fn approve(&mut self, id: &str, signed: &SignedAction) -> Result<Decided, ClientError> {
        let request_id = self.request_id();
        let signed = signed_json(signed)?;
        self.api.approve(id, &SignedRequest { request_id, signed })
    }

    /// Reports a transaction the cosigner signed confirmed on chain: it
    /// settles every withdrawal the transaction pays and books its fee.
    fn confirm_tx(&mut self, txid: &Txid) -> Result<Decided, ClientError> {
        let request_id = self.request_id();
        self.api
            .confirm_tx(&txid.to_string(), &IdRequest { request_id })
    }

    /// Reports the hot balance seen on chain.
    fn report_hot_balance(&mut self, amount: Amount) -> Result<Decided, ClientError> {
        let request_id = self.request_id();
        self.api.report_hot_balance(&AmountRequest {
            request_id,
            amount_sat: amount.to_sat(),
        })
    }

    fn report_deposit(&mut self, wallet: WalletName, amount: u64) -> Result<Decided, ClientError> {
        let request_id = self.request_id();
        self.api.report_deposit(&DepositRequest {
            request_id,
            wallet,
            amount_sat: amount,
        })
    }

    fn report_refill(&mut self, amount: u64) -> Result<Decided, ClientError> {
        let request_id = self.request_id();
        self.api.report_refill(&AmountRequest {
            request_id,
            amount_sat: amount,
        })
    }

    fn custody_statement(&mut self, signed: &[SignedAction]) -> Result<Decided, ClientError> {
        let request_id = self.request_id();
        let signed = signed.iter().map(signed_json).collect::<Result<_, _>>()?;
        self.api
            .custody_statement(&QuorumRequest { request_id, signed })
    }

    /// Asks the cosigner to cosign `psbt` as the payout of withdrawals
    /// `ids` (one, or a batch): the PSBT with the cosigner's signatures
    /// added, and the cosigner's answer.
    fn cosign_payout(
        &self,
        ids: &[String],
        psbt: &Psbt,
    ) -> Result<(Psbt, CosignedPayout), ClientError> {
        let done = self.api.cosign_payout(&PayoutRequest {
            ids: ids.to_vec(),
            psbt: psbt_base64(psbt),
        })?;
        Ok((psbt_from_base64(&done.psbt)?, done))
    }

    /// Asks the cosigner to cosign a sweep: the PSBT with its signatures,
    /// and the amount swept.
    fn cosign_sweep(&self, psbt: &Psbt) -> Result<(Psbt, Amount), ClientError> {
        let done = self.api.cosign_sweep(&CosignRequest {
            psbt: psbt_base64(psbt),
        })?;
        Ok((
            psbt_from_base64(&done.psbt)?,
            Amount::from_sat(done.amount_sat),
        ))
    }

    /// The cold address the next sweep must pay, and its index.
    fn sweep_address(&self, network: Network) -> Result<(u32, Address), DayError> {
        let a = self
            .api
            .sweep_address()
            .map_err(step("next sweep address"))?;
        let address = a
            .address
            .parse::<Address<bitcoin::address::NetworkUnchecked>>()
            .map_err(step("next sweep address"))?
            .require_network(network)
            .map_err(step("next sweep address"))?;
        Ok((a.cold_index, address))
    }

    /// The cosigner's state (`GET /v1/state`).
    fn state(&self) -> Result<ApiState, DayError> {
        self.api.state().map_err(step("cosigner state"))
    }
}

/// The custody every share limit is measured against, as the cosigner's
/// state says ([`kinko_policy::AssetState::limit_custody`]).
fn limit_custody(s: &ApiState) -> u64 {
    let custody = s.hot_sat.saturating_add(s.cold_sat);
    s.vouched_sat.map_or(custody, |v| v.min(custody))
}

/// The people of the set-up, each with the action key (`m/1057'/0'/0'`)
/// of a keystore of their own.
struct People {
    approvers: Vec<(&'static str, Keypair)>,
    admins: Vec<(&'static str, Keypair)>,
}

/// A keystore made in memory from 24 new words (never written).
fn fresh_keystore() -> Result<Keystore, DayError> {
    Ok(Keystore::new(
        Mnemonic::generate(WordCount::W24, Language::English).map_err(step("mnemonic"))?,
        Passphrase::empty(),
    ))
}

/// The action key of `role` of a keystore ([`derive_action_key`]).
fn action_key(ks: &Keystore, network: Network, role: KeyRole) -> Result<Keypair, DayError> {
    let master = ks.master_key(network).map_err(step("master key"))?;
    derive_action_key(master.expose_xpriv(), role).map_err(step("action key"))
}

fn unix(t: Timestamp) -> UnixTime {
    UnixTime::from_unix(t.unix())
}

/// The custody set-up file of the day (the format of `docs/setup.md`).
fn setup_text(
    wallets: (&MultisigWallet, &MultisigWallet),
    network: Network,
    policy: &str,
    audit: &XOnlyPublicKey,
    people: &People,
    backend_certificate: &str,
) -> String {
    use std::fmt::Write;
    let mut s = format!(
        r#"# kinko custody set-up of the exchange's day: pinned at the key ceremony,
# signed by two admins.
version = 1
asset = "{ASSET}"
network = "{network}"
hot_descriptor = "{hot}"
cold_descriptor = "{cold}"
change_gap = 1000
audit_key = "{audit}"
admin_quorum = 2
policy = '''
{policy}'''

[fees]
max_fee_sat = {MAX_FEE_SAT}
max_fee_rate_sat_vb = {MAX_FEE_RATE_SAT_VB}

[chain]
reference_height = {CHAIN_HEIGHT}
reference_time = "{CHAIN_TIME}"

[service]
backend_certificates = ["{backend_certificate}"]
"#,
        hot = wallets.0.descriptor(),
        cold = wallets.1.descriptor(),
        audit = xonly_hex(audit),
    );
    for (table, list) in [("approvers", &people.approvers), ("admins", &people.admins)] {
        for (name, key) in list {
            let key = xonly_hex(&key.x_only_public_key().0);
            let _ = write!(s, "\n[[{table}]]\nname = \"{name}\"\nkey = \"{key}\"\n");
        }
    }
    s
}

/// An approval of withdrawal `id` as requested, valid for an hour (the
/// approver reads the set-up's id from the signed set-up file, the time
/// from the world's clock).
fn approval(w: &World<'_>, ctx: &Ctx<'_>, id: &str, destination: &str, amount: u64) -> Action {
    Action::Approval {
        setup_id: ctx.setup_id,
        asset: ASSET.into(),
        withdrawal_id: id.into(),
        destination: destination.into(),
        amount,
        expires: UnixTime::from_unix(w.now().unix() + 3_600),
    }
}

/// Two admins sign a statement of the custody they counted on chain; the
/// backend relays it.
fn custody_statement(
    w: &mut World<'_>,
    ctx: &Ctx<'_>,
    backend: &mut Backend,
) -> Result<Decided, DayError> {
    let now = w.now();
    let amount = w.on_chain();
    let action = Action::CustodyStatement {
        setup_id: ctx.setup_id,
        asset: ASSET.into(),
        amount: amount.to_sat(),
        as_of: unix(now),
        expires: UnixTime::from_unix(now.unix() + 3_600),
    };
    let signed: Vec<SignedAction> = ctx
        .people
        .admins
        .iter()
        .take(2)
        .map(|(_, k)| action.sign(k))
        .collect();
    let c = backend
        .custody_statement(&signed)
        .map_err(step("custody statement"))?;
    w.report.statements = (w.report.statements.0 + 1, amount);
    Ok(c)
}

fn proposed_sweep(c: &Decided) -> Option<u64> {
    c.proposals.iter().find_map(|p| match p {
        Proposal::Sweep { amount, .. } => Some(amount.units()),
        _ => None,
    })
}

/// Runs the day in `dir` (keystores, the set-up and the SQLite ledger go
/// there), reporting progress to `progress` and checking every signed
/// transaction with `verify`.
///
/// # Errors
///
/// [`DayError::Step`] naming the step that failed.
pub fn run(
    dir: &Path,
    cfg: &DayConfig,
    verify: Verify<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<DayReport, DayError> {
    let network = Network::Testnet;
    let secp = Secp256k1::new();
    let mut rng = Rng(cfg.seed);

    // 1. Key ceremony. Each cold key holder's keystore is made and used
    // only by `kinko-signer` processes, as on the holders' air-gapped
    // machines: `init` makes the key (its words go to the holder's screen,
    // here nowhere: the day never sees a cold mnemonic), `xpub` gives the
    // account key, `register` keeps the cold wallet inside the keystore.
    progress(&format!(
        "key ceremony: three cold keystores (scrypt 2^{}), each made and used only by its own kinko-signer process",
        cfg.keystore_work_factor
    ));
    let account0 = KeyPath::bip48(network, 0).map_err(step("bip48 path"))?;
    let account1 = KeyPath::bip48(network, 1).map_err(step("bip48 path"))?;
    let mut holders = Vec::new();
    let mut cold_keys = Vec::new();
    for name in ["alice", "bob", "chiyo"] {
        let holder = Holder {
            name,
            keystore: dir.join(format!("{name}.age")),
            passphrase: Passphrase::from(format!("{name}'s day passphrase")),
        };
        // A new 24-word key; what `init` prints (the words) is not read.
        run_signer(
            signer_command(cfg, &holder, "init").stdout(Stdio::null()),
            "kinko-signer init",
        )?;
        // The signer's default path for the test networks is account 0.
        let xpub = run_signer(
            signer_command(cfg, &holder, "xpub").args(["--network", &network.to_string()]),
            "kinko-signer xpub",
        )?;
        cold_keys.push(xpub.trim().to_owned());
        holders.push(holder);
    }
    let desc = |keys: &[String]| {
        let k: Vec<String> = keys.iter().map(|x| format!("{x}/<0;1>/*")).collect();
        format!("wsh(sortedmulti(2,{}))", k.join(","))
    };
    let cold =
        MultisigWallet::from_descriptor(&desc(&cold_keys), network).map_err(step("cold wallet"))?;
    let first = cold
        .address(Keychain::Receive, 0)
        .map_err(step("cold address"))?
        .to_string();
    for h in &holders {
        let shown = run_signer(
            signer_command(cfg, h, "register")
                .arg("--descriptor")
                .arg(cold.descriptor())
                .args(["--name", "cold"]),
            "kinko-signer register",
        )?;
        // Each holder compares the wallet id and first address with the
        // coordinator's.
        if !shown.contains(&cold.id()) || !shown.contains(&first) {
            return Err(step("kinko-signer register")(format!(
                "{}'s signer shows another wallet:\n{shown}",
                h.name
            )));
        }
        progress(&format!(
            "  {}'s kinko-signer: {}; first address {first}",
            h.name,
            shown.lines().next().unwrap_or_default()
        ));
    }

    // The hot wallet: the exchange's online key, the cosigner's key, and a
    // backup key kept cold (account 1 of the third holder's keystore).
    let exchange_seed = fresh_keystore()?;
    let cosigner_seed = fresh_keystore()?;
    let mut hot_keys = Vec::new();
    for ks in [&exchange_seed, &cosigner_seed] {
        hot_keys.push(
            ks.account_xpub(&secp, network, &account0)
                .map_err(step("xpub"))?
                .to_string(),
        );
    }
    let backup = run_signer(
        signer_command(cfg, &holders[2], "xpub")
            .args(["--network", &network.to_string()])
            .args(["--path", &account1.to_string()]),
        "kinko-signer xpub",
    )?;
    hot_keys.push(backup.trim().to_owned());
    let hot =
        MultisigWallet::from_descriptor(&desc(&hot_keys), network).map_err(step("hot wallet"))?;
    let signer = |ks: &Keystore, path: &KeyPath| -> Result<XprvSigner, DayError> {
        let master = ks.master_key(network).map_err(step("master key"))?;
        XprvSigner::from_master(master.expose_xpriv(), path.as_derivation_path())
            .map_err(step("signer"))
    };
    let exchange_signer = signer(&exchange_seed, &account0)?;
    let cosigner_signer = signer(&cosigner_seed, &account0)?;
    let audit_key = action_key(&cosigner_seed, network, KeyRole::Audit)?;
    let audit_xonly = audit_key.x_only_public_key().0;
    drop(exchange_seed);
    drop(cosigner_seed);
    progress(&format!(
        "  cold wallet {}  {}",
        cold.id(),
        cold.descriptor()
    ));
    progress(&format!("  hot wallet  {}  {}", hot.id(), hot.descriptor()));

    // The service's mutual TLS: a CA of the run, the service's certificate
    // (kept on the cosigner's host, here in memory) and the backend's
    // client certificate, whose fingerprint the set-up pins. The backend's
    // files are its host's: the CA, its certificate and key.
    let certs = kinko_cosignd::certs::generate().map_err(step("certificates"))?;
    let backend_files = dir.join("backend");
    std::fs::create_dir(&backend_files).map_err(step("backend files"))?;
    for (name, pem) in [
        ("ca.pem", &certs.ca_pem),
        ("client.pem", &certs.client_pem),
        ("client.key", &certs.client_key_pem),
    ] {
        std::fs::write(backend_files.join(name), pem).map_err(step("backend files"))?;
    }

    // 2. The custody set-up: the approvers' and admins' action keys, the
    // backend's certificate, the file, two admins' signatures; the
    // authority starts from it.
    let mut person = |name: &'static str| -> Result<(&'static str, Keypair), DayError> {
        Ok((
            name,
            action_key(&fresh_keystore()?, network, KeyRole::Person)?,
        ))
    };
    let people = People {
        approvers: APPROVERS
            .into_iter()
            .map(&mut person)
            .collect::<Result<_, _>>()?,
        admins: ADMINS
            .into_iter()
            .map(&mut person)
            .collect::<Result<_, _>>()?,
    };
    let threshold = cfg.approval_threshold();
    let text = setup_text(
        (&hot, &cold),
        network,
        &policy(threshold),
        &audit_xonly,
        &people,
        &certs.client_sha256,
    );
    let setup_file = dir.join("setup.toml");
    let sigs_file = dir.join("setup.sigs");
    std::fs::write(&setup_file, &text).map_err(step("write set-up"))?;
    let signature = Action::SetupSignature {
        setup_id: SetupId::of_file(text.as_bytes()),
    };
    let sigs: String = people
        .admins
        .iter()
        .take(2)
        .map(|(_, k)| signature.sign(k).to_json() + "\n")
        .collect();
    std::fs::write(&sigs_file, &sigs).map_err(step("write set-up signatures"))?;
    let setup = Setup::load_signed(
        &std::fs::read(&setup_file).map_err(step("read set-up"))?,
        &std::fs::read_to_string(&sigs_file).map_err(step("read set-up signatures"))?,
    )
    .map_err(step("set-up"))?;
    progress(&format!(
        "custody set-up {} ({}): signed by {} and {}; approvals above {} by {} and {}",
        setup.id(),
        setup_file.display(),
        ADMINS[0],
        ADMINS[1],
        btc(Amount::from_sat(threshold)),
        APPROVERS[0],
        APPROVERS[1]
    ));
    let asset_policy = setup
        .policy()
        .config()
        .asset(ASSET)
        .cloned()
        .ok_or_else(|| step("policy")("no BTC policy"))?;
    let start = Timestamp::parse_rfc3339("2026-01-26T00:00:00Z").map_err(step("clock"))?;
    let clock = SimClock(Arc::new(AtomicI64::new(start.unix())));
    let setup_id = setup.id();

    // The cosigner's host: the service owns the authority (the cosigner's
    // key, its audit key, its ledger file) and reads the day's clock, which
    // only the world moves. It listens on a loopback port with mutual TLS,
    // accepting the client certificates the signed set-up pins.
    let tls = kinko_cosignd::tls::server_config(
        certs.server_pem.as_bytes(),
        certs.server_key_pem.as_bytes(),
        setup.backend_certificates(),
    )
    .map_err(step("service TLS"))?;
    let url = format!("sqlite:{}", dir.join("ledger.db").display());
    let auth = Authority::open(setup, &url, cosigner_signer, audit_key, clock.clock())
        .map_err(step("open the authority"))?;
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let service = kinko_cosignd::spawn(auth, tls, loopback, Options::default())
        .map_err(step("start the cosigner service"))?;
    progress(&format!(
        "policy cosigner service on {} (mutual TLS; the set-up pins the backend's client certificate {}…)",
        service.url(),
        &certs.client_sha256[..16]
    ));

    // The backend's host: the hot key and the client certificate only.
    let mut backend = Backend::connect(&service.url(), &backend_files, exchange_signer)?;

    let mut w = World {
        network,
        report: DayReport {
            descriptors: (hot.descriptor(), cold.descriptor()),
            audit_key: Some(audit_xonly),
            batch_every: cfg.batch_every,
            ..Default::default()
        },
        hot,
        cold,
        hot_coins: Coins {
            utxos: Vec::new(),
            next_receive: 0,
            next_change: 0,
        },
        cold_coins: Coins {
            utxos: Vec::new(),
            next_receive: 0,
            next_change: 0,
        },
        txouts: HashMap::new(),
        verify,
        clock,
        chain_ref: (
            CHAIN_HEIGHT,
            Timestamp::parse_rfc3339(CHAIN_TIME)
                .map_err(step("chain reference"))?
                .unix(),
        ),
        mempool: Vec::new(),
    };

    let ctx = Ctx {
        cfg,
        dir,
        holders: &holders,
        people: &people,
        setup_id,
    };
    deposits(&mut w, &ctx, &mut rng, &mut backend, progress)?;
    w.snapshot("deposits and sweeps");
    withdrawals(&mut w, &ctx, &mut rng, &mut backend, progress)?;
    w.snapshot("withdrawals and refills");
    let attack = attack(
        &mut w,
        &ctx,
        &mut rng,
        &mut backend,
        &asset_policy,
        progress,
    )?;
    w.report.attack = attack;
    w.snapshot("the attack");
    // The end of the day: every transaction confirmed, the books and the
    // chain agree, and a truthful observation freezes nothing.
    hot_check(&mut w, &mut backend, "the attack", progress)?;

    // 6. The audit log, as anyone with the audit key checks it: the export
    // and signed heads from the API (fetched here with the backend's
    // certificate: whoever fetches it, only the audit key vouches for it),
    // every chain's hash links, and each head signed by the audit key.
    let export = backend.api.audit_export().map_err(step("audit export"))?;
    let heads = backend.api.audit_heads().map_err(step("audit heads"))?;
    if heads.audit_key != xonly_hex(&audit_xonly) {
        return Err(step("audit verify")(format!(
            "the service signs with {}, the set-up pins {}",
            heads.audit_key,
            xonly_hex(&audit_xonly)
        )));
    }
    let records = kinko_ledger::audit::verify_export_with_key(&export, &audit_xonly, &[])
        .map_err(step("audit verify"))?;
    w.report.audit_records = records;
    progress(&format!(
        "audit log (export from the API) verified with the audit key: {records} records, {} signed head(s)",
        heads.heads.len()
    ));
    service
        .shutdown()
        .map_err(step("stop the cosigner service"))?;
    Ok(w.report)
}

/// What the withdrawals and the attack use besides the world.
struct Ctx<'a> {
    cfg: &'a DayConfig,
    dir: &'a Path,
    holders: &'a [Holder],
    people: &'a People,
    /// The signed set-up's id (the people sign actions for it).
    setup_id: SetupId,
}

/// Deposits (step 3), 00:00 to 08:00, in blocks of 100, each reported to the
/// cosigner by the backend; custody statements; sweeps as proposed.
fn deposits(
    w: &mut World<'_>,
    ctx: &Ctx<'_>,
    rng: &mut Rng,
    backend: &mut Backend,
    progress: &mut dyn FnMut(&str),
) -> Result<(), DayError> {
    let cfg = ctx.cfg;
    progress(&format!(
        "deposits: {} to derived hot addresses reported to the cosigner, sweeps to cold as it proposes; \
         two admins sign a custody statement after the first 100, whenever custody on chain grew by a quarter, and when the deposits close",
        cfg.deposits
    ));
    let addrs = w
        .hot
        .addresses(Keychain::Receive, 0, cfg.deposits)
        .map_err(step("addresses"))?;
    w.hot_coins.next_receive = cfg.deposits;
    let block = 100usize;
    let step_secs = i64::from((8 * 3600) / cfg.deposits.max(1)).max(1);
    for (b, chunk) in addrs.chunks(block).enumerate() {
        let amounts: Vec<Amount> = chunk
            .iter()
            .map(|_| Amount::from_sat(rng.range(1_000, 100_000) * 100))
            .collect();
        let outputs = chunk
            .iter()
            .zip(&amounts)
            .map(|(a, v)| TxOut {
                value: *v,
                script_pubkey: a.script_pubkey(),
            })
            .collect();
        let tx = funding_tx(b as u64 + 1, outputs);
        let txid = tx.compute_txid();
        let mut last = None;
        for (i, v) in amounts.iter().enumerate() {
            let index = (b * block + i) as u32;
            w.txouts
                .insert(OutPoint::new(txid, i as u32), tx.output[i].clone());
            w.hot_coins.utxos.push(Utxo {
                outpoint: OutPoint::new(txid, i as u32),
                amount: *v,
                keychain: Keychain::Receive,
                index,
                prev_tx: tx.clone(),
            });
            w.tick(step_secs);
            last = Some(
                backend
                    .report_deposit(WalletName::Hot, v.to_sat())
                    .map_err(step("deposit"))?,
            );
            w.report.deposits.0 += 1;
            w.report.deposits.1 += *v;
        }
        let vouched = w.report.statements.1.to_sat();
        let closing = (b + 1) * block >= addrs.len();
        if w.report.statements.0 == 0
            || w.on_chain().to_sat() >= vouched + vouched / 4
            || (closing && w.on_chain().to_sat() != vouched)
        {
            last = Some(custody_statement(w, ctx, backend)?);
            progress(&format!(
                "  {}: custody statement {} signed by {} and {}: {}",
                w.now(),
                w.report.statements.0,
                ADMINS[0],
                ADMINS[1],
                btc(w.report.statements.1)
            ));
        }
        if let Some(amount) = last.as_ref().and_then(proposed_sweep) {
            sweep_to_cold(w, backend, amount)?;
        }
        progress(&format!(
            "  {:>5} deposits  hot {}  cold {}  sweeps {}",
            w.report.deposits.0,
            btc(w.hot_coins.balance()),
            btc(w.cold_coins.balance()),
            w.report.sweeps.0
        ));
    }
    Ok(())
}

/// An amount above the approval threshold and within the per-withdrawal
/// maximum (0.5% of the custody share limits are measured against).
fn large_amount(backend: &Backend, threshold: u64) -> Result<u64, DayError> {
    let max = limit_custody(&backend.state()?) / 200;
    Ok(threshold + max.saturating_sub(threshold) / 2)
}

/// Customer withdrawals (step 4), 08:00 to 20:00: requested, approved by both
/// approvers' signatures when above the threshold, queued; every
/// [`DayConfig::batch_every`] seconds a block mines the mempool (each mined
/// batch reported confirmed) and the backend pays the queue in one batch;
/// one batch, past the middle of the day, pays too low a fee and is
/// replaced; refills as proposed. Ends when the queue is paid and the
/// mempool mined, with the backend reporting the hot balance it sees.
fn withdrawals(
    w: &mut World<'_>,
    ctx: &Ctx<'_>,
    rng: &mut Rng,
    backend: &mut Backend,
    progress: &mut dyn FnMut(&str),
) -> Result<(), DayError> {
    let cfg = ctx.cfg;
    progress(&format!(
        "withdrawals: {} requests to the cosigner; above {} both approvers sign; paid in batches every {} min",
        cfg.withdrawals,
        btc(Amount::from_sat(cfg.approval_threshold())),
        cfg.batch_every / 60
    ));
    w.at_least("2026-01-26T08:00:00Z")?;
    let custody = w.report.deposits.1;
    let gap = i64::from((12 * 3600) / cfg.withdrawals.max(1)).max(1);
    let every = cfg.batch_every.max(1);
    let mut next_round = w.now().unix() + every;
    // The batch made first after the middle of the withdrawals pays too
    // little to be mined, and is bumped at the next round.
    let stuck_from = w.now().unix() + 6 * 3600;
    let mut stuck_made = false;
    let mut queue: Vec<Payout> = Vec::new();
    // The day's customer withdrawals total about 3.7% of custody (under the
    // 24h window's 5%): 2.9% in small ones, two large ones; every 25th asks for more than the per-withdrawal
    // maximum (0.5% of custody) and is denied; two (at a quarter and at
    // three quarters of the day) ask for more than the approval threshold.
    let mean = custody.to_sat() / 35 / u64::from(cfg.withdrawals.max(1));
    for n in 0..cfg.withdrawals {
        w.tick(gap);
        while w.now().unix() >= next_round {
            let stuck = !stuck_made && !queue.is_empty() && w.now().unix() >= stuck_from;
            payout_round(w, ctx, rng, backend, &mut queue, stuck, progress)?;
            stuck_made |= stuck;
            next_round += every;
        }
        let large = n == cfg.withdrawals / 4 || n == cfg.withdrawals * 3 / 4;
        let amount = if n % 25 == 24 {
            custody.to_sat() / 150
        } else if large {
            large_amount(backend, cfg.approval_threshold())?
        } else {
            rng.range(mean / 2, mean * 3 / 2).max(10_000)
        };
        let id = format!("w-{n:05}");
        let dest = outside_address("customer", rng.next(), w.network);
        let user = format!("user-{}", rng.range(1, 500));
        w.report.requests += 1;
        let done = backend
            .withdraw(&id, &user, &dest.to_string(), amount)
            .map_err(step("withdrawal"))?;
        let mut decision = done.decision;
        let key = match &decision {
            Decision::Approved { .. } => "approved".to_owned(),
            Decision::Denied { rule, .. } => format!("denied {}", rule.name()),
            Decision::Pending { .. } => {
                // Each approver signs on their own machine; the backend
                // relays the signature.
                for (_, k) in &ctx.people.approvers {
                    let signed = approval(w, ctx, &id, &dest.to_string(), amount).sign(k);
                    decision = backend
                        .approve(&id, &signed)
                        .map_err(step("approval"))?
                        .decision;
                    w.report.approvals += 1;
                }
                "pending, 2 approvals signed".to_owned()
            }
            Decision::Duplicate { .. } => "duplicate".to_owned(),
            _ => "other".to_owned(),
        };
        *w.report.decisions.entry(key).or_default() += 1;
        if matches!(decision, Decision::Approved { .. }) {
            // Reserved by the cosigner; paid in the next batch.
            queue.push(Payout {
                id,
                address: dest.as_unchecked().clone(),
                amount: Amount::from_sat(amount),
            });
        }
        if (n + 1) % 50 == 0 || n + 1 == cfg.withdrawals {
            progress(&format!(
                "  {:>5} requests  paid {} in {} batches  hot {}  cold {}  refills {}",
                n + 1,
                w.report.paid.0,
                w.report.batching.batches,
                btc(w.hot_coins.balance()),
                btc(w.cold_coins.balance()),
                w.report.refills.0
            ));
        }
    }
    // The last payouts: rounds until the queue is paid and every batch
    // mined (a stuck batch is bumped in the round after it was made).
    let mut rounds = 0;
    while !queue.is_empty() || !w.mempool.is_empty() {
        rounds += 1;
        if rounds > 4 {
            return Err(step("payout batches")("the mempool does not clear"));
        }
        w.clock
            .set(Timestamp::from_unix(next_round.max(w.now().unix())));
        payout_round(w, ctx, rng, backend, &mut queue, false, progress)?;
        next_round += every;
    }
    let b = &w.report.batching;
    progress(&format!(
        "  {} withdrawals paid in {} batches: {} vB and {} in fees, against {} vB and {} one transaction each: {} saved",
        b.payouts,
        b.batches,
        b.vsize,
        btc(b.fees),
        b.unbatched_vsize,
        btc(b.unbatched_fees),
        btc(b.saved())
    ));
    hot_check(w, backend, "the withdrawals", progress)
}

/// One round of the backend's payouts: a block mines the mempool's batches
/// that pay enough (each reported confirmed: its withdrawals settle, its fee
/// leaves the books; a refill as proposed); a batch left unmined is
/// replaced at a higher fee; the queue is paid in one new batch (at
/// [`STUCK_FEE_RATE`] when `stuck`: it will not be mined).
fn payout_round(
    w: &mut World<'_>,
    ctx: &Ctx<'_>,
    rng: &mut Rng,
    backend: &mut Backend,
    queue: &mut Vec<Payout>,
    stuck: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<(), DayError> {
    // The block at this round's height: final transactions paying enough.
    let height = w.height();
    let (mined, left): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut w.mempool)
        .into_iter()
        .partition(|p| p.fee_rate >= MINED_FEE_RATE && p.tx.lock_time.to_consensus_u32() < height);
    w.mempool = left;
    for p in mined {
        let arrivals: Vec<_> = p
            .change
            .map(|(pos, index, _)| (pos, Side::Hot, Keychain::Change, index))
            .into_iter()
            .collect();
        w.mined(&p.tx, &arrivals);
        let overflow = || step("payout batches")("amounts overflow");
        w.report.batching.add(&p).ok_or_else(overflow)?;
        let paid = p
            .payouts
            .iter()
            .try_fold(w.report.paid.1, |sum, p| sum.checked_add(p.amount))
            .ok_or_else(overflow)?;
        w.report.paid = (w.report.paid.0 + p.payouts.len() as u32, paid);
        let c = backend.confirm_tx(&p.txid).map_err(step("confirm"))?;
        let refill = c.proposals.iter().find_map(|p| match p {
            Proposal::Refill { amount, .. } => Some(amount.units()),
            _ => None,
        });
        if let Some(amount) = refill {
            refill_from_cold(w, ctx, backend, amount, progress)?;
        }
    }
    // A batch a block left behind: the backend replaces it (BIP125).
    for old in std::mem::take(&mut w.mempool) {
        fee_bump(w, rng, backend, old, progress)?;
    }
    if queue.is_empty() {
        return Ok(());
    }
    let coins = largest(&w.free_hot_coins(), 20);
    let rate = if stuck { STUCK_FEE_RATE } else { FEE_RATE };
    let batch = build_payout(w, rng, &coins, queue, rate)?;
    let (p, _) = cosign_payout(w, backend, batch, queue, &coins, rate)?;
    if stuck {
        progress(&format!(
            "  {}: batch {} of {} withdrawals at 1 sat/vB (fee {}): not mined",
            w.now(),
            p.txid,
            p.payouts.len(),
            btc(p.fee)
        ));
    }
    queue.clear();
    w.mempool.push(p);
    Ok(())
}

/// An unsigned batch paying `payouts` from `coins` at `rate`, with the
/// anti-fee-sniping lock time at the simulated tip.
fn build_payout(
    w: &World<'_>,
    rng: &mut Rng,
    coins: &[Utxo],
    payouts: &[Payout],
    rate: FeeRate,
) -> Result<Batch, DayError> {
    w.hot
        .build_batch(
            coins,
            payouts,
            &BatchParams {
                fee_rate: rate,
                change_index: w.hot_coins.next_change,
                tip_height: Some(w.height()),
                max_payouts: DEFAULT_MAX_PAYOUTS,
            },
            rng,
        )
        .map_err(step("build batch"))
}

/// Signs `batch` with the hot key, has the cosigner cosign it as the payout
/// of `payouts`, finalizes and verifies it: ready to broadcast.
fn cosign_payout(
    w: &mut World<'_>,
    backend: &Backend,
    batch: Batch,
    payouts: &[Payout],
    coins: &[Utxo],
    rate: FeeRate,
) -> Result<(Pending, CosignedPayout), DayError> {
    let mut psbt = batch.psbt;
    w.hot
        .sign(&mut psbt, &backend.key)
        .map_err(step("hot key signs"))?;
    let ids: Vec<String> = payouts.iter().map(|p| p.id.clone()).collect();
    let (psbt, done) = backend
        .cosign_payout(&ids, &psbt)
        .map_err(step("cosign payout"))?;
    let tx = finalize_extract(psbt)?;
    w.check(&tx)?;
    if batch.change.is_some() {
        w.hot_coins.next_change += 1;
    }
    let spent: BTreeSet<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
    Ok((
        Pending {
            txid: tx.compute_txid(),
            tx,
            payouts: payouts.to_vec(),
            coins: coins
                .iter()
                .filter(|c| spent.contains(&c.outpoint))
                .cloned()
                .collect(),
            change: batch.change,
            fee: batch.fee,
            fee_rate: rate,
            vsize: batch.vsize,
            unbatched_vsize: batch.unbatched_vsize,
            unbatched_fee: batch.unbatched_fee,
        },
        done,
    ))
}

/// Replaces a batch left unmined (BIP125): the same payouts from its coins
/// (and, if they no longer cover the fee, the largest free ones) at
/// [`BUMP_FEE_RATE`]; the cosigner signs it as a fee bump of the batch's
/// payout family, and the mempool drops the old transaction.
fn fee_bump(
    w: &mut World<'_>,
    rng: &mut Rng,
    backend: &Backend,
    old: Pending,
    progress: &mut dyn FnMut(&str),
) -> Result<(), DayError> {
    let mut coins = old.coins.clone();
    let batch = match build_payout(w, rng, &coins, &old.payouts, BUMP_FEE_RATE) {
        Ok(b) => b,
        Err(_) => {
            coins.extend(largest(&w.free_hot_coins(), 5));
            build_payout(w, rng, &coins, &old.payouts, BUMP_FEE_RATE)?
        }
    };
    // It must spend a coin of the old one, or both could confirm.
    let conflicts = batch
        .psbt
        .unsigned_tx
        .input
        .iter()
        .any(|i| old.coins.iter().any(|c| c.outpoint == i.previous_output));
    if !conflicts {
        return Err(step("fee bump")(
            "the replacement spends no coin of the batch",
        ));
    }
    let (new, done) = cosign_payout(w, backend, batch, &old.payouts, &coins, BUMP_FEE_RATE)?;
    if done.replaces.as_deref() != Some(&old.txid.to_string()) {
        return Err(step("fee bump")(format!(
            "the cosigner signed {} as replacing {:?}, not {}",
            new.txid, done.replaces, old.txid
        )));
    }
    progress(&format!(
        "  {}: fee bump: {} (fee {}) replaced by {} (fee {}), cosigned as its replacement; the mempool drops the first",
        w.now(),
        old.txid,
        btc(old.fee),
        new.txid,
        btc(new.fee)
    ));
    w.report.batching.bump = Some(FeeBump {
        payouts: old.payouts.len() as u32,
        original: old.txid,
        original_fee: old.fee,
        replacement: new.txid,
        replacement_fee: new.fee,
        at: w.now(),
    });
    w.mempool.push(new);
    Ok(())
}

/// The backend reports the hot balance it sees on chain; the cosigner's
/// books are read back (`GET /v1/state`) and set against it.
fn hot_check(
    w: &mut World<'_>,
    backend: &mut Backend,
    label: &'static str,
    progress: &mut dyn FnMut(&str),
) -> Result<(), DayError> {
    let chain = w.hot_coins.balance();
    let before = backend.state()?;
    backend
        .report_hot_balance(chain)
        .map_err(step("report hot balance"))?;
    let after = backend.state()?;
    let check = HotCheck {
        at: w.now(),
        label,
        books: Amount::from_sat(after.hot_sat),
        chain,
        froze: (after.frozen_since, &after.frozen_reason)
            != (before.frozen_since, &before.frozen_reason),
    };
    progress(&format!(
        "  {}: hot wallet after {label}: books {}, chain {}; reported: {}",
        check.at,
        btc(check.books),
        btc(check.chain),
        after.frozen_reason.as_deref().unwrap_or("not frozen")
    ));
    w.report.hot_checks.push(check);
    Ok(())
}

/// A 2-of-3 `wsh(sortedmulti)` of three account keys (with origins).
fn two_of_three(keys: &[String], network: Network) -> Result<MultisigWallet, DayError> {
    let k: Vec<String> = keys.iter().map(|x| format!("{x}/<0;1>/*")).collect();
    MultisigWallet::from_descriptor(&format!("wsh(sortedmulti(2,{}))", k.join(",")), network)
        .map_err(step("wallet"))
}

/// A 2-of-3 wallet of the attacker's own keys.
fn attacker_wallet(network: Network) -> Result<MultisigWallet, DayError> {
    let secp = Secp256k1::new();
    let account = KeyPath::bip48(network, 0).map_err(step("bip48 path"))?;
    let keys = (0..3)
        .map(|_| {
            Ok(fresh_keystore()?
                .account_xpub(&secp, network, &account)
                .map_err(step("xpub"))?
                .to_string())
        })
        .collect::<Result<Vec<_>, DayError>>()?;
    two_of_three(&keys, network)
}

/// The rule of the cosigner's refusal (the API's error names it); `None`
/// when it did what it was asked (a failure that is not a refusal ends the
/// day).
fn refusal<T>(r: Result<T, ClientError>) -> Result<Option<String>, DayError> {
    match r {
        Ok(_) => Ok(None),
        Err(e) => match e.rule() {
            Some(rule) => Ok(Some(rule.to_owned())),
            None => Err(step("attack")(e)),
        },
    }
}

/// The thief: the whole backend (the stolen hot key, the client
/// certificate, the backend's files), an address of their own; what they
/// try goes to the report.
struct Thief<'a> {
    backend: &'a mut Backend,
    to: Address,
    report: AttackReport,
    /// The cosigner's host is breached too (defense in depth): its ledger
    /// file, edited directly.
    cosigner_db: Option<PathBuf>,
}

impl Thief<'_> {
    /// Notes one try, in the section of the host it was tried from.
    fn note(&mut self, attack: &str, expected: &'static str, refused: Option<String>) {
        let host = self.cosigner_db.is_some();
        self.report.note(attack, expected, refused, host);
    }

    /// Signs `psbt` with the stolen hot key and asks the cosigner to
    /// cosign it as withdrawal `id`.
    fn cosign(
        &mut self,
        w: &World<'_>,
        what: (&str, &'static str),
        id: &str,
        psbt: Psbt,
    ) -> Result<(), DayError> {
        self.cosign_batch(w, what, &[id], psbt)
    }

    /// Signs `psbt` with the stolen hot key and asks the cosigner to
    /// cosign it as the payout of withdrawals `ids`.
    fn cosign_batch(
        &mut self,
        w: &World<'_>,
        (what, expected): (&str, &'static str),
        ids: &[&str],
        mut psbt: Psbt,
    ) -> Result<(), DayError> {
        w.hot
            .sign(&mut psbt, &self.backend.key)
            .map_err(step("attacker signs"))?;
        let ids: Vec<String> = ids.iter().map(|&i| i.to_owned()).collect();
        let r = refusal(self.backend.cosign_payout(&ids, &psbt))?;
        self.note(what, expected, r);
        Ok(())
    }

    /// The cosigner's ledger file (only with its host breached).
    fn db(&self) -> Result<&Path, DayError> {
        self.cosigner_db
            .as_deref()
            .ok_or_else(|| step("ledger file")("on the cosigner's host"))
    }

    /// Runs one statement on the cosigner's ledger file.
    fn sql(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), DayError> {
        let c = rusqlite::Connection::open(self.db()?).map_err(step("ledger file"))?;
        c.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(step("ledger file"))?;
        c.execute(sql, params).map_err(step("ledger file"))?;
        Ok(())
    }

    /// The asset row's `core` column (clock, window usage, breaker, freeze).
    fn core(&self) -> Result<String, DayError> {
        let c = rusqlite::Connection::open(self.db()?).map_err(step("ledger file"))?;
        c.query_row(
            "SELECT core FROM kinko_asset WHERE asset = ?1",
            [ASSET],
            |r| r.get(0),
        )
        .map_err(step("ledger file"))
    }

    /// Inserts a reserved withdrawal row paying the thief.
    fn insert_reserved(
        &self,
        id: &str,
        asset: &str,
        amount: u64,
        at: Timestamp,
    ) -> Result<(), DayError> {
        let row = Withdrawal {
            user: format!("mule-{id}").parse().map_err(step("ledger file"))?,
            destination: self.to.to_string().parse().map_err(step("ledger file"))?,
            amount: kinko_policy::Amount::from_units(amount),
            requested_at: at,
            status: WithdrawalStatus::Reserved,
            required_approvals: 0,
            approvals: BTreeSet::new(),
        };
        let record = serde_json::to_string(&row).map_err(step("ledger file"))?;
        self.sql(
            "INSERT INTO kinko_withdrawal (id, asset, user_id, status, amount, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                id,
                asset,
                row.user.as_str(),
                WithdrawalStatus::Reserved.name(),
                i64::try_from(amount).unwrap_or(i64::MAX),
                record
            ],
        )
    }

    fn delete_withdrawal(&self, id: &str) -> Result<(), DayError> {
        self.sql("DELETE FROM kinko_withdrawal WHERE id = ?1", [id])
    }

    /// The operator restores what the attacker edited (here: the rows as
    /// they were, which is what the chain replays to) and the service
    /// checks the rows against its chain again (`GET /v1/ready`).
    fn restored(&self) -> Result<(), DayError> {
        self.backend
            .api
            .ready()
            .map_err(step("rows restored from the chain"))?;
        Ok(())
    }
}

/// The attack (step 5): at 20:00 the exchange's hot key is stolen, and the
/// attacker owns the backend host (the hot key, the client certificate,
/// its files, every request it sends). What it tries goes through the
/// cosigner's API. Last, as defense in depth, the cosigner's host is
/// breached too and its ledger file edited.
fn attack(
    w: &mut World<'_>,
    ctx: &Ctx<'_>,
    rng: &mut Rng,
    backend: &mut Backend,
    policy: &kinko_policy::AssetPolicy,
    progress: &mut dyn FnMut(&str),
) -> Result<AttackReport, DayError> {
    let threshold = ctx.cfg.approval_threshold();
    // At the end of the withdrawals: a customer's large withdrawal,
    // approved so far by the risk officer only (its signature went through
    // the backend).
    let late_dest = outside_address("customer", rng.next(), w.network).to_string();
    let late_amount = large_amount(backend, threshold)?;
    backend
        .withdraw("w-late", "user-7", &late_dest, late_amount)
        .map_err(step("withdrawal"))?;
    w.tick(60);
    let risk = approval(w, ctx, "w-late", &late_dest, late_amount).sign(&ctx.people.approvers[0].1);
    backend.approve("w-late", &risk).map_err(step("approval"))?;
    w.report.approvals += 1;
    progress(&format!(
        "  {}: w-late ({}) pending, approved by {} so far",
        w.now(),
        btc(Amount::from_sat(late_amount)),
        APPROVERS[0]
    ));

    w.at_least("2026-01-26T20:00:00Z")?;
    progress(
        "attack: the exchange's hot key is stolen; the attacker owns the backend host (the hot key, \
         the client certificate, its files) and tries to drain through the cosigner's API",
    );
    let state = backend.state()?;
    let (custody, limit) = (state.hot_sat + state.cold_sat, limit_custody(&state));
    let horizon = Duration::from_secs(3600).ok_or_else(|| step("horizon")("out of range"))?;
    let bound = loss_bound(policy, horizon);
    let (bound, rule) = bound.at_custody(kinko_policy::Amount::from_units(limit));
    let mut t = Thief {
        backend,
        to: outside_address("attacker", 1, w.network),
        report: AttackReport {
            custody: Amount::from_sat(custody),
            limit_custody: Amount::from_sat(limit),
            bound: Amount::from_sat(bound.units()),
            bound_rule: rule.unwrap_or("custody").to_owned(),
            horizon: horizon.to_string(),
            started_at: Some(w.now()),
            stolen_over_time: vec![(w.now(), Amount::ZERO)],
            ..Default::default()
        },
        cosigner_db: None,
    };
    let thief = t.to.to_string();

    // 5a. Drain PSBTs, signed with the stolen key, straight to the cosigner.
    // Nine tenths of the largest coins (the rest covers the fee).
    let hot_total: Amount = largest(&w.hot_coins.utxos, 40)
        .iter()
        .map(|u| u.amount)
        .sum();
    let drain = Amount::from_sat(hot_total.to_sat() / 10 * 9);
    let psbt = build(w, &t.to, drain, true)?;
    let what = (
        "drain PSBT for a withdrawal that does not exist",
        "unknown-withdrawal",
    );
    t.cosign(w, what, "w-none", psbt)?;
    let psbt = build(w, &t.to, drain, true)?;
    let what = (
        "drain PSBT as a settled customer withdrawal",
        "not-reserved",
    );
    t.cosign(w, what, "w-00000", psbt)?;

    // 5b. What the backend host's owner can say.
    let r = refusal(
        t.backend
            .report_deposit(WalletName::Cold, 20_000_000 * 100_000_000),
    )?;
    t.note(
        "report a cold deposit of 20,000,000 BTC",
        "unvouched-cold-deposit",
        r,
    );
    let mine = attacker_wallet(w.network)?
        .address(Keychain::Receive, 0)
        .map_err(step("attacker address"))?;
    let mut psbt = build(w, &mine, drain, true)?;
    w.hot
        .sign(&mut psbt, &t.backend.key)
        .map_err(step("attacker signs"))?;
    let r = refusal(t.backend.cosign_sweep(&psbt))?;
    t.note(
        "sweep to the attacker's own descriptor",
        "sweep-not-cold",
        r,
    );
    // The largest amount the policy pays without approvals.
    let big = (limit / 210).min(threshold);
    // A request under the id of the backend's first request (a deposit
    // report), with another body: the id names what it first answered.
    let r = refusal(t.backend.api.request_withdrawal(&WithdrawalRequest {
        request_id: Backend::request_id_of(1),
        id: "x-reused".into(),
        user: "mule-reused".into(),
        destination: thief.clone(),
        amount_sat: big,
    }))?;
    t.note(
        "withdrawal under an answered request id",
        "request-id-reused",
        r,
    );

    // 5c. Requests through the backend: the largest the policy pays without
    // approvals, one a minute for the horizon. What is approved the
    // cosigner must sign (it pays exactly what was approved); each approved
    // one is first tampered with (more, elsewhere; the first also with a
    // lock time, a relative lock, a fee beyond the set-up's, an extra
    // output, itself twice) and, once paid, paid again (by a transaction
    // that conflicts with none of its payout, by a fee bump paying less,
    // in a batch with the next approved one while the first is unmined).
    // A payout is reported confirmed when the next is made (it was mined
    // in between), the last after the horizon.
    let mut unconfirmed: Option<(String, Txid)> = None;
    for n in 0..60u32 {
        w.tick(60);
        t.report.requests += 1;
        let id = format!("x-{n:03}");
        let done = t
            .backend
            .withdraw(&id, &format!("mule-{n}"), &thief, big)
            .map_err(step("attack withdrawal"))?;
        match &done.decision {
            Decision::Approved { .. } => {
                let amount = Amount::from_sat(big);
                let psbt = build(w, &t.to, Amount::from_sat(big / 10 * 11), false)?;
                let what = (
                    "PSBT paying more than an approved withdrawal",
                    "amount-mismatch",
                );
                t.cosign(w, what, &id, psbt)?;
                let other = outside_address("attacker", 2 + u64::from(n), w.network);
                let psbt = build(w, &other, amount, false)?;
                let what = ("PSBT paying it elsewhere", "destination-mismatch");
                t.cosign(w, what, &id, psbt)?;
                let to = t.to.clone();
                if t.report.paid == 0 {
                    tamper_once(w, &mut t, &id, amount)?;
                    let extra = [(id.as_str(), &to), ("x-extra", &other)];
                    let psbt = build_batch_for(w, rng, &extra, amount)?;
                    let what = ("same, with a second output to the attacker", "extra-output");
                    t.cosign(w, what, &id, psbt)?;
                    // The batch's ids must differ; the request names it twice.
                    let twice = [("x-one", &to), ("x-two", &to)];
                    let psbt = build_batch_for(w, rng, &twice, amount)?;
                    let what = (
                        "same, paid twice in a batch naming it twice",
                        "reservation-paid-twice",
                    );
                    t.cosign_batch(w, what, &[&id, &id], psbt)?;
                }
                if let Some((prev, txid)) = unconfirmed.take() {
                    let both = [(prev.as_str(), &to), (id.as_str(), &to)];
                    let psbt = build_batch_for(w, rng, &both, amount)?;
                    let what = (
                        "its unmined payout paid again in a batch with the next",
                        "reservation-spent",
                    );
                    t.cosign_batch(w, what, &[&prev, &id], psbt)?;
                    t.backend.confirm_tx(&txid).map_err(step("confirm"))?;
                }
                let (txid, coins) = pay(w, t.backend, &id, &t.to, big)?;
                t.report.stolen += amount;
                t.report.paid += 1;
                t.report.stolen_over_time.push((w.now(), t.report.stolen));
                let psbt = build(w, &t.to, amount, false)?;
                let what = (
                    "its cosigned reservation paid again from other coins",
                    "replacement-not-conflicting",
                );
                t.cosign(w, what, &id, psbt)?;
                let cheaper = spend_all(w, &coins, &t.to, amount, STUCK_FEE_RATE)?;
                let what = (
                    "a fee bump of its payout paying less",
                    "replacement-fee-not-higher",
                );
                t.cosign(w, what, &id, cheaper)?;
                unconfirmed = Some((id, txid));
            }
            Decision::Denied { rule, .. } => {
                let key = format!("denied by the engine, rule {}", rule.name());
                *t.report.denials.entry(key).or_default() += 1;
            }
            other => {
                *t.report.denials.entry(format!("{other:?}")).or_default() += 1;
            }
        }
        if t.report.breaker_fired_at.is_none() {
            let st = t.backend.state()?;
            if let Some(at) = st.frozen_since {
                t.report.breaker_fired_at = Some(at);
                let why = st.frozen_reason.unwrap_or_default();
                progress(&format!(
                    "  {at}: circuit breaker fired: outflow frozen ({why})"
                ));
            }
        }
    }
    if let Some((_, txid)) = unconfirmed.take() {
        t.backend.confirm_tx(&txid).map_err(step("confirm"))?;
    }
    // 5d. Approvals: the attacker tries to complete w-late's quorum without the
    // compliance officer. A name is not an approval, a signature counts
    // once, and an approval is of the withdrawal it names.
    let stranger = action_key(&fresh_keystore()?, w.network, KeyRole::Person)?;
    let forged = approval(w, ctx, "w-late", &late_dest, late_amount);
    let r = refusal(t.backend.approve("w-late", &forged.sign(&stranger)))?;
    t.note(
        "approval of w-late by a key not in the set-up",
        "unknown-signer",
        r,
    );
    let mut named = forged.sign(&stranger);
    named.signer = ctx.people.approvers[1].1.x_only_public_key().0;
    let r = refusal(t.backend.approve("w-late", &named))?;
    t.note(
        "same, naming the compliance officer's key",
        "bad-signature",
        r,
    );
    let r = refusal(t.backend.approve("w-late", &risk))?;
    t.note(
        "risk officer's approval of w-late sent again",
        "replayed",
        r,
    );
    let r = refusal(t.backend.approve("w-00001", &risk))?;
    t.note(
        "risk officer's approval of w-late relayed for w-00001",
        "object-mismatch",
        r,
    );

    // 5e. Defense in depth: if the cosigner's host were also breached, its
    // ledger file edited. Rows the chain does not replay to are refused,
    // then restored by the operator from the chain.
    t.cosigner_db = Some(ctx.dir.join("ledger.db"));
    t.insert_reserved("xem-00001", "XEM", big, w.now())?;
    let psbt = build(w, &t.to, Amount::from_sat(big), false)?;
    let what = ("inserted XEM reservation row, paid as BTC", "wrong-asset");
    t.cosign(w, what, "xem-00001", psbt)?;
    t.delete_withdrawal("xem-00001")?;
    t.insert_reserved("x-inserted", ASSET, big, w.now())?;
    let psbt = build(w, &t.to, Amount::from_sat(big), false)?;
    let what = (
        "inserted reserved withdrawal row, then cosign",
        "state-mismatch",
    );
    t.cosign(w, what, "x-inserted", psbt)?;
    t.delete_withdrawal("x-inserted")?;
    t.restored()?;
    let core = t.core()?;
    let mut edited: serde_json::Value = serde_json::from_str(&core).map_err(step("ledger file"))?;
    edited["windows"] = serde_json::json!([]);
    t.sql(
        "UPDATE kinko_asset SET core = ?2 WHERE asset = ?1",
        [ASSET, &edited.to_string()],
    )?;
    let r = refusal(t.backend.withdraw("x-reset", "mule-reset", &thief, big))?;
    t.note(
        "velocity window usage row reset, then a request",
        "state-mismatch",
        r,
    );
    t.sql(
        "UPDATE kinko_asset SET core = ?2 WHERE asset = ?1",
        [ASSET, &core],
    )?;
    t.restored()?;
    progress(
        "  with the cosigner's host breached too: rows written into its ledger file were refused \
         (state-mismatch, wrong-asset) and restored from the chain",
    );
    progress(&format!(
        "  attacker got {}; loss bound {}",
        btc(t.report.stolen),
        btc(t.report.bound)
    ));
    t.report.ended_at = Some(w.now());
    Ok(t.report)
}

/// PSBTs that pay an approved withdrawal exactly but for one thing each: a
/// far-future nLockTime, a BIP68 relative lock, a fee above the set-up's
/// limit.
fn tamper_once(w: &World<'_>, t: &mut Thief<'_>, id: &str, amount: Amount) -> Result<(), DayError> {
    let mut psbt = build(w, &t.to, amount, false)?;
    // About a year of blocks after the set-up's chain reference.
    psbt.unsigned_tx.lock_time =
        LockTime::from_height(CHAIN_HEIGHT + 52_560).map_err(step("lock time"))?;
    let what = ("same, with a far-future nLockTime", "non-final-locktime");
    t.cosign(w, what, id, psbt)?;
    let mut psbt = build(w, &t.to, amount, false)?;
    psbt.unsigned_tx.version = Version::TWO;
    psbt.unsigned_tx.input[0].sequence = Sequence::from_height(144);
    let what = (
        "same, with a BIP68 relative lock (144 blocks)",
        "relative-locktime",
    );
    t.cosign(w, what, id, psbt)?;
    // 25 coins at 150 sat/vB: about 0.004 BTC, above the set-up's 0.002.
    let coins = largest(&w.hot_coins.utxos, 25);
    let rate = FeeRate::from_sat_per_kwu(150 * 250);
    let psbt = spend_all(w, &coins, &t.to, amount, rate)?;
    let what = ("same, with a fee above the set-up's limit", "fee-too-high");
    t.cosign(w, what, id, psbt)
}

/// An unsigned hot-wallet PSBT paying `amount` to `dest` (the attacker's
/// builds use every coin when `all`).
fn build(w: &World<'_>, dest: &Address, amount: Amount, all: bool) -> Result<Psbt, DayError> {
    let coins = largest(&w.hot_coins.utxos, if all { 40 } else { 25 });
    let created = create_payment(
        &w.hot,
        &coins,
        dest,
        amount,
        w.hot_coins.next_change,
        false,
        FEE_RATE,
    )
    .map_err(step("create psbt"))?;
    Ok(created.psbt)
}

/// An unsigned hot-wallet PSBT spending every one of `coins` to pay
/// `amount` to `dest` at `rate`, change to the next change index.
fn spend_all(
    w: &World<'_>,
    coins: &[Utxo],
    dest: &Address,
    amount: Amount,
    rate: FeeRate,
) -> Result<Psbt, DayError> {
    let created = create_payment(
        &w.hot,
        coins,
        dest,
        amount,
        w.hot_coins.next_change,
        true,
        rate,
    )
    .map_err(step("create psbt"))?;
    Ok(created.psbt)
}

/// An unsigned hot-wallet batch paying `amount` to each destination of
/// `payouts` (id, destination).
fn build_batch_for(
    w: &World<'_>,
    rng: &mut Rng,
    payouts: &[(&str, &Address)],
    amount: Amount,
) -> Result<Psbt, DayError> {
    let payouts: Vec<Payout> = payouts
        .iter()
        .map(|(id, to)| Payout {
            id: (*id).to_owned(),
            address: to.as_unchecked().clone(),
            amount,
        })
        .collect();
    let coins = largest(&w.hot_coins.utxos, 25);
    Ok(build_payout(w, rng, &coins, &payouts, FEE_RATE)?.psbt)
}

/// An unsigned PSBT of `wallet` spending from `coins` to pay `amount` to
/// `dest` at `fee_rate`, change (if any) to `change_index`.
fn create_payment(
    wallet: &MultisigWallet,
    coins: &[Utxo],
    dest: &Address,
    amount: Amount,
    change_index: u32,
    spend_all: bool,
    fee_rate: FeeRate,
) -> Result<CreatedPsbt, CreateError> {
    wallet.create_psbt(
        coins,
        &CreateParams {
            recipients: vec![(dest.as_unchecked().clone(), amount)],
            fee_rate,
            change_index,
            spend_all,
        },
    )
}

/// The `n` largest coins.
fn largest(utxos: &[Utxo], n: usize) -> Vec<Utxo> {
    let mut v: Vec<&Utxo> = utxos.iter().collect();
    v.sort_by_key(|u| std::cmp::Reverse(u.amount));
    v.into_iter().take(n).cloned().collect()
}

/// Pays an approved withdrawal alone (the attacker's): build, hot key
/// signs, the authority checks and cosigns, finalize, verify, settle; its
/// txid and the coins it spent.
fn pay(
    w: &mut World<'_>,
    backend: &Backend,
    id: &str,
    dest: &Address,
    amount: u64,
) -> Result<(Txid, Vec<Utxo>), DayError> {
    let coins = largest(&w.hot_coins.utxos, 20);
    let (psbt, change) = hot_signed(w, &backend.key, &coins, dest, amount, false)?;
    let (psbt, _) = backend
        .cosign_payout(&[id.to_owned()], &psbt)
        .map_err(step("cosign"))?;
    let tx = finalize_extract(psbt)?;
    settle_transfer(w, &tx, Side::Hot, change, None)?;
    let spent: BTreeSet<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
    let coins = coins
        .into_iter()
        .filter(|c| spent.contains(&c.outpoint))
        .collect();
    Ok((tx.compute_txid(), coins))
}

/// A created PSBT's change output: its position, index and amount
/// ([`CreatedPsbt::change`]).
type Change = Option<(usize, u32, Amount)>;

/// A hot-wallet PSBT from `coins` paying `amount` to `dest`, signed by the
/// exchange's hot key (the cosigner's signature still missing), and its
/// change output.
fn hot_signed(
    w: &World<'_>,
    exchange: &XprvSigner,
    coins: &[Utxo],
    dest: &Address,
    amount: u64,
    spend_all: bool,
) -> Result<(Psbt, Change), DayError> {
    let created = create_payment(
        &w.hot,
        coins,
        dest,
        Amount::from_sat(amount),
        w.hot_coins.next_change,
        spend_all,
        FEE_RATE,
    )
    .map_err(step("create hot psbt"))?;
    let mut psbt = created.psbt;
    w.hot
        .sign(&mut psbt, exchange)
        .map_err(step("hot key signs"))?;
    Ok((psbt, created.change))
}

/// Sweeps `amount` from hot to the cold address the cosigner hands out
/// (`POST /v1/sweeps/address`); the cosigner records the sweep as it
/// cosigns, and books its fee when the backend reports it confirmed.
fn sweep_to_cold(w: &mut World<'_>, backend: &mut Backend, amount: u64) -> Result<(), DayError> {
    let (index, dest) = backend.sweep_address(w.network)?;
    // The oldest coins first (deposits consolidate into cold), enough to
    // cover the sweep; at most 300 inputs keeps the fee within the limit.
    let mut take = Vec::new();
    let mut sum = Amount::ZERO;
    let need = Amount::from_sat(amount) + Amount::from_sat(200_000);
    for c in &w.hot_coins.utxos {
        if sum >= need || take.len() >= 300 {
            break;
        }
        sum += c.amount;
        take.push(c.clone());
    }
    let (psbt, change) = hot_signed(w, &backend.key, &take, &dest, amount, true)?;
    let (psbt, swept) = backend.cosign_sweep(&psbt).map_err(step("cosign sweep"))?;
    let tx = finalize_extract(psbt)?;
    let pay_pos = output_to(&tx, &dest, "sweep")?;
    settle_transfer(
        w,
        &tx,
        Side::Hot,
        change,
        Some((pay_pos, Side::Cold, index)),
    )?;
    // Mined at once; its fee leaves the books when it is reported.
    backend
        .confirm_tx(&tx.compute_txid())
        .map_err(step("confirm sweep"))?;
    w.report.sweeps.0 += 1;
    w.report.sweeps.1 += swept;
    Ok(())
}

/// A cold key holder: a keystore file and its passphrase, used only
/// through `kinko-signer` processes.
struct Holder {
    name: &'static str,
    keystore: PathBuf,
    passphrase: Passphrase,
}

/// The signer's test-only variable lowering the scrypt cost of the
/// keystores it writes.
const INSECURE_SCRYPT: &str = "KINKO_INSECURE_SCRYPT_LOG_N";

/// A `kinko-signer <command> --keystore <the holder's file>` process. The
/// passphrase goes in `KINKO_PASSPHRASE`, the signer's documented channel
/// (a process's environment is readable by its user only, its command line
/// by everyone in /proc). Stdin is empty: the signer never waits on a
/// terminal. A day with a lower scrypt cost than the signer's default tells
/// it so (`init` and `register` write the keystore), through its test-only
/// variable.
fn signer_command(cfg: &DayConfig, holder: &Holder, command: &str) -> Command {
    let mut c = Command::new(&cfg.signer);
    c.args(&cfg.signer_prefix)
        .arg(command)
        .arg("--keystore")
        .arg(&holder.keystore)
        .env("KINKO_PASSPHRASE", holder.passphrase.expose_secret())
        .stdin(Stdio::null());
    if cfg.keystore_work_factor == DEFAULT_WORK_FACTOR {
        c.env_remove(INSECURE_SCRYPT);
    } else {
        c.env(INSECURE_SCRYPT, cfg.keystore_work_factor.to_string());
    }
    c
}

/// Runs a signer process to its end: what it printed, or an error with
/// its exit status (3: refused, naming the rule) and its stderr.
fn run_signer(cmd: &mut Command, what: &'static str) -> Result<String, DayError> {
    let out = cmd.output().map_err(|e| {
        step(what)(format!(
            "cannot run {}: {e}",
            Path::new(cmd.get_program()).display()
        ))
    })?;
    if !out.status.success() {
        return Err(step(what)(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The signer's summary, shortened for the day's progress: the wallet, the
/// number of inputs (not each), every output, the fee, the findings, the
/// decision and what was signed.
fn short_summary(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut section = "";
    for line in text.lines() {
        if !line.starts_with(' ') {
            section = line.split(':').next().unwrap_or_default();
            if !["txid", "total in", "total out", "fee rate"].contains(&section) {
                lines.push(line.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        } else if section.starts_with("outputs") || section.starts_with("findings") {
            // An output is two lines: the address, then amount and kind.
            let item = line.trim();
            match lines.last_mut() {
                Some(last) if line.starts_with("     ") => {
                    last.push_str(", ");
                    last.push_str(item);
                }
                _ => lines.push(format!("  {item}")),
            }
        }
    }
    lines
}

/// Reads a signed PSBT file a signer wrote, at most the decoder's cap.
fn read_psbt(path: &Path) -> Result<Psbt, DayError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PSBT_FILE as u64 + 1).read_to_end(&mut bytes))
        .map_err(|e| step("read signed psbt")(format!("{}: {e}", path.display())))?;
    Ok(decode_psbt(&bytes).map_err(step("read signed psbt"))?.0)
}

/// Refills `amount` from cold to the hot wallet's next receive address.
/// The coordinator writes the unsigned PSBT to a file; the first two
/// holders' `kinko-signer sign` processes each read it, show what it does
/// and write a signed copy; the coordinator reads those, combines,
/// finalizes and extracts.
fn refill_from_cold(
    w: &mut World<'_>,
    ctx: &Ctx<'_>,
    backend: &mut Backend,
    amount: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<(), DayError> {
    let (cfg, dir) = (ctx.cfg, ctx.dir);
    let index = w.hot_coins.next_receive;
    let dest = w
        .hot
        .address(Keychain::Receive, index)
        .map_err(step("hot address"))?;
    let created = create_payment(
        &w.cold,
        &w.cold_coins.utxos,
        &dest,
        Amount::from_sat(amount),
        w.cold_coins.next_change,
        false,
        FEE_RATE,
    )
    .map_err(step("create refill psbt"))?;
    let n = w.report.refills.0 + 1;
    let unsigned = dir.join(format!("refill-{n}.psbt"));
    std::fs::write(&unsigned, encode_psbt(&created.psbt, PsbtEncoding::Base64))
        .map_err(step("write refill psbt"))?;
    progress(&format!(
        "  {}: refill {n} of {} from cold: {} written, signed by two kinko-signer processes",
        w.now(),
        btc(Amount::from_sat(amount)),
        unsigned.display()
    ));
    let mut signed = Vec::new();
    for h in ctx.holders.iter().take(2) {
        let out = dir.join(format!("refill-{n}-{}.psbt", h.name));
        let shown = run_signer(
            signer_command(cfg, h, "sign")
                .arg("--psbt")
                .arg(&unsigned)
                .arg("--out")
                .arg(&out)
                .args(["--yes", "--network", &w.network.to_string()]),
            "kinko-signer sign",
        )?;
        for line in short_summary(&shown) {
            progress(&format!("    {}'s kinko-signer | {line}", h.name));
        }
        signed.push(read_psbt(&out)?);
    }
    let psbt = kinko_wallet::combine(signed).map_err(step("combine"))?;
    let tx = finalize_extract(psbt)?;
    let pay_pos = output_to(&tx, &dest, "refill")?;
    settle_transfer(
        w,
        &tx,
        Side::Cold,
        created.change,
        Some((pay_pos, Side::Hot, index)),
    )?;
    // The backend reports the refill the cold key holders executed.
    backend
        .report_refill(amount)
        .map_err(step("report refill"))?;
    w.report.refills.0 += 1;
    w.report.refills.1 += Amount::from_sat(amount);
    Ok(())
}

/// The position of `tx`'s output paying `dest` (a sweep's or a refill's).
fn output_to(tx: &Transaction, dest: &Address, what: &'static str) -> Result<usize, DayError> {
    tx.output
        .iter()
        .position(|o| o.script_pubkey == dest.script_pubkey())
        .ok_or_else(|| step(what)(format!("no output to {dest}")))
}

/// Settles a signed transfer out of wallet `from`: the payment arrives at
/// `to`'s receive index when it is ours (a sweep, a refill), the change at
/// `from`'s next change index; the indices used move on.
fn settle_transfer(
    w: &mut World<'_>,
    tx: &Transaction,
    from: Side,
    change: Change,
    to: Option<(usize, Side, u32)>,
) -> Result<(), DayError> {
    let mut arrivals = Vec::new();
    if let Some((pos, side, index)) = to {
        arrivals.push((pos, side, Keychain::Receive, index));
        w.coins_mut(side).next_receive += 1;
    }
    if let Some((pos, index, _)) = change {
        arrivals.push((pos, from, Keychain::Change, index));
        w.coins_mut(from).next_change += 1;
    }
    w.settle(tx, &arrivals)
}
