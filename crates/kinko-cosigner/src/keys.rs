//! The cosigner's keys from its keystore (feature `keystore`): its key of
//! the hot wallet (BIP48 account 0 of the set-up's network) and its audit
//! key (`m/1057'/1'/0'`), as the `kinko` CLI and `kinko-cosignd` open them.

use std::path::Path;

use bitcoin::secp256k1::{Keypair, Secp256k1};
use kinko_keys::{KeyPath, Keystore, KeystoreOptions, Passphrase};
use kinko_wallet::XprvSigner;

/// Why the cosigner's keys did not open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The keystore did not open (wrong passphrase, not a keystore, unreadable).
    #[error("cannot open the cosigner keystore")]
    Keystore(#[source] kinko_keys::KeystoreOpenError),
    /// A key did not derive.
    #[error("cannot derive the cosigner's {what}")]
    Derive {
        /// Which key.
        what: &'static str,
    },
}

/// Opens the keystore at `path` with `passphrase` and derives the
/// cosigner's signing keys for `network` and its audit keypair. The
/// intermediate extended keys are wiped as they go out of scope (kinko-keys).
///
/// # Errors
/// [`KeysError`]; no secret is in it.
pub fn open_keystore(
    path: &Path,
    passphrase: &Passphrase,
    network: bitcoin::Network,
) -> Result<(XprvSigner, Keypair), KeysError> {
    let keystore = Keystore::open_file(path, passphrase, &KeystoreOptions::new())
        .map_err(KeysError::Keystore)?;
    let master = keystore
        .master_key(network)
        .map_err(|_| KeysError::Derive { what: "master key" })?;
    let account = KeyPath::bip48(network, 0).map_err(|_| KeysError::Derive {
        what: "account path",
    })?;
    let keys = XprvSigner::from_master(master.expose_xpriv(), account.as_derivation_path())
        .map_err(|_| KeysError::Derive {
            what: "hot-wallet key",
        })?;
    let secp = Secp256k1::new();
    let audit = master
        .derive(&secp, &KeyPath::from(kinko_auth::KeyRole::Audit.path()))
        .map_err(|_| KeysError::Derive { what: "audit key" })?
        .expose_xpriv()
        .to_keypair(&secp);
    Ok((keys, audit))
}
