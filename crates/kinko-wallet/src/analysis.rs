//! One analysis of a PSBT against a wallet: the facts every signer and the
//! policy cosigner decide from.
//!
//! Nothing in the PSBT is trusted: amounts come from the full previous
//! transactions (checked against the outpoints), inputs and change are ours
//! only when the wallet derives their scripts itself at the claimed
//! keychain and index.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bitcoin::bip32::{DerivationPath, Fingerprint};
use bitcoin::psbt::Psbt;
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::{
    Address, Amount, FeeRate, Network, NetworkKind, OutPoint, ScriptBuf, TxOut, Txid, Weight,
};
use serde::{Serialize, Serializer};

use crate::wallet::{Keychain, MultisigWallet, PathProblem};

/// Default fee limit: 0.01 BTC. A signer refuses a larger fee unless its
/// operator raises the limit (`--max-fee`).
pub const DEFAULT_MAX_FEE: Amount = Amount::from_sat(1_000_000);

/// Default fee rate limit: 1,000 sat/vB (the most `create_psbt` accepts).
pub const DEFAULT_MAX_FEE_RATE: FeeRate = crate::create::MAX_FEE_RATE;

/// Limits and context of an analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// A fee above this is refused.
    pub max_fee: Amount,
    /// A fee rate above this is refused.
    pub max_fee_rate: FeeRate,
    /// The network of the signer's own keys, when there is one: a wallet of
    /// another network is refused.
    pub expected_network: Option<Network>,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            max_fee: DEFAULT_MAX_FEE,
            max_fee_rate: DEFAULT_MAX_FEE_RATE,
            expected_network: None,
        }
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// For information.
    Info,
    /// Worth a look; does not stop signing.
    Warning,
    /// A signer must refuse.
    Refuse,
}

impl Severity {
    /// `info`, `warning` or `refuse`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Refuse => "refuse",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule behind a finding. Names ([`Rule::as_str`]) are stable: scripts,
/// tests and audit logs match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// An input has no full previous transaction (`prev-tx-missing`).
    PrevTxMissing,
    /// The previous transaction's txid is not the outpoint's (`prev-tx-mismatch`).
    PrevTxMismatch,
    /// The outpoint's index is beyond the previous transaction's outputs (`prev-out-index`).
    PrevOutIndex,
    /// `witness_utxo` disagrees with the previous transaction (`witness-utxo-mismatch`):
    /// the segwit fee attack, CVE-2020-14199.
    WitnessUtxoMismatch,
    /// An input asks for a sighash type other than ALL (`sighash-not-all`).
    SighashNotAll,
    /// The same outpoint is spent twice (`duplicate-input`).
    DuplicateInput,
    /// An input does not belong to the wallet (`input-not-ours`).
    InputNotOurs,
    /// An input claims a wallet derivation, but its script is not the
    /// wallet's script there (`witness-script-mismatch`).
    WitnessScriptMismatch,
    /// An output claims our keys but does not derive from the wallet (`change-fraud`).
    ChangeFraud,
    /// An output claims change on an unusual path: a hardened step, the
    /// receive keychain or an unknown branch (`change-unusual-path`).
    ChangeUnusualPath,
    /// The fee is above the limit (`fee-too-high`).
    FeeTooHigh,
    /// The fee rate is above the limit (`fee-rate-too-high`).
    FeeRateTooHigh,
    /// The outputs are worth more than the inputs, or amounts overflow (`negative-fee`).
    NegativeFee,
    /// The wallet's network is not the expected one, or a global xpub is of
    /// another network (`network-mismatch`).
    NetworkMismatch,
    /// No inputs or no outputs (`empty-transaction`).
    EmptyTransaction,
    /// An output below the dust limit (`dust-output`).
    DustOutput,
    /// An input is already finalized (`input-finalized`).
    InputFinalized,
    /// A global xpub with our origin but another key (`global-xpub-mismatch`).
    GlobalXpubMismatch,
}

