//! An exchange's day, end to end (feature `day`): the key ceremony, thousands
//! of deposits, withdrawals through the policy engine, the ledger and the
//! cosigner, sweeps to cold, a refill from cold, then the theft of the hot
//! key and what the attacker got against the policy's loss bound.
//!
//! [`run`] is what `cargo run --release --example exchange_day` runs (the
//! full day) and what the root package's integration test runs (a shorter
//! day). The library prints nothing: progress goes to a callback and the
//! result is a [`DayReport`] ([`DayReport::table`] renders it).
//!
//! The cold keys are used as on air-gapped machines: each holder's keystore
//! is a file that only `kinko-signer` processes make and open (the caller
//! says where the binary is, [`DayConfig::signer`]). At the key ceremony
//! each signer makes its key, gives its xpub and registers the cold wallet
//! in its keystore; for each refill the coordinator writes the unsigned
//! PSBT to a file, two signer processes each write a signed copy, and the
//! coordinator combines them.
//!
//! Funding transactions of deposits are fabricated (their inputs spend
//! nothing real); every transaction kinko signs spends them or their
//! descendants and is handed to the caller's `verify` function — the example
//! and the test pass Bitcoin Core's script interpreter (libbitcoinconsensus).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, FeeRate, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Txid, Witness,
};
use kinko_keys::keystore::{DEFAULT_WORK_FACTOR, MIN_WORK_FACTOR};
use kinko_keys::{KeyPath, Keystore, Language, Mnemonic, Passphrase, WordCount};
use kinko_ledger::{Committed, Ledger, Policy, Request};
use kinko_policy::{
    loss_bound, Decision, Duration, EventKind, Proposal, Timestamp, Wallet as Side,
};
use kinko_wallet::report::btc;
use kinko_wallet::{
    decode_psbt, encode_psbt, CreateError, CreateParams, CreatedPsbt, Keychain, MultisigWallet,
    PsbtEncoding, Utxo, XprvSigner, MAX_PSBT_FILE,
};

use crate::{CosignError, Cosigner};

/// The asset of the day.
pub const ASSET: &str = "BTC";

/// The day's policy: the `standard` preset's windows and breaker, with a
/// lower sweep target and a higher refill floor so that one day shows both
/// sweeps and refills.
pub const POLICY: &str = r#"
[assets.BTC]
preset = "standard"
hot_cap_share = "10%"
sweep_target = "60%"
refill_floor = "55%"
refill_target = "60%"
[assets.BTC.approvals]
approvers = ["risk-officer", "compliance-officer"]
quorum = 2
"#;

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
    /// The `kinko-signer` binary the cold key holders run.
    pub signer: PathBuf,
}

impl DayConfig {
    /// The full day of the example: 3,000 deposits, 300 withdrawals, the
    /// real keystore work factor (2^18, the signer's default), the cold
    /// keys held through `signer`.
    pub fn full(signer: impl Into<PathBuf>) -> Self {
        DayConfig {
            deposits: 3_000,
            withdrawals: 300,
            keystore_work_factor: DEFAULT_WORK_FACTOR,
            seed: 20_180_126,
            signer: signer.into(),
        }
    }

