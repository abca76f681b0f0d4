//! Batch payouts: many reserved withdrawals paid by one PSBT.

use std::collections::HashSet;

use bitcoin::address::NetworkUnchecked;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::rand::seq::SliceRandom;
use bitcoin::secp256k1::rand::{Rng, RngCore};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Address, Amount, FeeRate, Script, ScriptBuf, Transaction, TxIn, TxOut, WScriptHash,
    Weight,
};

use crate::create::{satisfaction_weight, CreateError, CreateParams, Utxo};
use crate::derive::sorted_multisig_script;
use crate::wallet::MultisigWallet;

/// Default cap on the payouts of one batch.
pub const DEFAULT_MAX_PAYOUTS: usize = 500;

/// The heaviest transaction Bitcoin Core relays (`MAX_STANDARD_TX_WEIGHT`,
/// src/policy/policy.h): a heavier batch would never reach a miner.
pub const MAX_STANDARD_TX_WEIGHT: Weight = Weight::from_wu(400_000);

/// One reserved withdrawal to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// The withdrawal's id (unique within a batch).
    pub id: String,
    /// Its destination.
    pub address: Address<NetworkUnchecked>,
    /// Its amount.
    pub amount: Amount,
}

/// How to build a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchParams {
    /// Fee rate of the final, signed transaction.
    pub fee_rate: FeeRate,
    /// The change index to use (the caller knows which are fresh).
    pub change_index: u32,
    /// The chain tip's height as the caller knows it, for the anti-fee-sniping
    /// lock time; `None` (the caller's view of the chain is not current)
    /// gives lock time 0, as Bitcoin Core does when its tip is old.
    pub tip_height: Option<u32>,
    /// The most payouts one batch may hold.
    pub max_payouts: usize,
}

/// A built batch: the unsigned PSBT and where each payout went.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The PSBT: outputs in random order, anti-fee-sniping lock time.
    pub psbt: Psbt,
    /// The fee it pays.
    pub fee: Amount,
    /// The change output: its position, index and amount (none when the
    /// change would have been dust and went to the fee).
    pub change: Option<(usize, u32, Amount)>,
    /// Each payout's id and output position, in the order the payouts were given.
    pub positions: Vec<(String, usize)>,
    /// The estimated weight of the signed transaction (signatures counted at
    /// their maximum, so the real fee rate is at least the target).
    pub estimated_weight: Weight,
    /// The estimated virtual size, `estimated_weight / 4` rounded up.
    pub vsize: u64,
    /// The estimated virtual size of paying each payout alone, one input and
    /// change per transaction ([`MultisigWallet::single_payout_weight`]).
    pub unbatched_vsize: u64,
    /// The fee those single transactions would pay at the same rate.
    pub unbatched_fee: Amount,
}

/// Why a batch could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// No payout given.
    #[error("no payout")]
    Empty,
    /// More payouts than [`BatchParams::max_payouts`].
    #[error("{count} payouts, at most {max} allowed in one batch")]
    TooMany {
        /// The payouts given.
        count: usize,
        /// The cap.
        max: usize,
    },
    /// The same payout id twice: it would be paid twice.
    #[error("payout id {0:?} given twice")]
    DuplicateId(String),
    /// A tip height of 500,000,000 or more, which a lock time reads as a time.
    #[error("tip height {0} is not a block height")]
    TipHeight(u32),
    /// A payout the wallet cannot pay (dust amount, address of another network).
    #[error("payout {id:?}: {source}")]
    Payout {
        /// The payout's id.
        id: String,
        /// Why.
        #[source]
        source: CreateError,
    },
    /// The transaction would be heavier than Bitcoin Core relays.
    #[error("estimated weight {weight} above the standard limit {max}", max = MAX_STANDARD_TX_WEIGHT)]
    TooHeavy {
        /// The estimated weight.
        weight: Weight,
    },
    /// The PSBT could not be created (funds, fee rate, UTXOs).
    #[error(transparent)]
    Create(#[from] CreateError),
    /// Amounts overflow the 21 million BTC range.
    #[error("amounts overflow")]
    Overflow,
}

/// `ceil(rate × weight)` in integers, as `create_psbt` charges.
fn fee_for(rate: FeeRate, weight: Weight) -> Option<Amount> {
    rate.to_sat_per_kwu()
        .checked_mul(weight.to_wu())
        .map(|v| Amount::from_sat(v.div_ceil(1000)))
}

