//! The commands run on the policy cosigner's host: every one opens the
//! cosigner's [`Authority`] from the custody set-up signed at the ceremony,
//! the cosigner's keystore and its own ledger, and asks it. Nothing a
//! command line says can decide, loosen or choose: there is no `--policy`,
//! `--at`, `--descriptor`, `--sweep-to-cold`, `--max-fee` or `--network`
//! here; approvals, unfreeze votes, allowlist changes and custody
//! statements are files of signed actions (`kinko-signer approve`,
//! `kinko-signer sign-action`).
//!
//! Exit codes: 0 done (approved, pending or recorded), 3 refused for a
//! security reason (denied by the policy, a signed action or a transaction
//! refused, a ledger whose rows are not its audit chain's; the message
//! names the rule), 2 usage, 1 any other error.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use kinko_auth::SignedAction;
use kinko_cosigner::setup::Setup;
use kinko_cosigner::{Authority, AuthorityError, Clock, OpenAuthorityError};
use kinko_keys::Passphrase;
use kinko_ledger::Committed;
use kinko_policy::{Amount, Decision, Wallet};
use kinko_wallet::XprvSigner;
use serde_json::json;

use crate::cmd::{read_capped, read_capped_text};
use crate::error::{CliError, CliResult};

/// Environment variable holding the cosigner keystore's passphrase.
pub const ENV_PASSPHRASE: &str = "KINKO_PASSPHRASE";

/// What every command on the cosigner's host needs.
#[derive(Debug, ClapArgs)]
pub struct CosignerArgs {
    /// The custody set-up (TOML) signed at the ceremony.
    #[arg(long, value_name = "FILE")]
    pub setup: PathBuf,
    /// The admins' signatures over the set-up, one JSON per line
    /// (default: the set-up's path with `.sigs` appended).
    #[arg(long, value_name = "FILE")]
    pub setup_sigs: Option<PathBuf>,
    /// The cosigner's keystore (age file); its passphrase in env
    /// KINKO_PASSPHRASE. Holds the cosigner's hot-wallet key and its audit key.
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// The cosigner's own ledger: `sqlite:PATH` or `postgres://…` (or env
    /// KINKO_LEDGER, which keeps a password out of the process list).
    #[arg(long, value_name = "URL", env = "KINKO_LEDGER", hide_env_values = true)]
    pub ledger: String,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// A wallet on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum WalletArg {
    /// The online wallet.
    Hot,
    /// The offline wallet (refused: cold custody is not taken from a report).
    Cold,
}

/// `kinko withdraw`: a user asks to withdraw.
#[derive(Debug, ClapArgs)]
pub struct WithdrawArgs {
    #[command(flatten)]
    pub common: CosignerArgs,
    /// The withdrawal id (idempotency key: the same id never spends twice).
    #[arg(long)]
    pub id: String,
    /// The user who asks.
    #[arg(long)]
    pub user: String,
    /// The destination address.
    #[arg(long, value_name = "ADDRESS")]
    pub to: String,
    /// The amount in base units (an integer).
    #[arg(long, value_name = "N")]
    pub amount: Amount,
}

/// `kinko deposit`: the backend reports a deposit to the hot wallet.
#[derive(Debug, ClapArgs)]
pub struct DepositArgs {
    #[command(flatten)]
    pub common: CosignerArgs,
    /// The amount in base units (an integer).
    #[arg(long, value_name = "N")]
    pub amount: Amount,
    /// Which wallet received it (cold is refused: `unvouched-cold-deposit`).
    #[arg(long, value_enum, default_value = "hot")]
    pub wallet: WalletArg,
}

/// A command that takes one amount.
#[derive(Debug, ClapArgs)]
pub struct AmountArgs {
    #[command(flatten)]
    pub common: CosignerArgs,
    /// The amount in base units (an integer).
    #[arg(long, value_name = "N")]
    pub amount: Amount,
}

/// A command about one withdrawal.
#[derive(Debug, ClapArgs)]
pub struct IdArgs {
    #[command(flatten)]
    pub common: CosignerArgs,
    /// The withdrawal id.
    #[arg(long)]
    pub id: String,
}

/// A command that takes signed actions.
#[derive(Debug, ClapArgs)]
pub struct SignedArgs {
    #[command(flatten)]
    pub common: CosignerArgs,
    /// A file holding one signed action (JSON); repeat for a quorum.
    #[arg(long, value_name = "FILE", required = true)]
    pub signed: Vec<PathBuf>,
}

/// `kinko freeze`: freeze all outflow (anyone may tighten).
#[derive(Debug, ClapArgs)]
pub struct FreezeArgs {
    #[command(flatten)]
    pub common: CosignerArgs,
    /// Who freezes.
    #[arg(long)]
    pub by: String,
    /// Why.
    #[arg(long)]
    pub reason: String,
}

