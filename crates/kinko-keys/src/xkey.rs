//! Extended keys: strict xpub/xprv decoding, the secret extended private key
//! type, key origins and origin-qualified xpubs.
//!
//! rust-bitcoin 0.32's `Xpriv::decode` / `Xpub::decode` accept several of the
//! invalid keys of BIP32 test vector 5 (a private key with a `02` prefix byte,
//! depth 0 with a parent fingerprint or child number). [`decode_xkey`] runs
//! the checks BIP32 asks for on the 78 raw bytes first, and only then hands
//! them to rust-bitcoin.

use std::fmt;
use std::str::FromStr;

use bitcoin::bip32::{ChainCode, ChildNumber, Fingerprint, Xpriv, Xpub};
use bitcoin::secp256k1::{self, Secp256k1, Signing};
use bitcoin::{base58, NetworkKind};
use zeroize::Zeroizing;

use crate::path::{KeyPath, PathError};
use crate::secret::{redacted_fmt, Seed};

const VERSION_XPUB: [u8; 4] = [0x04, 0x88, 0xB2, 0x1E];
const VERSION_XPRV: [u8; 4] = [0x04, 0x88, 0xAD, 0xE4];
const VERSION_TPUB: [u8; 4] = [0x04, 0x35, 0x87, 0xCF];
const VERSION_TPRV: [u8; 4] = [0x04, 0x35, 0x83, 0x94];

/// Length of a serialized extended key (BIP32).
pub const XKEY_LEN: usize = 78;

/// Why a string is not a valid extended key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XkeyError {
    /// Not base58, or the 4-byte checksum does not match.
    #[error("not a base58check string, or its checksum does not match")]
    Base58,
    /// The decoded payload is not 78 bytes.
    #[error("an extended key is 78 bytes, this one is {0}")]
    Length(usize),
    /// The 4 version bytes are not xpub, xprv, tpub or tprv.
    #[error("unknown extended key version {0:02x?}")]
    UnknownVersion([u8; 4]),
    /// A private key (xprv/tprv) was given where a public one is expected.
    #[error("expected an extended public key (xpub/tpub), found a private one")]
    ExpectedPublic,
    /// A public key (xpub/tpub) was given where a private one is expected.
    #[error("expected an extended private key (xprv/tprv), found a public one")]
    ExpectedPrivate,
    /// Depth 0 (a master key) with a parent fingerprint other than zero.
    #[error("zero depth with non-zero parent fingerprint")]
    ZeroDepthParentFingerprint,
    /// Depth 0 (a master key) with a child number other than zero.
    #[error("zero depth with non-zero child number")]
    ZeroDepthChildNumber,
    /// Public version bytes over private key data (key data starts with 00).
    #[error("public key version with private key data")]
    PublicVersionPrivateData,
    /// Private version bytes over public key data (key data starts with 02/03).
    #[error("private key version with public key data")]
    PrivateVersionPublicData,
    /// The public key does not start with 02 or 03.
    #[error("invalid public key prefix {0:#04x}, expected 0x02 or 0x03")]
    PublicKeyPrefix(u8),
    /// The private key data does not start with 00.
    #[error("invalid private key prefix {0:#04x}, expected 0x00")]
    PrivateKeyPrefix(u8),
    /// The public key is not a point on secp256k1.
    #[error("public key is not a point on the curve")]
    PublicKeyNotOnCurve,
    /// The private key is 0 or not below the curve order n.
    #[error("private key not in 1..n-1")]
    PrivateKeyOutOfRange,
}

/// An extended key decoded by [`decode_xkey`].
pub enum ExtendedKey {
    /// xpub or tpub.
    Public(Xpub),
    /// xprv or tprv.
    Private(SecretXpriv),
}

impl fmt::Debug for ExtendedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtendedKey::Public(x) => f.debug_tuple("Public").field(&x.to_string()).finish(),
            ExtendedKey::Private(x) => f.debug_tuple("Private").field(x).finish(),
        }
    }
}