/// The anti-fee-sniping lock time, as Bitcoin Core's `DiscourageFeeSniping`
/// (src/wallet/spend.cpp) sets it: the tip's height, and with probability
/// 1/10 up to 99 blocks earlier (`randrange(10) == 0`, then minus
/// `randrange(100)`, floored at 0), so that transactions delayed in their
/// broadcast (mixers, slow signers) do not stand out. Core's caller passes
/// no tip (lock time 0) when it is in initial block download or its tip is
/// more than 8 hours old; here the caller decides that.
fn anti_fee_sniping<R: RngCore + ?Sized>(tip: Option<u32>, rng: &mut R) -> absolute::LockTime {
    let Some(height) = tip else {
        return absolute::LockTime::ZERO;
    };
    let mut lock = height;
    if rng.gen_range(0..10u32) == 0 {
        lock = lock.saturating_sub(rng.gen_range(0..100u32));
    }
    // Below 500,000,000 (checked by the caller): a height.
    absolute::LockTime::from_consensus(lock)
}

impl MultisigWallet {
    /// Builds one unsigned PSBT paying every payout from `utxos`.
    ///
    /// Coin selection, change and fee are [`MultisigWallet::create_psbt`]'s
    /// (recipients in payout order). Then the outputs, payments and change
    /// together, are put in a random order drawn from `rng` (Fisher–Yates;
    /// each PSBT output's fields move with its output), and the lock time is
    /// set against fee sniping as Bitcoin Core does (see
    /// [`BatchParams::tip_height`]). Inputs keep `nSequence` 0xfffffffd
    /// (RBF, and not final, so the lock time counts). Two payouts to the same
    /// address are two outputs.
    ///
    /// # Errors
    ///
    /// [`BatchError`]: no payout, more than `max_payouts`, the same id twice,
    /// a tip height that is not a height, a payout that cannot be paid (named
    /// by id), a transaction heavier than [`MAX_STANDARD_TX_WEIGHT`], or any
    /// other [`CreateError`].
    pub fn build_batch<R: RngCore + ?Sized>(
        &self,
        utxos: &[Utxo],
        payouts: &[Payout],
        params: &BatchParams,
        rng: &mut R,
    ) -> Result<Batch, BatchError> {
        if payouts.is_empty() {
            return Err(BatchError::Empty);
        }
        if payouts.len() > params.max_payouts {
            return Err(BatchError::TooMany {
                count: payouts.len(),
                max: params.max_payouts,
            });
        }
        let mut ids = HashSet::with_capacity(payouts.len());
        if let Some(dup) = payouts.iter().find(|p| !ids.insert(p.id.as_str())) {
            return Err(BatchError::DuplicateId(dup.id.clone()));
        }
        if let Some(h) = params.tip_height {
            if absolute::Height::from_consensus(h).is_err() {
                return Err(BatchError::TipHeight(h));
            }
        }

        let create = CreateParams {
            recipients: payouts
                .iter()
                .map(|p| (p.address.clone(), p.amount))
                .collect(),
            fee_rate: params.fee_rate,
            change_index: params.change_index,
            spend_all: false,
        };
        let created = self.create_psbt(utxos, &create).map_err(|e| {
            let at_fault = match e {
                CreateError::DustRecipient { index, .. }
                | CreateError::WrongNetwork { index, .. } => payouts.get(index),
                _ => None,
            };
            match at_fault {
                Some(p) => BatchError::Payout {
                    id: p.id.clone(),
                    source: e,
                },
                None => BatchError::Create(e),
            }
        })?;
        if created.estimated_weight > MAX_STANDARD_TX_WEIGHT {
            return Err(BatchError::TooHeavy {
                weight: created.estimated_weight,
            });
        }

        let mut psbt = created.psbt;
        let tx = &mut psbt.unsigned_tx;
        let mut outputs: Vec<(usize, (TxOut, bitcoin::psbt::Output))> = tx
            .output
            .drain(..)
            .zip(psbt.outputs.drain(..))
            .enumerate()
            .collect();
        outputs.shuffle(rng);
        // Where each output of `create_psbt` (payouts in order, then change) went.
        let mut moved_to = vec![0; outputs.len()];
        for (new, (old, (txout, fields))) in outputs.into_iter().enumerate() {
            moved_to[old] = new;
            tx.output.push(txout);
            psbt.outputs.push(fields);
        }
        tx.lock_time = anti_fee_sniping(params.tip_height, rng);

        let mut unbatched_vsize = 0u64;
        let mut unbatched_fee = Amount::ZERO;
        for p in payouts {
            // `create_psbt` checked the network.
            let spk = p.address.assume_checked_ref().script_pubkey();
            let w = self.single_payout_weight(1, &spk);
            unbatched_vsize = unbatched_vsize
                .checked_add(w.to_vbytes_ceil())
                .ok_or(BatchError::Overflow)?;
            unbatched_fee = fee_for(params.fee_rate, w)
                .and_then(|f| unbatched_fee.checked_add(f))
                .ok_or(BatchError::Overflow)?;
        }

        Ok(Batch {
            psbt,
            // Neither the order of outputs nor the lock time changes the weight.
            fee: created.fee,
            change: created
                .change
                .map(|(pos, index, amount)| (moved_to[pos], index, amount)),
            positions: payouts
                .iter()
                .zip(&moved_to)
                .map(|(p, &pos)| (p.id.clone(), pos))
                .collect(),
            estimated_weight: created.estimated_weight,
            vsize: created.estimated_weight.to_vbytes_ceil(),
            unbatched_vsize,
            unbatched_fee,
        })
    }

