//! Command-line arguments of `kinko` (clap derive). Each command group lives
//! in its own module under `cmd/`, with its `Args` and its `run`.

use clap::{Parser, Subcommand};

/// kinko: the online coordinator of an exchange's custody.
#[derive(Debug, Parser)]
#[command(name = "kinko", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    // Each group: `Name(crate::cmd::name::Args)`, dispatched in main.rs.
    /// Validate a policy (and its worst-case loss bound) or replay events through it.
    Policy(crate::cmd::policy::Args),
    /// Receive or change addresses of a multisig wallet, one per line.
    Address(crate::cmd::address::Args),
    /// Create, combine, finalize and inspect PSBTs.
    Psbt(crate::cmd::psbt::Args),
}
