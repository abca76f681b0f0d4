//! `kinko setup show`: what a custody set-up pins and who signed it, for the
//! ceremony (before and after the admins sign) and for anyone who wants to
//! check the set-up a cosigner runs under. The format is `docs/setup.md`; the
//! admins sign with `kinko-signer sign-setup`.
//!
//! Exit codes: 0 the set-up is valid (and, with signatures, signed by the
//! quorum), 3 the signatures are refused or short of the quorum (rule
//! `setup-not-signed`), 1 the set-up itself is invalid or unreadable.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use kinko_cosigner::setup::Setup;
use serde_json::json;

use crate::cmd::cosigner::RULE_SETUP_NOT_SIGNED;
use kinko_cmd::{CliError, CliResult};

/// `kinko setup show`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The set-up file (TOML).
    #[arg(long, value_name = "FILE")]
    pub setup: PathBuf,
    /// The admins' signatures (one JSON per line); without it only the
    /// set-up is checked.
    #[arg(long, value_name = "FILE")]
    pub setup_sigs: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kinko setup show`.
pub fn run(a: Args) -> CliResult {
    let bytes = crate::cmd::read_capped(&a.setup, kinko_cosigner::setup::MAX_SETUP_LEN)
        .with_context(|| format!("cannot read set-up {}", a.setup.display()))?;
    let setup = Setup::parse_unsigned(&bytes)
        .with_context(|| format!("invalid set-up {}", a.setup.display()))?;
    let signed = match &a.setup_sigs {
        None => None,
        Some(p) => {
            let text = crate::cmd::read_capped_text(p, kinko_cosigner::setup::MAX_SIGNATURES_LEN)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Some(setup.signed_by(&text).map_err(|e| CliError::Refused {
                rule: RULE_SETUP_NOT_SIGNED.into(),
                detail: e.to_string(),
            })?)
        }
    };
    let names = |v: &[(String, _)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let (max_fee, max_rate) = setup.fee_limits();
    if a.json {
        println!(
            "{}",
            json!({
                "setup_id": setup.id().to_string(),
                "asset": setup.asset(),
                "network": setup.network().to_string(),
                "hot_wallet": setup.hot_wallet().id(),
                "cold_wallet": setup.cold_wallet().id(),
                "policy_sha256": setup.policy().sha256(),
                "max_fee_sat": max_fee.to_sat(),
                "max_fee_rate_sat_kwu": max_rate.to_sat_per_kwu(),
                "change_gap": setup.change_gap(),
                "approvers": names(setup.approvers()),
                "admins": names(setup.admins()),
                "admin_quorum": setup.admin_quorum(),
                "audit_key": kinko_auth::xonly_hex(&setup.audit_key()),
                "signed_by": signed,
            })
        );
    } else {
        println!("set-up {}", setup.id());
        println!("asset {} on {}", setup.asset(), setup.network());
        println!("hot wallet {}", setup.hot_wallet().id());
        println!("cold wallet {}", setup.cold_wallet().id());
        println!(
            "policy sha256 {}",
            setup.policy().sha256().unwrap_or_default()
        );
        println!(
            "fees at most {} sat and {} sat/kwu; change gap {}",
            max_fee.to_sat(),
            max_rate.to_sat_per_kwu(),
            setup.change_gap()
        );
        println!("approvers {}", names(setup.approvers()).join(", "));
        println!(
            "admins {} ({} must sign)",
            names(setup.admins()).join(", "),
            setup.admin_quorum()
        );
        println!("audit key {}", kinko_auth::xonly_hex(&setup.audit_key()));
        if let Some(s) = &signed {
            println!(
                "signed by {} ({} of {})",
                if s.is_empty() {
                    "nobody".into()
                } else {
                    s.join(", ")
                },
                s.len(),
                setup.admin_quorum()
            );
        }
    }
    if let Some(s) = signed {
        if (s.len() as u32) < setup.admin_quorum() {
            return Err(CliError::Refused {
                rule: RULE_SETUP_NOT_SIGNED.into(),
                detail: format!(
                    "{} of {} admins signed set-up {}",
                    s.len(),
                    setup.admin_quorum(),
                    setup.id()
                ),
            });
        }
    }
    Ok(())
}
