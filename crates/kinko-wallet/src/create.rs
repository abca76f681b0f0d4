//! Building an unsigned PSBT from caller-given UTXOs.

use std::collections::{BTreeMap, BTreeSet};

use bdk_coin_select::metrics::LowestFee;
use bdk_coin_select::{
    Candidate, ChangePolicy, CoinSelector, DrainWeights, Target, TargetFee, TargetOutputs,
    TXOUT_BASE_WEIGHT,
};
use bitcoin::address::NetworkUnchecked;
use bitcoin::bip32::KeySource;
use bitcoin::psbt::{Input, Output, Psbt};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Address, Amount, FeeRate, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Weight, Witness,
};

use crate::derive::AddressError;
use crate::wallet::{Keychain, MultisigWallet};

/// Lowest fee rate accepted: 0.1 sat/vB (25 sat/kwu), Bitcoin Core's default
/// minimum relay fee rate since version 29.1.
pub const MIN_FEE_RATE: FeeRate = FeeRate::from_sat_per_kwu(25);

/// Highest fee rate accepted: 1,000 sat/vB. Far above any fee market seen so
/// far; above it a typo (sat/kvB for sat/vB) is more likely than intent.
pub const MAX_FEE_RATE: FeeRate = FeeRate::from_sat_per_kwu(250_000);

/// Branch-and-bound rounds before falling back to largest-first selection.
const BNB_ROUNDS: usize = 100_000;

/// A coin of the wallet, as the caller knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utxo {
    /// The coin's outpoint.
    pub outpoint: OutPoint,
    /// Its amount.
    pub amount: Amount,
    /// The keychain of its address.
    pub keychain: Keychain,
    /// The index of its address.
    pub index: u32,
    /// The full previous transaction (every signer checks amounts against it).
    pub prev_tx: Transaction,
}

/// What to pay, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateParams {
    /// Recipients, in output order.
    pub recipients: Vec<(Address<NetworkUnchecked>, Amount)>,
    /// Fee rate of the final, signed transaction.
    pub fee_rate: FeeRate,
    /// The change index to use (the caller knows which are fresh).
    pub change_index: u32,
    /// Spend every given UTXO (a sweep) instead of selecting coins. With no
    /// recipients, everything but the fee goes to the change output: a
    /// consolidation.
    pub spend_all: bool,
}

/// An unsigned PSBT and what it does.
#[derive(Debug, Clone)]
pub struct CreatedPsbt {
    /// The PSBT, every input and the change output filled in.
    pub psbt: Psbt,
    /// The fee it pays.
    pub fee: Amount,
    /// The change output: its position, index and amount (none when the
    /// change would have been dust and went to the fee).
    pub change: Option<(usize, u32, Amount)>,
    /// The estimated weight of the signed transaction (signatures counted at
    /// their 72-byte maximum, so the real fee rate is at least the target).
    pub estimated_weight: Weight,
}