/// `kinko allowlist`: add or cancel a destination, by signed actions.
#[derive(Debug, ClapArgs)]
pub struct AllowlistArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AllowlistCommand,
}

/// The allowlist commands.
#[derive(Debug, Subcommand)]
pub enum AllowlistCommand {
    /// Add a destination: the admin quorum's `allowlist-add` signatures.
    Add(SignedArgs),
    /// Cancel a destination: one admin's `allowlist-cancel` signature.
    Cancel(SignedArgs),
}

/// `kinko policy-change`: take or cancel a signed policy change.
#[derive(Debug, ClapArgs)]
pub struct PolicyChangeArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PolicyChangeCommand,
}

/// The policy-change commands.
#[derive(Debug, Subcommand)]
pub enum PolicyChangeCommand {
    /// Take a new policy: its text and the admin quorum's `policy-change`
    /// signatures over its SHA-256 and the next sequence number (loosening
    /// waits the set-up's delay; tightening applies at once).
    Propose(ProposeArgs),
    /// Cancel the change that waits: one admin's `policy-cancel`.
    Cancel(SignedArgs),
}

/// `kinko policy-change propose`.
#[derive(Debug, ClapArgs)]
pub struct ProposeArgs {
    #[command(flatten)]
    pub signed: SignedArgs,
    /// The new policy (kinko-policy TOML), exactly the text the admins hashed.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
}

