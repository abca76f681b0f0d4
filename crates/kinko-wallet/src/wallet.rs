//! The multisig wallet: parsing and validating a `wsh(sortedmulti(…))`
//! descriptor. Its wallet files (Core, Coldcard, Caravan) are in `export.rs`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpub};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Network, NetworkKind};
use miniscript::descriptor::{DescriptorPublicKey, ShInner, Wildcard, WshInner};
use miniscript::Descriptor;

use crate::derive::Branches;

/// At most this many keys in a wallet.
///
/// `OP_CHECKMULTISIG` takes at most 20 public keys (`MAX_PUBKEYS_PER_MULTISIG`
/// in Bitcoin Core), and miniscript refuses more in a `wsh(sortedmulti)`. The
/// other P2WSH standardness limits cannot bind below 20 keys: the witness script
/// of 20 compressed keys is 3 + 20 × 34 = 683 bytes, far under the
/// 3,600-byte `MAX_STANDARD_P2WSH_SCRIPT_SIZE`, and its witness has at most
/// 20 + 2 = 22 stack items, under `MAX_STANDARD_P2WSH_STACK_ITEMS` (100).
pub const MAX_KEYS: usize = 20;

/// Which branch of the wallet: receive (`/0/*`) or change (`/1/*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Keychain {
    /// External addresses, given to payers (`…/0/i`).
    Receive,
    /// Internal addresses, for change (`…/1/i`).
    Change,
}

impl Keychain {
    /// The unhardened child number of this branch: 0 for receive, 1 for change.
    pub fn branch(self) -> u32 {
        match self {
            Keychain::Receive => 0,
            Keychain::Change => 1,
        }
    }

    /// The keychain of a branch number, if it is 0 or 1.
    pub fn from_branch(branch: u32) -> Option<Keychain> {
        match branch {
            0 => Some(Keychain::Receive),
            1 => Some(Keychain::Change),
            _ => None,
        }
    }

    /// `"receive"` or `"change"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Keychain::Receive => "receive",
            Keychain::Change => "change",
        }
    }
}

impl fmt::Display for Keychain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cosigner's key: the account xpub and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletKey {
    /// Fingerprint of the master key the account key derives from.
    pub fingerprint: Fingerprint,
    /// Path from that master key to the account key (for example `m/48'/0'/0'/2'`).
    pub origin_path: DerivationPath,
    /// The account extended public key.
    pub xpub: Xpub,
}

impl WalletKey {
    /// The full derivation path of this key's child at `keychain`/`index`.
    pub fn child_path(&self, keychain: Keychain, index: u32) -> DerivationPath {
        let mut v: Vec<ChildNumber> = self.origin_path.as_ref().to_vec();
        v.push(ChildNumber::Normal {
            index: keychain.branch(),
        });
        v.push(ChildNumber::Normal { index });
        DerivationPath::from(v)
    }
}

/// Something about a valid wallet that deserves a look, but does not stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WalletWarning {
    /// Two keys share a master fingerprint: one seed holds two of the keys
    /// (or two seeds collide on 32 bits), so fewer independent holders than keys.
    DuplicateFingerprint(Fingerprint),
    /// The xpub's depth differs from the length of its origin path.
    OriginDepthMismatch {
        /// The fingerprint of the key.
        fingerprint: Fingerprint,
        /// The depth written in the xpub.
        depth: u8,
        /// The number of steps in the origin path.
        origin_len: usize,
    },
}

impl fmt::Display for WalletWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalletWarning::DuplicateFingerprint(fp) => {
                write!(f, "two or more keys share the master fingerprint {fp}")
            }
            WalletWarning::OriginDepthMismatch {
                fingerprint,
                depth,
                origin_len,
            } => write!(
                f,
                "key {fingerprint} has depth {depth} but an origin path of {origin_len} steps"
            ),
        }
    }
}

