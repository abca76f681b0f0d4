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

/// `kinko setup …`.
#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Show what a set-up pins; with --setup-sigs, who signed it (exit 3 short of the quorum).
    Show(crate::cmd::setup::Args),
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    // Each group: `Name(crate::cmd::name::Args)`, dispatched in main.rs.
    /// Validate a policy (and its worst-case loss bound) or replay events through it.
    Policy(crate::cmd::policy::Args),
    /// Receive or change addresses of a multisig wallet, one per line.
    Address(crate::cmd::address::Args),
    /// Make a multisig wallet from key origins; export it for Core, Coldcard, Caravan; check such files.
    Wallet(crate::cmd::wallet::Args),
    /// Create, combine, finalize and inspect PSBTs.
    Psbt(crate::cmd::psbt::Args),
    /// Verify or export the ledger's hash-chained audit log.
    Audit(crate::cmd::audit::Args),
    /// Check a custody set-up and its admins' signatures, and show what it pins.
    #[command(subcommand)]
    Setup(SetupCommand),
    // The cosigner's host: each opens the cosigner's authority (signed
    // set-up, keystore, its own ledger) and asks it.
    /// A user asks to withdraw: decided and reserved by the cosigner (exit 3 if denied).
    Withdraw(crate::cmd::cosigner::WithdrawArgs),
    /// Report a deposit to the hot wallet (cold deposits are refused).
    Deposit(crate::cmd::cosigner::DepositArgs),
    /// Report the hot wallet's balance seen on chain (below the books freezes).
    HotBalance(crate::cmd::cosigner::AmountArgs),
    /// Report a refill (cold to hot) executed by the cold key holders.
    Refill(crate::cmd::cosigner::AmountArgs),
    /// Submit an approver's signed approval of a pending withdrawal.
    Approve(crate::cmd::cosigner::SignedArgs),
    /// Submit an approver's signed vote to lift the freeze.
    Unfreeze(crate::cmd::cosigner::SignedArgs),
    /// Freeze all outflow.
    Freeze(crate::cmd::cosigner::FreezeArgs),
    /// Add (admin quorum) or cancel (one admin) an allowlist destination, by signed actions.
    Allowlist(crate::cmd::cosigner::AllowlistArgs),
    /// Submit an admin-signed custody statement (the custody share limits use).
    Custody(crate::cmd::cosigner::SignedArgs),
    /// Take (admin quorum) or cancel (one admin) a signed policy change.
    PolicyChange(crate::cmd::cosigner::PolicyChangeArgs),
    /// Report a withdrawal (--id) or a cosigned transaction (--tx) confirmed on chain: what it pays settles, its fee is booked.
    Confirm(crate::cmd::cosigner::ConfirmArgs),
    /// Report a reserved withdrawal failed: released unless cosigned (then only with --conflict evidence).
    Fail(crate::cmd::cosigner::FailArgs),
    /// The cold index and address the next sweep must pay.
    SweepAddress(crate::cmd::cosigner::CosignerArgs),
    /// Check the ledger against its audit chain and print the cosigner's state.
    State(crate::cmd::cosigner::CosignerArgs),
    /// Cosign a hot-wallet PSBT paying exactly reservations (a batch), a sweep or a consolidation (exit 3 if refused).
    Cosign(crate::cmd::cosigner::CosignArgs),
}
