//! Addresses: the fast path from cached branch keys.
//!
//! For address `i` of a branch, each cosigner's child key is
//! `branch_pubkey + HMAC-SHA512(branch_chaincode, branch_pubkey || i)[..32]·G`
//! (BIP32 public derivation, one step). The branch keys (`account/0`,
//! `account/1`) are derived once when the wallet is built. The `t·G` term is
//! summed from a table of multiples of `G` (see [`child_pubkey`]). Then the keys are
//! sorted (BIP67), the `m <keys> n OP_CHECKMULTISIG` script is written into a
//! stack buffer, hashed and encoded. This is what miniscript's
//! `at_derivation_index(i).address()` computes, without re-walking the
//! descriptor, re-deriving the whole path or computing parent fingerprints.
//! It is hand-written (on top of rust-bitcoin's `ckd_pub_tweak`) because no
//! crate offers a batch path; a property test checks it against miniscript.

use std::collections::HashMap;
use std::sync::OnceLock;

use bitcoin::bip32::{ChildNumber, Xpub};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey, Verification};
use bitcoin::{Address, Script, ScriptBuf};
use rayon::prelude::*;

use crate::wallet::{Keychain, MultisigWallet, WalletKey, MAX_KEYS};

/// Largest witness script: two small-int pushes of at most two bytes, 20 keys
/// of 34 bytes and `OP_CHECKMULTISIG`.
const MAX_SCRIPT_LEN: usize = 2 + MAX_KEYS * 34 + 2 + 1;

/// Below this many addresses a range is derived on the calling thread.
const PARALLEL_THRESHOLD: u32 = 1024;

/// Why an address could not be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The index is 2^31 or more (a hardened index, not derivable from xpubs).
    #[error("index {0} is not below 2^31")]
    IndexTooLarge(u64),
    /// BIP32 derivation hit an invalid key (probability below 2^-127).
    #[error("key derivation failed at index {0}")]
    Derivation(u32),
}

/// The cached branch keys of every cosigner, per keychain.
#[derive(Clone, Debug)]
pub(crate) struct Branches {
    /// `[keychain][key position]`: the `account/0` and `account/1` xpubs.
    by_keychain: [Vec<Xpub>; 2],
}

impl Branches {
    pub(crate) fn new<C: Verification>(secp: &Secp256k1<C>, keys: &[WalletKey]) -> Self {
        let derive = |b: u32| {
            keys.iter()
                .map(|k| {
                    // Unhardened derivation from a valid xpub fails only for an
                    // invalid tweak, probability below 2^-127.
                    k.xpub
                        .ckd_pub(secp, ChildNumber::Normal { index: b })
                        .expect("branch derivation fails with negligible probability")
                })
                .collect::<Vec<_>>()
        };
        Branches {
            by_keychain: [derive(0), derive(1)],
        }
    }

    pub(crate) fn branch(&self, keychain: Keychain) -> &[Xpub] {
        &self.by_keychain[keychain.branch() as usize]
    }
}

fn check_index(index: u64) -> Result<u32, AddressError> {
    if index >= 1 << 31 {
        return Err(AddressError::IndexTooLarge(index));
    }
    // Checked just above.
    Ok(index as u32)
}

/// Digits per window of [`gen_table`]: the scalar's 32 bytes.
const WINDOWS: usize = 32;
/// Non-zero values of one digit (one byte).
const DIGITS: usize = 255;

/// `table[w * 255 + d - 1] = d·256^w·G` for windows `w < 32` and digits
/// `1 <= d <= 255`: 8,160 public keys (522 kB), built once per process on
/// first use from 32 multiplications and 8,128 additions (about 0.1 s).
///
/// Why a table of our own: libsecp256k1's `ec_pubkey_tweak_add` (what
/// rust-bitcoin's `ckd_pub` uses) computes `P + t·G` with the variable-base
/// `ecmult` (about 130 doublings), and its `ec_pubkey_create` (`t·G` by the
/// constant-time comb) costs about as much; neither crate offers a fixed-base
/// multiplication for *public* scalars. BIP32's tweak is public (anyone with
/// the xpub computes it), so it may be multiplied in variable time: one
/// `ec_pubkey_combine` of the branch key and one table entry per non-zero byte
/// of the tweak (at most 33 points, 32 additions and one inversion): about
/// 133 k instructions against 316 k for `tweak_add` (callgrind). Never use
/// this for secret scalars.
fn gen_table() -> &'static [PublicKey] {
    static TABLE: OnceLock<Vec<PublicKey>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let secp = Secp256k1::signing_only();
        let mut table = Vec::with_capacity(WINDOWS * DIGITS);
        for w in 0..WINDOWS {
            let mut unit = [0u8; 32];
            unit[31 - w] = 1;
            // 256^w for w < 32 is below the group order and not zero.
            let unit = SecretKey::from_slice(&unit).expect("256^w is a valid scalar");
            let base = PublicKey::from_secret_key(&secp, &unit);
            let mut acc = base;
            table.push(acc);
            for _ in 1..DIGITS {
                // d·256^w with d <= 255 and w < 32 is below the group order,
                // so the sum is never the point at infinity.
                acc = acc.combine(&base).expect("d·256^w·G is not infinity");
                table.push(acc);
            }
        }
        table
    })
}