/// Why a descriptor is not a valid kinko multisig wallet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// Not a descriptor miniscript understands (syntax, bad key, bad checksum).
    #[error("invalid descriptor")]
    Parse(#[source] miniscript::Error),
    /// A descriptor, but not `wsh(sortedmulti(…))`.
    #[error("not a wsh(sortedmulti(...)) descriptor")]
    NotSortedMultiWsh,
    /// The threshold is not in 1 ≤ m ≤ n ≤ 20.
    #[error("invalid threshold {threshold} of {keys} keys (need 1 <= m <= n <= {max})", max = MAX_KEYS)]
    Threshold {
        /// m.
        threshold: usize,
        /// n.
        keys: usize,
    },
    /// A key is a bare public key or a private key, not an xpub.
    #[error("key {position} is not an extended public key")]
    NotXpub {
        /// Position of the key in the descriptor, from 0.
        position: usize,
    },
    /// A key has no `[fingerprint/path]` origin.
    #[error("key {position} has no origin ([fingerprint/path])")]
    MissingOrigin {
        /// Position of the key in the descriptor, from 0.
        position: usize,
    },
    /// A hardened step (or hardened wildcard) after the account key: the
    /// addresses could not be derived from the xpub.
    #[error("key {position} has a hardened step after the account key")]
    HardenedAfterAccount {
        /// Position of the key in the descriptor, from 0.
        position: usize,
    },
    /// The steps after the account key are not `/<0;1>/*` (or `/0/*` and `/1/*`).
    #[error("key {position} must end in /<0;1>/* (receive and change branches)")]
    UnsupportedPath {
        /// Position of the key in the descriptor, from 0.
        position: usize,
    },
    /// The same public key twice.
    #[error("keys {first} and {second} are the same key")]
    DuplicateKey {
        /// Position of the first occurrence.
        first: usize,
        /// Position of the second occurrence.
        second: usize,
    },
    /// Mainnet and testnet keys mixed.
    #[error("keys of different networks")]
    MixedNetworks,
    /// The keys' network (xpub vs tpub) does not match the network asked for.
    #[error("keys are for {keys:?} but the wallet network is {network}")]
    NetworkMismatch {
        /// Network kind of the keys.
        keys: NetworkKind,
        /// The network asked for.
        network: Network,
    },
    /// The receive and change descriptors of a pair are not the same wallet.
    #[error("receive and change descriptors do not describe the same wallet")]
    PairMismatch,
    /// A single-branch descriptor where a wallet needs both branches.
    #[error("descriptor has only one branch; use /<0;1>/* or give the receive and change pair")]
    SingleBranch,
}

/// An m-of-n P2WSH `sortedmulti` wallet with receive and change branches.
///
/// It can only hold a valid wallet: the constructors check the threshold,
/// the key origins, the derivation steps after the account keys, distinct keys
/// and one network. Addresses derive from cached branch keys (`account/0`,
/// `account/1`).
#[derive(Clone)]
pub struct MultisigWallet {
    threshold: usize,
    keys: Vec<WalletKey>,
    network: Network,
    warnings: Vec<WalletWarning>,
    pub(crate) branches: Branches,
}

impl fmt::Debug for MultisigWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultisigWallet")
            .field("descriptor", &self.descriptor())
            .field("network", &self.network)
            .finish()
    }
}

impl PartialEq for MultisigWallet {
    fn eq(&self, other: &Self) -> bool {
        self.threshold == other.threshold
            && self.keys == other.keys
            && self.network == other.network
    }
}
impl Eq for MultisigWallet {}

/// What one key of the descriptor says, before the wallet is assembled.
struct ParsedKey {
    key: WalletKey,
    /// Branches present after the account key: `[0, 1]` for `<0;1>`, else one.
    branches: Vec<u32>,
}