impl Rule {
    /// The stable name of the rule (kebab case).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::PrevTxMissing => "prev-tx-missing",
            Rule::PrevTxMismatch => "prev-tx-mismatch",
            Rule::PrevOutIndex => "prev-out-index",
            Rule::WitnessUtxoMismatch => "witness-utxo-mismatch",
            Rule::SighashNotAll => "sighash-not-all",
            Rule::DuplicateInput => "duplicate-input",
            Rule::InputNotOurs => "input-not-ours",
            Rule::WitnessScriptMismatch => "witness-script-mismatch",
            Rule::ChangeFraud => "change-fraud",
            Rule::ChangeUnusualPath => "change-unusual-path",
            Rule::FeeTooHigh => "fee-too-high",
            Rule::FeeRateTooHigh => "fee-rate-too-high",
            Rule::NegativeFee => "negative-fee",
            Rule::NetworkMismatch => "network-mismatch",
            Rule::EmptyTransaction => "empty-transaction",
            Rule::DustOutput => "dust-output",
            Rule::InputFinalized => "input-finalized",
            Rule::GlobalXpubMismatch => "global-xpub-mismatch",
        }
    }

    /// The severity this rule always has.
    pub fn severity(self) -> Severity {
        match self {
            Rule::DustOutput | Rule::GlobalXpubMismatch => Severity::Warning,
            Rule::InputFinalized => Severity::Info,
            _ => Severity::Refuse,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing the analysis found. Its JSON is `{"rule", "severity", "input",
/// "output", "detail"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule that raised it.
    #[serde(rename = "rule")]
    pub rule: Rule,
    /// How serious it is (always `rule.severity()`).
    #[serde(rename = "severity")]
    pub severity: Severity,
    /// The input concerned, if any.
    #[serde(rename = "input")]
    pub input: Option<usize>,
    /// The output concerned, if any.
    #[serde(rename = "output")]
    pub output: Option<usize>,
    /// For people.
    #[serde(rename = "detail")]
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.severity, self.rule)?;
        if let Some(i) = self.input {
            write!(f, " input {i}")?;
        }
        if let Some(o) = self.output {
            write!(f, " output {o}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// What an input is. Its JSON: `{"outpoint", "amount_sat", "ours",
/// "keychain", "index", "signatures", "needed", "finalized"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputAnalysis {
    /// The coin spent.
    pub outpoint: OutPoint,
    /// Where it sits in the wallet, when the wallet derives its script there.
    pub ours: Option<(Keychain, u32)>,
    /// Its amount, from the checked previous transaction (or, failing that,
    /// from `witness_utxo`, with a finding).
    pub amount: Option<Amount>,
    /// Signatures present from the wallet's keys (all of them once finalized).
    pub signatures: usize,
    /// Signatures needed (the threshold; 0 when not ours).
    pub needed: usize,
    /// Already finalized.
    pub finalized: bool,
}

/// What an output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Not ours (as far as the PSBT claims): money leaving the wallet.
    External,
    /// Our change, verified by deriving it.
    Change {
        /// Always [`Keychain::Change`].
        keychain: Keychain,
        /// The change index.
        index: u32,
    },
    /// Claims to be ours but is not (see the finding).
    Suspicious {
        /// [`Rule::ChangeFraud`] or [`Rule::ChangeUnusualPath`].
        rule: Rule,
    },
}

/// One output. Its JSON: `{"address", "script_pubkey", "amount_sat", "kind",
/// "keychain", "index", "rule"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputAnalysis {
    /// Its address, when the script has one on the wallet's network.
    pub address: Option<Address>,
    /// Its script.
    pub script_pubkey: ScriptBuf,
    /// Its amount.
    pub amount: Amount,
    /// What it is.
    pub kind: OutputKind,
}

/// Everything a signer needs to decide about a PSBT. Serializes to the one
/// JSON form both binaries print (docs/psbt.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsbtAnalysis {
    /// The id of the wallet analysed against ([`MultisigWallet::id`]).
    pub wallet_id: String,
    /// The wallet's network.
    pub network: Network,
    /// The unsigned transaction's txid.
    pub txid: Txid,
    /// Per input.
    pub inputs: Vec<InputAnalysis>,
    /// Per output.
    pub outputs: Vec<OutputAnalysis>,
    /// Sum of the inputs, when every amount is known.
    pub total_in: Option<Amount>,
    /// Sum of the outputs (`None` on overflow).
    pub total_out: Option<Amount>,
    /// Fee, when the inputs are known and cover the outputs.
    pub fee: Option<Amount>,
    /// Estimated weight of the signed transaction, when every input is ours
    /// or final (signatures counted at their 72-byte maximum).
    pub estimated_weight: Option<Weight>,
    /// Fee rate over the estimated weight.
    pub fee_rate: Option<FeeRate>,
    /// What the analysis found, in input then output order.
    pub findings: Vec<Finding>,
}