/// Why a PSBT could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// No recipient given.
    #[error("no recipient")]
    NoRecipients,
    /// The UTXOs do not cover the payment and the fee.
    #[error("insufficient funds: {missing} missing (available {available})")]
    InsufficientFunds {
        /// How much more is needed.
        missing: Amount,
        /// The total of the UTXOs given.
        available: Amount,
    },
    /// A recipient amount is below the dust limit of its script.
    #[error("recipient {index} amount {amount} is below the dust limit {dust}")]
    DustRecipient {
        /// Position of the recipient.
        index: usize,
        /// Its amount.
        amount: Amount,
        /// The smallest amount that is not dust for its script.
        dust: Amount,
    },
    /// Fee rate outside [`MIN_FEE_RATE`]..=[`MAX_FEE_RATE`].
    #[error("fee rate {sat_per_kwu} sat/kwu out of range ({min}..={max} sat/kwu)", min = MIN_FEE_RATE.to_sat_per_kwu(), max = MAX_FEE_RATE.to_sat_per_kwu())]
    FeeRateOutOfRange {
        /// The rate asked for, in sat per 1,000 weight units.
        sat_per_kwu: u64,
    },
    /// A recipient address of another network.
    #[error("recipient {index} address is not for {network}")]
    WrongNetwork {
        /// Position of the recipient.
        index: usize,
        /// The wallet's network.
        network: bitcoin::Network,
    },
    /// A UTXO's previous transaction does not have the outpoint's txid.
    #[error("utxo {outpoint}: previous transaction has another txid")]
    PrevTxMismatch {
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// A UTXO's vout is beyond the outputs of its previous transaction.
    #[error("utxo {outpoint}: previous transaction has no such output")]
    VoutOutOfRange {
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// A UTXO's amount differs from its previous transaction's output.
    #[error("utxo {outpoint}: amount {claimed} but the previous transaction says {actual}")]
    AmountMismatch {
        /// The outpoint.
        outpoint: OutPoint,
        /// The amount given.
        claimed: Amount,
        /// The amount in the previous transaction.
        actual: Amount,
    },
    /// A UTXO's script is not the wallet's script at its keychain and index.
    #[error("utxo {outpoint} is not the wallet's {keychain} address {index}")]
    NotOurs {
        /// The outpoint.
        outpoint: OutPoint,
        /// The keychain given.
        keychain: Keychain,
        /// The index given.
        index: u32,
    },
    /// The same outpoint twice.
    #[error("utxo {0} given twice")]
    DuplicateUtxo(OutPoint),
    /// An index of 2^31 or more.
    #[error("bad derivation index")]
    Address(#[from] AddressError),
    /// Amounts overflow the 21 million BTC range.
    #[error("amounts overflow")]
    Overflow,
}

/// Weight of the witness of one input: item count, the empty dummy, m
/// signatures of at most 72 bytes (plus the sighash byte and a length
/// byte: 73), the script's length and the script.
pub(crate) fn satisfaction_weight(threshold: usize, script_len: usize) -> u64 {
    let items = threshold as u64 + 2;
    let varint = |n: u64| if n < 0xfd { 1 } else { 3 };
    varint(items) + 1 + 73 * threshold as u64 + varint(script_len as u64) + script_len as u64
}

impl MultisigWallet {
    /// Builds an unsigned PSBT paying `params.recipients` from `utxos`.
    ///
    /// Coins are chosen by branch and bound (bdk_coin_select, lowest fee),
    /// falling back to largest-first; change below the dust limit goes to the
    /// fee. Every input gets `non_witness_utxo`, `witness_utxo`,
    /// `witness_script` and `bip32_derivation`; the change output gets its
    /// `witness_script` and `bip32_derivation`; the global xpubs are filled.
    /// Inputs signal RBF (`nSequence` 0xfffffffd); the version is 2 and the
    /// lock time 0. Amounts are integers throughout; the selection's float
    /// fee rates are only used to choose coins, the fee is computed again in
    /// integers.
    ///
    /// # Errors
    ///
    /// [`CreateError`]: insufficient funds (with the missing amount), a dust
    /// recipient, a fee rate out of range, an address of another network, or
    /// a UTXO that does not match its previous transaction or the wallet.
    pub fn create_psbt(
        &self,
        utxos: &[Utxo],
        params: &CreateParams,
    ) -> Result<CreatedPsbt, CreateError> {
        // Without recipients, spending every coin to change is a
        // consolidation; selecting coins for nothing is a mistake.
        if params.recipients.is_empty() && !params.spend_all {
            return Err(CreateError::NoRecipients);
        }
        if params.fee_rate < MIN_FEE_RATE || params.fee_rate > MAX_FEE_RATE {
            return Err(CreateError::FeeRateOutOfRange {
                sat_per_kwu: params.fee_rate.to_sat_per_kwu(),
            });
        }
        let network = self.network();
        let mut outputs = Vec::with_capacity(params.recipients.len() + 1);
        let mut pay_total = Amount::ZERO;
        for (index, (addr, amount)) in params.recipients.iter().enumerate() {
            let addr = addr
                .clone()
                .require_network(network)
                .map_err(|_| CreateError::WrongNetwork { index, network })?;
            let spk = addr.script_pubkey();
            let dust = spk.minimal_non_dust();
            if *amount < dust {
                return Err(CreateError::DustRecipient {
                    index,
                    amount: *amount,
                    dust,
                });
            }
            pay_total = pay_total
                .checked_add(*amount)
                .ok_or(CreateError::Overflow)?;
            outputs.push(TxOut {
                value: *amount,
                script_pubkey: spk,
            });
        }

        // Check every UTXO against its previous transaction and the wallet.
        let mut seen = BTreeSet::new();
        let mut scripts = Vec::with_capacity(utxos.len());
        let mut available = Amount::ZERO;
        for u in utxos {
            if !seen.insert(u.outpoint) {
                return Err(CreateError::DuplicateUtxo(u.outpoint));
            }
            if u.prev_tx.compute_txid() != u.outpoint.txid {
                return Err(CreateError::PrevTxMismatch {
                    outpoint: u.outpoint,
                });
            }
            let prev_out = usize::try_from(u.outpoint.vout)
                .ok()
                .and_then(|v| u.prev_tx.output.get(v))
                .ok_or(CreateError::VoutOutOfRange {
                    outpoint: u.outpoint,
                })?;
            if prev_out.value != u.amount {
                return Err(CreateError::AmountMismatch {
                    outpoint: u.outpoint,
                    claimed: u.amount,
                    actual: prev_out.value,
                });
            }
            let ws = self.witness_script(u.keychain, u.index)?;
            if ScriptBuf::new_p2wsh(&ws.wscript_hash()) != prev_out.script_pubkey {
                return Err(CreateError::NotOurs {
                    outpoint: u.outpoint,
                    keychain: u.keychain,
                    index: u.index,
                });
            }
            available = available
                .checked_add(u.amount)
                .ok_or(CreateError::Overflow)?;
            scripts.push(ws);
        }

        let change_script = self.witness_script(Keychain::Change, params.change_index)?;
        let change_spk = ScriptBuf::new_p2wsh(&change_script.wscript_hash());
        let change_dust = change_spk.minimal_non_dust();
        let script_len = scripts.first().map_or(change_script.len(), |s| s.len());
        let sat_weight = satisfaction_weight(self.threshold(), script_len);

        // Coin selection. bdk_coin_select works in f32 fee rates; it only
        // chooses the coins here.
        let candidates: Vec<Candidate> = utxos
            .iter()
            .map(|u| Candidate::new(u.amount.to_sat(), sat_weight, true))
            .collect();
        let target = Target {
            fee: TargetFee::from_feerate(bdk_coin_select::FeeRate::from_sat_per_wu(
                params.fee_rate.to_sat_per_kwu() as f32 / 1000.0,
            )),
            outputs: TargetOutputs::fund_outputs(
                outputs
                    .iter()
                    .map(|o| (o.weight().to_wu(), o.value.to_sat())),
            ),
        };
        let drain_weights = DrainWeights {
            output_weight: TXOUT_BASE_WEIGHT + change_spk.len() as u64 * 4,
            spend_weight: bdk_coin_select::TXIN_BASE_WEIGHT + sat_weight,
            n_outputs: 1,
        };
        let change_policy = ChangePolicy::min_value(drain_weights, change_dust.to_sat());
        let mut selector = CoinSelector::new(&candidates);
        let missing_all = |target| {
            let mut all = CoinSelector::new(&candidates);
            all.select_all();
            all.missing(target)
        };
        if params.spend_all {
            selector.select_all();
        } else {
            let metric = LowestFee {
                target,
                long_term_feerate: bdk_coin_select::FeeRate::from_sat_per_vb(10.0),
                change_policy,
            };
            if selector.run_bnb(metric, BNB_ROUNDS).is_err() {
                selector = CoinSelector::new(&candidates);
                selector.sort_candidates_by_descending_value_pwu();
                selector.select_until_target_met(target).map_err(|e| {
                    CreateError::InsufficientFunds {
                        missing: Amount::from_sat(e.missing),
                        available,
                    }
                })?;
            }
        }
        if !selector.is_target_met(target) {
            return Err(CreateError::InsufficientFunds {
                missing: Amount::from_sat(missing_all(target).max(1)),
                available,
            });
        }
        let mut selected: Vec<usize> = selector.selected_indices().iter().copied().collect();
        selected.sort_unstable();

        // The transaction, its integer fee and change.
        let input_total = selected
            .iter()
            .try_fold(Amount::ZERO, |acc, &i| acc.checked_add(utxos[i].amount))
            .ok_or(CreateError::Overflow)?;
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: selected
                .iter()
                .map(|&i| TxIn {
                    previous_output: utxos[i].outpoint,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        let witness_weight = |tx: &Transaction| {
            // Base weight (empty witnesses), segwit marker and flag, witnesses.
            tx.weight().to_wu() + 2 + sat_weight * tx.input.len() as u64
        };
        let fee_for = |wu: u64| {
            // fee = ceil(rate × weight), in integers.
            Amount::from_sat((params.fee_rate.to_sat_per_kwu() * wu).div_ceil(1000))
        };
        tx.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: change_spk.clone(),
        });
        let weight_with_change = witness_weight(&tx);
        let fee_with_change = fee_for(weight_with_change);
        let spendable =
            input_total
                .checked_sub(pay_total)
                .ok_or_else(|| CreateError::InsufficientFunds {
                    missing: pay_total.checked_sub(input_total).unwrap_or(Amount::ZERO),
                    available,
                })?;
        let (fee, change, weight) = match spendable.checked_sub(fee_with_change) {
            Some(change) if change >= change_dust => {
                let pos = tx.output.len() - 1;
                tx.output[pos].value = change;
                (
                    fee_with_change,
                    Some((pos, params.change_index, change)),
                    weight_with_change,
                )
            }
            _ if tx.output.len() == 1 => {
                // A consolidation whose change would be dust pays nothing.
                return Err(CreateError::InsufficientFunds {
                    missing: (fee_with_change + change_dust)
                        .checked_sub(spendable)
                        .unwrap_or(Amount::ONE_SAT),
                    available,
                });
            }
            _ => {
                tx.output.pop();
                let weight = witness_weight(&tx);
                let needed = fee_for(weight);
                if spendable < needed {
                    return Err(CreateError::InsufficientFunds {
                        missing: needed - spendable,
                        available,
                    });
                }
                (spendable, None, weight)
            }
        };

        let mut psbt = Psbt::from_unsigned_tx(tx).map_err(|_| CreateError::Overflow)?;
        for (slot, &i) in selected.iter().enumerate() {
            let u = &utxos[i];
            psbt.inputs[slot] = self.input_fields(u, scripts[i].clone())?;
        }
        if let Some((pos, index, _)) = change {
            psbt.outputs[pos] = self.output_fields(Keychain::Change, index, change_script)?;
        }
        for k in self.keys() {
            psbt.xpub
                .insert(k.xpub, (k.fingerprint, k.origin_path.clone()));
        }
        Ok(CreatedPsbt {
            psbt,
            fee,
            change,
            estimated_weight: Weight::from_wu(weight),
        })
    }

    fn derivations(
        &self,
        keychain: Keychain,
        index: u32,
    ) -> Result<BTreeMap<bitcoin::secp256k1::PublicKey, KeySource>, AddressError> {
        let keys = self.child_keys(keychain, index)?;
        Ok(keys
            .into_iter()
            .zip(self.keys())
            .map(|(pk, k)| (pk, (k.fingerprint, k.child_path(keychain, index))))
            .collect())
    }

    fn input_fields(&self, u: &Utxo, witness_script: ScriptBuf) -> Result<Input, AddressError> {
        // `create_psbt` checked that the vout is in range.
        let witness_utxo = u.prev_tx.output.get(u.outpoint.vout as usize).cloned();
        Ok(Input {
            non_witness_utxo: Some(u.prev_tx.clone()),
            witness_utxo,
            witness_script: Some(witness_script),
            bip32_derivation: self.derivations(u.keychain, u.index)?,
            ..Input::default()
        })
    }

    /// The PSBT output fields of our address `keychain`/`index`.
    pub(crate) fn output_fields(
        &self,
        keychain: Keychain,
        index: u32,
        witness_script: ScriptBuf,
    ) -> Result<Output, AddressError> {
        Ok(Output {
            witness_script: Some(witness_script),
            bip32_derivation: self.derivations(keychain, index)?,
            ..Output::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfaction_weight_of_two_of_three() {
        // 4 items (1 byte), dummy (1), two 73-byte signatures, script length (1) and 105 bytes.
        assert_eq!(satisfaction_weight(2, 105), 1 + 1 + 146 + 1 + 105);
        // A 20-key script (683 bytes) needs a 3-byte length.
        assert_eq!(satisfaction_weight(20, 683), 1 + 1 + 73 * 20 + 3 + 683);
    }

    #[test]
    fn fee_rate_bounds() {
        assert_eq!(MIN_FEE_RATE.to_sat_per_vb_ceil(), 1);
        assert_eq!(MAX_FEE_RATE.to_sat_per_vb_floor(), 1_000);
    }
}