/// One BIP32 public derivation step (`CKDpub`) for an unhardened `index`:
/// the child public key of `branch`, without the chain code and the parent
/// fingerprint that `Xpub::ckd_pub` also computes.
///
/// Cost: one HMAC-SHA512 (rust-bitcoin's `ckd_pub_tweak`) and one
/// `ec_pubkey_combine` of at most 33 points from a table of multiples of `G`
/// (built once per process, about 0.1 s and 522 kB on first use): about 152 k
/// instructions against 335 k for `ckd_pub`'s `ec_pubkey_tweak_add` path, less
/// than half. The same keys as `ckd_pub`; a test checks it.
///
/// # Errors
///
/// [`AddressError::Derivation`] when BIP32 declares the index invalid (a tweak
/// of zero or not below the group order, or a child at infinity; probability
/// below 2^-127). An index of 2^31 or more is not checked here: it is a
/// hardened index, and the result is *not* that child (callers check).
pub fn child_pubkey(branch: &Xpub, index: u32) -> Result<PublicKey, AddressError> {
    let (tweak, _chain_code) = branch
        .ckd_pub_tweak(ChildNumber::Normal { index })
        .map_err(|_| AddressError::Derivation(index))?;
    let table = gen_table();
    let mut terms = [&branch.public_key; WINDOWS + 1];
    let mut len = 1;
    // Big-endian bytes: the last is window 0.
    for (w, &d) in tweak.secret_bytes().iter().rev().enumerate() {
        if d != 0 {
            terms[len] = &table[w * DIGITS + usize::from(d) - 1];
            len += 1;
        }
    }
    PublicKey::combine_keys(&terms[..len]).map_err(|_| AddressError::Derivation(index))
}

/// Pushes a small positive integer as Bitcoin script does (`OP_1`..`OP_16`,
/// then a one-byte push for 17..=20).
fn push_int(buf: &mut [u8; MAX_SCRIPT_LEN], len: &mut usize, v: usize) {
    if v <= 16 {
        buf[*len] = 0x50 + v as u8;
        *len += 1;
    } else {
        buf[*len] = 0x01;
        buf[*len + 1] = v as u8;
        *len += 2;
    }
}

/// BIP67: sorts `keys` (compressed serializations) and writes
/// `m <keys> n OP_CHECKMULTISIG` into `buf`; returns the length.
/// Callers guarantee `1 <= m <= keys.len() <= 20`.
fn write_sorted_multisig(buf: &mut [u8; MAX_SCRIPT_LEN], m: usize, keys: &mut [[u8; 33]]) -> usize {
    keys.sort_unstable();
    let mut len = 0;
    push_int(buf, &mut len, m);
    for k in keys.iter() {
        buf[len] = 0x21; // OP_PUSHBYTES_33
        buf[len + 1..len + 34].copy_from_slice(k);
        len += 34;
    }
    push_int(buf, &mut len, keys.len());
    buf[len] = 0xae; // OP_CHECKMULTISIG
    len + 1
}

/// The BIP67 multisig script of `m` of `keys` (compressed public keys, in any
/// order): the keys sorted by their serialization, then
/// `m <keys> n OP_CHECKMULTISIG`. The wallet's addresses use the same code.
///
/// Returns `None` unless `1 <= m <= keys.len() <= 20`.
pub fn sorted_multisig_script(m: usize, keys: &[[u8; 33]]) -> Option<ScriptBuf> {
    if m == 0 || m > keys.len() || keys.len() > MAX_KEYS {
        return None;
    }
    let mut sorted = [[0u8; 33]; MAX_KEYS];
    sorted[..keys.len()].copy_from_slice(keys);
    let mut buf = [0u8; MAX_SCRIPT_LEN];
    let len = write_sorted_multisig(&mut buf, m, &mut sorted[..keys.len()]);
    Some(ScriptBuf::from_bytes(buf[..len].to_vec()))
}

