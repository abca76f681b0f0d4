//! Registration checks: a descriptor is a wallet this keystore may sign for
//! only when it holds this keystore's key at the origin it states.

use kinko_keys::bitcoin::bip32::{DerivationPath, Fingerprint};
use kinko_keys::bitcoin::secp256k1::{Secp256k1, Signing};
use kinko_keys::bitcoin::{Network, NetworkKind};
use kinko_keys::{DeriveError, KeyPath, Keystore};
use kinko_wallet::{DescriptorError, MultisigWallet, XprvSigner};

/// Why a descriptor is not a wallet this keystore may sign for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The descriptor is not a valid kinko multisig wallet.
    #[error("invalid wallet descriptor")]
    Descriptor(#[source] DescriptorError),
    /// The same key appears twice.
    #[error("keys {first} and {second} of the descriptor are the same key")]
    DuplicateKey {
        /// Position of the first occurrence.
        first: usize,
        /// Position of the second occurrence.
        second: usize,
    },
    /// No key of the wallet has this keystore's master fingerprint.
    #[error("no key of the wallet comes from this keystore (master fingerprint {0})")]
    NotOurKey(Fingerprint),
    /// A key claims this keystore's fingerprint, but is not the key this
    /// keystore derives at the stated path.
    #[error("the key at [{fingerprint}]{path} is not this keystore's key at that origin")]
    WrongKeyAtOrigin {
        /// Our master fingerprint.
        fingerprint: Fingerprint,
        /// The origin path the descriptor states.
        path: DerivationPath,
    },
    /// Our key's BIP48 origin names another network than the wallet's keys.
    #[error("our key's origin {path} is for {coin} but the wallet is for {network}")]
    NetworkMismatch {
        /// The origin path.
        path: DerivationPath,
        /// `bitcoin` or `test networks`.
        coin: &'static str,
        /// The wallet's network.
        network: Network,
    },
    /// Our key's origin path has an unhardened step: the signer derives only
    /// hardened account keys.
    #[error("our key's origin {0} has an unhardened step")]
    UnhardenedOrigin(DerivationPath),
    /// Key derivation failed (BIP32's negligible-probability case).
    #[error("key derivation failed")]
    Derive(#[source] DeriveError),
}

impl RegisterError {
    /// The stable rule name when this is a security refusal (exit 3), `None`
    /// for a malformed descriptor.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            RegisterError::DuplicateKey { .. } => Some("duplicate-key"),
            RegisterError::NotOurKey(_) | RegisterError::WrongKeyAtOrigin { .. } => {
                Some("key-not-in-wallet")
            }
            RegisterError::NetworkMismatch { .. } => Some("network-mismatch"),
            RegisterError::UnhardenedOrigin(_) => Some("unhardened-origin"),
            RegisterError::Descriptor(_) | RegisterError::Derive(_) => None,
        }
    }
}

/// A wallet checked against the keystore.
#[derive(Debug, Clone)]
pub struct CheckedWallet {
    /// The wallet.
    pub wallet: MultisigWallet,
    /// Positions (in descriptor order) of the keys this keystore holds.
    pub own_keys: Vec<usize>,
}

impl CheckedWallet {
    /// One signer per key of ours, derived from the keystore.
    ///
    /// # Errors
    ///
    /// [`RegisterError`] when a key can no longer be derived (it was checked
    /// by [`check_wallet`], so only BIP32's negligible case).
    pub fn signers(&self, keystore: &Keystore) -> Result<Vec<XprvSigner>, RegisterError> {
        let kind = NetworkKind::from(self.wallet.network());
        let master = keystore.master_key(kind).map_err(RegisterError::Derive)?;
        self.own_keys
            .iter()
            .map(|&pos| {
                let k = &self.wallet.keys()[pos];
                XprvSigner::from_master(master.expose_xpriv(), &k.origin_path).map_err(|_| {
                    RegisterError::WrongKeyAtOrigin {
                        fingerprint: k.fingerprint,
                        path: k.origin_path.clone(),
                    }
                })
            })
            .collect()
    }
}

/// Parses a descriptor as a wallet: for `network` when given, else the
/// network its keys imply (xpub: bitcoin, tpub: testnet).
///
/// # Errors
///
/// [`RegisterError::DuplicateKey`] or [`RegisterError::Descriptor`].
pub fn load_wallet(
    descriptor: &str,
    network: Option<Network>,
) -> Result<MultisigWallet, RegisterError> {
    let parsed = match network {
        Some(n) => MultisigWallet::from_descriptor(descriptor, n),
        None => MultisigWallet::parse_infer_network(descriptor),
    };
    parsed.map_err(|e| match e {
        DescriptorError::DuplicateKey { first, second } => {
            RegisterError::DuplicateKey { first, second }
        }
        e => RegisterError::Descriptor(e),
    })
}

/// Checks that `wallet` holds this keystore's key: at least one key has our
/// master fingerprint, and every key that claims it is exactly the key the
/// keystore derives at the stated origin path (a hardened path whose BIP48
/// coin type, if any, matches the wallet's network).
///
/// # Errors
///
/// [`RegisterError`], each with its [`RegisterError::rule`].
pub fn check_wallet<C: Signing>(
    secp: &Secp256k1<C>,
    keystore: &Keystore,
    wallet: MultisigWallet,
) -> Result<CheckedWallet, RegisterError> {
    let kind = NetworkKind::from(wallet.network());
    let master = keystore.master_key(kind).map_err(RegisterError::Derive)?;
    let fingerprint = master.fingerprint(secp);
    let mut own_keys = Vec::new();
    for (pos, k) in wallet.keys().iter().enumerate() {
        if k.fingerprint != fingerprint {
            continue;
        }
        let path = KeyPath::from(k.origin_path.clone());
        if path.steps().iter().any(|c| c.is_normal()) {
            return Err(RegisterError::UnhardenedOrigin(k.origin_path.clone()));
        }
        if let Some((_, coin)) = path.as_bip48() {
            if coin != kind {
                return Err(RegisterError::NetworkMismatch {
                    path: k.origin_path.clone(),
                    coin: match coin {
                        NetworkKind::Main => "bitcoin",
                        NetworkKind::Test => "the test networks",
                    },
                    network: wallet.network(),
                });
            }
        }
        let derived = master
            .derive(secp, &path)
            .map_err(RegisterError::Derive)?
            .to_xpub(secp);
        if derived.public_key != k.xpub.public_key || derived.chain_code != k.xpub.chain_code {
            return Err(RegisterError::WrongKeyAtOrigin {
                fingerprint,
                path: k.origin_path.clone(),
            });
        }
        own_keys.push(pos);
    }
    if own_keys.is_empty() {
        return Err(RegisterError::NotOurKey(fingerprint));
    }
    Ok(CheckedWallet { wallet, own_keys })
}
