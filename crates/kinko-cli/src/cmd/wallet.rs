//! `kinko wallet create | export | import`: the multisig wallet from the key
//! holders' key origins, written as the files other software imports
//! (Bitcoin Core, Coldcard/Sparrow, Caravan), and such files read back to
//! the descriptor and wallet id they describe. The formats live in
//! `kinko-wallet` (`docs/wallet-files.md`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use kinko_keys::OriginXpub;
use kinko_wallet::bitcoin::{Network, NetworkKind};
use kinko_wallet::{
    CoreImportOptions, DescriptorError, MultisigWallet, WalletFileError, WalletKey, MAX_WALLET_FILE,
};

use crate::cmd::address::load_wallet;
use kinko_cmd::{CliError, CliResult};

/// Make, export and check multisig wallet files.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: WalletCommand,
}

/// A wallet file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Bitcoin Core's `importdescriptors` JSON array.
    Core,
    /// The Coldcard multisig setup file (read by Sparrow, Keystone, Passport too).
    Coldcard,
    /// Caravan's wallet configuration JSON.
    Caravan,
}

/// `kinko wallet …` subcommands.
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Make the multisig descriptor from the key holders' key origins and print it with the wallet id.
    Create {
        /// Signatures needed to spend (m).
        #[arg(long, value_name = "M")]
        threshold: usize,
        /// A key holder's `[fingerprint/path]xpub`, as `kinko-signer xpub`
        /// prints it; once per key, in any order (sortedmulti sorts).
        #[arg(long = "key", value_name = "ORIGIN", required = true)]
        keys: Vec<String>,
        /// Network (bitcoin, testnet, testnet4, signet, regtest); by default
        /// bitcoin for xpub keys and testnet for tpub keys.
        #[arg(long, value_name = "NETWORK")]
        network: Option<Network>,
        /// Machine-readable output: {descriptor, id, network, threshold, keys, warnings}.
        #[arg(long)]
        json: bool,
    },
    /// Write the wallet as a file another program imports.
    Export {
        /// The wallet: `wsh(sortedmulti(m,[fp/path]xpub/<0;1>/*,…))`, checksum optional.
        #[arg(long, value_name = "DESCRIPTOR")]
        descriptor: String,
        /// The file format.
        #[arg(long, value_enum)]
        format: Format,
        /// Network, if not the one the keys imply.
        #[arg(long, value_name = "NETWORK")]
        network: Option<Network>,
        /// The wallet's name in the file (coldcard: cut to 20 printable ASCII
        /// characters; caravan: as given). Not used by core.
        #[arg(long, value_name = "NAME", default_value = "kinko")]
        name: String,
        /// core: the last index Bitcoin Core derives and watches (inclusive).
        #[arg(long, value_name = "N")]
        range_end: Option<u32>,
        /// core: the wallet's birth, UNIX seconds (Core rescans from it);
        /// without it, "now" (no rescan).
        #[arg(long, value_name = "T")]
        timestamp: Option<u64>,
        /// Write to this file (replaced if it exists) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Read a wallet file and print the descriptor and wallet id it describes.
    Import {
        /// The file format.
        #[arg(long, value_enum)]
        format: Format,
        /// coldcard and core: the network (the file does not say); by default
        /// bitcoin for xpub keys and testnet for tpub keys. caravan: must
        /// agree with the file's.
        #[arg(long, value_name = "NETWORK")]
        network: Option<Network>,
        /// Machine-readable output: {descriptor, id, network, threshold, keys, warnings}.
        #[arg(long)]
        json: bool,
        /// The wallet file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Runs `kinko wallet …`.
pub fn run(args: Args) -> CliResult {
    match args.command {
        WalletCommand::Create {
            threshold,
            keys,
            network,
            json,
        } => create(threshold, &keys, network, json),
        WalletCommand::Export {
            descriptor,
            format,
            network,
            name,
            range_end,
            timestamp,
            out,
        } => {
            if format != Format::Core && (range_end.is_some() || timestamp.is_some()) {
                return Err(CliError::Usage(
                    "--range-end and --timestamp are for --format core".into(),
                ));
            }
            let wallet = load_wallet(&descriptor, network)?;
            let mut text = match format {
                Format::Core => {
                    let defaults = CoreImportOptions::default();
                    wallet.to_core_import(&CoreImportOptions {
                        range_end: range_end.unwrap_or(defaults.range_end),
                        timestamp,
                    })
                }
                Format::Coldcard => wallet.to_coldcard(&name),
                Format::Caravan => wallet.to_caravan(&name),
            };
            if !text.ends_with('\n') {
                text.push('\n');
            }
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        WalletCommand::Import {
            format,
            network,
            json,
            file,
        } => {
            let text = crate::cmd::read_capped_text(&file, MAX_WALLET_FILE)?;
            let wallet = import(format, &text, network).with_context(|| {
                format!(
                    "invalid {} wallet file {}",
                    format_name(format),
                    file.display()
                )
            })?;
            print_wallet(&wallet, json)
        }
    }
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Core => "core",
        Format::Coldcard => "coldcard",
        Format::Caravan => "caravan",
    }
}

/// The wallet a file describes. Without `--network`, Coldcard and Core files
/// are read for bitcoin, and again for testnet when their keys are tpubs. A
/// Caravan file names its network; `--network` must agree, except that
/// Caravan writes signet (and testnet4) as `testnet`.
fn import(format: Format, text: &str, network: Option<Network>) -> anyhow::Result<MultisigWallet> {
    let read = |n: Network| match format {
        Format::Core => MultisigWallet::from_core_import(text, n),
        Format::Coldcard => MultisigWallet::from_coldcard(text, n),
        Format::Caravan => MultisigWallet::from_caravan(text),
    };
    if format == Format::Caravan {
        let w = read(Network::Bitcoin)?;
        return match network {
            None => Ok(w),
            Some(n) if n == w.network() => Ok(w),
            Some(n @ (Network::Signet | Network::Testnet4)) if w.network() == Network::Testnet => {
                Ok(MultisigWallet::new(w.threshold(), w.keys().to_vec(), n)?)
            }
            Some(n) => Err(anyhow::anyhow!(
                "the file is for {} but --network is {n}",
                w.network()
            )),
        };
    }
    Ok(match network {
        Some(n) => read(n)?,
        None => match read(Network::Bitcoin) {
            Err(
                WalletFileError::WrongNetwork {
                    keys: NetworkKind::Test,
                    ..
                }
                | WalletFileError::Wallet(DescriptorError::NetworkMismatch {
                    keys: NetworkKind::Test,
                    ..
                }),
            ) => read(Network::Testnet)?,
            other => other?,
        },
    })
}

fn create(threshold: usize, keys: &[String], network: Option<Network>, json: bool) -> CliResult {
    let mut parsed = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let o: OriginXpub = k.trim().parse().with_context(|| {
            format!("invalid --key {} (expected [fingerprint/path]xpub)", i + 1)
        })?;
        parsed.push(WalletKey {
            fingerprint: o.origin.fingerprint,
            origin_path: o.origin.path.into(),
            xpub: o.xpub,
        });
    }
    let network = network.unwrap_or(match parsed.first().map(|k| k.xpub.network) {
        Some(NetworkKind::Test) => Network::Testnet,
        _ => Network::Bitcoin,
    });
    let wallet =
        MultisigWallet::new(threshold, parsed, network).context("the keys do not make a wallet")?;
    print_wallet(&wallet, json)
}

/// The descriptor and id, then each warning on standard error; or one JSON
/// object.
fn print_wallet(wallet: &MultisigWallet, json: bool) -> CliResult {
    let warnings: Vec<String> = wallet.warnings().iter().map(|w| w.to_string()).collect();
    if json {
        let v = serde_json::json!({
            "descriptor": wallet.descriptor(),
            "id": wallet.id(),
            "network": wallet.network().to_string(),
            "threshold": wallet.threshold(),
            "keys": wallet.keys().len(),
            "warnings": warnings,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", wallet.descriptor());
        println!("id: {}", wallet.id());
        for w in &warnings {
            eprintln!("kinko: warning: {w}");
        }
    }
    Ok(())
}
