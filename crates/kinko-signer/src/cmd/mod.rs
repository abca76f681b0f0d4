//! One module per command, and what the signing commands share.

pub mod action;
pub mod init;
pub mod inspect;
pub mod register;
pub mod sign;
pub mod xpub;

use kinko_wallet::MAX_PSBT_FILE;
use std::io::{BufRead, IsTerminal};
use std::path::Path;

use crate::{check_wallet, load_wallet, CheckedWallet, RegisterError};
use anyhow::Context;
use kinko_keys::bitcoin::secp256k1::{Secp256k1, Signing};
use kinko_keys::bitcoin::{Amount, Network};
use kinko_keys::Keystore;
use kinko_wallet::{AnalysisOptions, DescriptorError};

use crate::cli::CheckArgs;
use crate::input;
use kinko_cmd::{CliError, CliResult};

/// Opens the keystore (passphrase from the environment or a prompt).
pub fn open_keystore(path: &Path) -> CliResult<Keystore> {
    let options = input::keystore_options(false)?;
    let passphrase = input::keystore_passphrase(false)?;
    Ok(Keystore::open_file(path, &passphrase, &options)
        .with_context(|| format!("cannot open keystore {}", path.display()))?)
}

/// A registration error as the CLI reports it: a refusal naming its rule, or
/// an error.
pub fn register_error(e: RegisterError) -> CliError {
    match e.rule() {
        Some(rule) => CliError::Refused {
            rule: rule.into(),
            detail: e.to_string(),
        },
        None => CliError::Other(anyhow::Error::new(e)),
    }
}

/// The keystore's registered wallets, each checked again against its keys.
/// With `network`, wallets are read for it; a wallet whose keys are of the
/// other kind of network is read for its own, and the analysis then refuses
/// it (`network-mismatch`).
pub fn registered_wallets<C: Signing>(
    secp: &Secp256k1<C>,
    keystore: &Keystore,
    network: Option<Network>,
) -> CliResult<Vec<(String, CheckedWallet)>> {
    let mut out = Vec::new();
    for r in keystore.registrations() {
        let wallet = match load_wallet(&r.descriptor, network) {
            Err(RegisterError::Descriptor(DescriptorError::NetworkMismatch { .. })) => {
                load_wallet(&r.descriptor, None)
            }
            other => other,
        }
        .map_err(|e| {
            CliError::Other(
                anyhow::Error::new(e).context(format!("registered wallet {:?} is invalid", r.name)),
            )
        })?;
        let checked = check_wallet(secp, keystore, wallet).map_err(register_error)?;
        out.push((r.name.clone(), checked));
    }
    Ok(out)
}

/// Analysis options from the command line.
pub fn analysis_options(c: &CheckArgs) -> AnalysisOptions {
    let mut opts = AnalysisOptions::default();
    if let Some(m) = c.max_fee {
        opts.max_fee = Amount::from_sat(m);
    }
    opts.expected_network = c.network.map(Network::from);
    opts
}

/// Reads a PSBT file of at most the decoder's cap [`MAX_PSBT_FILE`].
pub fn read_psbt_file(path: &Path) -> CliResult<Vec<u8>> {
    read_capped(path, MAX_PSBT_FILE)
}

/// Reads a file of at most `cap` bytes (a larger one is an error).
pub fn read_capped(path: &Path, cap: usize) -> CliResult<Vec<u8>> {
    Ok(kinko_keys::read_capped(path, cap)?)
}

/// Asks on the terminal whether to sign this `what`; without a terminal,
/// refuses (use `--yes` in scripts, after reading the summary).
pub fn confirm(what: &str) -> CliResult {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Usage(
            "no terminal to confirm on: read the summary, then run again with --yes".into(),
        ));
    }
    eprint!("sign this {what}? type yes to sign: ");
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the answer")?;
    if line.trim() != "yes" {
        return Err(CliError::Other(anyhow::anyhow!(
            "not confirmed; nothing was signed"
        )));
    }
    Ok(())
}

/// The rule that refuses to write a keystore or signed output over an
/// existing file.
pub const RULE_NO_OVERWRITE: &str = "no-overwrite";

/// Refuses (rule [`RULE_NO_OVERWRITE`]) when `out` exists: signed output is never
/// written over another file. Checked before asking for anything.
pub fn refuse_existing_out(out: &Path) -> CliResult {
    if out.symlink_metadata().is_ok() {
        return Err(CliError::Refused {
            rule: RULE_NO_OVERWRITE.into(),
            detail: format!("{} already exists", out.display()),
        });
    }
    Ok(())
}

/// Writes `bytes` to a new file (never an existing one) and syncs it.
pub fn write_new_file(path: &Path, bytes: &[u8]) -> CliResult {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
