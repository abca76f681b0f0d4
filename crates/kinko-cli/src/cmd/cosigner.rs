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
//!
//! Each command has a second mode for the backend's host: with `--cosigner
//! URL --client-cert PEM --client-key PEM --cosigner-ca PEM` it asks the
//! cosigner service (`kinko-cosignd`) through [`kinko_client::Client`]
//! instead of opening a ledger and a keystore, and prints the same answer.
//! A decision is sent with a request id (`--request-id`; by default a fresh
//! one, printed, or for `withdraw` the withdrawal id): a retry with it is
//! answered from the first answer, never decided twice.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{ArgGroup, Args as ClapArgs, Subcommand};
use kinko_auth::{ActionRule, SignedAction};
use kinko_client::api::{
    AmountRequest, CosignRequest, Decided, DepositRequest, FailRequest, FreezeRequest, IdRequest,
    PayoutRequest, PolicyChangeRequest, QuorumRequest, SignedRequest, WalletName,
    WithdrawalRequest,
};
use kinko_client::{Client, ClientError, TlsFiles};
use kinko_cosigner::setup::Setup;
use kinko_cosigner::{Authority, AuthorityError, Clock, OpenAuthorityError};
use kinko_keys::Passphrase;
use kinko_ledger::Committed;
use kinko_policy::{Amount, Change, Decision, Proposal, Timestamp, Wallet};
use kinko_wallet::{PsbtEncoding, XprvSigner};
use serde_json::json;

use crate::cmd::{read_capped, read_capped_text};
use kinko_cmd::{env_secret, CliError, CliResult, ENV_PASSPHRASE};

/// The rule that refuses a set-up whose signatures do not read, do not
/// verify or fall short of the admin quorum: the CLI's own rule (the
/// cosigner's [`SetupError`](kinko_cosigner::setup::SetupError) has none for
/// the whole).
pub const RULE_SETUP_NOT_SIGNED: &str = "setup-not-signed";

/// What every command on the cosigner needs: its own host's files (set-up,
/// keystore, ledger), or the service's address and the backend's TLS files.
/// The two modes exclude each other.
#[derive(Debug, ClapArgs)]
#[command(group(
    ArgGroup::new("local")
        .multiple(true)
        .args(["setup", "setup_sigs", "keystore", "ledger"])
        .conflicts_with("service")
))]
#[command(group(
    ArgGroup::new("service")
        .multiple(true)
        .args(["cosigner", "client_cert", "client_key", "cosigner_ca"])
))]
pub struct CosignerArgs {
    /// The custody set-up (TOML) signed at the ceremony.
    #[arg(long, value_name = "FILE", required_unless_present = "cosigner")]
    pub setup: Option<PathBuf>,
    /// The admins' signatures over the set-up, one JSON per line
    /// (default: the set-up's path with `.sigs` appended).
    #[arg(long, value_name = "FILE")]
    pub setup_sigs: Option<PathBuf>,
    /// The cosigner's keystore (age file); its passphrase in env
    /// KINKO_PASSPHRASE. Holds the cosigner's hot-wallet key and its audit key.
    #[arg(long, value_name = "FILE", required_unless_present = "cosigner")]
    pub keystore: Option<PathBuf>,
    /// The cosigner's own ledger: `sqlite:PATH` or `postgres://…` (or env
    /// KINKO_LEDGER, which keeps a password out of the process list).
    #[arg(
        long,
        value_name = "URL",
        env = "KINKO_LEDGER",
        hide_env_values = true,
        required_unless_present = "cosigner"
    )]
    pub ledger: Option<String>,
    /// Ask the cosigner service at this URL (`https://HOST:PORT`) instead
    /// of opening the set-up, keystore and ledger (the backend's host).
    #[arg(
        long,
        value_name = "URL",
        env = "KINKO_COSIGNER",
        requires_all = ["client_cert", "client_key", "cosigner_ca"]
    )]
    pub cosigner: Option<String>,
    /// The backend's client certificate (PEM), pinned by the set-up.
    #[arg(
        long,
        value_name = "PEM",
        env = "KINKO_CLIENT_CERT",
        requires = "cosigner"
    )]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(
        long,
        value_name = "PEM",
        env = "KINKO_CLIENT_KEY",
        requires = "cosigner"
    )]
    pub client_key: Option<PathBuf>,
    /// The CA certificate (PEM) the service's certificate must chain to.
    #[arg(
        long,
        value_name = "PEM",
        env = "KINKO_COSIGNER_CA",
        requires = "cosigner"
    )]
    pub cosigner_ca: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// What every command that decides needs: [`CosignerArgs`] and, through