    /// A short day for CI: 300 deposits, 40 withdrawals, the least work
    /// factor (the signer is told so through its test-only variable).
    pub fn short(signer: impl Into<PathBuf>) -> Self {
        DayConfig {
            deposits: 300,
            withdrawals: 40,
            keystore_work_factor: MIN_WORK_FACTOR,
            seed: 20_180_126,
            signer: signer.into(),
        }
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

/// The attack, in numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttackReport {
    /// Drain PSBTs signed with the stolen hot key and sent to the cosigner.
    pub direct_attempts: u32,
    /// The cosigner's refusals of those, by rule.
    pub cosigner_refusals: BTreeMap<String, u32>,
    /// Withdrawal requests the attacker submitted through the backend.
    pub requests: u32,
    /// The engine's denials of those, by rule.
    pub denials: BTreeMap<String, u32>,
    /// What the attacker received (approved, cosigned, on chain).
    pub stolen: Amount,
    /// The policy's loss bound over the attack's horizon at the custody then.
    pub bound: Amount,
    /// The rule setting the bound.
    pub bound_rule: String,
    /// The attack's horizon.
    pub horizon: String,
    /// Custody when the attack began.
    pub custody: Amount,
    /// When the circuit breaker froze the asset, if it did.
    pub breaker_fired_at: Option<Timestamp>,
    /// When the attack began.
    pub started_at: Option<Timestamp>,
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
    /// Engine decisions on customer requests, by decision or denial rule.
    pub decisions: BTreeMap<String, u32>,
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
    /// Audit records verified (and chains).
    pub audit_records: u64,
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
        row("withdrawal requests", self.requests, None);
        row("withdrawals paid", self.paid.0, Some(self.paid.1));
        for (k, v) in &self.decisions {
            row(&format!("  decision: {k}"), *v, None);
        }
        row("sweeps hot -> cold", self.sweeps.0, Some(self.sweeps.1));
        row("refills cold -> hot", self.refills.0, Some(self.refills.1));
        row(
            "transactions verified by libbitcoinconsensus",
            self.verified.0,
            None,
        );
        let _ = writeln!(s, "{:<44}{:>10}", "  inputs verified", self.verified.1);
        let _ = writeln!(s, "{:<44}{:>10}  {:>36}", "fees paid", "", btc(self.fees));
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
        let a = &self.attack;
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "attack (hot key stolen at {}):",
            a.started_at.map_or("-".into(), |t| t.to_string())
        );
        let _ = writeln!(
            s,
            "  drain PSBTs signed with the stolen key: {}",
            a.direct_attempts
        );
        for (k, v) in &a.cosigner_refusals {
            let _ = writeln!(s, "    refused by the cosigner, rule {k}: {v}");
        }
        let _ = writeln!(
            s,
            "  withdrawal requests through the backend: {}",
            a.requests
        );
        for (k, v) in &a.denials {
            let _ = writeln!(s, "    denied by the engine, rule {k}: {v}");
        }
        let _ = writeln!(
            s,
            "  circuit breaker fired at: {}",
            a.breaker_fired_at.map_or("never".into(), |t| t.to_string())
        );
        let _ = writeln!(
            s,
            "  attacker got: {} ({} of custody {})",
            btc(a.stolen),
            pct(a.stolen, a.custody),
            btc(a.custody)
        );
        let _ = writeln!(
            s,
            "  loss bound over {}: {} ({}, set by {})",
            a.horizon,
            btc(a.bound),
            pct(a.bound, a.custody),
            a.bound_rule
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "audit log: {} records, hash chain verified",
            self.audit_records
        );
        s
    }
}

