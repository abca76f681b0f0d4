//! `kinko-signer sign`: sign a PSBT only when the analysis finds nothing to
//! refuse, after the key holder has read the summary.

use std::io::Write;

use crate::{decide_bytes, summary_json, summary_text};
use anyhow::Context;
use kinko_keys::bitcoin::secp256k1::Secp256k1;
use kinko_wallet::encode_psbt;

use crate::cli::SignArgs;
use crate::cmd::{
    analysis_options, confirm, open_keystore, read_psbt_file, refuse_existing_out, register_error,
    registered_wallets, write_new_file,
};
use kinko_cmd::{CliError, CliResult};

/// Runs `sign`.
pub fn run(args: &SignArgs) -> CliResult {
    // Refuse before asking for anything: a signed PSBT is never written over
    // another file.
    refuse_existing_out(&args.out)?;
    let bytes = read_psbt_file(&args.psbt)?;
    let keystore = open_keystore(&args.keystore)?;
    let secp = Secp256k1::new();
    let network = args.checks.network.map(Into::into);
    let wallets = registered_wallets(&secp, &keystore, network)?;
    let list: Vec<_> = wallets.iter().map(|(_, c)| c.wallet.clone()).collect();
    let (mut psbt, encoding, decision) =
        decide_bytes(&list, &bytes, &analysis_options(&args.checks))
            .map_err(|e| anyhow::Error::new(e).context(format!("{}", args.psbt.display())))?;
    let chosen = decision.wallet.and_then(|i| wallets.get(i));
    let named = chosen.map(|(n, c)| (n.as_str(), &c.wallet));

    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            kinko_cmd::to_json_pretty(&summary_json(named, &decision))?
        )?;
    } else {
        write!(out, "{}", summary_text(named, &decision))?;
    }
    out.flush()?;
    drop(out);

    if let Some(r) = &decision.refusal {
        return Err(CliError::refused(r.rule.as_str(), r.detail.clone()));
    }
    // Only a wallet with an analysis and no refusal gets here.
    let Some((_, checked)) = chosen else {
        return Err(CliError::Other(anyhow::anyhow!("no wallet to sign for")));
    };
    if !args.yes {
        confirm("transaction")?;
    }
    let signers = checked.signers(&keystore).map_err(register_error)?;
    // The mnemonic is wiped now; only the account signers remain, wiped on drop.
    drop(keystore);
    let mut signatures = 0;
    let mut inputs = std::collections::BTreeSet::new();
    for s in &signers {
        let report = checked
            .wallet
            .sign(&mut psbt, s)
            .context("signing failed")?;
        signatures += report.signatures();
        inputs.extend(report.signed.iter().map(|(i, _)| *i));
    }
    drop(signers);

    write_new_file(&args.out, &encode_psbt(&psbt, encoding))?;
    if !args.json {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "signed: {signatures} signature(s) on {} input(s); wrote {}",
            inputs.len(),
            args.out.display()
        )?;
        out.flush()?;
    }
    Ok(())
}
