//! Command-line arguments of `kinko-signer` (clap derive).
//!
//! Values that have a type of their own (paths, networks, languages) are
//! parsed here, so a malformed value is a usage error (exit 2) before any
//! keystore is touched.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kinko_keys::bitcoin::Network;
use kinko_keys::{KeyPath, Language, WordCount};

/// kinko-signer: the air-gapped key holder's tool.
///
/// The keystore passphrase is read from KINKO_PASSPHRASE when set, else
/// asked for without echo.
#[derive(Debug, Parser)]
#[command(name = "kinko-signer", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a keystore: a new mnemonic (printed once for the paper backup),
    /// or one imported from stdin with --import.
    Init(InitArgs),
    /// Print the account xpub with its origin: [fingerprint/path]xpub…
    Xpub(XpubArgs),
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The keystore file to create (never overwritten).
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// Read an existing mnemonic from stdin instead of making a new one.
    #[arg(long)]
    pub import: bool,
    /// Number of words of the new mnemonic.
    #[arg(long, value_name = "N", value_parser = parse_word_count, conflicts_with = "import")]
    pub words: Option<WordCount>,
    /// Word list: english or japanese. With --import, the default is to
    /// detect it.
    #[arg(long, value_parser = parse_language)]
    pub language: Option<Language>,
}

/// Arguments of `xpub`.
#[derive(Debug, Args)]
pub struct XpubArgs {
    /// The keystore file.
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// Derivation path, `h` or `'` for hardened [default: m/48h/0h/0h/2h on
    /// bitcoin, m/48h/1h/0h/2h on the test networks (BIP48 P2WSH account 0)].
    #[arg(long, value_name = "PATH", value_parser = parse_path)]
    pub path: Option<KeyPath>,
    /// Network: xpub on bitcoin, tpub on the others.
    #[arg(long, value_enum, default_value_t = NetworkArg::Bitcoin)]
    pub network: NetworkArg,
}

/// The networks `--network` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetworkArg {
    /// Bitcoin mainnet.
    Bitcoin,
    /// Testnet3.
    Testnet,
    /// Testnet4.
    Testnet4,
    /// Signet.
    Signet,
    /// Regtest.
    Regtest,
}

impl From<NetworkArg> for Network {
    fn from(n: NetworkArg) -> Network {
        match n {
            NetworkArg::Bitcoin => Network::Bitcoin,
            NetworkArg::Testnet => Network::Testnet,
            NetworkArg::Testnet4 => Network::Testnet4,
            NetworkArg::Signet => Network::Signet,
            NetworkArg::Regtest => Network::Regtest,
        }
    }
}

fn parse_word_count(s: &str) -> Result<WordCount, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of words"))?;
    WordCount::try_from(n).map_err(|e| e.to_string())
}

fn parse_language(s: &str) -> Result<Language, String> {
    s.parse()
        .map_err(|e: kinko_keys::UnknownLanguageError| e.to_string())
}

fn parse_path(s: &str) -> Result<KeyPath, String> {
    KeyPath::parse(s).map_err(|e| e.to_string())
}