    /// The estimated weight of a signed transaction of this wallet with
    /// `inputs` inputs paying one output with script `payment` and change:
    /// what one withdrawal alone costs, to compare a batch against. Counted
    /// as [`MultisigWallet::create_psbt`] counts (signatures at their
    /// maximum size).
    pub fn single_payout_weight(&self, inputs: usize, payment: &Script) -> Weight {
        // Any keys give the script's length; a wallet has 1 <= m <= n <= 20,
        // so the script exists.
        let script_len =
            sorted_multisig_script(self.threshold(), &vec![[2; 33]; self.keys().len()])
                .map_or(0, |s| s.len());
        let tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn::default(); inputs],
            output: vec![
                TxOut {
                    value: Amount::ZERO,
                    script_pubkey: payment.to_owned(),
                },
                TxOut {
                    value: Amount::ZERO,
                    script_pubkey: ScriptBuf::new_p2wsh(&WScriptHash::all_zeros()),
                },
            ],
        };
        // Base weight (empty witnesses), segwit marker and flag, witnesses.
        let witnesses = satisfaction_weight(self.threshold(), script_len) * inputs as u64;
        Weight::from_wu(tx.weight().to_wu() + 2 + witnesses)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::str::FromStr;

    use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
    use bitcoin::secp256k1::rand::rngs::StdRng;
    use bitcoin::secp256k1::rand::SeedableRng;
    use bitcoin::secp256k1::Secp256k1;
    use bitcoin::{Network, OutPoint, Sequence, Txid, WPubkeyHash};

    use super::*;
    use crate::{extract, finalize, Keychain, XprvSigner, MAX_FEE_RATE};

    const ACCOUNT: &str = "m/48'/1'/0'/2'";

    /// A testnet 2-of-3 and its cosigners' master keys.
    fn wallet() -> (MultisigWallet, Vec<Xpriv>) {
        let secp = Secp256k1::new();
        let path = DerivationPath::from_str(ACCOUNT).unwrap();
        let masters: Vec<Xpriv> = (1..=3u8)
            .map(|s| Xpriv::new_master(Network::Testnet, &[s; 32]).unwrap())
            .collect();
        let keys: Vec<String> = masters
            .iter()
            .map(|m| {
                let x = Xpub::from_priv(&secp, &m.derive_priv(&secp, &path).unwrap());
                format!("[{}/48'/1'/0'/2']{x}/<0;1>/*", m.fingerprint(&secp))
            })
            .collect();
        let desc = format!("wsh(sortedmulti(2,{}))", keys.join(","));
        let w = MultisigWallet::from_descriptor(&desc, Network::Testnet).unwrap();
        (w, masters)
    }

    /// `count` coins of `sat` each on receive addresses 0..count.
    fn coins(w: &MultisigWallet, count: u32, sat: u64) -> Vec<Utxo> {
        (0..count)
            .map(|i| {
                let prev_tx = Transaction {
                    version: Version::TWO,
                    lock_time: absolute::LockTime::ZERO,
                    input: vec![TxIn {
                        previous_output: OutPoint::new(Txid::from_byte_array([3; 32]), i),
                        sequence: Sequence::MAX,
                        ..TxIn::default()
                    }],
                    output: vec![TxOut {
                        value: Amount::from_sat(sat),
                        script_pubkey: w.script_pubkey(Keychain::Receive, i).unwrap(),
                    }],
                };
                Utxo {
                    outpoint: OutPoint::new(prev_tx.compute_txid(), 0),
                    amount: Amount::from_sat(sat),
                    keychain: Keychain::Receive,
                    index: i,
                    prev_tx,
                }
            })
            .collect()
    }

    /// A P2WPKH testnet address of someone else, distinct per `n`.
    fn external(n: u32) -> Address<NetworkUnchecked> {
        let mut h = [0xa5; 20];
        h[..4].copy_from_slice(&n.to_be_bytes());
        let spk = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(h));
        Address::from_script(&spk, Network::Testnet)
            .unwrap()
            .into_unchecked()
    }

    fn payouts(count: u32) -> Vec<Payout> {
        (0..count)
            .map(|i| Payout {
                id: format!("w-{i}"),
                address: external(i),
                amount: Amount::from_sat(10_000 + u64::from(i) * 137),
            })
            .collect()
    }

    fn params(tip: Option<u32>) -> BatchParams {
        BatchParams {
            fee_rate: FeeRate::from_sat_per_kwu(1_250), // 5 sat/vB
            change_index: 7,
            tip_height: tip,
            max_payouts: DEFAULT_MAX_PAYOUTS,
        }
    }

    fn seeded(seed: u8) -> StdRng {
        StdRng::from_seed([seed; 32])
    }

    /// The input total of the PSBT, from its witness UTXOs.
    fn input_total(psbt: &Psbt) -> Amount {
        psbt.inputs
            .iter()
            .map(|i| i.witness_utxo.as_ref().unwrap().value)
            .sum()
    }

    #[test]
    fn pays_every_payout_once_with_change_where_it_says() {
        let (w, _) = wallet();
        let utxos = coins(&w, 20, 2_000_000);
        for count in [100u32, 500] {
            let ps = payouts(count);
            let b = w
                .build_batch(&utxos, &ps, &params(Some(900_000)), &mut seeded(1))
                .unwrap();
            let tx = &b.psbt.unsigned_tx;
            assert_eq!(tx.output.len(), count as usize + 1, "payouts and change");
            assert_eq!(b.psbt.outputs.len(), tx.output.len());
            assert_eq!(b.positions.len(), ps.len());
            let mut used = BTreeSet::new();
            for (p, (id, pos)) in ps.iter().zip(&b.positions) {
                assert_eq!(id, &p.id);
                assert!(used.insert(*pos), "position {pos} used twice");
                let out = &tx.output[*pos];
                assert_eq!(out.value, p.amount, "{id}");
                assert_eq!(
                    out.script_pubkey,
                    p.address.assume_checked_ref().script_pubkey()
                );
                // A payment's PSBT output carries none of our fields.
                assert!(b.psbt.outputs[*pos].bip32_derivation.is_empty());
            }
            let (pos, index, amount) = b.change.unwrap();
            assert!(used.insert(pos));
            assert_eq!(used.len(), tx.output.len());
            assert_eq!(index, 7);
            assert_eq!(tx.output[pos].value, amount);
            assert_eq!(
                tx.output[pos].script_pubkey,
                w.script_pubkey(Keychain::Change, 7).unwrap()
            );
            // The change's fields moved with it.
            assert_eq!(
                b.psbt.outputs[pos].witness_script,
                Some(w.witness_script(Keychain::Change, 7).unwrap())
            );
            assert_eq!(b.psbt.outputs[pos].bip32_derivation.len(), 3);
            let out_total: Amount = tx.output.iter().map(|o| o.value).sum();
            assert_eq!(input_total(&b.psbt) - out_total, b.fee);
            assert_eq!(b.vsize, b.estimated_weight.to_vbytes_ceil());
            assert_eq!(
                fee_for(params(None).fee_rate, b.estimated_weight),
                Some(b.fee)
            );
            assert!(tx
                .input
                .iter()
                .all(|i| i.sequence == Sequence::ENABLE_RBF_NO_LOCKTIME));
            assert_eq!(tx.input[0].sequence.0, 0xffff_fffd);
            // Each payout alone: 1 input, the payment (P2WPKH) and change.
            assert_eq!(b.unbatched_vsize, 189 * u64::from(count));
            assert_eq!(b.unbatched_fee, Amount::from_sat(945 * u64::from(count)));
            assert!(b.vsize < b.unbatched_vsize);
        }
    }

    #[test]
    fn order_depends_on_the_seed_only() {
        let (w, _) = wallet();
        let utxos = coins(&w, 5, 2_000_000);
        let ps = payouts(100);
        let build = |seed| {
            w.build_batch(&utxos, &ps, &params(Some(900_000)), &mut seeded(seed))
                .unwrap()
        };
        let (a, again, b) = (build(1), build(1), build(2));
        assert_eq!(a.psbt, again.psbt);
        assert_eq!(a.positions, again.positions);
        assert_ne!(a.positions, b.positions);
        assert_ne!(
            a.psbt.unsigned_tx.compute_txid(),
            b.psbt.unsigned_tx.compute_txid()
        );
        // The same outputs, in another order.
        let sorted = |b: &Batch| {
            let mut o = b.psbt.unsigned_tx.output.clone();
            o.sort_by(|x, y| (x.value, &x.script_pubkey).cmp(&(y.value, &y.script_pubkey)));
            o
        };
        assert_eq!(sorted(&a), sorted(&b));
        // Not the order given: payout i is not at position i for most i.
        let in_place = a
            .positions
            .iter()
            .enumerate()
            .filter(|(i, (_, pos))| i == pos)
            .count();
        assert!(in_place < 10, "{in_place} payouts kept their place");
    }

    #[test]
    fn lock_time_as_bitcoin_core_discourages_fee_sniping() {
        let (w, _) = wallet();
        let utxos = coins(&w, 3, 1_000_000);
        let ps = payouts(3);
        let tip = 900_000;
        let mut rng = seeded(9);
        let (mut at_tip, mut earlier) = (0, 0);
        for _ in 0..1_000 {
            let b = w
                .build_batch(&utxos, &ps, &params(Some(tip)), &mut rng)
                .unwrap();
            let lock = b.psbt.unsigned_tx.lock_time;
            assert!(lock.is_block_height());
            let h = lock.to_consensus_u32();
            assert!((tip - 99..=tip).contains(&h), "lock time {h}");
            if h == tip {
                at_tip += 1;
            } else {
                earlier += 1;
            }
        }
        // Earlier with probability 1/10 × 99/100: about 99 of 1,000.
        assert!((50..=150).contains(&earlier), "{earlier} earlier");
        assert_eq!(at_tip + earlier, 1_000);

        // Floored at 0 near the genesis block.
        let mut low = 0;
        for _ in 0..1_000 {
            let b = w
                .build_batch(&utxos, &ps, &params(Some(5)), &mut rng)
                .unwrap();
            let h = b.psbt.unsigned_tx.lock_time.to_consensus_u32();
            assert!(h <= 5);
            low += usize::from(h == 0);
        }
        assert!(low > 0);

        let b = w.build_batch(&utxos, &ps, &params(None), &mut rng).unwrap();
        assert_eq!(b.psbt.unsigned_tx.lock_time, absolute::LockTime::ZERO);
        assert!(matches!(
            w.build_batch(&utxos, &ps, &params(Some(500_000_000)), &mut rng),
            Err(BatchError::TipHeight(500_000_000))
        ));
        assert!(w
            .build_batch(&utxos, &ps, &params(Some(499_999_999)), &mut rng)
            .is_ok());
    }

    #[test]
    fn refusals_and_one_address_twice() {
        let (w, _) = wallet();
        let utxos = coins(&w, 3, 1_000_000);
        let mut rng = seeded(4);
        let p = params(Some(900_000));
        assert!(matches!(
            w.build_batch(&utxos, &[], &p, &mut rng),
            Err(BatchError::Empty)
        ));
        let few = BatchParams {
            max_payouts: 2,
            ..p.clone()
        };
        assert!(matches!(
            w.build_batch(&utxos, &payouts(3), &few, &mut rng),
            Err(BatchError::TooMany { count: 3, max: 2 })
        ));
        let mut dup = payouts(3);
        dup[2].id = "w-0".into();
        match w.build_batch(&utxos, &dup, &p, &mut rng) {
            Err(BatchError::DuplicateId(id)) => assert_eq!(id, "w-0"),
            other => panic!("{other:?}"),
        }
        let mut dust = payouts(3);
        dust[1].amount = Amount::from_sat(293); // P2WPKH dust limit is 294
        match w.build_batch(&utxos, &dust, &p, &mut rng) {
            Err(BatchError::Payout {
                id,
                source: CreateError::DustRecipient { .. },
            }) => assert_eq!(id, "w-1"),
            other => panic!("{other:?}"),
        }
        let mut rich = payouts(3);
        rich[0].amount = Amount::from_sat(3_000_000);
        assert!(matches!(
            w.build_batch(&utxos, &rich, &p, &mut rng),
            Err(BatchError::Create(CreateError::InsufficientFunds { .. }))
        ));

        // Two withdrawals to one address are two outputs.
        let mut same = payouts(2);
        same[1].address = same[0].address.clone();
        let b = w.build_batch(&utxos, &same, &p, &mut rng).unwrap();
        let spk = same[0].address.assume_checked_ref().script_pubkey();
        let paid: Vec<Amount> = b
            .positions
            .iter()
            .map(|(_, pos)| &b.psbt.unsigned_tx.output[*pos])
            .inspect(|o| assert_eq!(o.script_pubkey, spk))
            .map(|o| o.value)
            .collect();
        assert_eq!(
            paid,
            vec![Amount::from_sat(10_000), Amount::from_sat(10_137)]
        );
    }

    #[test]
    fn single_payout_weight_counts_as_create_psbt() {
        let (w, _) = wallet();
        let spk = external(0).assume_checked_ref().script_pubkey();
        // 2-of-3 P2WSH: version 4, counts 1 + 1, input 41, P2WPKH output 31,
        // P2WSH change 43, lock time 4 = 125 bytes (500 wu); marker and flag
        // 2; witness: 4 items, empty dummy, two 73-byte signatures, script
        // length and the 105-byte script = 254.
        assert_eq!(w.single_payout_weight(1, &spk), Weight::from_wu(756));
        assert_eq!(
            w.single_payout_weight(2, &spk),
            Weight::from_wu(756 + 164 + 254)
        );
        // A one-payout batch from one coin is exactly that transaction.
        let b = w
            .build_batch(
                &coins(&w, 1, 1_000_000),
                &payouts(1),
                &params(Some(1)),
                &mut seeded(0),
            )
            .unwrap();
        assert!(b.change.is_some());
        assert_eq!(b.estimated_weight, w.single_payout_weight(1, &spk));
        assert_eq!(b.unbatched_vsize, b.vsize);
        assert_eq!(b.unbatched_fee, b.fee);
    }

    #[test]
    fn signed_batch_passes_core_and_meets_the_fee_rate() {
        let (w, masters) = wallet();
        let utxos = coins(&w, 20, 2_000_000);
        let p = params(Some(900_000));
        let mut b = w
            .build_batch(&utxos, &payouts(100), &p, &mut seeded(7))
            .unwrap();
        let path = DerivationPath::from_str(ACCOUNT).unwrap();
        for m in &masters[..2] {
            let signer = XprvSigner::from_master(m, &path).unwrap();
            let report = w.sign(&mut b.psbt, &signer).unwrap();
            assert_eq!(report.signatures(), b.psbt.inputs.len());
        }
        let lock = b.psbt.unsigned_tx.lock_time;
        finalize(&mut b.psbt).unwrap();
        let tx = extract(b.psbt, MAX_FEE_RATE).unwrap();
        assert_eq!(tx.lock_time, lock);
        let spent: HashMap<OutPoint, TxOut> = utxos
            .iter()
            .map(|u| (u.outpoint, u.prev_tx.output[0].clone()))
            .collect();
        // Bitcoin Core's script interpreter (libbitcoinconsensus).
        tx.verify(|op| spent.get(op).cloned())
            .expect("Bitcoin Core's interpreter accepts the batch");
        let weight = tx.weight();
        assert!(weight <= b.estimated_weight);
        // fee / weight >= rate, in integers.
        assert!(b.fee.to_sat() * 1000 >= p.fee_rate.to_sat_per_kwu() * weight.to_wu());
    }
}