impl MultisigWallet {
    /// Writes the witness script of `keychain`/`index` into `buf`; returns its length.
    fn write_witness_script(
        &self,
        keychain: Keychain,
        index: u32,
        buf: &mut [u8; MAX_SCRIPT_LEN],
    ) -> Result<usize, AddressError> {
        let branch = self.branches.branch(keychain);
        let n = branch.len();
        let mut keys = [[0u8; 33]; MAX_KEYS];
        for (slot, b) in keys.iter_mut().zip(branch) {
            *slot = child_pubkey(b, index)?.serialize();
        }
        Ok(write_sorted_multisig(buf, self.threshold(), &mut keys[..n]))
    }

    fn address_unchecked_index(
        &self,
        keychain: Keychain,
        index: u32,
    ) -> Result<Address, AddressError> {
        let mut buf = [0u8; MAX_SCRIPT_LEN];
        let len = self.write_witness_script(keychain, index, &mut buf)?;
        Ok(Address::p2wsh(
            Script::from_bytes(&buf[..len]),
            self.network(),
        ))
    }

    /// The witness script (`m <sorted keys> n OP_CHECKMULTISIG`) at `keychain`/`index`.
    ///
    /// # Errors
    ///
    /// [`AddressError::IndexTooLarge`] for an index of 2^31 or more.
    pub fn witness_script(
        &self,
        keychain: Keychain,
        index: u32,
    ) -> Result<ScriptBuf, AddressError> {
        let index = check_index(index.into())?;
        let mut buf = [0u8; MAX_SCRIPT_LEN];
        let len = self.write_witness_script(keychain, index, &mut buf)?;
        Ok(ScriptBuf::from_bytes(buf[..len].to_vec()))
    }

    /// Each cosigner's child key (descriptor order) and the witness script at
    /// `keychain`/`index`, from one derivation of each key.
    pub(crate) fn keys_and_script(
        &self,
        keychain: Keychain,
        index: u32,
    ) -> Result<(Vec<PublicKey>, ScriptBuf), AddressError> {
        let index = check_index(index.into())?;
        let pks = self
            .branches
            .branch(keychain)
            .iter()
            .map(|b| child_pubkey(b, index))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ser = [[0u8; 33]; MAX_KEYS];
        for (slot, pk) in ser.iter_mut().zip(&pks) {
            *slot = pk.serialize();
        }
        let mut buf = [0u8; MAX_SCRIPT_LEN];
        let len = write_sorted_multisig(&mut buf, self.threshold(), &mut ser[..pks.len()]);
        Ok((pks, ScriptBuf::from_bytes(buf[..len].to_vec())))
    }

    /// The P2WSH `scriptPubKey` at `keychain`/`index`.
    ///
    /// # Errors
    ///
    /// [`AddressError::IndexTooLarge`] for an index of 2^31 or more.
    pub fn script_pubkey(&self, keychain: Keychain, index: u32) -> Result<ScriptBuf, AddressError> {
        Ok(self.address(keychain, index)?.script_pubkey())
    }

    /// Each cosigner's child public key at `keychain`/`index`, in descriptor order.
    ///
    /// # Errors
    ///
    /// [`AddressError::IndexTooLarge`] for an index of 2^31 or more.
    pub fn child_keys(
        &self,
        keychain: Keychain,
        index: u32,
    ) -> Result<Vec<PublicKey>, AddressError> {
        let index = check_index(index.into())?;
        self.branches
            .branch(keychain)
            .iter()
            .map(|b| child_pubkey(b, index))
            .collect()
    }

    /// The address at `keychain`/`index`.
    ///
    /// # Errors
    ///
    /// [`AddressError::IndexTooLarge`] for an index of 2^31 or more.
    pub fn address(&self, keychain: Keychain, index: u32) -> Result<Address, AddressError> {
        let index = check_index(index.into())?;
        self.address_unchecked_index(keychain, index)
    }