/// Decodes an xpub, tpub, xprv or tprv with every check of BIP32
/// (test vector 5).
///
/// # Errors
///
/// [`XkeyError`]; private key bytes never appear in it.
pub fn decode_xkey(s: &str) -> Result<ExtendedKey, XkeyError> {
    let data = Zeroizing::new(base58::decode_check(s).map_err(|_| XkeyError::Base58)?);
    decode_xkey_bytes(&data)
}

/// Decodes the 78-byte BIP32 serialization (see [`decode_xkey`]).
///
/// # Errors
///
/// [`XkeyError`]; private key bytes never appear in it.
pub fn decode_xkey_bytes(data: &[u8]) -> Result<ExtendedKey, XkeyError> {
    if data.len() != XKEY_LEN {
        return Err(XkeyError::Length(data.len()));
    }
    let version: [u8; 4] = data[0..4].try_into().expect("78 >= 4");
    let private = match version {
        VERSION_XPUB | VERSION_TPUB => false,
        VERSION_XPRV | VERSION_TPRV => true,
        other => return Err(XkeyError::UnknownVersion(other)),
    };
    let depth = data[4];
    if depth == 0 {
        if data[5..9] != [0; 4] {
            return Err(XkeyError::ZeroDepthParentFingerprint);
        }
        if data[9..13] != [0; 4] {
            return Err(XkeyError::ZeroDepthChildNumber);
        }
    }
    let key_data = &data[45..78];
    if private {
        match key_data[0] {
            0x00 => {}
            0x02 | 0x03 => return Err(XkeyError::PrivateVersionPublicData),
            other => return Err(XkeyError::PrivateKeyPrefix(other)),
        }
        match secp256k1::SecretKey::from_slice(&key_data[1..]) {
            // Only a range check: wipe the copy it made.
            Ok(mut k) => k.non_secure_erase(),
            Err(_) => return Err(XkeyError::PrivateKeyOutOfRange),
        }
        let xpriv = Xpriv::decode(data).map_err(|_| XkeyError::PrivateKeyOutOfRange)?;
        Ok(ExtendedKey::Private(SecretXpriv { inner: xpriv }))
    } else {
        match key_data[0] {
            0x02 | 0x03 => {}
            0x00 => return Err(XkeyError::PublicVersionPrivateData),
            other => return Err(XkeyError::PublicKeyPrefix(other)),
        }
        let xpub = Xpub::decode(data).map_err(|_| XkeyError::PublicKeyNotOnCurve)?;
        Ok(ExtendedKey::Public(xpub))
    }
}

/// Parses an xpub or tpub strictly (see [`decode_xkey`]).
///
/// # Errors
///
/// [`XkeyError::ExpectedPublic`] for an xprv/tprv, or the decoding error.
pub fn parse_xpub(s: &str) -> Result<Xpub, XkeyError> {
    match decode_xkey(s)? {
        ExtendedKey::Public(x) => Ok(x),
        ExtendedKey::Private(_) => Err(XkeyError::ExpectedPublic),
    }
}

/// Why a derivation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeriveError {
    /// The derived key would be deeper than 255 levels.
    #[error("derivation deeper than 255 levels")]
    TooDeep,
    /// BIP32's "invalid key" case (probability below 2^-127): the derived
    /// scalar is zero or not below n. BIP32 says to proceed with the next
    /// index; kinko reports it instead.
    #[error("the derived key is invalid (probability below 2^-127), use another index")]
    InvalidKey,
    /// A key origin starts at a master key (depth 0); this key is deeper.
    #[error("key origins are computed from a master key (depth 0)")]
    NotMaster,
    /// A hardened step was asked of a public key.
    #[error("cannot derive a hardened child from a public key")]
    HardenedFromPublic,
}

fn map_bip32_error(e: bitcoin::bip32::Error) -> DeriveError {
    match e {
        bitcoin::bip32::Error::MaximumDepthExceeded => DeriveError::TooDeep,
        bitcoin::bip32::Error::CannotDeriveFromHardenedKey => DeriveError::HardenedFromPublic,
        _ => DeriveError::InvalidKey,
    }
}

