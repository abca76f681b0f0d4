//! Signing: keys behind a trait, one sighash cache per PSBT.

use std::fmt;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, KeySource, Xpriv, Xpub};
use bitcoin::consensus::serialize;
use bitcoin::ecdsa;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{self, All, Message, PublicKey, Scalar, Secp256k1, SecretKey, Signing};
use bitcoin::sighash::{EcdsaSighashType, SegwitV0Sighash};
use bitcoin::{Amount, Script, ScriptBuf, Transaction, TxOut};
use rayon::prelude::*;

use crate::derive::{AddressError, ScriptIndex};
use crate::wallet::{Keychain, MultisigWallet};

/// What a signer is asked for: the child key of one cosigner at one address.
#[derive(Debug, Clone, Copy)]
pub struct KeyRequest<'a> {
    /// Master fingerprint of the cosigner's key.
    pub fingerprint: Fingerprint,
    /// Path from the master key to the account key.
    pub account_path: &'a DerivationPath,
    /// The account xpub the wallet holds for this cosigner.
    pub account_xpub: &'a Xpub,
    /// The keychain of the address.
    pub keychain: Keychain,
    /// The index of the address.
    pub index: u32,
}

impl KeyRequest<'_> {
    /// The full path from the master key.
    pub fn full_path(&self) -> DerivationPath {
        let mut v: Vec<ChildNumber> = self.account_path.as_ref().to_vec();
        v.push(ChildNumber::Normal {
            index: self.keychain.branch(),
        });
        v.push(ChildNumber::Normal { index: self.index });
        DerivationPath::from(v)
    }
}

/// A source of secret keys (a key file, an HSM, a test fake), in the manner of
/// rust-bitcoin's `GetKey`.
///
/// `Sync`, because [`MultisigWallet::sign`] asks for the keys of many inputs
/// from several threads at once (a source around a device handle keeps it
/// behind a `Mutex`).
pub trait SigningKeys: Sync {
    /// The secret key for `request`: `Ok(None)` when this source does not
    /// hold it, an error when it could not tell (a device that failed, a
    /// locked HSM) — which stops the signing instead of reading as "not
    /// held".
    ///
    /// # Errors
    /// [`KeySourceError`] when the source failed.
    fn secret_key(&self, request: &KeyRequest<'_>) -> Result<Option<SecretKey>, KeySourceError>;
}

/// A key source that failed to answer (never a key or a secret in it).
#[derive(Debug, thiserror::Error)]
#[error("the key source failed")]
pub struct KeySourceError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl KeySourceError {
    /// Wraps the source's own error.
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        KeySourceError(e.into())
    }
}

/// Why an [`XprvSigner`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XprvSignerError {
    /// BIP32 derivation failed (negligible probability) or the key is not the
    /// account key at the stated origin.
    #[error("account key derivation failed")]
    Derivation,
    /// The account path is not all hardened steps.
    #[error("account path must be hardened")]
    UnhardenedAccountPath,
}

/// Signs with one account key, held as an extended private key.
///
/// The account's receive and change branch keys are derived once; each input
/// then costs one HMAC-SHA512 and one scalar addition. The private keys are
/// overwritten on drop (best effort: `SecretKey` is `Copy` in secp256k1, so
/// copies made by callers are out of reach). Debug prints `[redacted]`.
pub struct XprvSigner {
    fingerprint: Fingerprint,
    account_path: DerivationPath,
    account_xpub: Xpub,
    /// `[receive, change]` branch private keys.
    branch_priv: [SecretKey; 2],
    /// `[receive, change]` branch public keys (for the HMAC input).
    branch_pub: [Xpub; 2],
}

impl fmt::Debug for XprvSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XprvSigner")
            .field("fingerprint", &self.fingerprint)
            .field("account_path", &self.account_path)
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl Drop for XprvSigner {
    fn drop(&mut self) {
        for k in &mut self.branch_priv {
            k.non_secure_erase();
        }
    }
}

impl XprvSigner {
    /// From the master key and the account path (for example `m/48'/0'/0'/2'`).
    ///
    /// # Errors
    ///
    /// [`XprvSignerError`] when a step is unhardened or derivation fails.
    pub fn from_master(
        master: &Xpriv,
        account_path: &DerivationPath,
    ) -> Result<Self, XprvSignerError> {
        if account_path.into_iter().any(|c| c.is_normal()) {
            return Err(XprvSignerError::UnhardenedAccountPath);
        }
        let secp = Secp256k1::signing_only();
        let account = master
            .derive_priv(&secp, account_path)
            .map_err(|_| XprvSignerError::Derivation)?;
        Self::from_account(&account, (master.fingerprint(&secp), account_path.clone()))
    }