fn parse_key(position: usize, pk: &DescriptorPublicKey) -> Result<ParsedKey, DescriptorError> {
    let (origin, xkey, paths, wildcard) = match pk {
        DescriptorPublicKey::XPub(x) => (
            &x.origin,
            x.xkey,
            vec![x.derivation_path.clone()],
            x.wildcard,
        ),
        DescriptorPublicKey::MultiXPub(x) => (
            &x.origin,
            x.xkey,
            x.derivation_paths.paths().clone(),
            x.wildcard,
        ),
        DescriptorPublicKey::Single(_) => return Err(DescriptorError::NotXpub { position }),
    };
    let Some((fingerprint, origin_path)) = origin.clone() else {
        return Err(DescriptorError::MissingOrigin { position });
    };
    if wildcard == Wildcard::Hardened
        || paths
            .iter()
            .any(|p| p.into_iter().any(ChildNumber::is_hardened))
    {
        return Err(DescriptorError::HardenedAfterAccount { position });
    }
    if wildcard != Wildcard::Unhardened {
        return Err(DescriptorError::UnsupportedPath { position });
    }
    let mut branches = Vec::with_capacity(paths.len());
    for p in &paths {
        match p.as_ref() {
            [ChildNumber::Normal { index }] if *index <= 1 => branches.push(*index),
            _ => return Err(DescriptorError::UnsupportedPath { position }),
        }
    }
    if !(branches == [0] || branches == [1] || branches == [0, 1]) {
        return Err(DescriptorError::UnsupportedPath { position });
    }
    Ok(ParsedKey {
        key: WalletKey {
            fingerprint,
            origin_path,
            xpub: xkey,
        },
        branches,
    })
}

/// Threshold and keys of a `wsh(sortedmulti)` descriptor.
fn parse_sortedmulti(s: &str) -> Result<(usize, Vec<ParsedKey>), DescriptorError> {
    let desc =
        Descriptor::<DescriptorPublicKey>::from_str(s.trim()).map_err(DescriptorError::Parse)?;
    let smv = match &desc {
        Descriptor::Wsh(wsh) => match wsh.as_inner() {
            WshInner::SortedMulti(smv) => smv,
            WshInner::Ms(_) => return Err(DescriptorError::NotSortedMultiWsh),
        },
        Descriptor::Sh(sh) => match sh.as_inner() {
            // sh(wsh(sortedmulti)) is a different address type: refuse rather than
            // silently produce native P2WSH addresses for it.
            ShInner::Wsh(_) | ShInner::SortedMulti(_) | ShInner::Wpkh(_) | ShInner::Ms(_) => {
                return Err(DescriptorError::NotSortedMultiWsh)
            }
        },
        _ => return Err(DescriptorError::NotSortedMultiWsh),
    };
    let keys = smv
        .pks()
        .iter()
        .enumerate()
        .map(|(i, pk)| parse_key(i, pk))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((smv.k(), keys))
}

impl MultisigWallet {
    /// Parses a multipath descriptor `wsh(sortedmulti(m,[fp/path]xpub/<0;1>/*,…))`
    /// for `network`. The BIP380 checksum is checked when present.
    ///
    /// # Errors
    ///
    /// [`DescriptorError`] when the descriptor does not parse, is not a
    /// `wsh(sortedmulti)`, or breaks a rule of [`MultisigWallet`].
    pub fn from_descriptor(descriptor: &str, network: Network) -> Result<Self, DescriptorError> {
        let (threshold, keys) = parse_sortedmulti(descriptor)?;
        if keys.iter().any(|k| k.branches != [0, 1]) {
            return Err(DescriptorError::SingleBranch);
        }
        Self::new(
            threshold,
            keys.into_iter().map(|k| k.key).collect(),
            network,
        )
    }

    /// Parses the pair of single-branch descriptors `…/0/*` (receive) and
    /// `…/1/*` (change) of one wallet.
    ///
    /// # Errors
    ///
    /// As [`MultisigWallet::from_descriptor`], and [`DescriptorError::PairMismatch`]
    /// when the two are not the two branches of the same keys and threshold.
    pub fn from_pair(
        receive: &str,
        change: &str,
        network: Network,
    ) -> Result<Self, DescriptorError> {
        let (t0, k0) = parse_sortedmulti(receive)?;
        let (t1, k1) = parse_sortedmulti(change)?;
        let same_keys = k0.len() == k1.len() && k0.iter().zip(&k1).all(|(a, b)| a.key == b.key);
        if t0 != t1
            || !same_keys
            || k0.iter().any(|k| k.branches != [0])
            || k1.iter().any(|k| k.branches != [1])
        {
            return Err(DescriptorError::PairMismatch);
        }
        Self::new(t0, k0.into_iter().map(|k| k.key).collect(), network)
    }

