//! Combining partial PSBTs, finalizing and extracting the transaction.

use std::collections::BTreeMap;

use bitcoin::psbt::{Input, Output, Psbt};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{FeeRate, Transaction};
use miniscript::psbt::PsbtExt;

/// Why partial PSBTs could not be combined.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CombineError {
    /// Nothing to combine.
    #[error("no psbt to combine")]
    Empty,
    /// The PSBTs are not of the same unsigned transaction.
    #[error("psbt {index} is of a different unsigned transaction")]
    DifferentTransaction {
        /// Position of the PSBT in the list.
        index: usize,
    },
    /// Two PSBTs say different things in the same field.
    #[error("psbt {index} conflicts with the others at {location}, field {field}")]
    Conflict {
        /// Position of the PSBT in the list.
        index: usize,
        /// `input N`, `output N` or `global`.
        location: String,
        /// The field name.
        field: &'static str,
    },
    /// rust-bitcoin refused the combination.
    #[error("psbt {index} cannot be combined")]
    Psbt {
        /// Position of the PSBT in the list.
        index: usize,
        /// Why.
        #[source]
        source: bitcoin::psbt::Error,
    },
}

/// The first input whose previous transaction lacks the spent output (an
/// index that would make rust-bitcoin's and miniscript's lookups panic).
pub(crate) fn bad_prevout(psbt: &Psbt) -> Option<usize> {
    psbt.inputs
        .iter()
        .zip(&psbt.unsigned_tx.input)
        .position(|(inp, txin)| {
            inp.witness_utxo.is_none()
                && inp.non_witness_utxo.as_ref().is_some_and(|prev| {
                    usize::try_from(txin.previous_output.vout)
                        .map_or(true, |v| v >= prev.output.len())
                })
        })
        .or_else(|| (psbt.inputs.len() != psbt.unsigned_tx.input.len()).then_some(0))
}

/// Why a PSBT could not be finalized.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FinalizeError {
    /// An input's outpoint index is beyond its previous transaction's outputs.
    #[error("input {input}: outpoint index beyond the previous transaction's outputs")]
    VoutOutOfRange {
        /// The input.
        input: usize,
    },
    /// Some inputs could not be finalized (missing signatures, bad script,
    /// or the script interpreter rejected the result).
    #[error("inputs {inputs:?} cannot be finalized: {first}")]
    Inputs {
        /// The inputs that failed.
        inputs: Vec<usize>,
        /// The first failure, described.
        first: String,
    },
}

/// Why the transaction could not be extracted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// An input's outpoint index is beyond its previous transaction's outputs.
    #[error("input {input}: outpoint index beyond the previous transaction's outputs")]
    VoutOutOfRange {
        /// The input.
        input: usize,
    },
    /// These inputs carry neither a final witness nor a final scriptSig:
    /// the transaction would go out unsigned there. Finalize first.
    #[error("inputs {inputs:?} are not finalized")]
    NotFinalized {
        /// The inputs without a final script.
        inputs: Vec<usize>,
    },
    /// An input lacks its previous output (rust-bitcoin's extractor refused).
    #[error("psbt is not ready for extraction")]
    Psbt(#[source] Box<bitcoin::psbt::ExtractTxError>),
    /// The fee rate is above the limit.
    #[error("fee rate {fee_rate} is above the limit {limit}")]
    FeeRateTooHigh {
        /// The transaction's fee rate.
        fee_rate: FeeRate,
        /// The limit.
        limit: FeeRate,
    },
}

fn conflict_map<K: Ord, V: PartialEq>(a: &BTreeMap<K, V>, b: &BTreeMap<K, V>) -> bool {
    b.iter().any(|(k, v)| a.get(k).is_some_and(|w| w != v))
}

fn conflict_opt<V: PartialEq>(a: &Option<V>, b: &Option<V>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}

fn input_conflict(a: &Input, b: &Input) -> Option<&'static str> {
    if conflict_opt(&a.non_witness_utxo, &b.non_witness_utxo) {
        return Some("non_witness_utxo");
    }
    if conflict_opt(&a.witness_utxo, &b.witness_utxo) {
        return Some("witness_utxo");
    }
    if conflict_opt(&a.witness_script, &b.witness_script) {
        return Some("witness_script");
    }
    if conflict_opt(&a.redeem_script, &b.redeem_script) {
        return Some("redeem_script");
    }
    if conflict_opt(&a.sighash_type, &b.sighash_type) {
        return Some("sighash_type");
    }
    if conflict_map(&a.partial_sigs, &b.partial_sigs) {
        return Some("partial_sigs");
    }
    if conflict_map(&a.bip32_derivation, &b.bip32_derivation) {
        return Some("bip32_derivation");
    }
    if conflict_opt(&a.final_script_witness, &b.final_script_witness) {
        return Some("final_script_witness");
    }
    if conflict_opt(&a.final_script_sig, &b.final_script_sig) {
        return Some("final_script_sig");
    }
    None
}