/// the service, the request's id.
#[derive(Debug, ClapArgs)]
pub struct DecideArgs {
    #[command(flatten)]
    pub cosigner: CosignerArgs,
    /// The request's id at the service (1 to 64 of `A-Z a-z 0-9 - _ . : /`):
    /// a retry with the same id gets the first answer and decides nothing
    /// again. Default: a fresh random id, printed (for `withdraw`: the
    /// withdrawal id).
    #[arg(long, value_name = "ID", requires = "cosigner")]
    pub request_id: Option<String>,
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
    pub common: DecideArgs,
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
    pub common: DecideArgs,
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
    pub common: DecideArgs,
    /// The amount in base units (an integer).
    #[arg(long, value_name = "N")]
    pub amount: Amount,
}

/// `kinko confirm`: a withdrawal, or a transaction the cosigner signed,
/// confirmed on chain.
#[derive(Debug, ClapArgs)]
#[command(group(ArgGroup::new("confirmed").required(true).args(["id", "tx"])))]
pub struct ConfirmArgs {
    #[command(flatten)]
    pub common: DecideArgs,
    /// The withdrawal id (its reservation must have been cosigned in
    /// exactly one transaction: that transaction is confirmed).
    #[arg(long)]
    pub id: Option<String>,
    /// The txid of a transaction the cosigner signed (a payout, a fee bump,
    /// a sweep or a consolidation): settles every reservation it pays and
    /// books its fee.
    #[arg(long, value_name = "TXID")]
    pub tx: Option<String>,
}

/// `kinko fail`: a reserved withdrawal failed.
#[derive(Debug, ClapArgs)]
pub struct FailArgs {
    #[command(flatten)]
    pub common: DecideArgs,
    /// The withdrawal id.
    #[arg(long)]
    pub id: String,
    /// For a cosigned reservation: the txid of a transaction the cosigner
    /// signed, recorded as confirmed, that spends an input of every
    /// transaction paying the reservation (so none of them can confirm).
    #[arg(long, value_name = "TXID")]
    pub conflict: Option<String>,
}

/// A command that takes signed actions.
#[derive(Debug, ClapArgs)]
pub struct SignedArgs {
    #[command(flatten)]
    pub common: DecideArgs,
    /// A file holding one signed action (JSON); repeat for a quorum.
    #[arg(long, value_name = "FILE", required = true)]
    pub signed: Vec<PathBuf>,
}