impl PsbtAnalysis {
    /// Findings a signer must refuse on.
    pub fn refusals(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Refuse)
    }

    /// The first finding a signer must refuse on, if any.
    pub fn first_refusal(&self) -> Option<&Finding> {
        self.refusals().next()
    }

    /// Whether no finding calls for a refusal.
    pub fn is_safe_to_sign(&self) -> bool {
        self.first_refusal().is_none()
    }

    /// Whether any finding has this rule.
    pub fn has(&self, rule: Rule) -> bool {
        self.findings.iter().any(|f| f.rule == rule)
    }

    /// Outputs leaving the wallet: `(position, script, amount)`.
    pub fn external_outputs(&self) -> impl Iterator<Item = (usize, &ScriptBuf, Amount)> {
        self.outputs
            .iter()
            .enumerate()
            .filter(|(_, o)| o.kind == OutputKind::External)
            .map(|(i, o)| (i, &o.script_pubkey, o.amount))
    }

    /// Sum of the verified change outputs.
    pub fn change_total(&self) -> Amount {
        self.outputs
            .iter()
            .filter(|o| matches!(o.kind, OutputKind::Change { .. }))
            .map(|o| o.amount)
            .fold(Amount::ZERO, |a, b| a.checked_add(b).unwrap_or(Amount::MAX))
    }

    /// Whether every input of the wallet has enough signatures.
    pub fn is_complete(&self) -> bool {
        self.inputs
            .iter()
            .all(|i| i.finalized || (i.needed > 0 && i.signatures >= i.needed))
    }
}

// ----- JSON: one form for every binary (docs/psbt.md, "The analysis as JSON") -----
// Every JSON name is spelled out: renaming a Rust field must not rename what
// scripts read.

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The stable name ([`Rule::as_str`]).
impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn sat(a: Option<Amount>) -> Option<u64> {
    a.map(Amount::to_sat)
}

/// An input in JSON: where it sits in the wallet is flat (`keychain`,
/// `index`, null when not ours).
#[derive(Serialize)]
struct InputJson {
    #[serde(rename = "outpoint")]
    outpoint: String,
    #[serde(rename = "amount_sat")]
    amount_sat: Option<u64>,
    #[serde(rename = "ours")]
    ours: bool,
    #[serde(rename = "keychain")]
    keychain: Option<&'static str>,
    #[serde(rename = "index")]
    index: Option<u32>,
    #[serde(rename = "signatures")]
    signatures: usize,
    #[serde(rename = "needed")]
    needed: usize,
    #[serde(rename = "finalized")]
    finalized: bool,
}

impl Serialize for InputAnalysis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        InputJson {
            outpoint: self.outpoint.to_string(),
            amount_sat: sat(self.amount),
            ours: self.ours.is_some(),
            keychain: self.ours.map(|(k, _)| k.as_str()),
            index: self.ours.map(|(_, i)| i),
            signatures: self.signatures,
            needed: self.needed,
            finalized: self.finalized,
        }
        .serialize(s)
    }
}

/// An output in JSON: its [`OutputKind`] is flat (`kind`; `keychain` and
/// `index` for change, `rule` for a suspicious one, else null).
#[derive(Serialize)]
struct OutputJson {
    #[serde(rename = "address")]
    address: Option<String>,
    #[serde(rename = "script_pubkey")]
    script_pubkey: String,
    #[serde(rename = "amount_sat")]
    amount_sat: u64,
    #[serde(rename = "kind")]
    kind: &'static str,
    #[serde(rename = "keychain")]
    keychain: Option<&'static str>,
    #[serde(rename = "index")]
    index: Option<u32>,
    #[serde(rename = "rule")]
    rule: Option<Rule>,
}

impl Serialize for OutputAnalysis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (kind, keychain, index, rule) = match self.kind {
            OutputKind::External => ("external", None, None, None),
            OutputKind::Change { keychain, index } => {
                ("change", Some(keychain.as_str()), Some(index), None)
            }
            OutputKind::Suspicious { rule } => ("suspicious", None, None, Some(rule)),
        };
        OutputJson {
            address: self.address.as_ref().map(ToString::to_string),
            script_pubkey: self.script_pubkey.to_hex_string(),
            amount_sat: self.amount.to_sat(),
            kind,
            keychain,
            index,
            rule,
        }
        .serialize(s)
    }
}

