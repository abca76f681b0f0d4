//! `kinko-signer`, the air-gapped signer. Thin: parsing here, logic in
//! kinko-keys, kinko-wallet and this package's library (`kinko_signer`). No networking
//! crate in its dependency tree.
//!
//! Exit codes: 0 ok, 1 error, 2 usage, 3 refused for a security reason.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod cmd;
mod error;
mod input;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result: error::CliResult = match cli.command {
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
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kinko-signer: {e}");
            e.exit_code()
        }
    }
}
