//! `kinko`, the online coordinator binary. Thin: parsing here, logic in the
//! library crates.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result: kinko_cmd::CliResult = match cli.command {
        cli::Command::Policy(args) => cmd::policy::run(args),
        cli::Command::Address(args) => cmd::address::run(args),
        cli::Command::Wallet(args) => cmd::wallet::run(args),
        cli::Command::Psbt(args) => cmd::psbt::run(args),
        cli::Command::Audit(args) => cmd::audit::run(args),
        cli::Command::Setup(cli::SetupCommand::Show(args)) => cmd::setup::run(args),
        cli::Command::Withdraw(args) => cmd::cosigner::withdraw(args),
        cli::Command::Deposit(args) => cmd::cosigner::deposit(args),
        cli::Command::HotBalance(args) => cmd::cosigner::hot_balance(args),
        cli::Command::Refill(args) => cmd::cosigner::refill(args),
        cli::Command::Approve(args) => cmd::cosigner::approve(args),
        cli::Command::Unfreeze(args) => cmd::cosigner::unfreeze(args),
        cli::Command::Freeze(args) => cmd::cosigner::freeze(args),
        cli::Command::Allowlist(args) => cmd::cosigner::allowlist(args),
        cli::Command::Custody(args) => cmd::cosigner::custody(args),
        cli::Command::PolicyChange(args) => cmd::cosigner::policy_change(args),
        cli::Command::Confirm(args) => cmd::cosigner::confirm(args),
        cli::Command::Fail(args) => cmd::cosigner::fail(args),
        cli::Command::SweepAddress(args) => cmd::cosigner::sweep_address(args),
        cli::Command::State(args) => cmd::cosigner::state(args),
        cli::Command::Cosign(args) => cmd::cosigner::cosign(args),
    };
    kinko_cmd::finish("kinko", result)
}