/// The analysis in JSON: amounts in whole satoshis (`*_sat`), the fee rate
/// in sat/kwu, the weight as virtual bytes, and the two verdicts
/// ([`PsbtAnalysis::is_complete`], [`PsbtAnalysis::is_safe_to_sign`]).
#[derive(Serialize)]
struct AnalysisJson<'a> {
    #[serde(rename = "wallet_id")]
    wallet_id: &'a str,
    #[serde(rename = "network")]
    network: String,
    #[serde(rename = "txid")]
    txid: String,
    #[serde(rename = "inputs")]
    inputs: &'a [InputAnalysis],
    #[serde(rename = "outputs")]
    outputs: &'a [OutputAnalysis],
    #[serde(rename = "total_in_sat")]
    total_in_sat: Option<u64>,
    #[serde(rename = "total_out_sat")]
    total_out_sat: Option<u64>,
    #[serde(rename = "fee_sat")]
    fee_sat: Option<u64>,
    #[serde(rename = "fee_rate_sat_per_kwu")]
    fee_rate_sat_per_kwu: Option<u64>,
    #[serde(rename = "estimated_vsize")]
    estimated_vsize: Option<u64>,
    #[serde(rename = "complete")]
    complete: bool,
    #[serde(rename = "safe_to_sign")]
    safe_to_sign: bool,
    #[serde(rename = "findings")]
    findings: &'a [Finding],
}

/// The one JSON form of an analysis (docs/psbt.md).
impl Serialize for PsbtAnalysis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        AnalysisJson {
            wallet_id: &self.wallet_id,
            network: self.network.to_string(),
            txid: self.txid.to_string(),
            inputs: &self.inputs,
            outputs: &self.outputs,
            total_in_sat: sat(self.total_in),
            total_out_sat: sat(self.total_out),
            fee_sat: sat(self.fee),
            fee_rate_sat_per_kwu: self.fee_rate.map(FeeRate::to_sat_per_kwu),
            estimated_vsize: self.estimated_weight.map(Weight::to_vbytes_ceil),
            complete: self.is_complete(),
            safe_to_sign: self.is_safe_to_sign(),
            findings: &self.findings,
        }
        .serialize(s)
    }
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, rule: Rule, input: Option<usize>, output: Option<usize>, detail: String) {
        self.0.push(Finding {
            rule,
            severity: rule.severity(),
            input,
            output,
            detail,
        });
    }
}