/// An extended private key (BIP32 xprv/tprv) that wipes itself.
///
/// Wraps `bitcoin::bip32::Xpriv`, which is `Copy` and whose `Debug` prints
/// the chain code; this type is neither. On drop the secp256k1 key is erased
/// (`non_secure_erase`) and the chain code overwritten. `Debug` and `Display`
/// print `[redacted]`; the base58 string is available only through
/// [`SecretXpriv::to_string_with_secret`].
///
/// Copies made inside rust-bitcoin and secp256k1 during derivation (stack
/// temporaries, the HMAC state) are outside kinko's reach; each intermediate
/// level of a derivation is held in a `SecretXpriv` and wiped.
pub struct SecretXpriv {
    inner: Xpriv,
}

redacted_fmt!(SecretXpriv);

impl Drop for SecretXpriv {
    fn drop(&mut self) {
        self.inner.private_key.non_secure_erase();
        self.inner.chain_code = ChainCode::from([0u8; 32]);
        self.inner.parent_fingerprint = Fingerprint::default();
    }
}

impl SecretXpriv {
    /// The master key of `seed` (BIP32 "master key generation").
    ///
    /// # Errors
    ///
    /// [`DeriveError::InvalidKey`] in BIP32's probability-2^-127 case.
    pub fn new_master(network: impl Into<NetworkKind>, seed: &Seed) -> Result<Self, DeriveError> {
        Xpriv::new_master(network, seed.expose_bytes())
            .map(|inner| SecretXpriv { inner })
            .map_err(map_bip32_error)
    }

    /// Derives the key at `path` below this one, one level at a time; every
    /// intermediate level is wiped.
    ///
    /// # Errors
    ///
    /// [`DeriveError`] when the result would be deeper than 255 levels (or in
    /// BIP32's probability-2^-127 case).
    pub fn derive<C: Signing>(
        &self,
        secp: &Secp256k1<C>,
        path: &KeyPath,
    ) -> Result<SecretXpriv, DeriveError> {
        let mut current = SecretXpriv { inner: self.inner };
        for step in path.steps() {
            let next = current
                .inner
                .derive_priv(secp, &[*step])
                .map_err(map_bip32_error)?;
            // `current` is dropped (wiped) on reassignment.
            current = SecretXpriv { inner: next };
        }
        Ok(current)
    }

    /// The extended public key.
    pub fn to_xpub<C: Signing>(&self, secp: &Secp256k1<C>) -> Xpub {
        Xpub::from_priv(secp, &self.inner)
    }

    /// The fingerprint of this key (of its public key), as used in key
    /// origins when this is the master key.
    pub fn fingerprint<C: Signing>(&self, secp: &Secp256k1<C>) -> Fingerprint {
        self.inner.fingerprint(secp)
    }

    /// Mainnet or test networks.
    pub fn network(&self) -> NetworkKind {
        self.inner.network
    }

    /// Depth in the tree (0 for a master key).
    pub fn depth(&self) -> u8 {
        self.inner.depth
    }

    /// The child number this key was derived with (0 for a master key).
    pub fn child_number(&self) -> ChildNumber {
        self.inner.child_number
    }

    /// Borrows the rust-bitcoin key, for signing code that takes `&Xpriv`
    /// (PSBT signing, `GetKey`).
    ///
    /// This is the one place the secret leaves the type: do not copy the
    /// borrowed value (`Xpriv` is `Copy`) into anything that outlives the
    /// call, and never format it with `{:?}` (its `Debug` prints the chain
    /// code).
    pub fn expose_xpriv(&self) -> &Xpriv {
        &self.inner
    }

    /// The base58 xprv/tprv string, in a buffer wiped on drop.
    pub fn to_string_with_secret(&self) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new(self.inner.encode());
        let s = Zeroizing::new(base58::encode_check(bytes.as_slice()));
        zeroize::Zeroize::zeroize(&mut *bytes);
        s
    }
}

impl FromStr for SecretXpriv {
    type Err = XkeyError;

    /// Parses an xprv or tprv strictly (see [`decode_xkey`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match decode_xkey(s)? {
            ExtendedKey::Private(x) => Ok(x),
            ExtendedKey::Public(_) => Err(XkeyError::ExpectedPrivate),
        }
    }
}

