//! What kinko's two binaries, `kinko` and `kinko-signer`, share: the exit
//! codes and how an error is reported ([`CliError`], [`finish`]), the
//! passphrase variables ([`ENV_PASSPHRASE`], [`env_secret`]) and the JSON of
//! a PSBT analysis against a wallet ([`PsbtJson`], docs/psbt.md).
//!
//! Only binaries use this crate, so it may use `anyhow`. It links nothing
//! the air-gapped signer does not link already.

#![forbid(unsafe_code)]

mod error;
mod json;
mod secret;

pub use error::{finish, CliError, CliResult};
pub use json::{to_json_pretty, PsbtJson};
pub use secret::{env_secret, ENV_BIP39_PASSPHRASE, ENV_PASSPHRASE};
