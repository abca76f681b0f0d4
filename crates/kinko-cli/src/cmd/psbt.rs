//! `kinko psbt create | combine | finalize | inspect`: thin wrappers over
//! `kinko-wallet`. PSBT files are read as base64 text or binary and written
//! back in the form read.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{anyhow, Context};
use clap::{Args as ClapArgs, Subcommand};
use kinko_wallet::bitcoin::address::NetworkUnchecked;
use kinko_wallet::bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use kinko_wallet::bitcoin::psbt::Psbt;
use kinko_wallet::bitcoin::{Address, Amount, FeeRate, Network, OutPoint, Transaction, Txid};
use kinko_wallet::{
    AnalysisOptions, CreateParams, Keychain, MultisigWallet, OutputKind, PsbtAnalysis,
    PsbtEncoding, Utxo,
};
use serde::Deserialize;
use serde_json::json;

use crate::cmd::address::load_wallet;
use crate::error::{CliError, CliResult};

/// Build, combine, finalize and inspect PSBTs.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: PsbtCommand,
}

/// `kinko psbt …` subcommands.
#[derive(Debug, Subcommand)]
pub enum PsbtCommand {
    /// Build an unsigned PSBT from the wallet's UTXOs.
    Create {
        /// The wallet descriptor.
        #[arg(long, value_name = "DESCRIPTOR")]
        descriptor: String,
        /// JSON array of {"txid","vout","amount_sat","keychain":"receive"|"change","index","prev_tx"}.
        #[arg(long, value_name = "FILE")]
        utxos: PathBuf,
        /// A recipient, `ADDRESS:SAT`; repeatable, in output order.
        #[arg(long = "to", value_name = "ADDRESS:SAT", required = true)]
        to: Vec<String>,
        /// Fee rate in sat/vB (decimals allowed, e.g. 1.5).
        #[arg(long, value_name = "SAT_PER_VB")]
        fee_rate: String,
        /// Where to write the PSBT.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Change index; by default one past the highest change index among the UTXOs.
        #[arg(long, value_name = "I")]
        change_index: Option<u32>,
        /// Spend every UTXO given (a sweep) instead of selecting coins.
        #[arg(long)]
        spend_all: bool,
        /// Write the PSBT in binary instead of base64 text.
        #[arg(long)]
        binary: bool,
        /// Network, if not the one the keys imply.
        #[arg(long, value_name = "NETWORK")]
        network: Option<Network>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Combine partial PSBTs of one transaction (conflicting fields are errors).
    Combine {
        /// Where to write the combined PSBT (in the form of the first input).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The partial PSBTs.
        #[arg(value_name = "PSBT", required = true)]
        psbts: Vec<PathBuf>,
    },
    /// Finalize every input (checked by miniscript's interpreter) and
    /// optionally extract the transaction (with the fee-rate check).
    Finalize {
        /// The PSBT.
        #[arg(long, value_name = "FILE")]
        psbt: PathBuf,
        /// Where to write the finalized PSBT.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Also write the raw transaction, as hex.
        #[arg(long, value_name = "FILE")]
        tx_out: Option<PathBuf>,
    },
    /// Show what a PSBT does for a wallet: inputs, outputs, fee, findings.
    Inspect {
        /// The wallet descriptor.
        #[arg(long, value_name = "DESCRIPTOR")]
        descriptor: String,
        /// The PSBT.
        #[arg(long, value_name = "FILE")]
        psbt: PathBuf,
        /// Refuse (exit 3, naming the rule) when a finding calls for a refusal.
        #[arg(long)]
        check: bool,
        /// Fee limit in sat (default 1000000).
        #[arg(long, value_name = "SAT")]
        max_fee: Option<u64>,
        /// Network, if not the one the keys imply.
        #[arg(long, value_name = "NETWORK")]
        network: Option<Network>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// One UTXO of the `--utxos` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UtxoJson {
    txid: String,
    vout: u32,
    amount_sat: u64,
    keychain: String,
    index: u32,
    prev_tx: String,
}

/// Runs `kinko psbt …`.
pub fn run(args: Args) -> CliResult {
    match args.command {
        PsbtCommand::Create {
            descriptor,
            utxos,
            to,
            fee_rate,
            out,
            change_index,
            spend_all,
            binary,
            network,
            json,
        } => {
            let wallet = load_wallet(&descriptor, network)?;
            let coins = read_utxos(&utxos)?;
            let recipients = to
                .iter()
                .map(|t| parse_recipient(t))
                .collect::<CliResult<Vec<_>>>()?;
            let fee_rate = parse_fee_rate(&fee_rate)?;
            let change_index = change_index.unwrap_or_else(|| {
                coins
                    .iter()
                    .filter(|u| u.keychain == Keychain::Change)
                    .map(|u| u.index.saturating_add(1))
                    .max()
                    .unwrap_or(0)
            });
            let created = wallet
                .create_psbt(
                    &coins,
                    &CreateParams {
                        recipients,
                        fee_rate,
                        change_index,
                        spend_all,
                    },
                )
                .context("cannot create the psbt")?;
            let enc = if binary {
                PsbtEncoding::Binary
            } else {
                PsbtEncoding::Base64
            };
            write_psbt(&out, &created.psbt, enc)?;
            let change = created.change.map(|(pos, index, amount)| {
                json!({"output": pos, "index": index, "amount_sat": amount.to_sat()})
            });
            if json {
                let v = json!({
                    "txid": created.psbt.unsigned_tx.compute_txid().to_string(),
                    "inputs": created.psbt.inputs.len(),
                    "outputs": created.psbt.outputs.len(),
                    "fee_sat": created.fee.to_sat(),
                    "estimated_vsize": created.estimated_weight.to_vbytes_ceil(),
                    "change": change,
                    "out": out.display().to_string(),
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "wrote {}: {} inputs, {} outputs, fee {} sat{}",
                    out.display(),
                    created.psbt.inputs.len(),
                    created.psbt.outputs.len(),
                    created.fee.to_sat(),
                    match created.change {
                        Some((_, i, a)) => format!(", change {} sat to change/{i}", a.to_sat()),
                        None => ", no change".into(),
                    }
                );
            }
            Ok(())
        }
        PsbtCommand::Combine { out, psbts } => {
            let mut list = Vec::with_capacity(psbts.len());
            let mut form = None;
            for p in &psbts {
                let (psbt, enc) = read_psbt(p)?;
                form.get_or_insert(enc);
                list.push(psbt);
            }
            let combined = kinko_wallet::combine(list).context("cannot combine")?;
            write_psbt(&out, &combined, form.unwrap_or(PsbtEncoding::Base64))?;
            println!("wrote {}", out.display());
            Ok(())
        }
        PsbtCommand::Finalize { psbt, out, tx_out } => {
            let (mut p, enc) = read_psbt(&psbt)?;
            kinko_wallet::finalize(&mut p).context("cannot finalize")?;
            write_psbt(&out, &p, enc)?;
            println!("wrote {}", out.display());
            if let Some(tx_path) = tx_out {
                let tx = kinko_wallet::extract(p, kinko_wallet::MAX_FEE_RATE)
                    .context("cannot extract the transaction")?;
                std::fs::write(&tx_path, format!("{}\n", serialize_hex(&tx)))
                    .with_context(|| format!("cannot write {}", tx_path.display()))?;
                println!("wrote {} (txid {})", tx_path.display(), tx.compute_txid());
            }
            Ok(())
        }
        PsbtCommand::Inspect {
            descriptor,
            psbt,
            check,
            max_fee,
            network,
            json,
        } => {
            let wallet = load_wallet(&descriptor, network)?;
            let (p, _) = read_psbt(&psbt)?;
            let mut opts = AnalysisOptions::default();
            if let Some(m) = max_fee {
                opts.max_fee = Amount::from_sat(m);
            }
            let a = wallet.analyze(&p, &opts);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&analysis_json(&wallet, &a))?
                );
            } else {
                print!(
                    "{}",
                    kinko_wallet::report::summary_text(&a, Some((&wallet, None)))
                );
            }
            if check {
                if let Some(f) = a.first_refusal() {
                    return Err(CliError::Refused {
                        rule: f.rule.as_str().into(),
                        detail: f.to_string(),
                    });
                }
            }
            Ok(())
        }
    }
}

