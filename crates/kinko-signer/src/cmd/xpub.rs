//! `kinko-signer xpub`: print `[fingerprint/path]xpub…` for a keystore.

use std::io::Write;

use anyhow::Context;
use kinko_keys::bitcoin::secp256k1::Secp256k1;
use kinko_keys::bitcoin::{Network, NetworkKind};
use kinko_keys::{KeyPath, Keystore};

use crate::cli::XpubArgs;
use crate::input;
use kinko_cmd::{CliError, CliResult};

/// Runs `xpub`.
pub fn run(args: &XpubArgs) -> CliResult {
    let network = Network::from(args.network);
    let path = match &args.path {
        Some(p) => p.clone(),
        None => KeyPath::bip48(network, 0).expect("account 0 is a valid index"),
    };
    // A BIP48 path names its network in the coin type: 0h for bitcoin, 1h for
    // the test networks. Mixing them would hand out keys of the wrong chain.
    if let Some((_, kind)) = path.as_bip48() {
        if kind != NetworkKind::from(network) {
            return Err(CliError::Refused {
                rule: "bip48-coin-type".into(),
                detail: format!(
                    "{path} is a {} path but --network is {network}",
                    match kind {
                        NetworkKind::Main => "bitcoin",
                        NetworkKind::Test => "test-network",
                    }
                ),
            });
        }
    }
    let options = input::keystore_options(false)?;
    let passphrase = input::keystore_passphrase(false)?;
    let keystore = Keystore::open_file(&args.keystore, &passphrase, &options)
        .with_context(|| format!("cannot open keystore {}", args.keystore.display()))?;
    let secp = Secp256k1::new();
    let xpub = keystore
        .account_xpub(&secp, network, &path)
        .context("cannot derive the key")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{xpub}")?;
    out.flush()?;
    Ok(())
}
