//! `kinko-signer`, the air-gapped signer. Thin: parsing here, logic in
//! kinko-keys and kinko-wallet. No networking crate in its dependency tree.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod error;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result: error::CliResult = match cli.command {};
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kinko-signer: {e}");
            e.exit_code()
        }
    }
}
