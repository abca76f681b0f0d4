//! `kinko withdraw`, `deposit`, `approve`, `confirm`, `fail`: one event each,
//! decided against the ledger under a policy and committed before anything
//! is printed. The logic lives in `kinko-ledger`; this module reads the
//! arguments and prints.
//!
//! Exit codes: 0 decided (approved, pending or recorded), 3 denied (the
//! refusal names the rule), refused because the clock went backwards, or a
//! `fail` refused because the reservation was cosigned
//! (`reservation_cosigned`), 1 any other error (an event the engine
//! refuses, a storage failure).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use kinko_ledger::{Committed, DecideError, Ledger, Policy, RULE_RESERVATION_COSIGNED};
use kinko_policy::{Amount, Decision, EventKind, Timestamp, Wallet};
use serde_json::json;

use crate::error::{CliError, CliResult};

/// What every ledger command needs.
#[derive(Debug, ClapArgs)]
pub struct LedgerArgs {
    /// The ledger: `sqlite:PATH` or `postgres://…` (or env KINKO_LEDGER,
    /// which keeps a password out of the process list).
    #[arg(long, value_name = "URL", env = "KINKO_LEDGER", hide_env_values = true)]
    pub ledger: String,
    /// The policy file (TOML) decisions are made under.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The event's time (RFC 3339); default: the ledger's clock (the
    /// database server's on PostgreSQL). Older than the asset's last event
    /// is refused.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<Timestamp>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(s).map_err(|e| e.to_string())
}

/// `kinko withdraw`: request a withdrawal; prints approved, pending or denied.
#[derive(Debug, ClapArgs)]
pub struct WithdrawArgs {
    #[command(flatten)]
    pub common: LedgerArgs,
    /// The withdrawal id (idempotency key: the same id never spends twice).
    #[arg(long)]
    pub id: String,
    /// The user who asks.
    #[arg(long)]
    pub user: String,
    /// The asset.
    #[arg(long)]
    pub asset: String,
    /// The destination (matched exactly against the allowlist).
    #[arg(long, value_name = "DEST")]
    pub to: String,
    /// The amount in base units (an integer).
    #[arg(long, value_name = "N")]
    pub amount: Amount,
}

/// `kinko deposit`: record funds arriving in the hot or cold wallet.
#[derive(Debug, ClapArgs)]
pub struct DepositArgs {
    #[command(flatten)]
    pub common: LedgerArgs,
    /// The asset.
    #[arg(long)]
    pub asset: String,
    /// The amount in base units (an integer).
    #[arg(long, value_name = "N")]
    pub amount: Amount,
    /// Which wallet received it.
    #[arg(long, value_enum, default_value = "hot")]
    pub wallet: WalletArg,
}

/// A wallet on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum WalletArg {
    /// The online wallet.
    Hot,
    /// The offline wallet.
    Cold,
}

/// `kinko approve`: one approver's approval of a pending withdrawal.
#[derive(Debug, ClapArgs)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub common: LedgerArgs,
    /// The asset.
    #[arg(long)]
    pub asset: String,
    /// The pending withdrawal.
    #[arg(long)]
    pub id: String,
    /// The approver (one of the policy's approvers).
    #[arg(long)]
    pub approver: String,
}

/// `kinko confirm` / `kinko fail`: settle or release a reservation.
#[derive(Debug, ClapArgs)]
pub struct SettleArgs {
    #[command(flatten)]
    pub common: LedgerArgs,
    /// The asset.
    #[arg(long)]
    pub asset: String,
    /// The reserved withdrawal.
    #[arg(long)]
    pub id: String,
}

/// Runs `kinko withdraw`.
pub fn withdraw(a: WithdrawArgs) -> CliResult {
    let kind = EventKind::Withdrawal {
        id: a.id,
        user: a.user,
        asset: a.asset,
        destination: a.to,
        amount: a.amount,
    };
    run(&a.common, kind)
}

/// Runs `kinko deposit`.
pub fn deposit(a: DepositArgs) -> CliResult {
    let wallet = match a.wallet {
        WalletArg::Hot => Wallet::Hot,
        WalletArg::Cold => Wallet::Cold,
    };
    let kind = EventKind::Deposit {
        asset: a.asset,
        wallet,
        amount: a.amount,
    };
    run(&a.common, kind)
}

