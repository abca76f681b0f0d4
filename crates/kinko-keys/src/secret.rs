//! Secret byte and text holders: passphrases and BIP39 seeds.
//!
//! Every type here wipes its memory on drop and prints `[redacted]` in both
//! `Debug` and `Display`. The secret is reachable only through a method whose
//! name says so (`expose_*`).

use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, Zeroizing};

/// What every secret type prints instead of its content.
pub(crate) const REDACTED: &str = "[redacted]";

/// Implements `Debug` and `Display` as `[redacted]` for a secret type.
macro_rules! redacted_fmt {
    ($t:ty) => {
        impl ::std::fmt::Debug for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::secret::REDACTED)
            }
        }
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::secret::REDACTED)
            }
        }
    };
}
pub(crate) use redacted_fmt;

/// Returns the NFKD form of `s` in a zeroizing buffer.
///
/// Hand-written on top of `unicode-normalization` instead of calling
/// `bip39::Mnemonic::normalize_utf8_cow`, because that one collects into a
/// growing `String` whose abandoned buffers are never wiped. Here the exact
/// size is computed first, so the one buffer never reallocates.
pub(crate) fn nfkd_zeroizing(s: &str) -> Zeroizing<String> {
    let len: usize = s.nfkd().map(char::len_utf8).sum();
    let mut out = Zeroizing::new(String::with_capacity(len));
    out.extend(s.nfkd());
    debug_assert_eq!(
        out.len(),
        len,
        "capacity was computed from the same iterator"
    );
    out
}

/// A passphrase: the keystore's encryption passphrase or the optional BIP39
/// passphrase (the "25th word").
///
/// Kept as typed; BIP39 NFKD normalization happens where the seed is derived.
/// Wiped on drop; prints `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Takes ownership of `s` without copying it.
    pub fn new(s: String) -> Self {
        Passphrase(Zeroizing::new(s))
    }

    /// The empty passphrase (BIP39's default).
    pub fn empty() -> Self {
        Passphrase::default()
    }

    /// Whether the passphrase is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The passphrase text. This is the one place it leaves the type.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Passphrase {
    fn from(s: &str) -> Self {
        Passphrase::new(s.to_owned())
    }
}

impl From<String> for Passphrase {
    fn from(s: String) -> Self {
        Passphrase::new(s)
    }
}

redacted_fmt!(Passphrase);

/// A BIP32 seed: 16 to 64 bytes, usually the 64-byte output of BIP39's
/// PBKDF2 (see [`crate::Mnemonic::to_seed`]).
///
/// Wiped on drop; prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed(Zeroizing<Vec<u8>>);

/// The seed is not 16 to 64 bytes long (BIP32: "at least 128 bits", at most
/// the 512 bits HMAC-SHA512 consumes in one block).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seed is {0} bytes, expected 16 to 64")]
pub struct SeedLengthError(pub usize);

impl Seed {
    /// Smallest seed accepted, in bytes (BIP32: at least 128 bits).
    pub const MIN_LEN: usize = 16;
    /// Largest seed accepted, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Copies `bytes` into a new seed.
    ///
    /// # Errors
    ///
    /// [`SeedLengthError`] when `bytes` is not 16 to 64 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SeedLengthError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&bytes.len()) {
            return Err(SeedLengthError(bytes.len()));
        }
        Ok(Seed(Zeroizing::new(bytes.to_vec())))
    }

    /// Wraps the 64-byte output of BIP39, wiping the caller's array.
    pub(crate) fn from_array_wiping(bytes: &mut [u8; 64]) -> Self {
        let seed = Seed(Zeroizing::new(bytes.to_vec()));
        bytes.zeroize();
        seed
    }

    /// The seed bytes. This is the one place they leave the type.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }
}

redacted_fmt!(Seed);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfkd_matches_the_reference_iterator() {
        for s in [
            "",
            "abc",
            "㍍ガバヴァぱばぐゞちぢ十人十色",
            "Ａｂｃ\u{3000}ｄ",
        ] {
            let want: String = s.nfkd().collect();
            assert_eq!(*nfkd_zeroizing(s), want);
        }
    }

    #[test]
    fn seed_length_is_checked() {
        assert_eq!(Seed::from_bytes(&[0; 15]), Err(SeedLengthError(15)));
        assert_eq!(Seed::from_bytes(&[0; 65]), Err(SeedLengthError(65)));
        assert!(Seed::from_bytes(&[0; 16]).is_ok());
        assert!(Seed::from_bytes(&[0; 64]).is_ok());
    }

    #[test]
    fn from_array_wipes_the_source() {
        let mut a = [7u8; 64];
        let s = Seed::from_array_wiping(&mut a);
        assert_eq!(a, [0u8; 64]);
        assert_eq!(s.expose_bytes(), &[7u8; 64][..]);
    }
}