/// A small deterministic generator (splitmix64): the day's amounts and
/// destinations are the same on every run, so its figures can be compared.
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
    clock: Timestamp,
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
        (self.verify)(tx, &self.txouts).map_err(step("script verification"))?;
        let spent: Vec<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
        let mut fee = Amount::ZERO;
        for op in &spent {
            fee += self.txouts.get(op).map(|o| o.value).unwrap_or_default();
        }
        fee -= tx.output.iter().map(|o| o.value).sum::<Amount>();
        self.report.fees += fee;
        self.report.verified.0 += 1;
        self.report.verified.1 += tx.input.len() as u64;
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
        Ok(())
    }

    fn coins_mut(&mut self, side: Side) -> &mut Coins {
        match side {
            Side::Hot => &mut self.hot_coins,
            Side::Cold => &mut self.cold_coins,
        }
    }

    fn snapshot(&mut self, label: &'static str) {
        self.report.snapshots.push(Snapshot {
            at: self.clock,
            label,
            hot: self.hot_coins.balance(),
            cold: self.cold_coins.balance(),
        });
    }

    fn tick(&mut self, secs: i64) {
        self.clock = Timestamp::from_unix(self.clock.unix() + secs);
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

/// Runs the day in `dir` (keystores and the SQLite ledger go there),
/// reporting progress to `progress` and checking every signed transaction
/// with `verify`.
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
    let exchange_seed = Keystore::new(
        Mnemonic::generate(WordCount::W24, Language::English).map_err(step("mnemonic"))?,
        Passphrase::empty(),
    );
    let cosigner_seed = Keystore::new(
        Mnemonic::generate(WordCount::W24, Language::English).map_err(step("mnemonic"))?,
        Passphrase::empty(),
    );
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
    let cosigner = Cosigner::new(hot.clone(), signer(&cosigner_seed, &account0)?)
        .map_err(step("cosigner"))?
        .with_cold_wallet(cold.clone())
        .map_err(step("cosigner"))?
        // Sweeps consolidate up to 300 deposits: 0.002 BTC at 5 sat/vB.
        .with_fee_limits(Amount::from_sat(200_000), crate::DEFAULT_MAX_FEE_RATE);
    drop(exchange_seed);
    drop(cosigner_seed);
    progress(&format!(
        "  cold wallet {}  {}",
        cold.id(),
        cold.descriptor()
    ));
    progress(&format!("  hot wallet  {}  {}", hot.id(), hot.descriptor()));

    // 2. The ledger.
    let policy = Policy::from_toml_str(POLICY).map_err(step("policy"))?;
    let asset_policy = policy
        .config()
        .asset(ASSET)
        .cloned()
        .ok_or_else(|| step("policy")("no BTC policy"))?;
    let url = format!("sqlite:{}", dir.join("ledger.db").display());
    let mut ledger = Ledger::open(&url)
        .map_err(step("ledger"))?
        .with_policy(policy);

    let mut w = World {
        network,
        report: DayReport {
            descriptors: (hot.descriptor(), cold.descriptor()),
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
        clock: Timestamp::parse_rfc3339("2026-01-26T00:00:00Z").map_err(step("clock"))?,
    };
    let mut funding_n = 0u64;

    // 3. Deposits, 00:00 to 08:00, in blocks of 100; sweeps as proposed.
    progress(&format!(
        "deposits: {} to derived hot addresses, sweeps to cold as the engine proposes",
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
        funding_n += 1;
        let tx = funding_tx(funding_n, outputs);
        let txid = tx.compute_txid();
        let mut reqs = Vec::with_capacity(chunk.len());
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
            reqs.push(Request {
                at: Some(w.clock),
                evidence: None,
                kind: EventKind::Deposit {
                    asset: ASSET.into(),
                    wallet: Side::Hot,
                    amount: v.to_sat(),
                },
            });
            w.report.deposits.0 += 1;
            w.report.deposits.1 += *v;
        }
        let results = ledger.decide_batch(&reqs).map_err(step("deposit"))?;
        let last = results
            .into_iter()
            .last()
            .transpose()
            .map_err(step("deposit"))?;
        let sweep = last.and_then(|c| {
            c.outcome.proposals.iter().find_map(|p| match p {
                Proposal::Sweep { amount, .. } => Some(*amount),
                _ => None,
            })
        });
        if let Some(amount) = sweep {
            sweep_to_cold(&mut w, &exchange_signer, &cosigner, &mut ledger, amount)?;
        }
        progress(&format!(
            "  {:>5} deposits  hot {}  cold {}  sweeps {}",
            w.report.deposits.0,
            btc(w.hot_coins.balance()),
            btc(w.cold_coins.balance()),
            w.report.sweeps.0
        ));
    }
    w.snapshot("deposits and sweeps");

    // 4. Withdrawals, 08:00 to 20:00.
    progress(&format!(
        "withdrawals: {} requests through engine, ledger and cosigner",
        cfg.withdrawals
    ));
    let start = Timestamp::parse_rfc3339("2026-01-26T08:00:00Z").map_err(step("clock"))?;
    if w.clock < start {
        w.clock = start;
    }
    let custody = w.report.deposits.1;
    let gap = i64::from((12 * 3600) / cfg.withdrawals.max(1)).max(1);
    // The day's customer withdrawals total about 4% of custody (under the
    // 24h window's 5%); every 25th asks for more than the per-withdrawal
    // maximum (0.5% of custody) and is denied.
    let mean = custody.to_sat() / 25 / u64::from(cfg.withdrawals.max(1));
    for n in 0..cfg.withdrawals {
        w.tick(gap);
        let amount = if n % 25 == 24 {
            custody.to_sat() / 150
        } else {
            rng.range(mean / 2, mean * 3 / 2).max(10_000)
        };
        let id = format!("w-{n:05}");
        let dest = outside_address("customer", rng.next(), network);
        w.report.requests += 1;
        let done = ledger
            .decide_at(
                w.clock,
                EventKind::Withdrawal {
                    id: id.clone(),
                    user: format!("user-{}", rng.range(1, 500)),
                    asset: ASSET.into(),
                    destination: dest.to_string(),
                    amount,
                },
            )
            .map_err(step("withdrawal"))?;
        let key = match &done.outcome.decision {
            Decision::Approved { .. } => "approved".to_owned(),
            Decision::Denied { rule, .. } => format!("denied {}", rule.name()),
            Decision::Pending { .. } => "pending".to_owned(),
            Decision::Duplicate { .. } => "duplicate".to_owned(),
            _ => "other".to_owned(),
        };
        *w.report.decisions.entry(key).or_default() += 1;
        if matches!(done.outcome.decision, Decision::Approved { .. }) {
            pay(
                &mut w,
                &exchange_signer,
                &cosigner,
                &mut ledger,
                &id,
                &dest,
                amount,
            )?;
            w.report.paid.0 += 1;
            w.report.paid.1 += Amount::from_sat(amount);
            let c = confirm(&mut ledger, w.clock, &id)?;
            let refill = c.outcome.proposals.iter().find_map(|p| match p {
                Proposal::Refill { amount, .. } => Some(*amount),
                _ => None,
            });
            if let Some(amount) = refill {
                refill_from_cold(&mut w, cfg, dir, &holders, &mut ledger, amount, progress)?;
            }
        }
        if (n + 1) % 50 == 0 || n + 1 == cfg.withdrawals {
            progress(&format!(
                "  {:>5} requests  paid {}  hot {}  cold {}  refills {}",
                n + 1,
                w.report.paid.0,
                btc(w.hot_coins.balance()),
                btc(w.cold_coins.balance()),
                w.report.refills.0
            ));
        }
    }
    w.snapshot("withdrawals and refills");

    // 5. The attack: at 20:00 the exchange's hot key is stolen, with access
    // to the backend that submits withdrawal requests.
    let attack_at = Timestamp::parse_rfc3339("2026-01-26T20:00:00Z").map_err(step("clock"))?;
    if w.clock < attack_at {
        w.clock = attack_at;
    }
    progress("attack: the exchange's hot key is stolen; the attacker tries to drain");
    let state = ledger
        .asset_state(ASSET)
        .map_err(step("ledger"))?
        .ok_or_else(|| step("ledger")("no BTC state"))?;
    let custody_now = Amount::from_sat(state.hot.saturating_add(state.cold));
    let horizon = Duration::from_secs(3600).ok_or_else(|| step("horizon")("out of range"))?;
    let bound = loss_bound(&asset_policy, horizon);
    let (bound_amount, bound_rule) = bound.at_custody(custody_now.to_sat());
    let mut attack = AttackReport {
        custody: custody_now,
        bound: Amount::from_sat(bound_amount),
        bound_rule: bound_rule.unwrap_or("custody").to_owned(),
        horizon: horizon.to_string(),
        started_at: Some(w.clock),
        ..Default::default()
    };
    let thief = outside_address("attacker", 1, network);
    let attempt =
        |w: &World<'_>, ledger: &mut Ledger, attack: &mut AttackReport, id: &str, psbt| {
            attacker_tries(w, &exchange_signer, &cosigner, ledger, attack, id, psbt)
        };

    // 5a. Drain PSBTs, signed with the stolen key, straight to the cosigner.
    // Nine tenths of the largest coins (the rest covers the fee).
    let hot_total: Amount = largest(&w.hot_coins.utxos, 40)
        .iter()
        .map(|u| u.amount)
        .sum();
    let drain = Amount::from_sat(hot_total.to_sat() / 10 * 9);
    // No withdrawal at all, then the id of a settled customer withdrawal.
    let tries: Vec<(String, Psbt)> = vec![
        ("w-none".into(), build(&w, &thief, drain, true)?),
        ("w-00000".into(), build(&w, &thief, drain, true)?),
    ];
    for (id, psbt) in tries {
        attempt(&w, &mut ledger, &mut attack, &id, psbt)?;
    }

    // 5b. Requests through the backend: the largest the policy allows, one a
    // minute for the horizon. What is approved the cosigner must sign (it
    // pays exactly what was approved); each approved one is then tampered
    // with once (more, elsewhere) before the honest payment goes through.
    // Just under the per-withdrawal maximum (0.5% of custody, which the
    // thefts themselves lower).
    let big = custody_now.to_sat() / 210;
    for n in 0..60u32 {
        w.tick(60);
        attack.requests += 1;
        let id = format!("x-{n:03}");
        let done = ledger
            .decide_at(
                w.clock,
                EventKind::Withdrawal {
                    id: id.clone(),
                    user: format!("mule-{n}"),
                    asset: ASSET.into(),
                    destination: thief.to_string(),
                    amount: big,
                },
            )
            .map_err(step("attack withdrawal"))?;
        match &done.outcome.decision {
            Decision::Approved { .. } => {
                // Tamper first: a larger amount, then another destination.
                let more = Amount::from_sat(big / 10 * 11);
                let other = outside_address("attacker", 2 + u64::from(n), network);
                for (dest, amt) in [(&thief, more), (&other, Amount::from_sat(big))] {
                    let psbt = build(&w, dest, amt, false)?;
                    attempt(&w, &mut ledger, &mut attack, &id, psbt)?;
                }
                pay(
                    &mut w,
                    &exchange_signer,
                    &cosigner,
                    &mut ledger,
                    &id,
                    &thief,
                    big,
                )?;
                attack.stolen += Amount::from_sat(big);
                // Reuse the reservation, now spent, for a second payment.
                let psbt = build(&w, &thief, Amount::from_sat(big), false)?;
                attempt(&w, &mut ledger, &mut attack, &id, psbt)?;
                confirm(&mut ledger, w.clock, &id)?;
            }
            Decision::Denied { rule, .. } => {
                *attack.denials.entry(rule.name().to_owned()).or_default() += 1;
            }
            other => {
                *attack.denials.entry(format!("{other:?}")).or_default() += 1;
            }
        }
        if attack.breaker_fired_at.is_none() {
            let s = ledger
                .asset_state(ASSET)
                .map_err(step("ledger"))?
                .ok_or_else(|| step("ledger")("no BTC state"))?;
            if let Some(f) = s.freeze {
                attack.breaker_fired_at = Some(f.at);
                progress(&format!("  {}: circuit breaker fired: {}", f.at, f.reason));
            }
        }
    }
    progress(&format!(
        "  attacker got {}; loss bound {}",
        btc(attack.stolen),
        btc(attack.bound)
    ));
    w.report.attack = attack;
    w.snapshot("the attack");

    // 6. The audit log.
    let summary = ledger.verify_audit().map_err(step("audit verify"))?;
    w.report.audit_records = summary.records;
    progress(&format!(
        "audit log verified: {} records in {} chain(s)",
        summary.records, summary.chains
    ));
    Ok(w.report)
}