fn read_utxos(path: &Path) -> CliResult<Vec<Utxo>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let raw: Vec<UtxoJson> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a utxo list", path.display()))?;
    raw.into_iter()
        .enumerate()
        .map(|(n, u)| {
            let ctx = || format!("utxo {n}");
            let txid = Txid::from_str(&u.txid).with_context(ctx)?;
            let keychain = match u.keychain.as_str() {
                "receive" => Keychain::Receive,
                "change" => Keychain::Change,
                other => {
                    return Err(
                        anyhow!("utxo {n}: keychain {other:?} is not receive or change").into(),
                    )
                }
            };
            let prev_tx: Transaction = deserialize_hex(u.prev_tx.trim())
                .map_err(|e| anyhow!("utxo {n}: prev_tx is not a transaction: {e}"))?;
            Ok(Utxo {
                outpoint: OutPoint { txid, vout: u.vout },
                amount: Amount::from_sat(u.amount_sat),
                keychain,
                index: u.index,
                prev_tx,
            })
        })
        .collect()
}

fn parse_recipient(s: &str) -> CliResult<(Address<NetworkUnchecked>, Amount)> {
    let (addr, sat) = s
        .rsplit_once(':')
        .ok_or_else(|| CliError::Usage(format!("--to {s}: expected ADDRESS:SAT")))?;
    let addr = Address::from_str(addr)
        .map_err(|e| CliError::Usage(format!("--to {s}: invalid address: {e}")))?;
    let sat: u64 = sat
        .parse()
        .map_err(|_| CliError::Usage(format!("--to {s}: amount must be whole satoshis")))?;
    Ok((addr, Amount::from_sat(sat)))
}