    /// From the account key and its origin (master fingerprint and path).
    ///
    /// # Errors
    ///
    /// [`XprvSignerError::Derivation`] when derivation fails (negligible).
    pub fn from_account(account: &Xpriv, origin: KeySource) -> Result<Self, XprvSignerError> {
        let secp = Secp256k1::signing_only();
        let account_xpub = Xpub::from_priv(&secp, account);
        let mut branch_priv = [account.private_key; 2];
        let mut branch_pub = [account_xpub; 2];
        for b in 0..2u32 {
            let child = account
                .derive_priv(&secp, &[ChildNumber::Normal { index: b }])
                .map_err(|_| XprvSignerError::Derivation)?;
            branch_priv[b as usize] = child.private_key;
            branch_pub[b as usize] = Xpub::from_priv(&secp, &child);
        }
        Ok(XprvSigner {
            fingerprint: origin.0,
            account_path: origin.1,
            account_xpub,
            branch_priv,
            branch_pub,
        })
    }

    /// The account xpub (what goes into the descriptor).
    pub fn account_xpub(&self) -> Xpub {
        self.account_xpub
    }

    /// The origin: master fingerprint and account path.
    pub fn origin(&self) -> KeySource {
        (self.fingerprint, self.account_path.clone())
    }
}

impl SigningKeys for XprvSigner {
    fn secret_key(&self, r: &KeyRequest<'_>) -> Result<Option<SecretKey>, KeySourceError> {
        if r.fingerprint != self.fingerprint
            || r.account_path != &self.account_path
            || r.account_xpub != &self.account_xpub
        {
            return Ok(None);
        }
        let b = r.keychain.branch() as usize;
        // An index of 2^31 or more is no normal child: not a key we hold.
        let Ok(child) = ChildNumber::from_normal_idx(r.index) else {
            return Ok(None);
        };
        // BIP32 CKDpriv for a normal child: the tweak is computed from the
        // branch *public* key, so no point multiplication is needed here.
        // Both steps fail with negligible probability (BIP32: "proceed with
        // the next index"); that is a failure to derive, not "not held".
        let (tweak, _) = self.branch_pub[b]
            .ckd_pub_tweak(child)
            .map_err(KeySourceError::new)?;
        self.branch_priv[b]
            .add_tweak(&Scalar::from(tweak))
            .map(Some)
            .map_err(KeySourceError::new)
    }
}

/// What [`MultisigWallet::sign`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignReport {
    /// Inputs signed, with the number of signatures added to each.
    pub signed: Vec<(usize, usize)>,
    /// Inputs not ours (no derivation in this wallet).
    pub not_ours: Vec<usize>,
    /// Inputs ours, but for whose keys the signer holds no key.
    pub no_key: Vec<usize>,
    /// Inputs already finalized, left alone.
    pub finalized: Vec<usize>,
}

impl SignReport {
    /// Total signatures added.
    pub fn signatures(&self) -> usize {
        self.signed.iter().map(|(_, n)| n).sum()
    }
}

/// Why signing stopped. Nothing is written to the PSBT when it fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The key source failed while asked for input `input`'s key.
    #[error("input {input}: the key source failed")]
    KeySource {
        /// The input.
        input: usize,
        /// What failed.
        #[source]
        source: KeySourceError,
    },
    /// The input asks for a sighash type other than ALL.
    #[error("input {input} asks for a sighash type other than ALL")]
    SighashNotAll {
        /// The input.
        input: usize,
    },
    /// The input has no full previous transaction (segwit fee attack, CVE-2020-14199).
    #[error("input {input} has no previous transaction")]
    PrevTxMissing {
        /// The input.
        input: usize,
    },
    /// The previous transaction's txid is not the outpoint's.
    #[error("input {input}: previous transaction does not match the outpoint")]
    PrevTxMismatch {
        /// The input.
        input: usize,
    },
    /// The outpoint's index is beyond the previous transaction's outputs.
    #[error("input {input}: outpoint index beyond the previous transaction's outputs")]
    VoutOutOfRange {
        /// The input.
        input: usize,
    },
    /// `witness_utxo` differs from the previous transaction's output.
    #[error("input {input}: witness utxo differs from the previous transaction")]
    WitnessUtxoMismatch {
        /// The input.
        input: usize,
    },
    /// The wallet's script at the claimed derivation is not the input's.
    #[error("input {input}: script does not derive from the wallet at {keychain}/{index}")]
    ScriptMismatch {
        /// The input.
        input: usize,
        /// The keychain the PSBT claims.
        keychain: Keychain,
        /// The index the PSBT claims.
        index: u32,
    },
    /// The claimed index cannot be derived.
    #[error("input {input}: bad derivation index")]
    Derivation {
        /// The input.
        input: usize,
        /// Why.
        #[source]
        source: AddressError,
    },
    /// The PSBT's inputs and transaction inputs disagree in number.
    #[error("psbt inputs and transaction inputs differ in number")]
    Malformed,
}