impl MultisigWallet {
    /// Analyses `psbt` against this wallet. Never fails: every problem is a
    /// [`Finding`], and a signer refuses when any has [`Severity::Refuse`].
    pub fn analyze(&self, psbt: &Psbt, opts: &AnalysisOptions) -> PsbtAnalysis {
        let mut f = Findings(Vec::new());
        let tx = &psbt.unsigned_tx;
        let network = self.network();

        if let Some(expected) = opts.expected_network {
            if expected != network {
                f.add(
                    Rule::NetworkMismatch,
                    None,
                    None,
                    format!("wallet is for {network}, keys are for {expected}"),
                );
            }
        }
        for (xpub, (fp, path)) in &psbt.xpub {
            if xpub.network != NetworkKind::from(network) {
                f.add(
                    Rule::NetworkMismatch,
                    None,
                    None,
                    format!("global xpub {fp} is not for {network}"),
                );
            } else if self
                .keys()
                .iter()
                .any(|k| k.fingerprint == *fp && &k.origin_path == path && k.xpub != *xpub)
            {
                f.add(
                    Rule::GlobalXpubMismatch,
                    None,
                    None,
                    format!("global xpub at our origin [{fp}] differs from the wallet's"),
                );
            }
        }
        if tx.input.is_empty() || tx.output.is_empty() {
            f.add(
                Rule::EmptyTransaction,
                None,
                None,
                "transaction has no inputs or no outputs".into(),
            );
        }

        let mut seen = BTreeSet::new();
        let mut inputs = Vec::with_capacity(tx.input.len());
        let mut weight_known = true;
        let mut witness_weight: u64 = 0;
        for (i, (txin, input)) in tx.input.iter().zip(&psbt.inputs).enumerate() {
            let outpoint = txin.previous_output;
            if !seen.insert(outpoint) {
                f.add(
                    Rule::DuplicateInput,
                    Some(i),
                    None,
                    format!("{outpoint} is spent twice"),
                );
            }
            if let Some(t) = input.sighash_type {
                if t.ecdsa_hash_ty() != Ok(EcdsaSighashType::All) {
                    f.add(
                        Rule::SighashNotAll,
                        Some(i),
                        None,
                        format!("asks for sighash {t}"),
                    );
                }
            }
            let finalized =
                input.final_script_witness.is_some() || input.final_script_sig.is_some();
            if finalized {
                f.add(
                    Rule::InputFinalized,
                    Some(i),
                    None,
                    "already finalized".into(),
                );
            }

            // The spent output, from the checked previous transaction.
            let mut spent: Option<TxOut> = None;
            match &input.non_witness_utxo {
                None => {
                    f.add(
                        Rule::PrevTxMissing,
                        Some(i),
                        None,
                        "no full previous transaction; its amount cannot be checked".into(),
                    );
                    spent = input.witness_utxo.clone();
                }
                Some(prev) if prev.compute_txid() != outpoint.txid => f.add(
                    Rule::PrevTxMismatch,
                    Some(i),
                    None,
                    format!("previous transaction is not {}", outpoint.txid),
                ),
                Some(prev) => match usize::try_from(outpoint.vout)
                    .ok()
                    .and_then(|v| prev.output.get(v))
                {
                    None => f.add(
                        Rule::PrevOutIndex,
                        Some(i),
                        None,
                        format!("previous transaction has no output {}", outpoint.vout),
                    ),
                    Some(out) => {
                        if input.witness_utxo.as_ref().is_some_and(|w| w != out) {
                            f.add(
                                Rule::WitnessUtxoMismatch,
                                Some(i),
                                None,
                                "witness utxo differs from the previous transaction".into(),
                            );
                        }
                        spent = Some(out.clone());
                    }
                },
            }

            // Ours? Only if the wallet derives the spent script at the claimed place.
            let mut ours = None;
            let mut signatures = 0;
            let mut claimed = None;
            let mut claim_problem = None;
            for (fp, path) in input.bip32_derivation.values() {
                match self.locate(*fp, path) {
                    Some((_, Ok(loc))) => {
                        claimed = Some(loc);
                        break;
                    }
                    Some((_, Err(p))) => claim_problem = Some((*fp, path.clone(), p)),
                    None => {}
                }
            }
            match claimed {
                // A finalizer drops the derivations: a finalized input needs no
                // signature from us, and its amount is checked above.
                None if finalized => {}
                None => {
                    let why = match claim_problem {
                        Some((fp, path, p)) => {
                            format!(
                                "derivation [{fp}]{path} is not a wallet path ({})",
                                problem_str(p)
                            )
                        }
                        None => "no derivation from this wallet's keys".into(),
                    };
                    f.add(Rule::InputNotOurs, Some(i), None, why);
                }
                Some((kc, idx)) => match self.keys_and_script(kc, idx) {
                    Ok((keys, ws)) => {
                        let spk = ScriptBuf::new_p2wsh(&ws.wscript_hash());
                        let spk_ok = spent.as_ref().is_some_and(|s| s.script_pubkey == spk);
                        let ws_ok = input.witness_script.as_ref().is_none_or(|w| *w == ws);
                        if spk_ok && ws_ok {
                            ours = Some((kc, idx));
                            signatures = input
                                .partial_sigs
                                .keys()
                                .filter(|pk| keys.contains(&pk.inner))
                                .count();
                            if !finalized {
                                witness_weight +=
                                    crate::create::satisfaction_weight(self.threshold(), ws.len());
                            }
                        } else if spent.is_some() {
                            f.add(
                                Rule::WitnessScriptMismatch,
                                Some(i),
                                None,
                                format!("script is not the wallet's {kc} script {idx}"),
                            );
                        } else {
                            f.add(
                                Rule::InputNotOurs,
                                Some(i),
                                None,
                                "spent output unknown; cannot check the script".into(),
                            );
                        }
                    }
                    Err(_) => f.add(
                        Rule::InputNotOurs,
                        Some(i),
                        None,
                        format!("claimed index {idx} cannot be derived"),
                    ),
                },
            }
            if finalized {
                let w = input
                    .final_script_witness
                    .as_ref()
                    .map_or(0, |w| w.size() as u64);
                let s = input
                    .final_script_sig
                    .as_ref()
                    .map_or(0, |s| s.len() as u64 * 4);
                witness_weight += w + s;
                if ours.is_some() {
                    signatures = self.threshold();
                }
            } else if ours.is_none() {
                weight_known = false;
            }
            inputs.push(InputAnalysis {
                outpoint,
                ours,
                amount: spent.map(|s| s.value),
                signatures,
                needed: if ours.is_some() { self.threshold() } else { 0 },
                finalized,
            });
        }

        let outputs: Vec<OutputAnalysis> = tx
            .output
            .iter()
            .zip(&psbt.outputs)
            .enumerate()
            .map(|(o, (txout, out))| {
                let kind = self.classify_output(o, txout, out, &mut f);
                if txout.value < txout.script_pubkey.minimal_non_dust()
                    && !txout.script_pubkey.is_op_return()
                {
                    f.add(
                        Rule::DustOutput,
                        None,
                        Some(o),
                        format!("{} is below the dust limit", txout.value),
                    );
                }
                OutputAnalysis {
                    address: Address::from_script(&txout.script_pubkey, network).ok(),
                    script_pubkey: txout.script_pubkey.clone(),
                    amount: txout.value,
                    kind,
                }
            })
            .collect();

        // Totals, in checked arithmetic.
        let total_in = inputs
            .iter()
            .try_fold(Amount::ZERO, |acc, i| acc.checked_add(i.amount?));
        let total_out = tx
            .output
            .iter()
            .try_fold(Amount::ZERO, |acc, o| acc.checked_add(o.value));
        let fee = match (total_in, total_out) {
            (Some(i), Some(o)) => {
                let fee = i.checked_sub(o);
                if fee.is_none() {
                    f.add(
                        Rule::NegativeFee,
                        None,
                        None,
                        format!("outputs {o} exceed inputs {i}"),
                    );
                }
                fee
            }
            (_, None) => {
                f.add(
                    Rule::NegativeFee,
                    None,
                    None,
                    "output amounts overflow".into(),
                );
                None
            }
            _ => None,
        };
        let estimated_weight = weight_known.then(|| {
            let segwit = 2; // marker and flag
            Weight::from_wu(tx.weight().to_wu() + segwit + witness_weight)
        });
        let fee_rate = match (fee, estimated_weight) {
            (Some(fee), Some(w)) if w.to_wu() > 0 => Some(FeeRate::from_sat_per_kwu(
                fee.to_sat().saturating_mul(1000) / w.to_wu(),
            )),
            _ => None,
        };
        if let Some(fee) = fee {
            if fee > opts.max_fee {
                f.add(
                    Rule::FeeTooHigh,
                    None,
                    None,
                    format!("fee {fee} is above the limit {}", opts.max_fee),
                );
            }
        }
        if let Some(rate) = fee_rate {
            if rate > opts.max_fee_rate {
                f.add(
                    Rule::FeeRateTooHigh,
                    None,
                    None,
                    format!(
                        "fee rate {} sat/vB is above the limit {} sat/vB",
                        rate.to_sat_per_vb_floor(),
                        opts.max_fee_rate.to_sat_per_vb_floor()
                    ),
                );
            }
        }

        PsbtAnalysis {
            wallet_id: self.id(),
            network,
            txid: tx.compute_txid(),
            inputs,
            outputs,
            total_in,
            total_out,
            fee,
            estimated_weight,
            fee_rate,
            findings: f.0,
        }
    }

