//! The passphrase variables both binaries read.

use std::env::{self, VarError};

use kinko_keys::Passphrase;

use crate::{CliError, CliResult};

/// Environment variable holding the keystore passphrase (the signer's
/// keystore, the cosigner's keystore).
pub const ENV_PASSPHRASE: &str = "KINKO_PASSPHRASE";
/// Environment variable holding the optional BIP39 passphrase (`kinko-signer
/// init` only).
pub const ENV_BIP39_PASSPHRASE: &str = "KINKO_BIP39_PASSPHRASE";

/// Reads a secret variable; `None` when unset. A value that is not UTF-8 is
/// a usage error naming the variable, never its value.
pub fn env_secret(name: &str) -> CliResult<Option<Passphrase>> {
    match env::var(name) {
        Ok(v) => Ok(Some(Passphrase::new(v))),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => Err(CliError::Usage(format!("{name} is not valid UTF-8"))),
    }
}