/// One signature ready to be written.
struct Pending {
    input: usize,
    pubkey: PublicKey,
    signature: ecdsa::Signature,
    fill_witness_script: Option<ScriptBuf>,
}

/// Checks the input's previous transaction and returns the spent output.
fn spent_output(psbt: &Psbt, i: usize) -> Result<TxOut, SignError> {
    let input = &psbt.inputs[i];
    let outpoint = psbt.unsigned_tx.input[i].previous_output;
    let prev = input
        .non_witness_utxo
        .as_ref()
        .ok_or(SignError::PrevTxMissing { input: i })?;
    if prev.compute_txid() != outpoint.txid {
        return Err(SignError::PrevTxMismatch { input: i });
    }
    let out = usize::try_from(outpoint.vout)
        .ok()
        .and_then(|v| prev.output.get(v))
        .ok_or(SignError::VoutOutOfRange { input: i })?;
    if let Some(w) = &input.witness_utxo {
        if w != out {
            return Err(SignError::WitnessUtxoMismatch { input: i });
        }
    }
    Ok(out.clone())
}

/// Whether `script` contains `pk` as one of its 33-byte pushes.
fn script_has_key(script: &Script, pk: &PublicKey) -> bool {
    let ser = pk.serialize();
    script
        .instructions()
        .flatten()
        .any(|ins| ins.push_bytes().is_some_and(|b| b.as_bytes() == ser))
}

impl MultisigWallet {
    /// Where input `i` sits in the wallet according to its `bip32_derivation`,
    /// if any entry is a wallet address path.
    pub(crate) fn input_location(
        &self,
        derivations: &std::collections::BTreeMap<PublicKey, KeySource>,
    ) -> Option<(Keychain, u32)> {
        derivations
            .values()
            .find_map(|(fp, path)| match self.locate(*fp, path) {
                Some((_, Ok(loc))) => Some(loc),
                _ => None,
            })
    }

    /// Signs every input of `psbt` that belongs to this wallet and whose key
    /// `keys` holds, with SIGHASH_ALL and deterministic low-R ECDSA.
    ///
    /// Before signing an input it requires the full previous transaction
    /// (matching txid, index in range, `witness_utxo` equal to it), a sighash
    /// type of ALL or none, and it derives the witness script from the wallet
    /// at the keychain and index the PSBT claims and checks it is the script
    /// being spent. Inputs of other wallets and inputs already finalized are
    /// skipped and reported. The same PSBT and keys give the same bytes
    /// (RFC6979 nonces), however many threads did the work.
    ///
    /// Cost per input: a key request to `keys` per wallet key (for
    /// [`XprvSigner`], one HMAC-SHA512 and a scalar addition for the key it
    /// holds), the previous transaction's txid, n child public keys (one
    /// HMAC-SHA512 and one table-driven point sum each, see
    /// [`crate::child_pubkey`]; for a 2-of-3 together about 0.55 times the
    /// signature), one BIP143 digest from hashes computed once per PSBT, and a
    /// low-R ECDSA signature per held key (two nonce tries on average). From
    /// 16 inputs on, inputs are worked on in parallel on rayon's current
    /// thread pool (all cores by default; run inside `ThreadPool::install` to
    /// choose); fewer stay on the calling thread.
    ///
    /// # Errors
    ///
    /// [`SignError`] of the lowest-numbered input that fails a check; the PSBT
    /// is then left unchanged. (With 16 inputs or more, later inputs may have
    /// been worked on before the error is seen; the work is discarded.)
    pub fn sign<K: SigningKeys + ?Sized>(
        &self,
        psbt: &mut Psbt,
        keys: &K,
    ) -> Result<SignReport, SignError> {
        self.sign_inner(psbt, keys, None)
    }

