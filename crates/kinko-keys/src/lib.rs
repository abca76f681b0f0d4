//! BIP39 mnemonics (English, Japanese), BIP32 keys, key origins and an
//! encrypted age keystore for kinko.
//!
//! - [`Mnemonic`]: generate from the OS random number generator, parse (with
//!   language detection, NFKD, U+3000 or ASCII spaces), derive the [`Seed`].
//! - [`SecretXpriv`]: a BIP32 extended private key that wipes itself; strict
//!   xpub/xprv decoding ([`decode_xkey`], [`parse_xpub`]) that rejects every
//!   invalid key of BIP32 test vector 5.
//! - [`KeyPath`], [`KeyOrigin`], [`OriginXpub`]: paths with `h` or `'`,
//!   `[fingerprint/path]xpub…`, BIP48 account paths ([`KeyPath::bip48`]).
//! - [`Keystore`]: the mnemonic and BIP39 passphrase in an age file
//!   encrypted to a passphrase; see the [`keystore`] module for the format
//!   and how to open a backup with the `age` tool.
//!
//! Every secret type ([`Mnemonic`], [`Seed`], [`Passphrase`],
//! [`SecretXpriv`], [`Keystore`]) is not `Copy`, wipes itself on drop and
//! prints `[redacted]` in `Debug` and `Display`.
//!
//! ```
//! use kinko_keys::{KeyPath, Language, Mnemonic, Passphrase, WordCount, Keystore};
//! use bitcoin::{secp256k1::Secp256k1, Network};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mnemonic = Mnemonic::generate(WordCount::W24, Language::English)?;
//! let keystore = Keystore::new(mnemonic, Passphrase::empty());
//! let secp = Secp256k1::new();
//! let path = KeyPath::bip48(Network::Testnet, 0)?;
//! let account = keystore.account_xpub(&secp, Network::Testnet, &path)?;
//! assert!(account.to_string().contains("/48h/1h/0h/2h]tpub"));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod file;
pub mod keystore;
mod mnemonic;
mod path;
mod secret;
mod xkey;

pub use file::{read_capped, ReadCappedError};
pub use keystore::{
    Keystore, KeystoreOpenError, KeystoreOptions, KeystoreWriteError, Registration, UpdateError,
    WorkFactorError,
};
pub use mnemonic::{
    GenerateError, Language, Mnemonic, MnemonicError, UnknownLanguageError, WordCount,
    WordCountError, IDEOGRAPHIC_SPACE,
};
pub use path::{KeyPath, PathError, MAX_DEPTH};
pub use secret::{Passphrase, Seed, SeedLengthError};
pub use xkey::{
    decode_xkey, decode_xkey_bytes, origin_xpub, parse_xpub, DeriveError, ExtendedKey, KeyOrigin,
    OriginError, OriginXpub, SecretXpriv, XkeyError, XKEY_LEN,
};

/// Re-exported so callers use the same `bitcoin` as kinko-keys.
pub use bitcoin;
