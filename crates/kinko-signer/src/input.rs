//! Secrets the operator hands in: passphrases from the environment or a
//! no-echo prompt, the mnemonic from stdin, and the test-only scrypt
//! override.

use std::env::{self, VarError};
use std::io::{IsTerminal, Read};

use anyhow::Context;
use kinko_keys::keystore::MIN_WORK_FACTOR;
use kinko_keys::{KeystoreOptions, Passphrase};
use zeroize::Zeroizing;

use kinko_cmd::{env_secret, CliError, CliResult, ENV_BIP39_PASSPHRASE, ENV_PASSPHRASE};
/// Test-only: lowers the scrypt work factor of new keystores (log2 N, at
/// least 10). Named to be noticed; never set it for real keys.
pub const ENV_INSECURE_SCRYPT: &str = "KINKO_INSECURE_SCRYPT_LOG_N";

/// The most bytes `init --import` reads from stdin.
const MAX_STDIN: usize = 16 * 1024;

/// The keystore passphrase: `KINKO_PASSPHRASE`, else a no-echo prompt
/// (asked twice when `confirm`).
pub fn keystore_passphrase(confirm: bool) -> CliResult<Passphrase> {
    if let Some(p) = env_secret(ENV_PASSPHRASE)? {
        return Ok(p);
    }
    let first = Passphrase::new(
        rpassword::prompt_password("keystore passphrase: ")
            .context("cannot read the passphrase from the terminal (or set KINKO_PASSPHRASE)")?,
    );
    if confirm {
        let again = Passphrase::new(
            rpassword::prompt_password("repeat the keystore passphrase: ")
                .context("cannot read the passphrase from the terminal")?,
        );
        if again != first {
            return Err(CliError::Other(anyhow::anyhow!(
                "the two passphrases differ"
            )));
        }
    }
    Ok(first)
}

/// The BIP39 passphrase from `KINKO_BIP39_PASSPHRASE`, empty when unset.
pub fn bip39_passphrase() -> CliResult<Passphrase> {
    Ok(env_secret(ENV_BIP39_PASSPHRASE)?.unwrap_or_default())
}

/// Reads the mnemonic from stdin into a wiped buffer; from a terminal, with
/// a prompt and without echo (so the words do not stay on the screen).
pub fn mnemonic_from_stdin() -> CliResult<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        let phrase = rpassword::prompt_password("mnemonic (input hidden, one line): ")
            .context("cannot read the mnemonic from the terminal")?;
        return Ok(Zeroizing::new(phrase));
    }
    // Capacity for the whole limit up front: the buffer never reallocates,
    // so no unwiped copy of the phrase is left behind.
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_STDIN + 1));
    std::io::stdin()
        .lock()
        .take(MAX_STDIN as u64 + 1)
        .read_to_end(&mut buf)
        .context("cannot read the mnemonic from stdin")?;
    if buf.len() > MAX_STDIN {
        return Err(CliError::Other(anyhow::anyhow!(
            "more than {MAX_STDIN} bytes on stdin, not a mnemonic"
        )));
    }
    let bytes = std::mem::take(&mut *buf);
    match String::from_utf8(bytes) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) => {
            let mut bytes = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut bytes);
            Err(CliError::Other(anyhow::anyhow!(
                "the mnemonic on stdin is not UTF-8 text"
            )))
        }
    }
}

/// Keystore options. For writing, honours the test-only
/// `KINKO_INSECURE_SCRYPT_LOG_N` (and warns on stderr); reading always uses
/// the defaults, whose cap on the work factor a file may demand is fixed.
pub fn keystore_options(writing: bool) -> CliResult<KeystoreOptions> {
    let opts = KeystoreOptions::new();
    if !writing {
        return Ok(opts);
    }
    match env::var(ENV_INSECURE_SCRYPT) {
        Err(VarError::NotPresent) => Ok(opts),
        Err(VarError::NotUnicode(_)) => Err(CliError::Usage(format!(
            "{ENV_INSECURE_SCRYPT} is not valid UTF-8"
        ))),
        Ok(v) => {
            let log_n: u8 = v.parse().map_err(|_| {
                CliError::Usage(format!(
                    "{ENV_INSECURE_SCRYPT} must be a number, at least {MIN_WORK_FACTOR}"
                ))
            })?;
            let opts = opts
                .with_work_factor(log_n)
                .map_err(|e| CliError::Usage(format!("{ENV_INSECURE_SCRYPT}: {e}")))?;
            eprintln!(
                "kinko-signer: warning: {ENV_INSECURE_SCRYPT}={log_n} weakens the keystore encryption; for tests only"
            );
            Ok(opts)
        }
    }
}
