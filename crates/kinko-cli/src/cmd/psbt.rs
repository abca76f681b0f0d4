//! `kinko psbt create | batch | combine | finalize | inspect`: thin wrappers
//! over `kinko-wallet` (file formats in docs/psbt.md). PSBT files are read as base64 text or binary and written
//! back in the form read.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{anyhow, Context};
use clap::{Args as ClapArgs, Subcommand};
use kinko_cmd::PsbtJson;
use kinko_wallet::bitcoin::address::NetworkUnchecked;
use kinko_wallet::bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use kinko_wallet::bitcoin::hex::FromHex;
use kinko_wallet::bitcoin::psbt::Psbt;
use kinko_wallet::bitcoin::secp256k1::rand::rngs::{OsRng, StdRng};
use kinko_wallet::bitcoin::secp256k1::rand::{RngCore, SeedableRng};
use kinko_wallet::bitcoin::{Address, Amount, FeeRate, Network, OutPoint, Transaction, Txid};
use kinko_wallet::{
    AnalysisOptions, BatchParams, CreateParams, Keychain, MultisigWallet, Payout, PsbtEncoding,
    Utxo, DEFAULT_MAX_PAYOUTS,
};
use serde::Deserialize;
use serde_json::json;

use crate::cmd::address::load_wallet;
use kinko_cmd::{CliError, CliResult};

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
        #[command(flatten)]
        build: BuildArgs,
        /// A recipient, `ADDRESS:SAT`; repeatable, in output order.
        #[arg(long = "to", value_name = "ADDRESS:SAT", required = true)]
        to: Vec<String>,
        /// Spend every UTXO given (a sweep) instead of selecting coins.
        #[arg(long)]
        spend_all: bool,
    },
    /// Pay many reserved withdrawals with one PSBT: coin selection, change,
    /// outputs in random order, anti-fee-sniping lock time.
    Batch {
        #[command(flatten)]
        build: BuildArgs,
        /// JSON array of {"id","address","amount_sat"}: the reserved withdrawals.
        #[arg(long, value_name = "FILE")]
        payouts: PathBuf,
        /// The chain tip's height, for the anti-fee-sniping lock time; without
        /// it (or when the node is not synced) the lock time is 0.
        #[arg(long, value_name = "H")]
        tip_height: Option<u32>,
        /// The most payouts one batch may hold.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PAYOUTS)]
        max_payouts: usize,
        /// 32 bytes as 64 hex digits: output order and lock time reproducible
        /// (same seed, inputs and kinko version); by default OS randomness.
        #[arg(long, value_name = "HEX")]
        seed: Option<String>,
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

/// The arguments `psbt create` and `psbt batch` share.
#[derive(Debug, ClapArgs)]
pub struct BuildArgs {
    /// The wallet descriptor.
    #[arg(long, value_name = "DESCRIPTOR")]
    descriptor: String,
    /// JSON array of {"txid","vout","amount_sat","keychain":"receive"|"change","index","prev_tx"}.
    #[arg(long, value_name = "FILE")]
    utxos: PathBuf,
    /// Fee rate in sat/vB (decimals allowed, e.g. 1.5).
    #[arg(long, value_name = "SAT_PER_VB")]
    fee_rate: String,
    /// Where to write the PSBT.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Change index; by default one past the highest change index among the UTXOs.
    #[arg(long, value_name = "I")]
    change_index: Option<u32>,
    /// Write the PSBT in binary instead of base64 text.
    #[arg(long)]
    binary: bool,
    /// Network, if not the one the keys imply.
    #[arg(long, value_name = "NETWORK")]
    network: Option<Network>,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

/// What [`BuildArgs`] name: the wallet, its coins, the fee rate and the change index.
struct Build {
    wallet: MultisigWallet,
    coins: Vec<Utxo>,
    fee_rate: FeeRate,
    change_index: u32,
}

impl BuildArgs {
    fn load(&self) -> CliResult<Build> {
        let wallet = load_wallet(&self.descriptor, self.network)?;
        let coins = read_utxos(&self.utxos)?;
        let fee_rate = parse_fee_rate(&self.fee_rate)?;
        // One past the highest change index among the coins (0 when none is change).
        let change_index = self.change_index.unwrap_or_else(|| {
            coins
                .iter()
                .filter(|u| u.keychain == Keychain::Change)
                .map(|u| u.index.saturating_add(1))
                .max()
                .unwrap_or(0)
        });
        Ok(Build {
            wallet,
            coins,
            fee_rate,
            change_index,
        })
    }

    fn write(&self, psbt: &Psbt) -> CliResult {
        let enc = if self.binary {
            PsbtEncoding::Binary
        } else {
            PsbtEncoding::Base64
        };
        write_psbt(&self.out, psbt, enc)
    }
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

/// One reserved withdrawal of the `--payouts` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayoutJson {
    id: String,
    /// `destination` as the cosigner's withdrawal requests name it.
    #[serde(alias = "destination")]
    address: String,
    amount_sat: u64,
}

/// Runs `kinko psbt …`.
pub fn run(args: Args) -> CliResult {
    match args.command {
        PsbtCommand::Create {
            build,
            to,
            spend_all,
        } => {
            let Build {
                wallet,
                coins,
                fee_rate,
                change_index,
            } = build.load()?;
            let recipients = to
                .iter()
                .map(|t| parse_recipient(t))
                .collect::<CliResult<Vec<_>>>()?;
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
            build.write(&created.psbt)?;
            let (out, json) = (&build.out, build.json);
            let change = change_json(created.change);
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
        PsbtCommand::Batch {
            build,
            payouts,
            tip_height,
            max_payouts,
            seed,
        } => {
            let Build {
                wallet,
                coins,
                fee_rate,
                change_index,
            } = build.load()?;
            let payouts = read_payouts(&payouts)?;
            let params = BatchParams {
                fee_rate,
                change_index,
                tip_height,
                max_payouts,
            };
            let mut rng: Box<dyn RngCore> = match seed {
                Some(hex) => Box::new(StdRng::from_seed(parse_seed(&hex)?)),
                None => Box::new(OsRng),
            };
            let batch = wallet
                .build_batch(&coins, &payouts, &params, &mut *rng)
                .context("cannot build the batch")?;
            build.write(&batch.psbt)?;
            let (out, json) = (&build.out, build.json);
            let tx = &batch.psbt.unsigned_tx;
            let saved_vsize = i128::from(batch.unbatched_vsize) - i128::from(batch.vsize);
            let saved_fee =
                i128::from(batch.unbatched_fee.to_sat()) - i128::from(batch.fee.to_sat());
            if json {
                let v = json!({
                    "txid": tx.compute_txid().to_string(),
                    "payouts": batch.positions.len(),
                    "inputs": tx.input.len(),
                    "outputs": tx.output.len(),
                    "fee_sat": batch.fee.to_sat(),
                    "estimated_vsize": batch.vsize,
                    "lock_time": tx.lock_time.to_consensus_u32(),
                    "change": change_json(batch.change),
                    "positions": batch.positions.iter().map(|(id, pos)| {
                        json!({"id": id, "output": pos})
                    }).collect::<Vec<_>>(),
                    "unbatched_vsize": batch.unbatched_vsize,
                    "unbatched_fee_sat": batch.unbatched_fee.to_sat(),
                    "saved_vsize": saved_vsize as i64,
                    "saved_fee_sat": saved_fee as i64,
                    "out": out.display().to_string(),
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "wrote {}: {} payouts, {} inputs, {} outputs, fee {} sat, {} vB, lock time {}{}",
                    out.display(),
                    batch.positions.len(),
                    tx.input.len(),
                    tx.output.len(),
                    batch.fee.to_sat(),
                    batch.vsize,
                    tx.lock_time.to_consensus_u32(),
                    match batch.change {
                        Some((pos, i, a)) => format!(
                            ", change {} sat to change/{i} at output {pos}",
                            a.to_sat()
                        ),
                        None => ", no change".into(),
                    }
                );
                println!("txid {}", tx.compute_txid());
                println!(
                    "one transaction per payout: {} vB, fee {} sat; saved {saved_vsize} vB, {saved_fee} sat",
                    batch.unbatched_vsize,
                    batch.unbatched_fee.to_sat(),
                );
                for (id, pos) in &batch.positions {
                    println!("{pos}\t{id}");
                }
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
                    kinko_cmd::to_json_pretty(&PsbtJson::new(&wallet, &a))?
                );
            } else {
                print!(
                    "{}",
                    kinko_wallet::report::summary_text(&a, Some((&wallet, None)))
                );
            }
            if check {
                if let Some(f) = a.first_refusal() {
                    return Err(CliError::refused(f.rule.as_str(), f.to_string()));
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

fn read_payouts(path: &Path) -> CliResult<Vec<Payout>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let raw: Vec<PayoutJson> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a payout list", path.display()))?;
    raw.into_iter()
        .map(|p| {
            let address = Address::from_str(&p.address)
                .map_err(|e| anyhow!("payout {:?}: invalid address: {e}", p.id))?;
            Ok(Payout {
                id: p.id,
                address,
                amount: Amount::from_sat(p.amount_sat),
            })
        })
        .collect()
}

/// The change output in `--json`: `{"output","index","amount_sat"}` or null.
fn change_json(change: Option<(usize, u32, Amount)>) -> serde_json::Value {
    change.map_or(serde_json::Value::Null, |(pos, index, amount)| {
        json!({"output": pos, "index": index, "amount_sat": amount.to_sat()})
    })
}

/// `--seed`: exactly 64 hex digits.
fn parse_seed(s: &str) -> CliResult<[u8; 32]> {
    <[u8; 32]>::from_hex(s.trim())
        .map_err(|_| CliError::Usage(format!("--seed {s}: expected 64 hex digits")))
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
    fn seeds_parse() {
        assert_eq!(parse_seed(&"ab".repeat(32)).ok(), Some([0xab; 32]));
        assert!(parse_seed("abcd").is_err());
        assert!(parse_seed(&"ab".repeat(33)).is_err());
        assert!(parse_seed(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn recipients_parse() {
        assert!(parse_recipient("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx:1000").is_ok());
        assert!(parse_recipient("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx").is_err());
        assert!(parse_recipient("nonsense:1000").is_err());
        assert!(parse_recipient("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx:-5").is_err());
    }
}
