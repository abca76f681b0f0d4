//! `kinko`, the online coordinator binary. Thin: parsing here, logic in the
//! library crates.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod cmd;
mod error;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result: error::CliResult = match cli.command {
        cli::Command::Policy(args) => cmd::policy::run(args),
        cli::Command::Address(args) => cmd::address::run(args),
        cli::Command::Psbt(args) => cmd::psbt::run(args),
        cli::Command::Withdraw(args) => cmd::ledger::withdraw(args),
        cli::Command::Deposit(args) => cmd::ledger::deposit(args),
        cli::Command::Approve(args) => cmd::ledger::approve(args),
        cli::Command::Confirm(args) => cmd::ledger::confirm(args),
        cli::Command::Fail(args) => cmd::ledger::fail(args),
        cli::Command::Audit(args) => cmd::audit::run(args),
        cli::Command::Cosign(args) => cmd::cosign::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kinko: {e}");
            e.exit_code()
        }
    }
}