    /// Parses a descriptor, inferring the network from the keys: `xpub` →
    /// [`Network::Bitcoin`], `tpub` → [`Network::Testnet`]. Use
    /// [`MultisigWallet::from_descriptor`] for signet or regtest.
    ///
    /// # Errors
    ///
    /// As [`MultisigWallet::from_descriptor`].
    pub fn parse_infer_network(descriptor: &str) -> Result<Self, DescriptorError> {
        let (_, keys) = parse_sortedmulti(descriptor)?;
        let network = match keys.first().map(|k| k.key.xpub.network) {
            Some(NetworkKind::Main) | None => Network::Bitcoin,
            Some(NetworkKind::Test) => Network::Testnet,
        };
        Self::from_descriptor(descriptor, network)
    }

    /// Builds a wallet from its parts, with every check of the parsers.
    ///
    /// # Errors
    ///
    /// [`DescriptorError`] for a bad threshold, duplicate keys, mixed networks,
    /// or keys of another network than `network`.
    pub fn new(
        threshold: usize,
        keys: Vec<WalletKey>,
        network: Network,
    ) -> Result<Self, DescriptorError> {
        let n = keys.len();
        if threshold == 0 || threshold > n || n > MAX_KEYS {
            return Err(DescriptorError::Threshold { threshold, keys: n });
        }
        let kind = keys[0].xpub.network;
        if keys.iter().any(|k| k.xpub.network != kind) {
            return Err(DescriptorError::MixedNetworks);
        }
        if NetworkKind::from(network) != kind {
            return Err(DescriptorError::NetworkMismatch {
                keys: kind,
                network,
            });
        }
        for (i, a) in keys.iter().enumerate() {
            for (j, b) in keys.iter().enumerate().skip(i + 1) {
                if a.xpub.public_key == b.xpub.public_key {
                    return Err(DescriptorError::DuplicateKey {
                        first: i,
                        second: j,
                    });
                }
            }
        }
        let mut warnings = Vec::new();
        let mut seen = BTreeSet::new();
        let mut flagged = BTreeSet::new();
        for k in &keys {
            if !seen.insert(k.fingerprint) && flagged.insert(k.fingerprint) {
                warnings.push(WalletWarning::DuplicateFingerprint(k.fingerprint));
            }
            let origin_len = k.origin_path.len();
            if usize::from(k.xpub.depth) != origin_len {
                warnings.push(WalletWarning::OriginDepthMismatch {
                    fingerprint: k.fingerprint,
                    depth: k.xpub.depth,
                    origin_len,
                });
            }
        }
        let branches = Branches::new(&Secp256k1::verification_only(), &keys);
        Ok(MultisigWallet {
            threshold,
            keys,
            network,
            warnings,
            branches,
        })
    }

    /// m: how many signatures spend a coin.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The keys in descriptor order.
    pub fn keys(&self) -> &[WalletKey] {
        &self.keys
    }

    /// The network addresses are made for.
    pub fn network(&self) -> Network {
        self.network
    }

    /// Things worth a look that do not make the wallet invalid (for example,
    /// two keys from one seed).
    pub fn warnings(&self) -> &[WalletWarning] {
        &self.warnings
    }

    fn body(&self, suffix: &str) -> String {
        let mut s = format!("wsh(sortedmulti({}", self.threshold);
        for k in &self.keys {
            s.push_str(&format!(
                ",[{}{}]{}{}",
                k.fingerprint,
                origin_suffix(&k.origin_path),
                k.xpub,
                suffix
            ));
        }
        s.push_str("))");
        s
    }

    fn with_checksum(body: String) -> String {
        match miniscript::descriptor::checksum::desc_checksum(&body) {
            Ok(c) => format!("{body}#{c}"),
            // Only characters outside the descriptor alphabet fail; ours are
            // base58, hex, digits and `[]/'<>;*,()#` which are all in it.
            Err(_) => body,
        }
    }

    /// The multipath descriptor `wsh(sortedmulti(m,[fp/path]xpub/<0;1>/*,…))#checksum`.
    pub fn descriptor(&self) -> String {
        Self::with_checksum(self.body("/<0;1>/*"))
    }

