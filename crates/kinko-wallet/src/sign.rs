//! Signing: keys behind a trait, one sighash cache per PSBT.

use std::fmt;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, KeySource, Xpriv, Xpub};
use bitcoin::ecdsa;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{self, All, Message, PublicKey, Scalar, Secp256k1, SecretKey, Signing};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Script, ScriptBuf, TxOut};

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
pub trait SigningKeys {
    /// The secret key for `request`, or `None` when this source does not hold it.
    fn secret_key(&self, request: &KeyRequest<'_>) -> Option<SecretKey>;
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
    fn secret_key(&self, r: &KeyRequest<'_>) -> Option<SecretKey> {
        if r.fingerprint != self.fingerprint
            || r.account_path != &self.account_path
            || r.account_xpub != &self.account_xpub
        {
            return None;
        }
        let b = r.keychain.branch() as usize;
        // BIP32 CKDpriv for a normal child: the tweak is computed from the
        // branch *public* key, so no point multiplication is needed here.
        let (tweak, _) = self.branch_pub[b]
            .ckd_pub_tweak(ChildNumber::from_normal_idx(r.index).ok()?)
            .ok()?;
        self.branch_priv[b].add_tweak(&Scalar::from(tweak)).ok()
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
    /// being spent. One sighash cache serves the whole PSBT. Inputs of other
    /// wallets and inputs already finalized are skipped and reported.
    ///
    /// # Errors
    ///
    /// [`SignError`] on the first input that fails a check; the PSBT is then
    /// left unchanged.
    pub fn sign<K: SigningKeys + ?Sized>(
        &self,
        psbt: &mut Psbt,
        keys: &K,
    ) -> Result<SignReport, SignError> {
        self.sign_inner(psbt, keys, None)
    }

    /// As [`MultisigWallet::sign`], but an input whose script is in `index`
    /// (scripts this wallet derived earlier) at the claimed keychain and index
    /// is not derived again. An index of another wallet is ignored.
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
        if psbt.inputs.len() != psbt.unsigned_tx.input.len() {
            return Err(SignError::Malformed);
        }
        let secp: Secp256k1<All> = Secp256k1::new();
        let mut report = SignReport::default();
        let mut pending = Vec::new();
        let unsigned_tx = psbt.unsigned_tx.clone();
        let mut cache = SighashCache::new(&unsigned_tx);
        for i in 0..psbt.inputs.len() {
            let input = &psbt.inputs[i];
            if input.final_script_witness.is_some() || input.final_script_sig.is_some() {
                report.finalized.push(i);
                continue;
            }
            let Some((keychain, idx)) = self.input_location(&input.bip32_derivation) else {
                report.not_ours.push(i);
                continue;
            };
            // Which of our keys does the signer hold here?
            let mut held: Vec<(usize, SecretKey)> = Vec::new();
            for (pos, k) in self.keys().iter().enumerate() {
                let req = KeyRequest {
                    fingerprint: k.fingerprint,
                    account_path: &k.origin_path,
                    account_xpub: &k.xpub,
                    keychain,
                    index: idx,
                };
                if let Some(sk) = keys.secret_key(&req) {
                    held.push((pos, sk));
                }
            }
            if held.is_empty() {
                report.no_key.push(i);
                continue;
            }
            match input.sighash_type {
                None => {}
                Some(t) if t.ecdsa_hash_ty() == Ok(EcdsaSighashType::All) => {}
                Some(_) => return Err(SignError::SighashNotAll { input: i }),
            }
            let spent = spent_output(psbt, i)?;
            let mismatch = SignError::ScriptMismatch {
                input: i,
                keychain,
                index: idx,
            };
            // The script and our child public keys, derived or from the index.
            let indexed =
                index.is_some_and(|ix| ix.lookup(&spent.script_pubkey) == Some((keychain, idx)));
            let (script, pubkeys): (ScriptBuf, Vec<PublicKey>) = if indexed {
                let script = input
                    .witness_script
                    .clone()
                    .ok_or(SignError::ScriptMismatch {
                        input: i,
                        keychain,
                        index: idx,
                    })?;
                if ScriptBuf::new_p2wsh(&script.wscript_hash()) != spent.script_pubkey {
                    return Err(mismatch);
                }
                // The script is ours; take our keys' public keys from the PSBT's
                // claims, each checked to be in the script.
                let mut pks = Vec::with_capacity(held.len());
                for (pos, _) in &held {
                    let k = &self.keys()[*pos];
                    let path = k.child_path(keychain, idx);
                    let pk = input
                        .bip32_derivation
                        .iter()
                        .find(|(_, (fp, p))| *fp == k.fingerprint && *p == path)
                        .map(|(pk, _)| *pk)
                        .filter(|pk| script_has_key(&script, pk))
                        .ok_or(SignError::ScriptMismatch {
                            input: i,
                            keychain,
                            index: idx,
                        })?;
                    pks.push(pk);
                }
                (script, pks)
            } else {
                let (all, script) = self
                    .keys_and_script(keychain, idx)
                    .map_err(|source| SignError::Derivation { input: i, source })?;
                if input.witness_script.as_ref().is_some_and(|w| *w != script)
                    || ScriptBuf::new_p2wsh(&script.wscript_hash()) != spent.script_pubkey
                {
                    return Err(mismatch);
                }
                (script, held.iter().map(|(pos, _)| all[*pos]).collect())
            };
            let sighash = cache
                .p2wsh_signature_hash(i, &script, spent.value, EcdsaSighashType::All)
                .map_err(|_| SignError::Malformed)?;
            let msg = Message::from(sighash);
            let fill = input.witness_script.is_none().then(|| script.clone());
            let mut added = 0;
            for ((_, sk), pk) in held.iter().zip(pubkeys) {
                if input
                    .partial_sigs
                    .contains_key(&bitcoin::PublicKey::new(pk))
                {
                    continue;
                }
                let signature = ecdsa::Signature {
                    signature: sign_low_r(&secp, &msg, sk),
                    sighash_type: EcdsaSighashType::All,
                };
                pending.push(Pending {
                    input: i,
                    pubkey: pk,
                    signature,
                    fill_witness_script: fill.clone(),
                });
                added += 1;
            }
            report.signed.push((i, added));
        }
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

/// Deterministic (RFC6979) low-R ECDSA, as Bitcoin Core signs.
fn sign_low_r<C: Signing>(
    secp: &Secp256k1<C>,
    msg: &Message,
    sk: &SecretKey,
) -> secp256k1::ecdsa::Signature {
    secp.sign_ecdsa_low_r(msg, sk)
}