/// `kinko cosign`: the cosigner's signature on a hot-wallet PSBT.
#[derive(Debug, ClapArgs)]
pub struct CosignArgs {
    #[command(flatten)]
    pub common: CosignerArgs,
    /// The reserved withdrawal the PSBT must pay exactly.
    #[arg(long, required_unless_present = "sweep", conflicts_with = "sweep")]
    pub id: Option<String>,
    /// Cosign a sweep to the pinned cold wallet, at the cold index the
    /// cosigner hands out (`kinko sweep-address`).
    #[arg(long)]
    pub sweep: bool,
    /// The PSBT (base64 or binary), signed by the exchange's hot key.
    #[arg(long, value_name = "FILE")]
    pub psbt: PathBuf,
    /// Where to write the cosigned PSBT (in the form read).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

fn passphrase() -> CliResult<Passphrase> {
    match std::env::var(ENV_PASSPHRASE) {
        Ok(v) => Ok(Passphrase::from(v)),
        Err(_) => Err(CliError::Usage(format!(
            "set {ENV_PASSPHRASE} to the cosigner keystore's passphrase"
        ))),
    }
}

/// The signatures file beside a set-up: `setup.toml.sigs`.
pub fn default_sigs_path(setup: &Path) -> PathBuf {
    let mut s = setup.as_os_str().to_owned();
    s.push(".sigs");
    PathBuf::from(s)
}

/// Reads and checks the signed set-up.
pub fn load_setup(setup: &Path, sigs: Option<&Path>) -> CliResult<Setup> {
    let bytes = read_capped(setup, kinko_cosigner::setup::MAX_SETUP_LEN)
        .with_context(|| format!("cannot read set-up {}", setup.display()))?;
    let sigs_path = sigs.map_or_else(|| default_sigs_path(setup), Path::to_path_buf);
    let sigs = read_capped_text(&sigs_path, kinko_cosigner::setup::MAX_SIGNATURES_LEN)
        .with_context(|| format!("cannot read set-up signatures {}", sigs_path.display()))?;
    Setup::load_signed(&bytes, &sigs).map_err(|e| CliError::Refused {
        rule: "setup-not-signed".into(),
        detail: e.to_string(),
    })
}

fn open(a: &CosignerArgs) -> CliResult<Authority<XprvSigner>> {
    let setup = load_setup(&a.setup, a.setup_sigs.as_deref())?;
    let network = setup.network();
    let pass = passphrase()?;
    let (keys, audit) = kinko_cosigner::keys::open_keystore(&a.keystore, &pass, network)
        .map_err(|e| CliError::Other(anyhow::Error::new(e)))?;
    Authority::open(setup, &a.ledger, keys, audit, Clock::System).map_err(|e| match e {
        OpenAuthorityError::Refused(inner) => refused(inner),
        other => CliError::Other(anyhow::Error::new(other)),
    })
}

fn refused(e: AuthorityError) -> CliError {
    match e {
        AuthorityError::Refused { rule, detail } => CliError::Refused {
            rule: rule.as_str().to_owned(),
            detail,
        },
        other => CliError::Other(anyhow::Error::new(other)),
    }
}

fn read_signed(paths: &[PathBuf]) -> CliResult<Vec<SignedAction>> {
    paths
        .iter()
        .map(|p| {
            let text = read_capped_text(p, kinko_auth::MAX_JSON_LEN + 2)
                .with_context(|| format!("cannot read signed action {}", p.display()))?;
            SignedAction::from_json(text.trim()).map_err(|e| CliError::Refused {
                rule: "malformed".into(),
                detail: format!("{}: {e}", p.display()),
            })
        })
        .collect()
}

fn one(paths: &[PathBuf]) -> CliResult<SignedAction> {
    let mut v = read_signed(paths)?;
    match (v.pop(), v.is_empty()) {
        (Some(s), true) => Ok(s),
        _ => Err(CliError::Usage("give exactly one --signed file".into())),
    }
}

/// Runs `kinko withdraw`.
pub fn withdraw(a: WithdrawArgs) -> CliResult {
    let mut auth = open(&a.common)?;
    let c = auth
        .request_withdrawal(&a.id, &a.user, &a.to, a.amount)
        .map_err(refused)?;
    print(auth.setup().asset(), &c, a.common.json)
}

/// Runs `kinko deposit`.
pub fn deposit(a: DepositArgs) -> CliResult {
    let mut auth = open(&a.common)?;
    let wallet = match a.wallet {
        WalletArg::Hot => Wallet::Hot,
        WalletArg::Cold => Wallet::Cold,
    };
    let c = auth.report_deposit(wallet, a.amount).map_err(refused)?;
    print(auth.setup().asset(), &c, a.common.json)
}

/// Runs `kinko hot-balance`.
pub fn hot_balance(a: AmountArgs) -> CliResult {
    let mut auth = open(&a.common)?;
    let c = auth.report_hot_balance(a.amount).map_err(refused)?;
    print(auth.setup().asset(), &c, a.common.json)
}

/// Runs `kinko refill`.
pub fn refill(a: AmountArgs) -> CliResult {
    let mut auth = open(&a.common)?;
    let c = auth.report_refill(a.amount).map_err(refused)?;
    print(auth.setup().asset(), &c, a.common.json)
}

/// Runs `kinko approve`.
pub fn approve(a: SignedArgs) -> CliResult {
    let signed = one(&a.signed)?;
    let mut auth = open(&a.common)?;
    let c = auth.approve(&signed).map_err(refused)?;
    print(auth.setup().asset(), &c, a.common.json)
}

/// Runs `kinko unfreeze`.
pub fn unfreeze(a: SignedArgs) -> CliResult {
    let signed = one(&a.signed)?;
    let mut auth = open(&a.common)?;
    let c = auth.unfreeze(&signed).map_err(refused)?;
    print(auth.setup().asset(), &c, a.common.json)
}

/// Runs `kinko freeze`.
pub fn freeze(a: FreezeArgs) -> CliResult {
    let mut auth = open(&a.common)?;
    let c = auth.freeze(&a.by, &a.reason).map_err(refused)?;
    print(auth.setup().asset(), &c, a.common.json)
}

/// Runs `kinko custody`.
pub fn custody(a: SignedArgs) -> CliResult {
    let signed = read_signed(&a.signed)?;
    let mut auth = open(&a.common)?;
    let c = auth.custody_statement(&signed).map_err(refused)?;
    print(auth.setup().asset(), &c, a.common.json)
}

/// Runs `kinko allowlist`.
pub fn allowlist(a: AllowlistArgs) -> CliResult {
    match a.command {
        AllowlistCommand::Add(a) => {
            let signed = read_signed(&a.signed)?;
            let mut auth = open(&a.common)?;
            let c = auth.allowlist_add(&signed).map_err(refused)?;
            print(auth.setup().asset(), &c, a.common.json)
        }
        AllowlistCommand::Cancel(a) => {
            let signed = one(&a.signed)?;
            let mut auth = open(&a.common)?;
            let c = auth.allowlist_cancel(&signed).map_err(refused)?;
            print(auth.setup().asset(), &c, a.common.json)
        }
    }
}

/// Runs `kinko policy-change`.
pub fn policy_change(a: PolicyChangeArgs) -> CliResult {
    match a.command {
        PolicyChangeCommand::Propose(p) => {
            // A policy is part of a set-up: at most a set-up's size.
            let text = read_capped_text(&p.policy, kinko_cosigner::setup::MAX_SETUP_LEN)
                .with_context(|| format!("cannot read policy {}", p.policy.display()))?;
            let signed = read_signed(&p.signed.signed)?;
            let mut auth = open(&p.signed.common)?;
            let c = auth
                .propose_policy_change(&text, &signed)
                .map_err(refused)?;
            print(auth.setup().asset(), &c, p.signed.common.json)?;
            let now = auth.now();
            if !p.signed.common.json {
                match auth.replay().pending_change(now) {
                    Some(ch) => println!(
                        "policy change #{} loosens: it takes effect at {} unless an admin cancels it",
                        ch.sequence, ch.active_at
                    ),
                    None => println!("policy change in force now (it only tightens)"),
                }
            }
            Ok(())
        }
        PolicyChangeCommand::Cancel(a) => {
            let signed = one(&a.signed)?;
            let mut auth = open(&a.common)?;
            let c = auth.cancel_policy_change(&signed).map_err(refused)?;
            print(auth.setup().asset(), &c, a.common.json)
        }
    }
}

/// Runs `kinko confirm`.
pub fn confirm(a: IdArgs) -> CliResult {
    let mut auth = open(&a.common)?;
    let c = auth.confirm(&a.id).map_err(refused)?;
    print(auth.setup().asset(), &c, a.common.json)
}

/// Runs `kinko fail`.
pub fn fail(a: IdArgs) -> CliResult {
    let mut auth = open(&a.common)?;
    let c = auth.fail(&a.id).map_err(refused)?;
    print(auth.setup().asset(), &c, a.common.json)
}

/// Runs `kinko sweep-address`: the cold index and address the next sweep
/// must pay.
pub fn sweep_address(a: CosignerArgs) -> CliResult {
    let mut auth = open(&a)?;
    let (index, address) = auth.next_sweep_address().map_err(refused)?;
    if a.json {
        println!(
            "{}",
            json!({ "cold_index": index, "address": address.to_string() })
        );
    } else {
        println!("{address} (cold receive index {index})");
    }
    Ok(())
}

/// Runs `kinko state`: replays the audit chain, checks the ledger's rows
/// against it and prints the state the cosigner decides on.
pub fn state(a: CosignerArgs) -> CliResult {
    let auth = open(&a)?;
    let s = auth.state();
    let (count, head) = auth.replay().head();
    if a.json {
        println!(
            "{}",
            json!({
                "setup_id": auth.setup().id().to_string(),
                "asset": auth.setup().asset(),
                "hot": s.hot, "cold": s.cold, "reserved": s.reserved,
                "vouched": s.vouched,
                "frozen": s.freeze.as_ref().map(|f| f.at),
                "audit": { "count": count, "head": head },
            })
        );
    } else {
        println!(
            "set-up {}\n{}: hot {} cold {} reserved {}{}\naudit chain: {count} records, head {head} (rows match the chain)",
            auth.setup().id(),
            auth.setup().asset(),
            s.hot,
            s.cold,
            s.reserved,
            match &s.freeze {
                Some(f) => format!(", FROZEN since {} ({})", f.at, f.reason),
                None => String::new(),
            }
        );
    }
    Ok(())
}

/// Runs `kinko cosign`.
pub fn cosign(a: CosignArgs) -> CliResult {
    let bytes = read_capped(&a.psbt, kinko_wallet::MAX_PSBT_FILE)?;
    let (mut psbt, form) = kinko_wallet::decode_psbt(&bytes).context("invalid PSBT")?;
    let mut auth = open(&a.common)?;
    let summary = match (&a.id, a.sweep) {
        (Some(id), false) => {
            let done = auth.cosign_withdrawal(id, &mut psbt).map_err(refused)?;
            json!({
                "cosigned": "withdrawal",
                "id": done.id,
                "asset": done.asset,
                "txid": done.txid.to_string(),
                "fee_sat": done.payment.fee.to_sat(),
                "signatures": done.signatures,
                "again": done.again,
                "audit_seq": done.audit_seq,
            })
        }
        (None, true) => {
            let done = auth.cosign_sweep(&mut psbt).map_err(refused)?;
            json!({
                "cosigned": "sweep",
                "txid": done.txid.to_string(),
                "amount_sat": done.amount.to_sat(),
                "fee_sat": done.payment.fee.to_sat(),
                "signatures": done.signatures,
            })
        }
        _ => return Err(CliError::Usage("give --id or --sweep".into())),
    };
    std::fs::write(&a.out, kinko_wallet::encode_psbt(&psbt, form))
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    if a.common.json {
        println!("{summary}");
    } else {
        println!(
            "cosigned {} {} ({} signatures) -> {}",
            summary["cosigned"].as_str().unwrap_or_default(),
            summary["txid"].as_str().unwrap_or_default(),
            summary["signatures"],
            a.out.display()
        );
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
    } else {
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
    }
    if let Decision::Denied { rule, id } = &c.outcome.decision {
        return Err(CliError::Refused {
            rule: rule.name().into(),
            detail: format!("withdrawal {id} denied: {rule}"),
        });
    }
    Ok(())
}