fn output_conflict(a: &Output, b: &Output) -> Option<&'static str> {
    if conflict_opt(&a.witness_script, &b.witness_script) {
        return Some("witness_script");
    }
    if conflict_opt(&a.redeem_script, &b.redeem_script) {
        return Some("redeem_script");
    }
    if conflict_map(&a.bip32_derivation, &b.bip32_derivation) {
        return Some("bip32_derivation");
    }
    None
}

/// Combines partial PSBTs of one unsigned transaction (BIP174 combiner).
///
/// Unlike rust-bitcoin's `Psbt::combine`, which lets the later value win, a
/// field that two PSBTs fill differently (two signatures for one key, two
/// witness scripts, two previous transactions…) is an error.
///
/// # Errors
///
/// [`CombineError`] for an empty list, different transactions, or a conflict.
pub fn combine(psbts: Vec<Psbt>) -> Result<Psbt, CombineError> {
    let mut iter = psbts.into_iter().enumerate();
    let (_, mut acc) = iter.next().ok_or(CombineError::Empty)?;
    for (index, other) in iter {
        if other.unsigned_tx != acc.unsigned_tx
            || other.inputs.len() != acc.inputs.len()
            || other.outputs.len() != acc.outputs.len()
        {
            return Err(CombineError::DifferentTransaction { index });
        }
        for (n, (a, b)) in acc.inputs.iter().zip(&other.inputs).enumerate() {
            if let Some(field) = input_conflict(a, b) {
                return Err(CombineError::Conflict {
                    index,
                    location: format!("input {n}"),
                    field,
                });
            }
        }
        for (n, (a, b)) in acc.outputs.iter().zip(&other.outputs).enumerate() {
            if let Some(field) = output_conflict(a, b) {
                return Err(CombineError::Conflict {
                    index,
                    location: format!("output {n}"),
                    field,
                });
            }
        }
        if conflict_map(&acc.xpub, &other.xpub) {
            return Err(CombineError::Conflict {
                index,
                location: "global".into(),
                field: "xpub",
            });
        }
        acc.combine(other)
            .map_err(|source| CombineError::Psbt { index, source })?;
    }
    Ok(acc)
}

/// Finalizes every input with miniscript's finalizer, which builds each
/// witness from the partial signatures and checks it with miniscript's
/// script interpreter.
///
/// # Errors
///
/// [`FinalizeError::Inputs`] listing the inputs that could not be finalized;
/// the PSBT is then returned unchanged in spirit (inputs that could be
/// finalized are, the others keep their partial signatures).
pub fn finalize(psbt: &mut Psbt) -> Result<(), FinalizeError> {
    if let Some(input) = bad_prevout(psbt) {
        return Err(FinalizeError::VoutOutOfRange { input });
    }
    let secp = Secp256k1::verification_only();
    let mut failed = Vec::new();
    let mut first = None;
    for i in 0..psbt.inputs.len() {
        if psbt.inputs[i].final_script_witness.is_some() {
            continue;
        }
        if let Err(e) = psbt.finalize_inp_mut(&secp, i) {
            failed.push(i);
            first.get_or_insert_with(|| e.to_string());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(FinalizeError::Inputs {
            inputs: failed,
            first: first.unwrap_or_default(),
        })
    }
}

/// Extracts the signed transaction, refusing a fee rate above `max_fee_rate`
/// (pass [`crate::MAX_FEE_RATE`] for kinko's limit).
///
/// # Errors
///
/// [`ExtractError::NotFinalized`] when an input has no final script
/// (rust-bitcoin's extractor would put an empty witness there and return an
/// unsigned transaction), [`ExtractError::FeeRateTooHigh`] when the fee rate
/// is too high, other [`ExtractError`]s when a previous output is missing.
pub fn extract(psbt: Psbt, max_fee_rate: FeeRate) -> Result<Transaction, ExtractError> {
    if let Some(input) = bad_prevout(&psbt) {
        return Err(ExtractError::VoutOutOfRange { input });
    }
    let unfinalized: Vec<usize> = psbt
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, i)| i.final_script_witness.is_none() && i.final_script_sig.is_none())
        .map(|(n, _)| n)
        .collect();
    if !unfinalized.is_empty() {
        return Err(ExtractError::NotFinalized {
            inputs: unfinalized,
        });
    }
    psbt.extract_tx_with_fee_rate_limit(max_fee_rate)
        .map_err(|e| match e {
            bitcoin::psbt::ExtractTxError::AbsurdFeeRate { fee_rate, .. } => {
                ExtractError::FeeRateTooHigh {
                    fee_rate,
                    limit: max_fee_rate,
                }
            }
            other => ExtractError::Psbt(Box::new(other)),
        })
}
