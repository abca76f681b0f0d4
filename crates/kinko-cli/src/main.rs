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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kinko: {e}");
            e.exit_code()
        }
    }
}
