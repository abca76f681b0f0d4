//! `kinko cosign`: the policy cosigner's second signature on a hot-wallet
//! PSBT, given only when it pays exactly what the ledger approved for a
//! withdrawal id (or, with `--sweep-to-cold`, when it sweeps to the cold
//! wallet's receive address). The logic lives in `kinko-cosigner`.
//!
//! Exit codes: 0 cosigned (the signed PSBT is written to `--out`), 3 refused
//! (the message names the rule; nothing is written), 1 any other error.

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::Args as ClapArgs;
use kinko_cosigner::{CosignError, Cosigner};
use kinko_keys::{KeyPath, Keystore, KeystoreOptions, Passphrase};
use kinko_policy::Timestamp;
use kinko_wallet::bitcoin::{Amount, FeeRate, Network};
use kinko_wallet::XprvSigner;
use serde_json::json;

use crate::cmd::address::load_wallet;
use crate::error::{CliError, CliResult};

/// Environment variable holding the cosigner keystore's passphrase.
pub const ENV_PASSPHRASE: &str = "KINKO_PASSPHRASE";

/// `kinko cosign`: check a hot-wallet PSBT against the ledger and cosign it.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The ledger: `sqlite:PATH` or `postgres://…` (or env KINKO_LEDGER).
    #[arg(long, value_name = "URL", env = "KINKO_LEDGER", hide_env_values = true)]
    pub ledger: String,
    /// The hot wallet's descriptor (2-of-3 with the cosigner's key).
    #[arg(long, value_name = "DESCRIPTOR")]
    pub descriptor: String,
    /// The cosigner's keystore (age file); its passphrase in env KINKO_PASSPHRASE.
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// The cosigner key's account path (default: BIP48 account 0 of the network).
    #[arg(long, value_name = "PATH")]
    pub account_path: Option<String>,
    /// The withdrawal id whose approved reservation the PSBT must pay.
    #[arg(
        long,
        required_unless_present = "sweep_to_cold",
        conflicts_with = "sweep_to_cold"
    )]
    pub id: Option<String>,
    /// Cosign a sweep instead: the cold wallet's descriptor.
    #[arg(long, value_name = "DESCRIPTOR", requires = "cold_index")]
    pub sweep_to_cold: Option<String>,
    /// The cold wallet's receive index the sweep must pay.
    #[arg(long, value_name = "I")]
    pub cold_index: Option<u32>,
    /// The PSBT (base64 or binary), signed by the exchange's hot key.
    #[arg(long, value_name = "FILE")]
    pub psbt: PathBuf,
    /// Where to write the cosigned PSBT (in the form read).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Fee limit in sat (default 100000).
    #[arg(long, value_name = "SAT")]
    pub max_fee: Option<u64>,
    /// Fee rate limit in sat/vB (default 200).
    #[arg(long, value_name = "SAT_PER_VB")]
    pub max_fee_rate: Option<u64>,
    /// The decision's time in the audit log (RFC 3339); default: the ledger's clock.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<Timestamp>,
    /// Network, if not the one the keys imply.
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<Network>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(s).map_err(|e| e.to_string())
}

fn passphrase() -> CliResult<Passphrase> {
    match std::env::var(ENV_PASSPHRASE) {
        Ok(v) => Ok(Passphrase::from(v)),
        Err(_) => Err(CliError::Usage(format!(
            "set {ENV_PASSPHRASE} to the cosigner keystore's passphrase"
        ))),
    }
}

fn refused(e: CosignError) -> CliError {
    match e {
        CosignError::Refused(r) => CliError::Refused {
            rule: r.rule.as_str().to_owned(),
            detail: r.detail,
        },
        other => CliError::Other(anyhow!(other)),
    }
}

/// Runs `kinko cosign`.
pub fn run(a: Args) -> CliResult {
    let hot = load_wallet(&a.descriptor, a.network)?;
    let network = hot.network();
    let path = match &a.account_path {
        Some(p) => {
            KeyPath::parse(p).map_err(|e| CliError::Usage(format!("--account-path: {e}")))?
        }
        None => KeyPath::bip48(network, 0).context("bip48 path")?,
    };
    let pass = passphrase()?;
    let keystore = Keystore::open_file(&a.keystore, &pass, &KeystoreOptions::new())
        .context("cannot open the cosigner keystore")?;
    let master = keystore
        .master_key(network)
        .context("cannot derive the master key")?;
    let keys = XprvSigner::from_master(master.expose_xpriv(), path.as_derivation_path())
        .context("cannot derive the cosigner's account key")?;
    drop(master);
    drop(keystore);
    let mut cosigner = Cosigner::new(hot, keys).context("cannot cosign for this wallet")?;
    let max_fee = a
        .max_fee
        .map_or(kinko_cosigner::DEFAULT_MAX_FEE, Amount::from_sat);
    let max_rate = match a.max_fee_rate {
        Some(r) => FeeRate::from_sat_per_vb(r)
            .ok_or_else(|| CliError::Usage("--max-fee-rate is too large".into()))?,
        None => kinko_cosigner::DEFAULT_MAX_FEE_RATE,
    };
    cosigner = cosigner.with_fee_limits(max_fee, max_rate);

    let bytes =
        std::fs::read(&a.psbt).with_context(|| format!("cannot read {}", a.psbt.display()))?;
    let (mut psbt, form) = kinko_wallet::decode_psbt(&bytes).context("invalid PSBT")?;

    let summary = match (&a.id, &a.sweep_to_cold) {
        (Some(id), None) => {
            let mut ledger = crate::cmd::ledger::open_existing(&a.ledger)?;
            let done = cosigner
                .cosign_withdrawal(&mut ledger, id, &mut psbt, a.at)
                .map_err(refused)?;
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
        (None, Some(cold)) => {
            let cold = load_wallet(cold, a.network)?;
            let cosigner = cosigner.with_cold_wallet(cold).context("cold wallet")?;
            let index = a
                .cold_index
                .ok_or_else(|| CliError::Usage("--cold-index is required".into()))?;
            let done = cosigner.cosign_sweep(&mut psbt, index).map_err(refused)?;
            json!({
                "cosigned": "sweep",
                "txid": done.txid.to_string(),
                "amount_sat": done.amount.to_sat(),
                "fee_sat": done.payment.fee.to_sat(),
                "signatures": done.signatures,
            })
        }
        _ => return Err(CliError::Usage("give --id or --sweep-to-cold".into())),
    };
    std::fs::write(&a.out, kinko_wallet::encode_psbt(&psbt, form))
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    if a.json {
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