/// Where a key comes from: the master key's fingerprint and the derivation
/// path from it, written `[d34db33f/48h/0h/0h/2h]` in descriptors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyOrigin {
    /// Fingerprint of the master key.
    pub fingerprint: Fingerprint,
    /// Path from the master key.
    pub path: KeyPath,
}

/// Why a key origin or an origin-qualified xpub does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// Does not start with `[` or has no closing `]`.
    #[error("a key origin is written [fingerprint/path]")]
    Brackets,
    /// The fingerprint is not 8 hexadecimal digits.
    #[error("the fingerprint of a key origin is 8 hexadecimal digits")]
    Fingerprint,
    /// The path inside the brackets is invalid.
    #[error("invalid path in the key origin")]
    Path(#[source] PathError),
    /// The key after the origin is invalid.
    #[error("invalid extended public key after the key origin")]
    Key(#[source] XkeyError),
    /// The xpub's depth differs from the origin path's length.
    #[error("the key has depth {key_depth} but its origin path has {path_len} steps")]
    DepthMismatch {
        /// Depth stored in the xpub.
        key_depth: u8,
        /// Steps in the origin path.
        path_len: usize,
    },
    /// The xpub's child number differs from the origin path's last step.
    #[error("the key's child number differs from the last step of its origin path")]
    ChildNumberMismatch,
}

impl KeyOrigin {
    /// A new origin.
    pub fn new(fingerprint: Fingerprint, path: KeyPath) -> Self {
        KeyOrigin { fingerprint, path }
    }
}

impl fmt::Display for KeyOrigin {
    /// `[d34db33f/48h/0h/0h/2h]`, or `[d34db33f]` for the master key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}", self.fingerprint)?;
        if !self.path.is_master() {
            write!(f, "/{}", self.path.to_relative_string())?;
        }
        f.write_str("]")
    }
}

impl FromStr for KeyOrigin {
    type Err = OriginError;

    /// Parses `[fingerprint/path]` (path steps with `h`, `H` or `'`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let inner = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .ok_or(OriginError::Brackets)?;
        let (fp, path) = match inner.split_once('/') {
            Some((fp, path)) => (fp, Some(path)),
            None => (inner, None),
        };
        if fp.len() != 8 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(OriginError::Fingerprint);
        }
        let fingerprint = Fingerprint::from_str(fp).map_err(|_| OriginError::Fingerprint)?;
        let path = match path {
            None => KeyPath::master(),
            // `[fp/]` has an empty first step; `[fp/m/..]` is not an origin.
            Some(p) if p.starts_with('m') => {
                return Err(OriginError::Path(PathError::MisplacedMaster))
            }
            Some("") => return Err(OriginError::Path(PathError::EmptyStep(1))),
            Some(p) => KeyPath::parse_relative(p).map_err(OriginError::Path)?,
        };
        Ok(KeyOrigin { fingerprint, path })
    }
}

/// An xpub with its origin: `[fingerprint/path]xpub…`, the form descriptors
/// and `kinko-signer xpub` use.
///
/// Parsing checks that the xpub's depth equals the origin path's length and
/// that its child number equals the path's last step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OriginXpub {
    /// Where the key comes from.
    pub origin: KeyOrigin,
    /// The extended public key.
    pub xpub: Xpub,
}

impl OriginXpub {
    /// Pairs an xpub with its origin, checking depth and child number.
    ///
    /// # Errors
    ///
    /// [`OriginError::DepthMismatch`] or [`OriginError::ChildNumberMismatch`].
    pub fn new(origin: KeyOrigin, xpub: Xpub) -> Result<Self, OriginError> {
        if usize::from(xpub.depth) != origin.path.len() {
            return Err(OriginError::DepthMismatch {
                key_depth: xpub.depth,
                path_len: origin.path.len(),
            });
        }
        if let Some(last) = origin.path.steps().last() {
            if *last != xpub.child_number {
                return Err(OriginError::ChildNumberMismatch);
            }
        }
        Ok(OriginXpub { origin, xpub })
    }
}

impl fmt::Display for OriginXpub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin, self.xpub)
    }
}