/// Parses a decimal sat/vB fee rate ("2", "1.5", "0.1") into sat/kwu, rounding
/// up: 1 sat/vB = 250 sat/kwu. No floats.
fn parse_fee_rate(s: &str) -> CliResult<FeeRate> {
    let bad = || CliError::Usage(format!("--fee-rate {s}: expected sat/vB such as 2 or 1.5"));
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 3 {
        return Err(bad());
    }
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut milli: u64 = 0;
    for (i, c) in frac.chars().enumerate() {
        let d = c.to_digit(10).ok_or_else(bad)?;
        milli += u64::from(d) * 10u64.pow(2 - i as u32);
    }
    let kwu = int
        .checked_mul(250)
        .and_then(|v| v.checked_add((milli * 250).div_ceil(1000)))
        .ok_or_else(bad)?;
    Ok(FeeRate::from_sat_per_kwu(kwu))
}

fn read_psbt(path: &Path) -> CliResult<(Psbt, PsbtEncoding)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(kinko_wallet::decode_psbt(&bytes).with_context(|| format!("{}", path.display()))?)
}

fn write_psbt(path: &Path, psbt: &Psbt, enc: PsbtEncoding) -> CliResult {
    std::fs::write(path, kinko_wallet::encode_psbt(psbt, enc))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn analysis_json(w: &MultisigWallet, a: &PsbtAnalysis) -> serde_json::Value {
    json!({
        "wallet_id": a.wallet_id,
        "threshold": w.threshold(),
        "keys": w.keys().len(),
        "network": a.network.to_string(),
        "txid": a.txid.to_string(),
        "inputs": a.inputs.iter().map(|i| json!({
            "outpoint": i.outpoint.to_string(),
            "amount_sat": i.amount.map(|a| a.to_sat()),
            "keychain": i.ours.map(|(k, _)| k.as_str()),
            "index": i.ours.map(|(_, n)| n),
            "ours": i.ours.is_some(),
            "signatures": i.signatures,
            "needed": i.needed,
            "finalized": i.finalized,
        })).collect::<Vec<_>>(),
        "outputs": a.outputs.iter().map(|o| {
            let (kind, keychain, index, rule) = match o.kind {
                OutputKind::External => ("external", None, None, None),
                OutputKind::Change { keychain, index } => ("change", Some(keychain.as_str()), Some(index), None),
                OutputKind::Suspicious { rule } => ("suspicious", None, None, Some(rule.as_str())),
            };
            json!({
                "address": o.address.as_ref().map(|a| a.to_string()),
                "script_pubkey": o.script_pubkey.to_hex_string(),
                "amount_sat": o.amount.to_sat(),
                "kind": kind,
                "keychain": keychain,
                "index": index,
                "rule": rule,
            })
        }).collect::<Vec<_>>(),
        "total_in_sat": a.total_in.map(|a| a.to_sat()),
        "total_out_sat": a.total_out.map(|a| a.to_sat()),
        "fee_sat": a.fee.map(|a| a.to_sat()),
        "fee_rate_sat_per_kwu": a.fee_rate.map(|r| r.to_sat_per_kwu()),
        "estimated_vsize": a.estimated_weight.map(|w| w.to_vbytes_ceil()),
        "complete": a.is_complete(),
        "safe_to_sign": a.is_safe_to_sign(),
        "findings": a.findings.iter().map(|f| json!({
            "rule": f.rule.as_str(),
            "severity": f.severity.as_str(),
            "input": f.input,
            "output": f.output,
            "detail": f.detail,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_rates_parse_without_floats() {
        let kwu = |s: &str| parse_fee_rate(s).map(|r| r.to_sat_per_kwu()).ok();
        assert_eq!(kwu("1"), Some(250));
        assert_eq!(kwu("1.5"), Some(375));
        assert_eq!(kwu("0.1"), Some(25));
        assert_eq!(kwu(".25"), Some(63));
        assert_eq!(kwu("2.001"), Some(501));
        for bad in [
            "",
            ".",
            "abc",
            "1.2345",
            "-1",
            "1e3",
            "99999999999999999999",
        ] {
            assert_eq!(kwu(bad), None, "{bad}");
        }
    }

    #[test]
    fn recipients_parse() {
        assert!(parse_recipient("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx:1000").is_ok());
        assert!(parse_recipient("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx").is_err());
        assert!(parse_recipient("nonsense:1000").is_err());
        assert!(parse_recipient("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx:-5").is_err());
    }
}
