//! `kinko audit verify | export | heads`: check the ledger's hash-chained
//! audit log, write it out as JSON lines, or print the chains' heads (to
//! publish outside the database). A chain that does not verify exits 3
//! naming the first bad record (rule `audit-chain`).
//!
//! With `--key` (the policy cosigner's audit key, 64 hex digits) `verify`
//! also checks every chain's signed head, exiting 3 with rule
//! `audit-unsigned-head`, `audit-bad-head-signature` or
//! `audit-head-mismatch`; with `--published FILE` (signed heads published
//! earlier, one JSON per line, as `kinko audit heads` prints them) each must
//! still be a prefix of its chain (`audit-published-head`,
//! `audit-bad-published-head`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use kinko_ledger::kinko_auth::{parse_xonly, SignedAction};
use kinko_ledger::VerifyError;
use serde_json::json;

use kinko_cmd::{CliError, CliResult};

/// Verify or export the audit log.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// What to do with the audit log.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// `kinko audit …` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every chain (hashes, links, sequence, stored head).
    Verify {
        /// The ledger: `sqlite:PATH` or `postgres://…` (or env KINKO_LEDGER).
        #[arg(long, value_name = "URL", env = "KINKO_LEDGER", hide_env_values = true)]
        ledger: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// The policy cosigner's audit key (64 hex digits, x-only): also
        /// require every chain's head to be signed by it and to be the
        /// chain's end.
        #[arg(long, value_name = "HEX")]
        key: Option<String>,
        /// Signed heads published earlier (one JSON per line, as `kinko
        /// audit heads` prints them): each must still be a prefix of its
        /// chain. Needs `--key`.
        #[arg(long, value_name = "FILE", requires = "key")]
        published: Option<PathBuf>,
    },
    /// Write every record as one JSON object per line.
    Export {
        /// The ledger: `sqlite:PATH` or `postgres://…` (or env KINKO_LEDGER).
        #[arg(long, value_name = "URL", env = "KINKO_LEDGER", hide_env_values = true)]
        ledger: String,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print each chain's signed head (a signed action, JSON lines), or,
    /// for a ledger whose heads were never signed, each chain's head (record
    /// count and last hash). Publish them outside the database.
    Heads {
        /// The ledger: `sqlite:PATH` or `postgres://…` (or env KINKO_LEDGER).
        #[arg(long, value_name = "URL", env = "KINKO_LEDGER", hide_env_values = true)]
        ledger: String,
    },
}

/// Runs `kinko audit …`.
pub fn run(args: Args) -> CliResult {
    match args.command {
        AuditCommand::Verify {
            ledger,
            json,
            key,
            published,
        } => verify(&ledger, json, key.as_deref(), published),
        AuditCommand::Export { ledger, out } => export(&ledger, out),
        AuditCommand::Heads { ledger } => {
            let mut l = crate::cmd::ledger::open_existing(&ledger)?;
            let signed = l
                .signed_heads()
                .context("cannot read the signed audit heads")?;
            if signed.is_empty() {
                for h in l.audit_heads().context("cannot read the audit heads")? {
                    println!("{}", serde_json::to_string(&h)?);
                }
            }
            for h in signed {
                println!("{}", h.to_json());
            }
            Ok(())
        }
    }
}

/// Reads a published heads file: one signed head per line.
fn read_published(path: &PathBuf) -> CliResult<Vec<SignedAction>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            SignedAction::from_json(l).map_err(|e| {
                anyhow::anyhow!(
                    "line {} of {} is not a signed audit head: {e}",
                    i + 1,
                    path.display()
                )
                .into()
            })
        })
        .collect()
}

fn verify(url: &str, json: bool, key: Option<&str>, published: Option<PathBuf>) -> CliResult {
    let key = key
        .map(|k| {
            parse_xonly(k).map_err(|_| {
                CliError::Usage("--key is not a 64-hex-digit x-only public key".into())
            })
        })
        .transpose()?;
    let published = match &published {
        Some(path) => read_published(path)?,
        None => Vec::new(),
    };
    let mut l = crate::cmd::ledger::open_existing(url)?;
    let result = match &key {
        Some(k) => l.verify_audit_with_published(k, &published),
        None => l.verify_audit(),
    };
    match result {
        Ok(s) => {
            let signed = if key.is_some() {
                ", every head signed by the audit key"
            } else {
                ""
            };
            if json {
                println!(
                    "{}",
                    json!({ "valid": true, "chains": s.chains, "records": s.records, "signed": key.is_some(), "published": published.len() })
                );
            } else {
                println!(
                    "audit log verifies: {} chain(s), {} record(s){signed}",
                    s.chains, s.records
                );
            }
            Ok(())
        }
        Err(e) => {
            // The rule is the ledger's (`VerifyError::rule`); only what is
            // printed beside it depends on the error.
            let Some(rule) = e.rule() else {
                return Err(anyhow::Error::new(e).into());
            };
            let detail = match &e {
                VerifyError::BadRecord {
                    asset,
                    seq,
                    problem,
                } => {
                    if json {
                        println!(
                            "{}",
                            json!({ "valid": false, "asset": asset, "seq": seq, "problem": problem.to_string() })
                        );
                    }
                    format!("first bad record {asset}#{seq}: {problem}")
                }
                _ => {
                    if json {
                        println!(
                            "{}",
                            json!({ "valid": false, "rule": rule, "problem": e.to_string() })
                        );
                    }
                    e.to_string()
                }
            };
            Err(CliError::refused(rule, detail))
        }
    }
}

fn export(url: &str, out: Option<PathBuf>) -> CliResult {
    let mut l = crate::cmd::ledger::open_existing(url)?;
    match out {
        Some(path) => {
            let f = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            l.export_audit(std::io::BufWriter::new(f))
                .context("cannot export the audit log")?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            l.export_audit(&mut lock)
                .context("cannot export the audit log")?;
            lock.flush()?;
        }
    }
    Ok(())
}