    /// `count` addresses from `start`, in index order. Ranges of 1,024 or more
    /// are split over rayon's current thread pool (all cores by default; run
    /// inside `ThreadPool::install` to choose).
    ///
    /// # Errors
    ///
    /// [`AddressError::IndexTooLarge`] when the range reaches 2^31.
    pub fn addresses(
        &self,
        keychain: Keychain,
        start: u32,
        count: u32,
    ) -> Result<Vec<Address>, AddressError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        check_index(u64::from(start) + u64::from(count) - 1)?;
        if count < PARALLEL_THRESHOLD {
            (start..start + count)
                .map(|i| self.address_unchecked_index(keychain, i))
                .collect()
        } else {
            (start..start + count)
                .into_par_iter()
                .map(|i| self.address_unchecked_index(keychain, i))
                .collect()
        }
    }

    /// An index of this wallet's scripts over `count` indexes from `start` on
    /// both keychains, for recognizing our outputs and signing without
    /// deriving again (see [`MultisigWallet::sign_with_index`]).
    ///
    /// # Errors
    ///
    /// [`AddressError::IndexTooLarge`] when the range reaches 2^31.
    pub fn script_index(&self, start: u32, count: u32) -> Result<ScriptIndex, AddressError> {
        let mut map = HashMap::with_capacity(2 * count as usize);
        for kc in [Keychain::Receive, Keychain::Change] {
            for (i, a) in self.addresses(kc, start, count)?.into_iter().enumerate() {
                // `i < count`, so the sum stays below 2^31 (checked by `addresses`).
                map.insert(a.script_pubkey(), (kc, start + i as u32));
            }
        }
        Ok(ScriptIndex {
            wallet_id: self.id(),
            map,
        })
    }
}

/// Scripts of one wallet derived ahead of time: `scriptPubKey` → (keychain, index).
///
/// Made only by [`MultisigWallet::script_index`], so every entry was derived
/// by the wallet itself; it is tied to that wallet's id.
#[derive(Debug, Clone)]
pub struct ScriptIndex {
    wallet_id: String,
    map: HashMap<ScriptBuf, (Keychain, u32)>,
}

impl ScriptIndex {
    /// Where `script_pubkey` sits in the wallet, if it is in the index.
    pub fn lookup(&self, script_pubkey: &Script) -> Option<(Keychain, u32)> {
        self.map.get(script_pubkey).copied()
    }

    /// The id of the wallet the index was made from.
    pub fn wallet_id(&self) -> &str {
        &self.wallet_id
    }

    /// Number of scripts in the index.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ints_are_pushed_as_script_does() {
        for v in 1..=20usize {
            let mut buf = [0u8; MAX_SCRIPT_LEN];
            let mut len = 0;
            push_int(&mut buf, &mut len, v);
            let want = bitcoin::script::Builder::new()
                .push_int(v as i64)
                .into_script();
            assert_eq!(&buf[..len], want.as_bytes(), "{v}");
        }
    }

    #[test]
    fn sorted_multisig_script_bounds() {
        let k = [[2u8; 33], [3u8; 33]];
        assert!(sorted_multisig_script(0, &k).is_none());
        assert!(sorted_multisig_script(3, &k).is_none());
        assert!(sorted_multisig_script(1, &[[2u8; 33]; 21]).is_none());
        let s = sorted_multisig_script(2, &[[3u8; 33], [2u8; 33]]).unwrap();
        assert_eq!(s.len(), 1 + 2 * 34 + 1 + 1);
        assert_eq!(s.as_bytes()[2], 2, "sorted: the 02… key first");
    }

    #[test]
    fn child_pubkey_is_ckd_pub() {
        use bitcoin::bip32::Xpriv;
        let secp = Secp256k1::new();
        let special = [0, 1, 255, 256, 65_535, 1 << 24, (1 << 31) - 1];
        for seed in 1..=3u8 {
            let master = Xpriv::new_master(bitcoin::Network::Testnet, &[seed; 32]).unwrap();
            let xpub = Xpub::from_priv(&secp, &master);
            for i in (0..100).chain(special) {
                let want = xpub
                    .ckd_pub(&secp, ChildNumber::Normal { index: i })
                    .unwrap()
                    .public_key;
                assert_eq!(child_pubkey(&xpub, i), Ok(want), "seed {seed} index {i}");
            }
        }
    }

    #[test]
    fn table_holds_multiples_of_g() {
        let secp = Secp256k1::new();
        let table = gen_table();
        assert_eq!(table.len(), WINDOWS * DIGITS);
        for w in [0, 1, 16, 31] {
            for d in [1u8, 2, 128, 255] {
                let mut scalar = [0u8; 32];
                scalar[31 - w] = d;
                let sk = SecretKey::from_slice(&scalar).unwrap();
                assert_eq!(
                    table[w * DIGITS + usize::from(d) - 1],
                    PublicKey::from_secret_key(&secp, &sk),
                    "{d}·256^{w}·G"
                );
            }
        }
    }

    #[test]
    fn index_check() {
        assert_eq!(check_index(0), Ok(0));
        assert_eq!(check_index((1 << 31) - 1), Ok((1 << 31) - 1));
        assert_eq!(
            check_index(1 << 31),
            Err(AddressError::IndexTooLarge(1 << 31))
        );
    }
}