    /// The single-branch descriptor of `keychain` (`…/0/*` or `…/1/*`) with checksum.
    pub fn branch_descriptor(&self, keychain: Keychain) -> String {
        Self::with_checksum(self.body(&format!("/{}/*", keychain.branch())))
    }

    /// The branch descriptor parsed by miniscript (for checks against miniscript).
    pub fn miniscript_descriptor(&self, keychain: Keychain) -> Descriptor<DescriptorPublicKey> {
        // The string was written by `branch_descriptor` from validated keys.
        Descriptor::from_str(&self.branch_descriptor(keychain))
            .expect("a descriptor written from validated keys parses")
    }

    /// A short id of the wallet: the BIP380 checksum of its multipath
    /// descriptor (8 characters), the same on every machine.
    pub fn id(&self) -> String {
        miniscript::descriptor::checksum::desc_checksum(&self.body("/<0;1>/*")).unwrap_or_default()
    }

    /// Which wallet key (position) holds `fingerprint` and `path`, and at
    /// which keychain and index, when `path` is the key's origin path
    /// followed by `/branch/index`.
    pub(crate) fn locate(
        &self,
        fingerprint: Fingerprint,
        path: &DerivationPath,
    ) -> Option<(usize, Location)> {
        let steps = path.as_ref();
        for (pos, k) in self.keys.iter().enumerate() {
            if k.fingerprint != fingerprint {
                continue;
            }
            let origin = k.origin_path.as_ref();
            if steps.len() < origin.len() || &steps[..origin.len()] != origin {
                continue;
            }
            let rest = &steps[origin.len()..];
            let r = match rest {
                [ChildNumber::Normal { index: b }, ChildNumber::Normal { index }] => {
                    match Keychain::from_branch(*b) {
                        Some(kc) => Ok((kc, *index)),
                        None => Err(PathProblem::UnknownBranch),
                    }
                }
                _ if rest.iter().any(ChildNumber::is_hardened) => Err(PathProblem::Hardened),
                _ => Err(PathProblem::Shape),
            };
            return Some((pos, r));
        }
        None
    }

    /// Whether `fingerprint` is the master fingerprint of one of our keys.
    pub(crate) fn has_fingerprint(&self, fingerprint: Fingerprint) -> bool {
        self.keys.iter().any(|k| k.fingerprint == fingerprint)
    }
}

/// The steps of `path` as `/48'/0'/0'/2'` (empty for the master), the way a
/// descriptor origin writes them after the fingerprint.
pub(crate) fn origin_suffix(path: &DerivationPath) -> String {
    path.into_iter().map(|c| format!("/{c}")).collect()
}

/// `path` as `m/48'/0'/0'/2'` (`m` alone for the master).
pub(crate) fn m_path(path: &DerivationPath) -> String {
    format!("m{}", origin_suffix(path))
}

/// Where a claimed path lands: an address of the wallet, or why not.
pub(crate) type Location = Result<(Keychain, u32), PathProblem>;

/// Why a path that starts at one of our keys is not a wallet address path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathProblem {
    /// A hardened step after the account key.
    Hardened,
    /// A branch other than 0 (receive) or 1 (change).
    UnknownBranch,
    /// Not exactly two steps after the account key.
    Shape,
}

impl FromStr for MultisigWallet {
    type Err = DescriptorError;

    /// Parses a multipath descriptor, inferring the network from the keys
    /// (see [`MultisigWallet::parse_infer_network`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_infer_network(s)
    }
}

impl fmt::Display for MultisigWallet {
    /// The multipath descriptor with checksum.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.descriptor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keychains() {
        assert_eq!(Keychain::from_branch(0), Some(Keychain::Receive));
        assert_eq!(Keychain::from_branch(1), Some(Keychain::Change));
        assert_eq!(Keychain::from_branch(2), None);
        assert_eq!(Keychain::Change.to_string(), "change");
    }

    #[test]
    fn paths_print_as_descriptors_and_coldcard_write_them() {
        let p: DerivationPath = "m/48'/0'/0'/2'".parse().unwrap();
        assert_eq!(origin_suffix(&p), "/48'/0'/0'/2'");
        assert_eq!(m_path(&p), "m/48'/0'/0'/2'");
        assert_eq!(m_path(&DerivationPath::master()), "m");
    }
}
