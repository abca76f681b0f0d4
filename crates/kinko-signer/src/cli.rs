//! Command-line arguments of `kinko-signer` (clap derive).

use clap::{Parser, Subcommand};

/// kinko-signer: the air-gapped key holder's tool.
#[derive(Debug, Parser)]
#[command(name = "kinko-signer", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {}