    /// As [`MultisigWallet::sign`], but an input whose script is in `index`
    /// (scripts this wallet derived earlier) at the claimed keychain and index
    /// is not derived again: it costs a hash-map lookup and a parse of the
    /// script for our key instead of n child public keys. An index of another
    /// wallet is ignored.
    ///
    /// # Errors
    ///
    /// As [`MultisigWallet::sign`].
    pub fn sign_with_index<K: SigningKeys + ?Sized>(
        &self,
        psbt: &mut Psbt,
        keys: &K,
        index: &ScriptIndex,
    ) -> Result<SignReport, SignError> {
        let index = (index.wallet_id() == self.id()).then_some(index);
        self.sign_inner(psbt, keys, index)
    }

    fn sign_inner<K: SigningKeys + ?Sized>(
        &self,
        psbt: &mut Psbt,
        keys: &K,
        index: Option<&ScriptIndex>,
    ) -> Result<SignReport, SignError> {
        let n = psbt.inputs.len();
        if n != psbt.unsigned_tx.input.len() {
            return Err(SignError::Malformed);
        }
        let secp: Secp256k1<All> = Secp256k1::new();
        let job = SignJob {
            wallet: self,
            psbt: &*psbt,
            keys,
            index,
            secp: &secp,
            sighash: SegwitV0Common::new(&psbt.unsigned_tx),
        };
        let (report, pending) = if n < PARALLEL_THRESHOLD {
            // Lazily: the first error stops the work.
            merge_outcomes((0..n).map(|i| job.input(i)))?
        } else {
            let outcomes: Vec<_> = (0..n).into_par_iter().map(|i| job.input(i)).collect();
            merge_outcomes(outcomes.into_iter())?
        };
        for p in pending {
            let input = &mut psbt.inputs[p.input];
            input
                .partial_sigs
                .insert(bitcoin::PublicKey::new(p.pubkey), p.signature);
            if let Some(ws) = p.fill_witness_script {
                input.witness_script.get_or_insert(ws);
            }
        }
        Ok(report)
    }
}

/// Below this many inputs a PSBT is signed on the calling thread; from it on
/// the inputs are shared out over rayon's current thread pool. An input costs
/// about 0.4 ms of one core (derivations and signature), a rayon task a few
/// microseconds.
const PARALLEL_THRESHOLD: usize = 16;

/// What became of one input.
enum InputOutcome {
    Finalized,
    NotOurs,
    NoKey,
    /// Ours and a key held: the signatures to write (none when every one was
    /// in the PSBT already).
    Signed(Vec<Pending>),
}

/// The report and the signatures to write, from the outcomes in input order;
/// the error of the lowest input index, if any.
fn merge_outcomes(
    outcomes: impl Iterator<Item = Result<InputOutcome, SignError>>,
) -> Result<(SignReport, Vec<Pending>), SignError> {
    let mut report = SignReport::default();
    let mut pending = Vec::new();
    for (i, outcome) in outcomes.enumerate() {
        match outcome? {
            InputOutcome::Finalized => report.finalized.push(i),
            InputOutcome::NotOurs => report.not_ours.push(i),
            InputOutcome::NoKey => report.no_key.push(i),
            InputOutcome::Signed(sigs) => {
                report.signed.push((i, sigs.len()));
                pending.extend(sigs);
            }
        }
    }
    Ok((report, pending))
}

/// The BIP143 digests that the SIGHASH_ALL preimage of every input shares
/// (hashPrevouts, hashSequence, hashOutputs), computed once per PSBT.
///
/// Why not rust-bitcoin's `SighashCache`: it computes the same digests once,
/// but every use needs `&mut`, and it is neither `Clone` nor `Sync`, so the
/// signing threads could not share it; a cache per thread would hash every
/// input's outpoint again. The per-input rest of the preimage is written here
/// field by field as BIP143 lists it; a test checks it against `SighashCache`.
struct SegwitV0Common<'a> {
    tx: &'a Transaction,
    prevouts: sha256d::Hash,
    sequences: sha256d::Hash,
    outputs: sha256d::Hash,
}