/// An unsigned hot-wallet PSBT paying `amount` to `dest` (the attacker's
/// builds use every coin when `all`).
fn build(w: &World<'_>, dest: &Address, amount: Amount, all: bool) -> Result<Psbt, DayError> {
    let coins = largest(&w.hot_coins.utxos, if all { 40 } else { 25 });
    let created = create_payment(&w.hot, &coins, dest, amount, w.hot_coins.next_change, false)
        .map_err(step("create psbt"))?;
    Ok(created.psbt)
}

/// An unsigned PSBT of `wallet` spending from `coins` to pay `amount` to
/// `dest` at the day's fee rate, change (if any) to `change_index`.
fn create_payment(
    wallet: &MultisigWallet,
    coins: &[Utxo],
    dest: &Address,
    amount: Amount,
    change_index: u32,
    spend_all: bool,
) -> Result<CreatedPsbt, CreateError> {
    wallet.create_psbt(
        coins,
        &CreateParams {
            recipients: vec![(dest.as_unchecked().clone(), amount)],
            fee_rate: FEE_RATE,
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

/// The attacker signs `psbt` with the stolen hot key and asks the cosigner
/// to cosign it as withdrawal `id`: the refusal is counted by its rule; a
/// signature ends the day with an error.
fn attacker_tries(
    w: &World<'_>,
    exchange: &XprvSigner,
    cosigner: &Cosigner<XprvSigner>,
    ledger: &mut Ledger,
    attack: &mut AttackReport,
    id: &str,
    mut psbt: Psbt,
) -> Result<(), DayError> {
    attack.direct_attempts += 1;
    w.hot
        .sign(&mut psbt, exchange)
        .map_err(step("attacker signs"))?;
    match cosigner.cosign_withdrawal(ledger, id, &mut psbt, Some(w.clock)) {
        Err(CosignError::Refused(r)) => {
            *attack
                .cosigner_refusals
                .entry(r.rule.as_str().to_owned())
                .or_default() += 1;
            Ok(())
        }
        Err(e) => Err(step("cosign")(e)),
        Ok(_) => Err(step("attack")(format!(
            "the cosigner signed the attacker's psbt for {id}"
        ))),
    }
}

/// Records withdrawal `id` as confirmed on chain; the engine may propose a
/// refill.
fn confirm(ledger: &mut Ledger, at: Timestamp, id: &str) -> Result<Committed, DayError> {
    ledger
        .decide_at(
            at,
            EventKind::Confirmed {
                asset: ASSET.into(),
                id: id.to_owned(),
            },
        )
        .map_err(step("confirm"))
}

/// Pays an approved withdrawal: build, hot key signs, cosigner checks and
/// signs, finalize, verify, settle.
fn pay(
    w: &mut World<'_>,
    exchange: &XprvSigner,
    cosigner: &Cosigner<XprvSigner>,
    ledger: &mut Ledger,
    id: &str,
    dest: &Address,
    amount: u64,
) -> Result<(), DayError> {
    let coins = largest(&w.hot_coins.utxos, 20);
    let (mut psbt, change) = hot_signed(w, exchange, &coins, dest, amount, false)?;
    cosigner
        .cosign_withdrawal(ledger, id, &mut psbt, Some(w.clock))
        .map_err(step("cosign"))?;
    let tx = finalize_extract(psbt)?;
    settle_transfer(w, &tx, Side::Hot, change, None)
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
    )
    .map_err(step("create hot psbt"))?;
    let mut psbt = created.psbt;
    w.hot
        .sign(&mut psbt, exchange)
        .map_err(step("hot key signs"))?;
    Ok((psbt, created.change))
}

/// Sweeps `amount` from hot to the cold wallet's next receive address.
fn sweep_to_cold(
    w: &mut World<'_>,
    exchange: &XprvSigner,
    cosigner: &Cosigner<XprvSigner>,
    ledger: &mut Ledger,
    amount: u64,
) -> Result<(), DayError> {
    let index = w.cold_coins.next_receive;
    let dest = w
        .cold
        .address(Keychain::Receive, index)
        .map_err(step("cold address"))?;
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
    let (mut psbt, change) = hot_signed(w, exchange, &take, &dest, amount, true)?;
    let done = cosigner
        .cosign_sweep(&mut psbt, index)
        .map_err(step("cosign sweep"))?;
    let tx = finalize_extract(psbt)?;
    let to_cold = (done.payment.payment_output, Side::Cold, index);
    settle_transfer(w, &tx, Side::Hot, change, Some(to_cold))?;
    record_transfer(w, ledger, Side::Cold, amount)
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
    c.arg(command)
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
    cfg: &DayConfig,
    dir: &Path,
    holders: &[Holder],
    ledger: &mut Ledger,
    amount: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<(), DayError> {
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
    )
    .map_err(step("create refill psbt"))?;
    let n = w.report.refills.0 + 1;
    let unsigned = dir.join(format!("refill-{n}.psbt"));
    std::fs::write(&unsigned, encode_psbt(&created.psbt, PsbtEncoding::Base64))
        .map_err(step("write refill psbt"))?;
    progress(&format!(
        "  {}: refill {n} of {} from cold: {} written, signed by two kinko-signer processes",
        w.clock,
        btc(Amount::from_sat(amount)),
        unsigned.display()
    ));
    let mut signed = Vec::new();
    for h in holders.iter().take(2) {
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
    let pay_pos = tx
        .output
        .iter()
        .position(|o| o.script_pubkey == dest.script_pubkey())
        .ok_or_else(|| step("refill")("no output to hot"))?;
    settle_transfer(
        w,
        &tx,
        Side::Cold,
        created.change,
        Some((pay_pos, Side::Hot, index)),
    )?;
    record_transfer(w, ledger, Side::Hot, amount)
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

/// Records a sweep (to cold) or a refill (to hot) of `amount` in the ledger
/// and the report.
fn record_transfer(
    w: &mut World<'_>,
    ledger: &mut Ledger,
    to: Side,
    amount: u64,
) -> Result<(), DayError> {
    let asset = ASSET.to_owned();
    let (event, tally) = match to {
        Side::Cold => (EventKind::Sweep { asset, amount }, &mut w.report.sweeps),
        Side::Hot => (EventKind::Refill { asset, amount }, &mut w.report.refills),
    };
    ledger
        .decide_at(w.clock, event)
        .map_err(step("record transfer"))?;
    tally.0 += 1;
    tally.1 += Amount::from_sat(amount);
    Ok(())
}
