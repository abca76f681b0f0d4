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
    /// Request a withdrawal: decided and reserved in the ledger (exit 3 if denied).
    Withdraw(crate::cmd::ledger::WithdrawArgs),
    /// Record a deposit to the hot or cold wallet in the ledger.
    Deposit(crate::cmd::ledger::DepositArgs),
    /// Approve a pending withdrawal (one approver's vote).
    Approve(crate::cmd::ledger::ApproveArgs),
    /// Confirm a reserved withdrawal on chain: the reservation settles.
    Confirm(crate::cmd::ledger::SettleArgs),
    /// Mark a reserved withdrawal failed: the reservation is released.
    Fail(crate::cmd::ledger::SettleArgs),
    /// Verify or export the ledger's hash-chained audit log.
    Audit(crate::cmd::audit::Args),
    /// Cosign a hot-wallet PSBT that pays exactly what the ledger approved (exit 3 if refused).
    Cosign(crate::cmd::cosign::Args),
}