impl<'a> SegwitV0Common<'a> {
    fn new(tx: &'a Transaction) -> Self {
        let mut prevouts = sha256d::Hash::engine();
        let mut sequences = sha256d::Hash::engine();
        for txin in &tx.input {
            prevouts.input(&serialize(&txin.previous_output));
            sequences.input(&txin.sequence.0.to_le_bytes());
        }
        let mut outputs = sha256d::Hash::engine();
        for txout in &tx.output {
            outputs.input(&serialize(txout));
        }
        SegwitV0Common {
            tx,
            prevouts: sha256d::Hash::from_engine(prevouts),
            sequences: sha256d::Hash::from_engine(sequences),
            outputs: sha256d::Hash::from_engine(outputs),
        }
    }

    /// The BIP143 SIGHASH_ALL digest of input `i` spending `value` with
    /// witness script `script`. Callers pass `i` below the input count.
    fn p2wsh_all(&self, i: usize, script: &Script, value: Amount) -> Option<SegwitV0Sighash> {
        let txin = self.tx.input.get(i)?;
        let mut e = SegwitV0Sighash::engine();
        e.input(&self.tx.version.0.to_le_bytes());
        e.input(self.prevouts.as_byte_array());
        e.input(self.sequences.as_byte_array());
        e.input(&serialize(&txin.previous_output));
        e.input(&serialize(script));
        e.input(&value.to_sat().to_le_bytes());
        e.input(&txin.sequence.0.to_le_bytes());
        e.input(self.outputs.as_byte_array());
        e.input(&self.tx.lock_time.to_consensus_u32().to_le_bytes());
        e.input(&EcdsaSighashType::All.to_u32().to_le_bytes());
        Some(SegwitV0Sighash::from_engine(e))
    }
}

/// One signing run over a PSBT: everything an input needs, shared read-only
/// by the threads.
struct SignJob<'a, K: ?Sized> {
    wallet: &'a MultisigWallet,
    psbt: &'a Psbt,
    keys: &'a K,
    index: Option<&'a ScriptIndex>,
    secp: &'a Secp256k1<All>,
    sighash: SegwitV0Common<'a>,
}

impl<K: SigningKeys + ?Sized> SignJob<'_, K> {
    /// Checks input `i` and makes its signatures (written later, and only if
    /// no input fails).
    fn input(&self, i: usize) -> Result<InputOutcome, SignError> {
        let w = self.wallet;
        let psbt = self.psbt;
        let input = &psbt.inputs[i];
        if input.final_script_witness.is_some() || input.final_script_sig.is_some() {
            return Ok(InputOutcome::Finalized);
        }
        let Some((keychain, idx)) = w.input_location(&input.bip32_derivation) else {
            return Ok(InputOutcome::NotOurs);
        };
        // Which of our keys does the signer hold here?
        let mut held: Vec<(usize, SecretKey)> = Vec::new();
        for (pos, k) in w.keys().iter().enumerate() {
            let req = KeyRequest {
                fingerprint: k.fingerprint,
                account_path: &k.origin_path,
                account_xpub: &k.xpub,
                keychain,
                index: idx,
            };
            match self.keys.secret_key(&req) {
                Ok(Some(sk)) => held.push((pos, sk)),
                Ok(None) => {}
                Err(source) => {
                    for (_, sk) in &mut held {
                        sk.non_secure_erase();
                    }
                    return Err(SignError::KeySource { input: i, source });
                }
            }
        }
        if held.is_empty() {
            return Ok(InputOutcome::NoKey);
        }
        let result = self.sign_held(i, keychain, idx, &held);
        for (_, sk) in &mut held {
            sk.non_secure_erase();
        }
        result
    }

    fn sign_held(
        &self,
        i: usize,
        keychain: Keychain,
        idx: u32,
        held: &[(usize, SecretKey)],
    ) -> Result<InputOutcome, SignError> {
        let w = self.wallet;
        let input = &self.psbt.inputs[i];
        match input.sighash_type {
            None => {}
            Some(t) if t.ecdsa_hash_ty() == Ok(EcdsaSighashType::All) => {}
            Some(_) => return Err(SignError::SighashNotAll { input: i }),
        }
        let spent = spent_output(self.psbt, i)?;
        let mismatch = || SignError::ScriptMismatch {
            input: i,
            keychain,
            index: idx,
        };
        // The script and our child public keys, derived or from the index.
        let indexed = self
            .index
            .is_some_and(|ix| ix.lookup(&spent.script_pubkey) == Some((keychain, idx)));
        let (script, pubkeys): (ScriptBuf, Vec<PublicKey>) = if indexed {
            let script = input.witness_script.clone().ok_or_else(mismatch)?;
            if ScriptBuf::new_p2wsh(&script.wscript_hash()) != spent.script_pubkey {
                return Err(mismatch());
            }
            // The script is ours; take our keys' public keys from the PSBT's
            // claims, each checked to be in the script.
            let mut pks = Vec::with_capacity(held.len());
            for (pos, _) in held {
                let k = &w.keys()[*pos];
                let path = k.child_path(keychain, idx);
                let pk = input
                    .bip32_derivation
                    .iter()
                    .find(|(_, (fp, p))| *fp == k.fingerprint && *p == path)
                    .map(|(pk, _)| *pk)
                    .filter(|pk| script_has_key(&script, pk))
                    .ok_or_else(mismatch)?;
                pks.push(pk);
            }
            (script, pks)
        } else {
            let (all, script) = w
                .keys_and_script(keychain, idx)
                .map_err(|source| SignError::Derivation { input: i, source })?;
            if input
                .witness_script
                .as_ref()
                .is_some_and(|ws| *ws != script)
                || ScriptBuf::new_p2wsh(&script.wscript_hash()) != spent.script_pubkey
            {
                return Err(mismatch());
            }
            (script, held.iter().map(|(pos, _)| all[*pos]).collect())
        };
        let sighash = self
            .sighash
            .p2wsh_all(i, &script, spent.value)
            .ok_or(SignError::Malformed)?;
        let msg = Message::from(sighash);
        let fill = input.witness_script.is_none().then(|| script.clone());
        let mut sigs = Vec::with_capacity(held.len());
        for ((_, sk), pk) in held.iter().zip(pubkeys) {
            if input
                .partial_sigs
                .contains_key(&bitcoin::PublicKey::new(pk))
            {
                continue;
            }
            let signature = ecdsa::Signature {
                signature: sign_low_r(self.secp, &msg, sk),
                sighash_type: EcdsaSighashType::All,
            };
            sigs.push(Pending {
                input: i,
                pubkey: pk,
                signature,
                fill_witness_script: fill.clone(),
            });
        }
        Ok(InputOutcome::Signed(sigs))
    }
}