    fn classify_output(
        &self,
        o: usize,
        txout: &TxOut,
        out: &bitcoin::psbt::Output,
        f: &mut Findings,
    ) -> OutputKind {
        // The claims that name one of our master fingerprints.
        let claims: Vec<(Fingerprint, &DerivationPath)> = out
            .bip32_derivation
            .values()
            .filter(|(fp, _)| self.has_fingerprint(*fp))
            .map(|(fp, p)| (*fp, p))
            .collect();
        if claims.is_empty() {
            return OutputKind::External;
        }
        let mut located: BTreeMap<(Keychain, u32), usize> = BTreeMap::new();
        for (fp, path) in &claims {
            match self.locate(*fp, path) {
                Some((_, Ok(loc))) => *located.entry(loc).or_default() += 1,
                Some((_, Err(p))) => {
                    f.add(
                        Rule::ChangeUnusualPath,
                        None,
                        Some(o),
                        format!("claims our key on path [{fp}]{path} ({})", problem_str(p)),
                    );
                    return OutputKind::Suspicious {
                        rule: Rule::ChangeUnusualPath,
                    };
                }
                None => {
                    f.add(
                        Rule::ChangeFraud,
                        None,
                        Some(o),
                        format!("claims our fingerprint {fp} on a path outside the wallet"),
                    );
                    return OutputKind::Suspicious {
                        rule: Rule::ChangeFraud,
                    };
                }
            }
        }
        if located.len() != 1 {
            f.add(
                Rule::ChangeFraud,
                None,
                Some(o),
                "claims several different wallet paths".into(),
            );
            return OutputKind::Suspicious {
                rule: Rule::ChangeFraud,
            };
        }
        let Some(&(kc, idx)) = located.keys().next() else {
            return OutputKind::External;
        };
        let derived = self.witness_script(kc, idx).ok();
        let derives = derived.as_ref().is_some_and(|ws| {
            ScriptBuf::new_p2wsh(&ws.wscript_hash()) == txout.script_pubkey
                && out.witness_script.as_ref().is_none_or(|w| w == ws)
        });
        if !derives {
            f.add(
                Rule::ChangeFraud,
                None,
                Some(o),
                format!("claims to be our {kc} address {idx} but does not derive from the wallet"),
            );
            return OutputKind::Suspicious {
                rule: Rule::ChangeFraud,
            };
        }
        if kc != Keychain::Change {
            f.add(
                Rule::ChangeUnusualPath,
                None,
                Some(o),
                format!("change on the receive keychain (index {idx})"),
            );
            return OutputKind::Suspicious {
                rule: Rule::ChangeUnusualPath,
            };
        }
        OutputKind::Change {
            keychain: kc,
            index: idx,
        }
    }
}