impl FromStr for OriginXpub {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.starts_with('[') {
            return Err(OriginError::Brackets);
        }
        let end = s.find(']').ok_or(OriginError::Brackets)?;
        let origin: KeyOrigin = s[..=end].parse()?;
        let xpub = parse_xpub(&s[end + 1..]).map_err(OriginError::Key)?;
        OriginXpub::new(origin, xpub)
    }
}

/// Derives the account key at `path` from `master` and returns it with its
/// origin: the value `kinko-signer xpub` prints.
///
/// # Errors
///
/// [`DeriveError::NotMaster`] when `master` is not at depth 0; otherwise
/// [`DeriveError`] from the derivation.
pub fn origin_xpub<C: Signing>(
    secp: &Secp256k1<C>,
    master: &SecretXpriv,
    path: &KeyPath,
) -> Result<OriginXpub, DeriveError> {
    if master.depth() != 0 {
        return Err(DeriveError::NotMaster);
    }
    let account = master.derive(secp, path)?;
    let origin = KeyOrigin::new(master.fingerprint(secp), path.clone());
    let xpub = account.to_xpub(secp);
    // From a depth-0 key the depth and child number follow the path, so this
    // cannot fail; map rather than panic all the same.
    OriginXpub::new(origin, xpub).map_err(|_| DeriveError::NotMaster)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XPUB: &str = "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8";

    #[test]
    fn origins_round_trip() {
        let o: KeyOrigin = "[d34db33f/48'/0'/0'/2']".parse().unwrap();
        assert_eq!(o.to_string(), "[d34db33f/48h/0h/0h/2h]");
        let o: KeyOrigin = "[D34DB33F]".parse().unwrap();
        assert_eq!(o.to_string(), "[d34db33f]");
        assert!(o.path.is_master());
    }

    #[test]
    fn bad_origins() {
        for s in [
            "",
            "d34db33f/1]",
            "[d34db33f/1",
            "[d34db33/1]",
            "[d34db33fa/1]",
            "[g34db33f/1]",
            "[+34db33f/1]",
            "[d34db33f/]",
            "[d34db33f/m/1]",
            "[d34db33f/1//2]",
            "[d34db33f/01]",
            "[é4db33f]",
        ] {
            assert!(s.parse::<KeyOrigin>().is_err(), "{s:?}");
        }
    }

    #[test]
    fn origin_xpub_checks_depth() {
        let s = format!("[3442193e]{XPUB}");
        let ox: OriginXpub = s.parse().unwrap();
        assert_eq!(ox.to_string(), s);
        let wrong = format!("[3442193e/0h]{XPUB}");
        assert_eq!(
            wrong.parse::<OriginXpub>(),
            Err(OriginError::DepthMismatch {
                key_depth: 0,
                path_len: 1
            })
        );
        assert!(format!("[3442193e]{XPUB}x").parse::<OriginXpub>().is_err());
        assert!(XPUB.parse::<OriginXpub>().is_err());
    }

    #[test]
    fn private_key_where_public_expected() {
        let xprv = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi";
        assert_eq!(parse_xpub(xprv).unwrap_err(), XkeyError::ExpectedPublic);
        assert_eq!(
            XPUB.parse::<SecretXpriv>().unwrap_err(),
            XkeyError::ExpectedPrivate
        );
        let k: SecretXpriv = xprv.parse().unwrap();
        assert_eq!(k.to_string_with_secret().as_str(), xprv);
        assert_eq!(format!("{k:?} {k}"), "[redacted] [redacted]");
    }

    #[test]
    fn origins_only_from_a_master_key() {
        let secp = Secp256k1::new();
        // BIP32 vector 1, m/0h: depth 1.
        let child: SecretXpriv = "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7".parse().unwrap();
        assert_eq!(
            origin_xpub(&secp, &child, &KeyPath::master()),
            Err(DeriveError::NotMaster)
        );
    }

    #[test]
    fn short_and_garbage_inputs() {
        assert_eq!(decode_xkey("").unwrap_err(), XkeyError::Base58);
        assert_eq!(decode_xkey("0OIl").unwrap_err(), XkeyError::Base58);
        let short = base58::encode_check(&[0u8; 77]);
        assert_eq!(decode_xkey(&short).unwrap_err(), XkeyError::Length(77));
    }
}