/// `kinko freeze`: freeze all outflow (anyone may tighten).
#[derive(Debug, ClapArgs)]
pub struct FreezeArgs {
    #[command(flatten)]
    pub common: DecideArgs,
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
#[command(group(
    ArgGroup::new("what")
        .required(true)
        .args(["id", "sweep", "consolidation"])
))]
pub struct CosignArgs {
    #[command(flatten)]
    pub common: CosignerArgs,
    /// A reserved withdrawal the PSBT pays; repeat for a batch: the PSBT
    /// must pay each exactly once and nothing else but verified change.
    #[arg(long)]
    pub id: Vec<String>,
    /// Cosign a sweep to the pinned cold wallet, at the cold index the
    /// cosigner hands out (`kinko sweep-address`).
    #[arg(long)]
    pub sweep: bool,
    /// Cosign a consolidation (or a child paying for a stuck parent): every
    /// output is the hot wallet's verified change.
    #[arg(long)]
    pub consolidation: bool,
    /// The PSBT (base64 or binary), signed by the exchange's hot key.
    #[arg(long, value_name = "FILE")]
    pub psbt: PathBuf,
    /// Where to write the cosigned PSBT (in the form read).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

fn passphrase() -> CliResult<Passphrase> {
    env_secret(ENV_PASSPHRASE)?.ok_or_else(|| {
        CliError::Usage(format!(
            "set {ENV_PASSPHRASE} to the cosigner keystore's passphrase"
        ))
    })
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
    Setup::load_signed(&bytes, &sigs)
        .map_err(|e| CliError::refused(RULE_SETUP_NOT_SIGNED, e.to_string()))
}

/// The cosigner a command asks.
enum Cosigner {
    /// Its authority, opened on its own host.
    Local(Box<Authority<XprvSigner>>),
    /// The service, through its client.
    Service(Client),
}

/// The cosigner `a` names: the service when `--cosigner` is given, else
/// the authority over the local files (clap requires one set or the other).
fn connect(a: &CosignerArgs) -> CliResult<Cosigner> {
    if let Some(url) = &a.cosigner {
        let (Some(cert), Some(key), Some(ca)) = (&a.client_cert, &a.client_key, &a.cosigner_ca)
        else {
            return Err(CliError::Usage(
                "--cosigner needs --client-cert, --client-key and --cosigner-ca".into(),
            ));
        };
        let tls = TlsFiles::read(ca, cert, key).map_err(anyhow::Error::new)?;
        return Ok(Cosigner::Service(
            Client::connect(url, &tls).map_err(anyhow::Error::new)?,
        ));
    }
    let (Some(setup), Some(keystore), Some(ledger)) = (&a.setup, &a.keystore, &a.ledger) else {
        return Err(CliError::Usage(
            "give --setup, --keystore and --ledger (on the cosigner's host) or --cosigner".into(),
        ));
    };
    let setup = load_setup(setup, a.setup_sigs.as_deref())?;
    let network = setup.network();
    let pass = passphrase()?;
    let (keys, audit) = kinko_cosigner::keys::open_keystore(keystore, &pass, network)
        .map_err(|e| CliError::Other(anyhow::Error::new(e)))?;
    let auth = Authority::open(setup, ledger, keys, audit, Clock::System).map_err(|e| match e {
        OpenAuthorityError::Refused(inner) => refused(inner),
        other => CliError::Other(anyhow::Error::new(other)),
    })?;
    Ok(Cosigner::Local(Box::new(auth)))
}

fn refused(e: AuthorityError) -> CliError {
    match e {
        AuthorityError::Refused { rule, detail } => CliError::refused(rule.as_str(), detail),
        other => CliError::Other(anyhow::Error::new(other)),
    }
}

/// The service's error as the local mode's: a refusal or a conflict names
/// its rule (exit 3); anything else is an error that names the request id a
/// retry must carry, if there is one.
fn service_error(e: ClientError, request_id: Option<&str>) -> CliError {
    match e {
        ClientError::Api {
            rule: Some(rule),
            detail,
            ..
        } => CliError::refused(rule, detail),
        other => match request_id {
            Some(id) => CliError::Other(anyhow::anyhow!(
                "{other} (request id {id}: retry with --request-id {id})"
            )),
            None => CliError::Other(anyhow::Error::new(other)),
        },
    }
}

/// A fresh request id: `r-` and 16 random bytes in hex.
fn fresh_request_id() -> CliResult<String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| anyhow::anyhow!("no random request id: {e}"))?;
    Ok(b.iter().fold(String::from("r-"), |mut s, x| {
        s.push_str(&format!("{x:02x}"));
        s
    }))
}

/// A signed action as the service's JSON body carries it.
fn signed_value(s: &SignedAction) -> CliResult<serde_json::Value> {
    Ok(serde_json::from_str(&s.to_json())?)
}

fn signed_values(v: &[SignedAction]) -> CliResult<Vec<serde_json::Value>> {
    v.iter().map(signed_value).collect()
}

