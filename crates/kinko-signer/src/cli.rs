//! Command-line arguments of `kinko-signer` (clap derive).
//!
//! Values that have a type of their own (paths, networks, languages) are
//! parsed here, so a malformed value is a usage error (exit 2) before any
//! keystore is touched.

use std::path::PathBuf;

use crate::kinko_auth::UnixTime;
use crate::ActionRole;
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
    /// Register a multisig wallet this key may sign for (kept inside the
    /// encrypted keystore), list the registered wallets, or remove one.
    Register(RegisterArgs),
    /// Show what a PSBT does: outputs, inputs, fee, signatures, findings.
    Inspect(InspectArgs),
    /// Sign a PSBT, only if every check passes (exit 3 naming the rule if not).
    Sign(SignArgs),
    /// Print the x-only public key (64 hex) of the keystore's action key:
    /// what the set-up names for an approver, an admin or the audit key.
    ActionKey(ActionKeyArgs),
    /// Approve one withdrawal: sign a kinko approval with the person key.
    Approve(ApproveArgs),
    /// Sign an unsigned action read from a file (the action's JSON object).
    SignAction(SignActionArgs),
    /// Sign a custody set-up file as an admin (a set-up signature).
    SignSetup(SignSetupArgs),
}

/// Which action key `action-key` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// A person's key (approver or admin), m/1057'/0'/0'.
    Person,
    /// The cosigner's audit key, m/1057'/1'/0'.
    Audit,
}

impl From<RoleArg> for ActionRole {
    fn from(r: RoleArg) -> ActionRole {
        match r {
            RoleArg::Person => ActionRole::Person,
            RoleArg::Audit => ActionRole::Audit,
        }
    }
}

/// Arguments of `action-key`.
#[derive(Debug, Args)]
pub struct ActionKeyArgs {
    /// The keystore file.
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// Which key.
    #[arg(long, value_enum, default_value_t = RoleArg::Person)]
    pub role: RoleArg,
}

/// Where a signed action goes and whether to ask first (the signing
/// commands' shared options).
#[derive(Debug, Args)]
pub struct SignedOutArgs {
    /// Write the signed action (one JSON line) to this file, never
    /// overwritten [default: stdout].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Sign without asking for confirmation.
    #[arg(long)]
    pub yes: bool,
}

/// Arguments of `approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The keystore file.
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// The custody set-up file (its exact bytes give the set-up id).
    #[arg(long, value_name = "FILE")]
    pub setup: PathBuf,
    /// The asset, as in the set-up (e.g. BTC).
    #[arg(long, value_name = "ASSET")]
    pub asset: String,
    /// The withdrawal id.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// The destination the withdrawal pays.
    #[arg(long, value_name = "DEST")]
    pub to: String,
    /// The amount in base units (satoshis for BTC).
    #[arg(long, value_name = "N")]
    pub amount: u64,
    /// When the approval stops being accepted: RFC 3339, whole seconds
    /// (2026-12-04T10:00:00Z).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub expires: UnixTime,
    /// Output and confirmation.
    #[command(flatten)]
    pub output: SignedOutArgs,
}

/// Arguments of `sign-action`.
#[derive(Debug, Args)]
pub struct SignActionArgs {
    /// The keystore file.
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// The unsigned action: its JSON object, e.g.
    /// {"action":"unfreeze","setup_id":"…","asset":"BTC",…}.
    #[arg(long, value_name = "FILE")]
    pub action: PathBuf,
    /// Output and confirmation.
    #[command(flatten)]
    pub output: SignedOutArgs,
}

/// Arguments of `sign-setup`.
#[derive(Debug, Args)]
pub struct SignSetupArgs {
    /// The keystore file.
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// The custody set-up file (its exact bytes give the set-up id).
    #[arg(long, value_name = "FILE")]
    pub setup: PathBuf,
    /// Output and confirmation.
    #[command(flatten)]
    pub output: SignedOutArgs,
}

/// Arguments of `register`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["descriptor", "list", "remove"])))]
pub struct RegisterArgs {
    /// The keystore file.
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// The wallet descriptor wsh(sortedmulti(m,[fp/path]xpub/<0;1>/*,…)).
    #[arg(long, value_name = "DESCRIPTOR")]
    pub descriptor: Option<String>,
    /// A name for the wallet (default: its id).
    #[arg(long, value_name = "NAME", requires = "descriptor")]
    pub name: Option<String>,
    /// List the registered wallets.
    #[arg(long)]
    pub list: bool,
    /// Remove the wallet with this id.
    #[arg(long, value_name = "ID")]
    pub remove: Option<String>,
    /// Network of the wallet, when not the one its keys imply (xpub:
    /// bitcoin, tpub: testnet); addresses are shown for it.
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The keystore file (its registered wallets are what the PSBT is
    /// checked against).
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// The PSBT file, base64 text or binary.
    #[arg(long, value_name = "FILE")]
    pub psbt: PathBuf,
    /// Checks and limits.
    #[command(flatten)]
    pub checks: CheckArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The keystore file.
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// The PSBT file, base64 text or binary.
    #[arg(long, value_name = "FILE")]
    pub psbt: PathBuf,
    /// Where to write the signed PSBT, in the form of the input (never
    /// overwritten).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Sign without asking for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Checks and limits.
    #[command(flatten)]
    pub checks: CheckArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Limits shared by `inspect` and `sign`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Refuse a fee above this many satoshis [default: 1000000, 0.01 BTC].
    #[arg(long, value_name = "SAT")]
    pub max_fee: Option<u64>,
    /// The network the keys are for; a wallet of another network is refused
    /// [default: the registered wallet's].
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
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

fn parse_time(s: &str) -> Result<UnixTime, String> {
    UnixTime::parse_rfc3339(s).map_err(|e| e.to_string())
}
