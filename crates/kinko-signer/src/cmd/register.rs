//! `kinko-signer register`: the multisig wallets this key may sign for,
//! stored inside the encrypted keystore (age authenticates the whole file,
//! so an edited registration fails to open).

use std::io::Write;

use crate::{check_wallet, load_wallet, CheckedWallet, RegisterError};
use anyhow::Context;
use kinko_keys::bitcoin::secp256k1::Secp256k1;
use kinko_keys::{Keystore, Registration, UpdateError};
use kinko_wallet::Keychain;
use serde_json::json;

use crate::cli::RegisterArgs;
use crate::cmd::{open_keystore, register_error, registered_wallets};
use crate::input;
use kinko_cmd::{CliError, CliResult};

/// How many receive addresses `register` shows for holders to compare.
const SHOWN_ADDRESSES: u32 = 3;

/// What the edit did.
enum Outcome {
    Added(Box<CheckedWallet>, String),
    AlreadyThere(Box<CheckedWallet>, String),
    Removed(String),
}

/// Why the edit refused.
#[derive(Debug, thiserror::Error)]
enum EditError {
    #[error("the wallet cannot be registered")]
    Register(#[source] RegisterError),
    #[error("no registered wallet has id {0:?}")]
    NoSuchWallet(String),
}

/// Runs `register`.
pub fn run(args: &RegisterArgs) -> CliResult {
    if args.list {
        return list(args);
    }
    let network = args.network.map(Into::into);
    let passphrase = input::keystore_passphrase(false)?;
    let options = input::keystore_options(true)?;
    let secp = Secp256k1::new();
    let mut outcome = None;
    let edit = |ks: &mut Keystore| -> Result<(), EditError> {
        if let Some(id) = &args.remove {
            let before = ks.registrations().len();
            ks.registrations_mut()
                .retain(|r| load_wallet(&r.descriptor, None).map_or(true, |w| w.id() != *id));
            if ks.registrations().len() == before {
                return Err(EditError::NoSuchWallet(id.clone()));
            }
            outcome = Some(Outcome::Removed(id.clone()));
            return Ok(());
        }
        let Some(descriptor) = &args.descriptor else {
            return Ok(());
        };
        let wallet = load_wallet(descriptor, network).map_err(EditError::Register)?;
        let checked = check_wallet(&secp, ks, wallet).map_err(EditError::Register)?;
        let id = checked.wallet.id();
        let existing = ks
            .registrations()
            .iter()
            .find(|r| load_wallet(&r.descriptor, None).is_ok_and(|w| w.id() == id));
        if let Some(r) = existing {
            outcome = Some(Outcome::AlreadyThere(Box::new(checked), r.name.clone()));
            return Ok(());
        }
        let name = args.name.clone().unwrap_or_else(|| id.clone());
        ks.registrations_mut()
            .push(Registration::new(name.clone(), checked.wallet.descriptor()));
        outcome = Some(Outcome::Added(Box::new(checked), name));
        Ok(())
    };
    match Keystore::update_file(&args.keystore, &passphrase, &options, edit) {
        Ok(_) => {}
        Err(UpdateError::Edit(EditError::Register(e))) => return Err(register_error(e)),
        Err(UpdateError::Edit(EditError::NoSuchWallet(id))) => {
            return Err(CliError::Other(anyhow::anyhow!(
                "no registered wallet has id {id:?} (see register --list)"
            )))
        }
        Err(e) => {
            return Err(CliError::Other(
                anyhow::Error::new(e).context(format!("keystore {}", args.keystore.display())),
            ))
        }
    }
    let mut out = std::io::stdout().lock();
    match outcome {
        Some(Outcome::Removed(id)) => {
            if args.json {
                writeln!(out, "{}", json!({"removed": id}))?;
            } else {
                writeln!(out, "removed wallet {id}")?;
            }
        }
        Some(Outcome::Added(c, name)) => show(&mut out, &c, &name, "registered", args.json)?,
        Some(Outcome::AlreadyThere(c, name)) => {
            show(&mut out, &c, &name, "already registered", args.json)?
        }
        None => {}
    }
    out.flush()?;
    Ok(())
}

fn show(
    out: &mut impl Write,
    c: &CheckedWallet,
    name: &str,
    what: &str,
    json_out: bool,
) -> CliResult {
    let w = &c.wallet;
    let addresses = w
        .addresses(Keychain::Receive, 0, SHOWN_ADDRESSES)
        .context("cannot derive the first addresses")?;
    let ours: Vec<String> = c
        .own_keys
        .iter()
        .map(|&p| {
            let k = &w.keys()[p];
            format!(
                "[{}/{}]",
                k.fingerprint,
                k.origin_path.to_string().replace('\'', "h")
            )
        })
        .collect();
    if json_out {
        let v = json!({
            "status": what,
            "id": w.id(),
            "name": name,
            "threshold": w.threshold(),
            "keys": w.keys().len(),
            "network": w.network().to_string(),
            "our_keys": ours,
            "descriptor": w.descriptor(),
            "receive_addresses": addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "warnings": w.warnings().iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{what} wallet {} {name:?}: {} of {}, {}",
        w.id(),
        w.threshold(),
        w.keys().len(),
        w.network()
    )?;
    writeln!(out, "our key: {}", ours.join(", "))?;
    for warning in w.warnings() {
        writeln!(out, "warning: {warning}")?;
    }
    writeln!(
        out,
        "first receive addresses (compare them on every signer and the coordinator):"
    )?;
    for (i, a) in addresses.iter().enumerate() {
        writeln!(out, "  {i}: {a}")?;
    }
    Ok(())
}

fn list(args: &RegisterArgs) -> CliResult {
    let keystore = open_keystore(&args.keystore)?;
    let secp = Secp256k1::new();
    let wallets = registered_wallets(&secp, &keystore, args.network.map(Into::into))?;
    drop(keystore);
    let mut out = std::io::stdout().lock();
    if args.json {
        let v: Vec<_> = wallets
            .iter()
            .map(|(name, c)| {
                json!({
                    "id": c.wallet.id(),
                    "name": name,
                    "threshold": c.wallet.threshold(),
                    "keys": c.wallet.keys().len(),
                    "network": c.wallet.network().to_string(),
                    "descriptor": c.wallet.descriptor(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else if wallets.is_empty() {
        writeln!(out, "no wallet registered")?;
    } else {
        for (name, c) in &wallets {
            writeln!(
                out,
                "{} {name:?}: {} of {}, {}",
                c.wallet.id(),
                c.wallet.threshold(),
                c.wallet.keys().len(),
                c.wallet.network()
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
