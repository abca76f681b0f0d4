//! BIP32 derivation paths with a strict parser, and BIP48 account paths.
//!
//! `bitcoin::bip32::DerivationPath` parses leniently (for example it accepts
//! `+1` and leading zeros through `u32::from_str`), so kinko parses paths
//! itself and hands the result to rust-bitcoin.

use std::fmt;
use std::str::FromStr;

use bitcoin::bip32::{ChildNumber, DerivationPath};
use bitcoin::{Network, NetworkKind};

/// The most steps a path may have: BIP32 stores the depth in one byte.
pub const MAX_DEPTH: usize = 255;

/// Why a path does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The text is empty.
    #[error("the path is empty (write m for the master key)")]
    Empty,
    /// A step between two `/` is empty (`m//1`, `m/1/`).
    #[error("step {0} of the path is empty")]
    EmptyStep(usize),
    /// A step is not a decimal number with an optional `h`, `H` or `'`.
    #[error("step {0} of the path is not a number with an optional h or ' suffix")]
    NotANumber(usize),
    /// A step has a leading zero (`01`), which has two spellings.
    #[error("step {0} of the path has a leading zero")]
    LeadingZero(usize),
    /// A step's index is 2^31 or more (the hardened bit is written `h`).
    #[error("step {0} of the path is 2^31 or more (write h for hardened)")]
    IndexTooLarge(usize),
    /// More than 255 steps.
    #[error("the path has {0} steps, at most 255 are possible")]
    TooDeep(usize),
    /// `m` appears somewhere other than the start.
    #[error("m may only start a path")]
    MisplacedMaster,
    /// The path was required to start with `m/` (or be `m`).
    #[error("the path must start with m")]
    MissingMaster,
}

/// A BIP32 derivation path from a master key, parsed strictly.
///
/// Accepts `m`, `m/48h/0h/0h/2h`, `m/48'/0'/0'/2'` and, through
/// [`KeyPath::parse_relative`], the same without the leading `m/` as key
/// origins write it. Displays as `m/48h/0h/0h/2h`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct KeyPath(DerivationPath);

impl KeyPath {
    /// The empty path `m`.
    pub fn master() -> Self {
        KeyPath(DerivationPath::master())
    }

    /// Parses a path that must start with `m` (`m` alone is the master key).
    ///
    /// # Errors
    ///
    /// [`PathError`] naming the first bad step (1-based).
    pub fn parse(s: &str) -> Result<Self, PathError> {
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        match s.strip_prefix('m') {
            Some("") => Ok(Self::master()),
            Some(rest) => match rest.strip_prefix('/') {
                Some(steps) => Self::parse_steps(steps),
                None => Err(PathError::MissingMaster),
            },
            None => Err(PathError::MissingMaster),
        }
    }

    /// Parses a path written without `m/`, as in a key origin
    /// `[fingerprint/48h/0h/0h/2h]`. A leading `m/` is accepted too.
    /// The empty string is the master path.
    ///
    /// # Errors
    ///
    /// [`PathError`] naming the first bad step (1-based).
    pub fn parse_relative(s: &str) -> Result<Self, PathError> {
        if s.is_empty() {
            return Ok(Self::master());
        }
        if s.starts_with('m') {
            return Self::parse(s);
        }
        Self::parse_steps(s)
    }

    fn parse_steps(s: &str) -> Result<Self, PathError> {
        let mut steps = Vec::new();
        for (i, step) in s.split('/').enumerate() {
            let pos = i + 1;
            if pos > MAX_DEPTH {
                return Err(PathError::TooDeep(s.split('/').count()));
            }
            steps.push(parse_step(step, pos)?);
        }
        Ok(KeyPath(DerivationPath::from(steps)))
    }

    /// The steps as rust-bitcoin's type.
    pub fn as_derivation_path(&self) -> &DerivationPath {
        &self.0
    }

    /// The steps.
    pub fn steps(&self) -> &[ChildNumber] {
        self.0.as_ref()
    }

    /// The number of steps (the depth of the key it leads to).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the path has no steps (the master path `m`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether this is the master path `m`.
    pub fn is_master(&self) -> bool {
        self.0.is_master()
    }

