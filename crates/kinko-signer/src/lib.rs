//! The logic of kinko's air-gapped signer, apart from its command line:
//!
//! - [`check_wallet`]: is a descriptor a wallet this keystore may sign for
//!   (our key at the stated origin, no duplicate keys, one network)?
//! - [`decide`] / [`decide_bytes`]: from a PSBT file's bytes to a
//!   [`Decision`], taken **only** from kinko-wallet's
//!   [`PsbtAnalysis`](kinko_wallet::PsbtAnalysis), so the policy cosigner
//!   decides from the same facts;
//! - [`summary_text`] / [`summary_json`]: what the key holder reads before
//!   signing;
//! - [`ActionKey`] / [`check_person_action`]: signed human actions
//!   (kinko-auth): the BIP-340 action keys a keystore derives
//!   (`m/1057'/0'/0'` for a person, `m/1057'/1'/0'` for the cosigner's audit
//!   key) and which actions a person signs.
//!
//! No networking or database crate is in this crate's dependency tree, and
//! nothing above prints. [`main_with_args`] is the `kinko-signer` command
//! line itself (it prints, and reads the passphrase), here so that another
//! executable can run the same code as a process of its own without a
//! second build (the exchange's day does).

#![forbid(unsafe_code)]

mod action;
mod decide;
mod register;
mod summary;

// The command line: only `main_with_args` prints.
#[allow(clippy::print_stdout, clippy::print_stderr)]
mod cli;
#[allow(clippy::print_stdout, clippy::print_stderr)]
mod cmd;
#[allow(clippy::print_stdout, clippy::print_stderr)]
mod input;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use action::{check_person_action, ActionKey, ActionRole, RULE_NOT_A_PERSON_ACTION};
pub use decide::{decide, decide_bytes, Decision, Refusal, RULE_NO_WALLET};
pub use register::{check_wallet, load_wallet, CheckedWallet, RegisterError};
pub use summary::{btc, summary_json, summary_text, SummaryJson};

/// Re-exported so the binary and tests use the same crates.
pub use kinko_auth;
pub use kinko_keys;
pub use kinko_wallet;

/// `kinko-signer` with the command line `args` (the program name first, as
/// in `std::env::args_os`): runs the command, prints what it prints, and
/// returns the exit code (0 ok, 1 error, 2 usage, 3 refused for a security
/// reason). A usage error or `--help` exits the process, as clap does.
/// The `kinko-signer` binary is this; an executable that runs it as a
/// process of its own (the exchange's day) calls it and exits with its
/// code.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = cli::Cli::parse_from(args);
    let result: kinko_cmd::CliResult = match cli.command {
        cli::Command::Init(args) => cmd::init::run(&args),
        cli::Command::Xpub(args) => cmd::xpub::run(&args),
        cli::Command::Register(args) => cmd::register::run(&args),
        cli::Command::Inspect(args) => cmd::inspect::run(&args),
        cli::Command::Sign(args) => cmd::sign::run(&args),
        cli::Command::ActionKey(args) => cmd::action::run_action_key(&args),
        cli::Command::Approve(args) => cmd::action::run_approve(&args),
        cli::Command::SignAction(args) => cmd::action::run_sign_action(&args),
        cli::Command::SignSetup(args) => cmd::action::run_sign_setup(&args),
    };
    kinko_cmd::finish("kinko-signer", result)
}