/// Runs `kinko approve`.
pub fn approve(a: ApproveArgs) -> CliResult {
    let kind = EventKind::Approval {
        asset: a.asset,
        id: a.id,
        approver: a.approver,
    };
    run(&a.common, kind)
}

/// Runs `kinko confirm`.
pub fn confirm(a: SettleArgs) -> CliResult {
    let kind = EventKind::Confirmed {
        asset: a.asset,
        id: a.id,
    };
    run(&a.common, kind)
}

/// Runs `kinko fail`.
pub fn fail(a: SettleArgs) -> CliResult {
    let kind = EventKind::Failed {
        asset: a.asset,
        id: a.id,
    };
    run(&a.common, kind)
}

/// Opens (or creates) the ledger at `url` (no policy).
pub fn open(url: &str) -> CliResult<Ledger> {
    // The error never contains the URL (it may hold a password).
    Ok(Ledger::open(url).context("cannot open the ledger")?)
}

/// Opens an existing ledger: a mistyped SQLite path is an error, not an
/// empty log that verifies.
pub fn open_existing(url: &str) -> CliResult<Ledger> {
    Ok(Ledger::open_existing(url).context("cannot open the ledger")?)
}

fn run(common: &LedgerArgs, kind: EventKind) -> CliResult {
    let text = std::fs::read_to_string(&common.policy)
        .with_context(|| format!("cannot read policy file {}", common.policy.display()))?;
    let policy = Policy::from_toml_str(&text)
        .with_context(|| format!("invalid policy file {}", common.policy.display()))?;
    let mut ledger = open(&common.ledger)?.with_policy(policy);
    let asset = kind.asset().to_owned();
    let result = match common.at {
        Some(at) => ledger.decide_at(at, kind),
        None => ledger.decide(kind),
    };
    let committed = match result {
        Ok(c) => c,
        Err(DecideError::ClockWentBackwards { last, at }) => {
            return Err(CliError::Refused {
                rule: "clock_went_backwards".into(),
                detail: format!(
                    "{at} is before the asset's last event at {last}; nothing recorded"
                ),
            })
        }
        Err(DecideError::ReservationCosigned {
            id,
            txid,
            audit_seq,
        }) => {
            return Err(CliError::Refused {
                rule: RULE_RESERVATION_COSIGNED.into(),
                detail: format!(
                    "reservation {id} was cosigned for transaction {txid}, which may still be \
                     broadcast; only its confirmation releases it (refusal recorded as audit \
                     {asset}#{audit_seq})"
                ),
            })
        }
        Err(e) => return Err(anyhow::Error::new(e).into()),
    };
    print(&asset, &committed, common.json)?;
    if let Decision::Denied { rule, id } = &committed.outcome.decision {
        return Err(CliError::Refused {
            rule: rule.name().into(),
            detail: format!("withdrawal {id} denied: {rule}"),
        });
    }
    Ok(())
}

fn print(asset: &str, c: &Committed, json: bool) -> CliResult {
    if json {
        let v = json!({
            "asset": asset,
            "at": c.at,
            "decision": c.outcome.decision,
            "changes": c.outcome.changes,
            "proposals": c.outcome.proposals,
            "audit": { "seq": c.audit_seq, "hash": c.audit_hash },
        });
        println!("{}", serde_json::to_string(&v)?);
        return Ok(());
    }
    let line = match &c.outcome.decision {
        Decision::Approved { id } => format!("approved {id}: amount reserved"),
        Decision::Pending { id, missing } => format!(
            "pending {id}: {} of {} approvals",
            missing.have, missing.required
        ),
        Decision::Denied { id, rule } => format!("denied {id}: {rule} (rule {})", rule.name()),
        Decision::Duplicate { id, status } => {
            format!("duplicate {id}: already {}, nothing changed", status.name())
        }
        _ => "recorded".to_owned(),
    };
    println!("{line} [{} audit {asset}#{}]", c.at, c.audit_seq);
    for p in &c.outcome.proposals {
        match p {
            kinko_policy::Proposal::Sweep { asset, amount } => {
                println!("proposal: sweep {amount} of {asset} from hot to cold")
            }
            kinko_policy::Proposal::Refill { asset, amount } => {
                println!("proposal: refill {amount} of {asset} from cold to hot")
            }
            _ => {}
        }
    }
    Ok(())
}
