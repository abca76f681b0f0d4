//! `kinko address`: receive or change addresses of a multisig wallet, one per
//! line in index order. The derivation lives in `kinko-wallet`.

use anyhow::Context;
use clap::Args as ClapArgs;
use kinko_wallet::bitcoin::Network;
use kinko_wallet::{Keychain, MultisigWallet};

use kinko_cmd::{CliError, CliResult};

/// Print addresses of a multisig wallet.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The wallet: `wsh(sortedmulti(m,[fp/path]xpub/<0;1>/*,…))`, checksum optional.
    #[arg(long, value_name = "DESCRIPTOR")]
    pub descriptor: String,
    /// Change addresses (`…/1/i`) instead of receive addresses (`…/0/i`).
    #[arg(long)]
    pub change: bool,
    /// First index.
    #[arg(long, value_name = "I", default_value_t = 0)]
    pub from: u32,
    /// How many addresses.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub count: u32,
    /// Network (bitcoin, testnet, testnet4, signet, regtest); by default
    /// bitcoin for xpub keys and testnet for tpub keys.
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<Network>,
    /// Machine-readable output: a JSON array of {keychain, index, address}.
    #[arg(long)]
    pub json: bool,
}

/// Parses the wallet for `network`, or with the network its keys imply.
pub fn load_wallet(descriptor: &str, network: Option<Network>) -> CliResult<MultisigWallet> {
    let w = match network {
        Some(n) => MultisigWallet::from_descriptor(descriptor, n),
        None => MultisigWallet::parse_infer_network(descriptor),
    };
    Ok(w.context("invalid wallet descriptor")?)
}

/// Runs `kinko address`.
pub fn run(args: Args) -> CliResult {
    let wallet = load_wallet(&args.descriptor, args.network)?;
    if args.count > 1_000_000 {
        return Err(CliError::Usage("--count is at most 1000000".into()));
    }
    let keychain = if args.change {
        Keychain::Change
    } else {
        Keychain::Receive
    };
    let addresses = wallet
        .addresses(keychain, args.from, args.count)
        .context("cannot derive the range")?;
    let mut out = String::with_capacity(addresses.len() * 64);
    if args.json {
        let v: Vec<serde_json::Value> = addresses
            .iter()
            .zip(args.from..)
            .map(|(a, i)| {
                serde_json::json!({
                    "keychain": keychain.as_str(),
                    "index": i,
                    "address": a.to_string(),
                })
            })
            .collect();
        out.push_str(&serde_json::to_string_pretty(&v)?);
        out.push('\n');
    } else {
        for a in &addresses {
            out.push_str(&a.to_string());
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(())
}