/// Deterministic (RFC6979) low-R ECDSA, as Bitcoin Core signs.
fn sign_low_r<C: Signing>(
    secp: &Secp256k1<C>,
    msg: &Message,
    sk: &SecretKey,
) -> secp256k1::ecdsa::Signature {
    secp.sign_ecdsa_low_r(msg, sk)
}

#[cfg(test)]
mod tests {
    use bitcoin::hashes::Hash;
    use bitcoin::sighash::SighashCache;
    use bitcoin::transaction::Version;
    use bitcoin::{absolute, OutPoint, Sequence, TxIn, Txid, Witness};

    use super::*;

    #[test]
    fn bip143_digest_is_sighash_caches() {
        let tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::from_consensus(840_123),
            input: (0..4u32)
                .map(|i| TxIn {
                    previous_output: OutPoint {
                        txid: Txid::from_byte_array([i as u8 + 1; 32]),
                        vout: i * 7,
                    },
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence(0xffff_fffd - i),
                    witness: Witness::new(),
                })
                .collect(),
            output: vec![
                TxOut {
                    value: Amount::from_sat(12_345),
                    script_pubkey: ScriptBuf::new_op_return([1u8; 20]),
                },
                TxOut {
                    value: Amount::from_sat(678_900),
                    script_pubkey: ScriptBuf::from_bytes(vec![0x51; 40]),
                },
            ],
        };
        let common = SegwitV0Common::new(&tx);
        let mut cache = SighashCache::new(&tx);
        // A short script and one whose length takes a three-byte compact size.
        let scripts = [
            ScriptBuf::from_bytes(vec![0x52; 105]),
            ScriptBuf::from_bytes(vec![0xac; 300]),
        ];
        for i in 0..tx.input.len() {
            for s in &scripts {
                let value = Amount::from_sat(1_000 * i as u64 + 1);
                let want = cache
                    .p2wsh_signature_hash(i, s, value, EcdsaSighashType::All)
                    .unwrap();
                assert_eq!(common.p2wsh_all(i, s, value), Some(want), "input {i}");
            }
        }
        assert_eq!(common.p2wsh_all(4, &scripts[0], Amount::ZERO), None);
    }
}