    /// The path written without `m/` (`48h/0h/0h/2h`), as in key origins;
    /// empty for the master path.
    pub fn to_relative_string(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.steps().iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            write_step(&mut out, *c);
        }
        out
    }

    /// The BIP48 account path `m/48h/{coin}h/{account}h/2h` for P2WSH
    /// multisig, with coin type 0 on bitcoin and 1 on the test networks.
    ///
    /// # Errors
    ///
    /// [`PathError::IndexTooLarge`] (step 3) when `account` is 2^31 or more.
    pub fn bip48(network: Network, account: u32) -> Result<Self, PathError> {
        let coin = match NetworkKind::from(network) {
            NetworkKind::Main => 0,
            NetworkKind::Test => 1,
        };
        let account =
            ChildNumber::from_hardened_idx(account).map_err(|_| PathError::IndexTooLarge(3))?;
        let hardened = |i| ChildNumber::from_hardened_idx(i).expect("48, 0, 1 and 2 are < 2^31");
        Ok(KeyPath(DerivationPath::from(vec![
            hardened(48),
            hardened(coin),
            account,
            hardened(2),
        ])))
    }

    /// If this path is a BIP48 P2WSH account path, its account number and
    /// whether it is for the test networks.
    pub fn as_bip48(&self) -> Option<(u32, NetworkKind)> {
        use ChildNumber::Hardened;
        match self.steps() {
            [Hardened { index: 48 }, Hardened { index: coin }, Hardened { index: account }, Hardened { index: 2 }] => {
                match coin {
                    0 => Some((*account, NetworkKind::Main)),
                    1 => Some((*account, NetworkKind::Test)),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

fn parse_step(step: &str, pos: usize) -> Result<ChildNumber, PathError> {
    if step.is_empty() {
        return Err(PathError::EmptyStep(pos));
    }
    if step == "m" {
        return Err(PathError::MisplacedMaster);
    }
    let (digits, hardened) = match step.strip_suffix(['h', 'H', '\'']) {
        Some(d) => (d, true),
        None => (step, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PathError::NotANumber(pos));
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(PathError::LeadingZero(pos));
    }
    // At most 10 digits fit in u32; longer strings are out of range anyway.
    let index: u32 = if digits.len() > 10 {
        return Err(PathError::IndexTooLarge(pos));
    } else {
        digits.parse().map_err(|_| PathError::IndexTooLarge(pos))?
    };
    let child = if hardened {
        ChildNumber::from_hardened_idx(index)
    } else {
        ChildNumber::from_normal_idx(index)
    };
    child.map_err(|_| PathError::IndexTooLarge(pos))
}

fn write_step(out: &mut String, c: ChildNumber) {
    use std::fmt::Write;
    match c {
        ChildNumber::Normal { index } => write!(out, "{index}"),
        ChildNumber::Hardened { index } => write!(out, "{index}h"),
    }
    .expect("writing to a String cannot fail");
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        if !self.is_master() {
            f.write_str("/")?;
            f.write_str(&self.to_relative_string())?;
        }
        Ok(())
    }
}

impl FromStr for KeyPath {
    type Err = PathError;

    /// Same as [`KeyPath::parse`]: the path must start with `m`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyPath::parse(s)
    }
}

impl From<DerivationPath> for KeyPath {
    fn from(p: DerivationPath) -> Self {
        KeyPath(p)
    }
}

impl From<KeyPath> for DerivationPath {
    fn from(p: KeyPath) -> Self {
        p.0
    }
}

impl AsRef<[ChildNumber]> for KeyPath {
    fn as_ref(&self) -> &[ChildNumber] {
        self.steps()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_hardened_spellings() {
        let a = KeyPath::parse("m/48h/0h/0h/2h").unwrap();
        let b = KeyPath::parse("m/48'/0'/0'/2'").unwrap();
        let c = KeyPath::parse("m/48H/0H/0H/2H").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.to_string(), "m/48h/0h/0h/2h");
        assert_eq!(a.to_relative_string(), "48h/0h/0h/2h");
        assert_eq!(a, KeyPath::bip48(Network::Bitcoin, 0).unwrap());
        assert_eq!(a.as_bip48(), Some((0, NetworkKind::Main)));
        assert_eq!(KeyPath::parse("m").unwrap().to_string(), "m");
        assert_eq!(
            KeyPath::parse("m/0/2147483647h/1").unwrap().to_string(),
            "m/0/2147483647h/1"
        );
    }

    #[test]
    fn rejects_bad_paths() {
        use PathError::*;
        let cases: &[(&str, PathError)] = &[
            ("", Empty),
            ("48h/0h", MissingMaster),
            ("M/1", MissingMaster),
            ("m1", MissingMaster),
            ("m/", EmptyStep(1)),
            ("m//1", EmptyStep(1)),
            ("m/1/", EmptyStep(2)),
            ("m/1/m", MisplacedMaster),
            ("m/-1", NotANumber(1)),
            ("m/+1", NotANumber(1)),
            ("m/1x", NotANumber(1)),
            ("m/h", NotANumber(1)),
            ("m/1hh", NotANumber(1)),
            ("m/ 1", NotANumber(1)),
            ("m/１", NotANumber(1)),
            ("m/01", LeadingZero(1)),
            ("m/2147483648", IndexTooLarge(1)),
            ("m/2147483648h", IndexTooLarge(1)),
            ("m/4294967296", IndexTooLarge(1)),
            ("m/99999999999999999999999", IndexTooLarge(1)),
        ];
        for (s, want) in cases {
            assert_eq!(KeyPath::parse(s).as_ref(), Err(want), "{s:?}");
        }
        let deep = format!("m{}", "/0".repeat(256));
        assert_eq!(KeyPath::parse(&deep), Err(TooDeep(256)));
        let ok = format!("m{}", "/0".repeat(255));
        assert_eq!(KeyPath::parse(&ok).unwrap().len(), 255);
    }

    #[test]
    fn relative_form() {
        assert!(KeyPath::parse_relative("").unwrap().is_master());
        assert_eq!(
            KeyPath::parse_relative("48'/1'/0'/2'").unwrap(),
            KeyPath::bip48(Network::Testnet, 0).unwrap()
        );
        assert_eq!(
            KeyPath::bip48(Network::Signet, 7).unwrap().to_string(),
            "m/48h/1h/7h/2h"
        );
        assert_eq!(
            KeyPath::bip48(Network::Regtest, 1 << 31),
            Err(PathError::IndexTooLarge(3))
        );
    }
}
