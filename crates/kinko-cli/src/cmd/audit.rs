//! `kinko audit verify | export | heads`: check the ledger's hash-chained
//! audit log, write it out as JSON lines, or print the chains' heads (to
//! publish outside the database). A chain that does not verify exits 3
//! naming the first bad record.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use kinko_ledger::VerifyError;
use serde_json::json;

use crate::error::{CliError, CliResult};

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
    /// Print each chain's head (record count and last hash), JSON lines.
    Heads {
        /// The ledger: `sqlite:PATH` or `postgres://…` (or env KINKO_LEDGER).
        #[arg(long, value_name = "URL", env = "KINKO_LEDGER", hide_env_values = true)]
        ledger: String,
    },
}

/// Runs `kinko audit …`.
pub fn run(args: Args) -> CliResult {
    match args.command {
        AuditCommand::Verify { ledger, json } => verify(&ledger, json),
        AuditCommand::Export { ledger, out } => export(&ledger, out),
        AuditCommand::Heads { ledger } => {
            let mut l = crate::cmd::ledger::open_existing(&ledger)?;
            for h in l.audit_heads().context("cannot read the audit heads")? {
                println!("{}", serde_json::to_string(&h)?);
            }
            Ok(())
        }
    }
}

fn verify(url: &str, json: bool) -> CliResult {
    let mut l = crate::cmd::ledger::open_existing(url)?;
    match l.verify_audit() {
        Ok(s) => {
            if json {
                println!(
                    "{}",
                    json!({ "valid": true, "chains": s.chains, "records": s.records })
                );
            } else {
                println!(
                    "audit log verifies: {} chain(s), {} record(s)",
                    s.chains, s.records
                );
            }
            Ok(())
        }
        Err(VerifyError::BadRecord {
            asset,
            seq,
            problem,
        }) => {
            if json {
                println!(
                    "{}",
                    json!({ "valid": false, "asset": asset, "seq": seq, "problem": problem.to_string() })
                );
            }
            Err(CliError::Refused {
                rule: "audit_chain".into(),
                detail: format!("first bad record {asset}#{seq}: {problem}"),
            })
        }
        Err(e) => Err(anyhow::Error::new(e).into()),
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