fn read_signed(paths: &[PathBuf]) -> CliResult<Vec<SignedAction>> {
    paths
        .iter()
        .map(|p| {
            let text = read_capped_text(p, kinko_auth::MAX_JSON_LEN + 2)
                .with_context(|| format!("cannot read signed action {}", p.display()))?;
            SignedAction::from_json(text.trim()).map_err(|e| {
                CliError::refused(
                    ActionRule::Malformed.as_str(),
                    format!("{}: {e}", p.display()),
                )
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

/// A decision as both modes print it.
struct Answer<'a> {
    asset: &'a str,
    at: Timestamp,
    decision: &'a Decision,
    changes: &'a [Change],
    proposals: &'a [Proposal],
    audit_seq: u64,
    audit_hash: &'a str,
    /// The service's request id (none in local mode).
    request_id: Option<&'a str>,
}

impl<'a> Answer<'a> {
    fn local(asset: &'a str, c: &'a Committed) -> Self {
        Answer {
            asset,
            at: c.at,
            decision: &c.outcome.decision,
            changes: &c.outcome.changes,
            proposals: &c.outcome.proposals,
            audit_seq: c.audit_seq,
            audit_hash: &c.audit_hash,
            request_id: None,
        }
    }

    fn service(d: &'a Decided) -> Self {
        Answer {
            asset: &d.asset,
            at: d.at,
            decision: &d.decision,
            changes: &d.changes,
            proposals: &d.proposals,
            audit_seq: d.audit_seq,
            audit_hash: &d.audit_hash,
            request_id: Some(&d.request_id),
        }
    }
}

/// Asks the cosigner for a decision: `local` on the cosigner's host,
/// `remote` through the service with the request id (`--request-id`, else
/// `default_id`, else a fresh one); prints the answer; the answer's
/// audit record is returned for what a command prints after it.
fn decide(
    a: &DecideArgs,
    default_id: Option<&str>,
    local: impl FnOnce(&mut Authority<XprvSigner>) -> Result<Committed, AuthorityError>,
    remote: impl FnOnce(&Client, String) -> Result<Decided, ClientError>,
) -> CliResult<Decided> {
    let json = a.cosigner.json;
    match connect(&a.cosigner)? {
        Cosigner::Local(mut auth) => {
            let c = local(&mut auth).map_err(refused)?;
            let asset = auth.setup().asset().to_owned();
            let (outcome, rule) = Decided::outcome_of(&c.outcome.decision);
            print(&Answer::local(&asset, &c), json)?;
            Ok(Decided {
                request_id: String::new(),
                asset,
                outcome: outcome.to_owned(),
                rule,
                at: c.at,
                decision: c.outcome.decision,
                changes: c.outcome.changes,
                proposals: c.outcome.proposals,
                audit_seq: c.audit_seq,
                audit_hash: c.audit_hash,
            })
        }
        Cosigner::Service(client) => {
            let id = match (&a.request_id, default_id) {
                (Some(id), _) => id.clone(),
                (None, Some(id)) => id.to_owned(),
                (None, None) => fresh_request_id()?,
            };
            let d = remote(&client, id.clone()).map_err(|e| service_error(e, Some(&id)))?;
            print(&Answer::service(&d), json)?;
            Ok(d)
        }
    }
}

/// Runs `kinko withdraw`.
pub fn withdraw(a: WithdrawArgs) -> CliResult {
    decide(
        &a.common,
        Some(&a.id),
        |auth| auth.request_withdrawal(&a.id, &a.user, &a.to, a.amount.units()),
        |c, request_id| {
            c.request_withdrawal(&WithdrawalRequest {
                request_id,
                id: a.id.clone(),
                user: a.user.clone(),
                destination: a.to.clone(),
                amount_sat: a.amount.units(),
            })
        },
    )
    .map(drop)
}

/// Runs `kinko deposit`.
pub fn deposit(a: DepositArgs) -> CliResult {
    let (wallet, name) = match a.wallet {
        WalletArg::Hot => (Wallet::Hot, WalletName::Hot),
        WalletArg::Cold => (Wallet::Cold, WalletName::Cold),
    };
    decide(
        &a.common,
        None,
        |auth| auth.report_deposit(wallet, a.amount.units()),
        |c, request_id| {
            c.report_deposit(&DepositRequest {
                request_id,
                wallet: name,
                amount_sat: a.amount.units(),
            })
        },
    )
    .map(drop)
}

/// Runs `kinko hot-balance`.
pub fn hot_balance(a: AmountArgs) -> CliResult {
    decide(
        &a.common,
        None,
        |auth| auth.report_hot_balance(a.amount.units()),
        |c, request_id| {
            c.report_hot_balance(&AmountRequest {
                request_id,
                amount_sat: a.amount.units(),
            })
        },
    )
    .map(drop)
}

/// Runs `kinko refill`.
pub fn refill(a: AmountArgs) -> CliResult {
    decide(
        &a.common,
        None,
        |auth| auth.report_refill(a.amount.units()),
        |c, request_id| {
            c.report_refill(&AmountRequest {
                request_id,
                amount_sat: a.amount.units(),
            })
        },
    )
    .map(drop)
}

/// Runs `kinko approve`.
pub fn approve(a: SignedArgs) -> CliResult {
    let signed = one(&a.signed)?;
    let id = match &signed.action {
        kinko_auth::Action::Approval { withdrawal_id, .. } => withdrawal_id.clone(),
        // The service takes an approval under the withdrawal it names; the
        // authority refuses any other action by this rule.
        _ if a.common.cosigner.cosigner.is_some() => {
            return Err(CliError::refused(
                ActionRule::WrongAction.as_str(),
                format!("not an approval but a {}", signed.action.name()),
            ))
        }
        _ => String::new(),
    };
    let value = signed_value(&signed)?;
    decide(
        &a.common,
        None,
        |auth| auth.approve(&signed),
        |c, request_id| {
            c.approve(
                &id,
                &SignedRequest {
                    request_id,
                    signed: value,
                },
            )
        },
    )
    .map(drop)
}

/// Runs `kinko unfreeze`.
pub fn unfreeze(a: SignedArgs) -> CliResult {
    let signed = one(&a.signed)?;
    let value = signed_value(&signed)?;
    decide(
        &a.common,
        None,
        |auth| auth.unfreeze(&signed),
        |c, request_id| {
            c.unfreeze(&SignedRequest {
                request_id,
                signed: value,
            })
        },
    )
    .map(drop)
}

/// Runs `kinko freeze`.
pub fn freeze(a: FreezeArgs) -> CliResult {
    decide(
        &a.common,
        None,
        |auth| auth.freeze(&a.by, &a.reason),
        |c, request_id| {
            c.freeze(&FreezeRequest {
                request_id,
                by: a.by.clone(),
                reason: a.reason.clone(),
            })
        },
    )
    .map(drop)
}

/// Runs `kinko custody`.
pub fn custody(a: SignedArgs) -> CliResult {
    let signed = read_signed(&a.signed)?;
    let values = signed_values(&signed)?;
    decide(
        &a.common,
        None,
        |auth| auth.custody_statement(&signed),
        |c, request_id| {
            c.custody_statement(&QuorumRequest {
                request_id,
                signed: values,
            })
        },
    )
    .map(drop)
}

/// Runs `kinko allowlist`.
pub fn allowlist(a: AllowlistArgs) -> CliResult {
    match a.command {
        AllowlistCommand::Add(a) => {
            let signed = read_signed(&a.signed)?;
            let values = signed_values(&signed)?;
            decide(
                &a.common,
                None,
                |auth| auth.allowlist_add(&signed),
                |c, request_id| {
                    c.allowlist_add(&QuorumRequest {
                        request_id,
                        signed: values,
                    })
                },
            )
        }
        AllowlistCommand::Cancel(a) => {
            let signed = one(&a.signed)?;
            let value = signed_value(&signed)?;
            decide(
                &a.common,
                None,
                |auth| auth.allowlist_cancel(&signed),
                |c, request_id| {
                    c.allowlist_cancel(&SignedRequest {
                        request_id,
                        signed: value,
                    })
                },
            )
        }
    }
    .map(drop)
}

/// When a policy change taken by audit record `seq` takes effect, read
/// from the record (the service's audit export): `(sequence, active_at,
/// loosening)`.
fn policy_change_of(client: &Client, asset: &str, seq: u64) -> Option<(u64, Timestamp, bool)> {
    let export = client.audit_export().ok()?;
    let line = export.lines().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["asset"] == asset && v["seq"] == seq).then_some(v)
    })?;
    let payload: serde_json::Value = serde_json::from_str(line["payload"].as_str()?).ok()?;
    let ch = payload.pointer("/evidence/policy_change")?;
    Some((
        ch["sequence"].as_u64()?,
        Timestamp::from_unix(ch["active_at"].as_i64()?),
        ch["loosening"].as_bool()?,
    ))
}

/// Runs `kinko policy-change`.
pub fn policy_change(a: PolicyChangeArgs) -> CliResult {
    match a.command {
        PolicyChangeCommand::Propose(p) => {
            // A policy is part of a set-up: at most a set-up's size.
            let text = read_capped_text(&p.policy, kinko_cosigner::setup::MAX_SETUP_LEN)
                .with_context(|| format!("cannot read policy {}", p.policy.display()))?;
            let signed = read_signed(&p.signed.signed)?;
            let values = signed_values(&signed)?;
            let common = &p.signed.common;
            // Whether it waits: the local authority's replay knows; through
            // the service, the change's audit record says.
            let mut pending = None;
            let d = decide(
                common,
                None,
                |auth| {
                    let c = auth.propose_policy_change(&text, &signed)?;
                    let now = auth.now();
                    pending = Some(
                        auth.replay()
                            .pending_change(now)
                            .map(|ch| (ch.sequence, ch.active_at)),
                    );
                    Ok(c)
                },
                |c, request_id| {
                    c.propose_policy_change(&PolicyChangeRequest {
                        request_id,
                        policy: text.clone(),
                        signed: values,
                    })
                },
            )?;
            if common.cosigner.json {
                return Ok(());
            }
            let pending = match pending {
                Some(p) => p,
                None => {
                    let Cosigner::Service(client) = connect(&common.cosigner)? else {
                        return Ok(());
                    };
                    match policy_change_of(&client, &d.asset, d.audit_seq) {
                        Some((seq, at, true)) if at > d.at => Some((seq, at)),
                        Some(_) => None,
                        None => {
                            println!("policy change recorded as audit record {}", d.audit_seq);
                            return Ok(());
                        }
                    }
                }
            };
            match pending {
                Some((sequence, active_at)) => println!(
                    "policy change #{sequence} loosens: it takes effect at {active_at} unless an admin cancels it"
                ),
                None => println!("policy change in force now (it only tightens)"),
            }
            Ok(())
        }
        PolicyChangeCommand::Cancel(a) => {
            let signed = one(&a.signed)?;
            let value = signed_value(&signed)?;
            decide(
                &a.common,
                None,
                |auth| auth.cancel_policy_change(&signed),
                |c, request_id| {
                    c.cancel_policy_change(&SignedRequest {
                        request_id,
                        signed: value,
                    })
                },
            )
            .map(drop)
        }
    }
}

/// Runs `kinko confirm`.
pub fn confirm(a: ConfirmArgs) -> CliResult {
    match (&a.id, &a.tx) {
        (Some(id), None) => decide(
            &a.common,
            None,
            |auth| auth.confirm(id),
            |c, request_id| c.confirm(id, &IdRequest { request_id }),
        ),
        (None, Some(tx)) => decide(
            &a.common,
            None,
            |auth| auth.confirm_tx(tx),
            |c, request_id| c.confirm_tx(tx, &IdRequest { request_id }),
        ),
        _ => Err(CliError::Usage("give --id or --tx".into())),
    }
    .map(drop)
}

/// Runs `kinko fail`.
pub fn fail(a: FailArgs) -> CliResult {
    decide(
        &a.common,
        None,
        |auth| match &a.conflict {
            Some(tx) => auth.fail_with_conflict(&a.id, tx),
            None => auth.fail(&a.id),
        },
        |c, request_id| {
            c.fail(
                &a.id,
                &FailRequest {
                    request_id,
                    conflict: a.conflict.clone(),
                },
            )
        },
    )
    .map(drop)
}

/// Runs `kinko sweep-address`: the cold index and address the next sweep
/// must pay.
pub fn sweep_address(a: CosignerArgs) -> CliResult {
    let (index, address) = match connect(&a)? {
        Cosigner::Local(mut auth) => {
            let (i, addr) = auth.next_sweep_address().map_err(refused)?;
            (i, addr.to_string())
        }
        Cosigner::Service(client) => {
            let s = client.sweep_address().map_err(|e| service_error(e, None))?;
            (s.cold_index, s.address)
        }
    };
    if a.json {
        println!("{}", json!({ "cold_index": index, "address": address }));
    } else {
        println!("{address} (cold receive index {index})");
    }
    Ok(())
}

/// The state as `kinko state` prints it.
struct Shown {
    setup_id: String,
    asset: String,
    hot: u64,
    cold: u64,
    reserved: u64,
    vouched: Option<u64>,
    frozen: Option<Timestamp>,
    /// Why it is frozen.
    reason: Option<String>,
    count: u64,
    head: String,
}

/// Runs `kinko state`: replays the audit chain, checks the ledger's rows
/// against it and prints the state the cosigner decides on (through the
/// service, the service does the same before it answers).
pub fn state(a: CosignerArgs) -> CliResult {
    let st = match connect(&a)? {
        Cosigner::Local(auth) => {
            let s = auth.state();
            let (count, head) = auth.replay().head();
            Shown {
                setup_id: auth.setup().id().to_string(),
                asset: auth.setup().asset().to_owned(),
                hot: s.hot().units(),
                cold: s.cold().units(),
                reserved: s.reserved().units(),
                vouched: s.vouched().map(|v| v.units()),
                frozen: s.freeze().map(|f| f.at),
                reason: s.freeze().map(|f| f.reason.to_string()),
                count,
                head: head.to_owned(),
            }
        }
        Cosigner::Service(client) => {
            let s = client.state().map_err(|e| service_error(e, None))?;
            Shown {
                setup_id: s.setup_id,
                asset: s.asset,
                hot: s.hot_sat,
                cold: s.cold_sat,
                reserved: s.reserved_sat,
                vouched: s.vouched_sat,
                frozen: s.frozen_since,
                reason: s.frozen_reason,
                count: s.audit_count,
                head: s.audit_head,
            }
        }
    };
    if a.json {
        println!(
            "{}",
            json!({
                "setup_id": st.setup_id,
                "asset": st.asset,
                "hot": st.hot, "cold": st.cold, "reserved": st.reserved,
                "vouched": st.vouched,
                "frozen": st.frozen,
                "audit": { "count": st.count, "head": st.head },
            })
        );
    } else {
        println!(
            "set-up {}\n{}: hot {} cold {} reserved {}{}\naudit chain: {} records, head {} (rows match the chain)",
            st.setup_id,
            st.asset,
            st.hot,
            st.cold,
            st.reserved,
            match (&st.frozen, &st.reason) {
                (Some(at), Some(r)) => format!(", FROZEN since {at} ({r})"),
                (Some(at), None) => format!(", FROZEN since {at}"),
                (None, _) => String::new(),
            },
            st.count,
            st.head,
        );
    }
    Ok(())
}

/// The service's cosigned PSBT, which must be of the transaction sent.
fn cosigned_psbt(b64: &str, sent: &bitcoin::psbt::Psbt) -> CliResult<bitcoin::psbt::Psbt> {
    let (p, _) =
        kinko_wallet::decode_psbt(b64.as_bytes()).context("the cosigner's PSBT does not read")?;
    if p.unsigned_tx != sent.unsigned_tx {
        return Err(CliError::Other(anyhow::anyhow!(
            "the cosigner answered with a PSBT of another transaction"
        )));
    }
    Ok(p)
}

/// What `kinko cosign` asks the cosigner to sign.
enum What<'a> {
    /// A payout of these reservations (one, or a batch).
    Payout(&'a [String]),
    /// A sweep to the cold wallet.
    Sweep,
    /// A consolidation to the hot wallet's change.
    Consolidation,
}

/// A transaction the cosigner signed, as both modes print it.
enum Done {
    Payout {
        asset: String,
        txid: String,
        ids: Vec<String>,
        /// The output paying each of `ids`, in the same order.
        outputs: Vec<usize>,
        fee_sat: u64,
        replaces: Option<String>,
        signatures: usize,
        again: bool,
        audit_seqs: (u64, u64),
    },
    Sweep {
        txid: String,
        amount_sat: u64,
        fee_sat: u64,
        signatures: usize,
    },
    Consolidation {
        txid: String,
        fee_sat: u64,
        signatures: usize,
    },
}

impl Done {
    fn to_json(&self) -> serde_json::Value {
        match self {
            Done::Payout {
                asset,
                txid,
                ids,
                outputs,
                fee_sat,
                replaces,
                signatures,
                again,
                audit_seqs: (first, last),
            } => {
                let mut v = json!({
                    // One reservation keeps the answer it always had.
                    "cosigned": if ids.len() == 1 { "withdrawal" } else { "payout" },
                    "ids": ids,
                    "asset": asset,
                    "txid": txid,
                    "payments": ids.iter().zip(outputs).map(|(id, o)| json!({ "id": id, "output": o })).collect::<Vec<_>>(),
                    "fee_sat": fee_sat,
                    "replaces": replaces,
                    "signatures": signatures,
                    "again": again,
                    "audit_seq_first": first,
                    "audit_seq": last,
                });
                if let [id] = ids.as_slice() {
                    v["id"] = json!(id);
                }
                v
            }
            Done::Sweep {
                txid,
                amount_sat,
                fee_sat,
                signatures,
            } => json!({
                "cosigned": "sweep",
                "txid": txid,
                "amount_sat": amount_sat,
                "fee_sat": fee_sat,
                "signatures": signatures,
            }),
            Done::Consolidation {
                txid,
                fee_sat,
                signatures,
            } => json!({
                "cosigned": "consolidation",
                "txid": txid,
                "fee_sat": fee_sat,
                "signatures": signatures,
            }),
        }
    }

    fn print_text(&self, out: &Path) {
        let v = self.to_json();
        println!(
            "cosigned {} {} ({} signatures) -> {}",
            v["cosigned"].as_str().unwrap_or_default(),
            v["txid"].as_str().unwrap_or_default(),
            v["signatures"],
            out.display()
        );
        if let Done::Payout {
            ids,
            outputs,
            fee_sat,
            replaces,
            again,
            ..
        } = self
        {
            let mut line = format!("fee {fee_sat} sat");
            if let Some(r) = replaces {
                line.push_str(&format!(", a fee bump replacing {r}"));
            }
            if *again {
                line.push_str(", cosigned before (signed again)");
            }
            println!("{line}");
            for (id, o) in ids.iter().zip(outputs) {
                println!("output {o} pays {id}");
            }
        }
    }
}

/// Runs `kinko cosign`.
pub fn cosign(a: CosignArgs) -> CliResult {
    let what = match (a.id.as_slice(), a.sweep, a.consolidation) {
        ([_, ..], false, false) => What::Payout(&a.id),
        ([], true, false) => What::Sweep,
        ([], false, true) => What::Consolidation,
        _ => {
            return Err(CliError::Usage(
                "give --id (repeated for a batch), --sweep or --consolidation".into(),
            ))
        }
    };
    let bytes = read_capped(&a.psbt, kinko_wallet::MAX_PSBT_FILE)?;
    let (mut psbt, form) = kinko_wallet::decode_psbt(&bytes).context("invalid PSBT")?;
    let done = match connect(&a.common)? {
        Cosigner::Local(mut auth) => match what {
            What::Payout(ids) => {
                let d = auth.cosign_payout(ids, &mut psbt).map_err(refused)?;
                Done::Payout {
                    asset: d.asset,
                    txid: d.txid.to_string(),
                    ids: d.ids,
                    outputs: d.payout.payment_outputs,
                    fee_sat: d.payout.fee.to_sat(),
                    replaces: d.replaces,
                    signatures: d.signatures,
                    again: d.again,
                    audit_seqs: d.audit_seqs,
                }
            }
            What::Sweep => {
                let d = auth.cosign_sweep(&mut psbt).map_err(refused)?;
                Done::Sweep {
                    txid: d.txid.to_string(),
                    amount_sat: d.amount.to_sat(),
                    fee_sat: d.payment.fee.to_sat(),
                    signatures: d.signatures,
                }
            }
            What::Consolidation => {
                let d = auth.cosign_consolidation(&mut psbt).map_err(refused)?;
                Done::Consolidation {
                    txid: d.txid.to_string(),
                    fee_sat: d.fee.to_sat(),
                    signatures: d.signatures,
                }
            }
        },
        Cosigner::Service(client) => {
            let b64 =
                String::from_utf8_lossy(&kinko_wallet::encode_psbt(&psbt, PsbtEncoding::Base64))
                    .trim()
                    .to_owned();
            let err = |e| service_error(e, None);
            match what {
                What::Payout(ids) => {
                    let d = client
                        .cosign_payout(&PayoutRequest {
                            ids: ids.to_vec(),
                            psbt: b64,
                        })
                        .map_err(err)?;
                    psbt = cosigned_psbt(&d.psbt, &psbt)?;
                    // The answer does not name the asset: the cosigner's state does.
                    let asset = client.state().map_err(err)?.asset;
                    Done::Payout {
                        asset,
                        txid: d.txid,
                        ids: d.ids,
                        outputs: d.payment_outputs,
                        fee_sat: d.fee_sat,
                        replaces: d.replaces,
                        signatures: d.signatures,
                        again: d.again,
                        audit_seqs: (d.audit_seq_first, d.audit_seq_last),
                    }
                }
                What::Sweep => {
                    let d = client
                        .cosign_sweep(&CosignRequest { psbt: b64 })
                        .map_err(err)?;
                    psbt = cosigned_psbt(&d.psbt, &psbt)?;
                    Done::Sweep {
                        txid: d.txid,
                        amount_sat: d.amount_sat,
                        fee_sat: d.fee_sat,
                        signatures: d.signatures,
                    }
                }
                What::Consolidation => {
                    let d = client
                        .cosign_consolidation(&CosignRequest { psbt: b64 })
                        .map_err(err)?;
                    psbt = cosigned_psbt(&d.psbt, &psbt)?;
                    Done::Consolidation {
                        txid: d.txid,
                        fee_sat: d.fee_sat,
                        signatures: d.signatures,
                    }
                }
            }
        }
    };
    std::fs::write(&a.out, kinko_wallet::encode_psbt(&psbt, form))
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    if a.common.json {
        println!("{}", done.to_json());
    } else {
        done.print_text(&a.out);
    }
    Ok(())
}

fn print(a: &Answer<'_>, json: bool) -> CliResult {
    if json {
        let mut v = json!({
            "asset": a.asset,
            "at": a.at,
            "decision": a.decision,
            "changes": a.changes,
            "proposals": a.proposals,
            "audit": { "seq": a.audit_seq, "hash": a.audit_hash },
        });
        if let Some(id) = a.request_id {
            v["request_id"] = json!(id);
        }
        println!("{}", serde_json::to_string(&v)?);
    } else {
        let line = match a.decision {
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
        println!("{line} [{} audit {}#{}]", a.at, a.asset, a.audit_seq);
        for p in a.proposals {
            match p {
                Proposal::Sweep { asset, amount } => {
                    println!("proposal: sweep {amount} of {asset} from hot to cold")
                }
                Proposal::Refill { asset, amount } => {
                    println!("proposal: refill {amount} of {asset} from cold to hot")
                }
                _ => {}
            }
        }
        if let Some(id) = a.request_id {
            println!("request id {id} (a retry with --request-id {id} gets this answer)");
        }
    }
    if let Decision::Denied { rule, id } = a.decision {
        return Err(CliError::Refused {
            rule: rule.name().into(),
            detail: format!("withdrawal {id} denied: {rule}"),
        });
    }
    Ok(())
}