fn problem_str(p: PathProblem) -> &'static str {
    match p {
        PathProblem::Hardened => "hardened step after the account key",
        PathProblem::UnknownBranch => "branch other than receive or change",
        PathProblem::Shape => "not two steps after the account key",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    #[test]
    fn json_form() {
        let txid = Txid::all_zeros();
        let a = PsbtAnalysis {
            wallet_id: "w".into(),
            network: Network::Testnet,
            txid,
            inputs: vec![InputAnalysis {
                outpoint: OutPoint { txid, vout: 1 },
                ours: Some((Keychain::Change, 3)),
                amount: Some(Amount::from_sat(5000)),
                signatures: 1,
                needed: 2,
                finalized: false,
            }],
            outputs: vec![OutputAnalysis {
                address: None,
                script_pubkey: ScriptBuf::new(),
                amount: Amount::from_sat(4000),
                kind: OutputKind::Suspicious {
                    rule: Rule::ChangeFraud,
                },
            }],
            total_in: Some(Amount::from_sat(5000)),
            total_out: Some(Amount::from_sat(4000)),
            fee: Some(Amount::from_sat(1000)),
            estimated_weight: None,
            fee_rate: None,
            findings: vec![Finding {
                rule: Rule::ChangeFraud,
                severity: Severity::Refuse,
                input: None,
                output: Some(0),
                detail: "d".into(),
            }],
        };
        let v = serde_json::to_value(&a).unwrap();
        let zeros = "0".repeat(64);
        assert_eq!(
            v,
            serde_json::json!({
                "wallet_id": "w",
                "network": "testnet",
                "txid": zeros,
                "inputs": [{
                    "outpoint": format!("{zeros}:1"),
                    "amount_sat": 5000,
                    "ours": true,
                    "keychain": "change",
                    "index": 3,
                    "signatures": 1,
                    "needed": 2,
                    "finalized": false,
                }],
                "outputs": [{
                    "address": null,
                    "script_pubkey": "",
                    "amount_sat": 4000,
                    "kind": "suspicious",
                    "keychain": null,
                    "index": null,
                    "rule": "change-fraud",
                }],
                "total_in_sat": 5000,
                "total_out_sat": 4000,
                "fee_sat": 1000,
                "fee_rate_sat_per_kwu": null,
                "estimated_vsize": null,
                "complete": false,
                "safe_to_sign": false,
                "findings": [{
                    "rule": "change-fraud",
                    "severity": "refuse",
                    "input": null,
                    "output": 0,
                    "detail": "d",
                }],
            })
        );
    }
}
