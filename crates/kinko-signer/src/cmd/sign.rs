//! `kinko-signer sign`: sign a PSBT only when the analysis finds nothing to
//! refuse, after the key holder has read the summary.

use std::fs::OpenOptions;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use kinko_keys::bitcoin::secp256k1::Secp256k1;
use kinko_signer::{decide_bytes, summary_json, summary_text};
use kinko_wallet::encode_psbt;

use crate::cli::SignArgs;
use crate::cmd::{
    analysis_options, open_keystore, read_psbt_file, register_error, registered_wallets,
};
use crate::error::{CliError, CliResult};

/// Runs `sign`.
pub fn run(args: &SignArgs) -> CliResult {
    // Refuse before asking for anything: a signed PSBT is never written over
    // another file.
    if args.out.symlink_metadata().is_ok() {
        return Err(CliError::Refused {
            rule: "no-overwrite".into(),
            detail: format!("{} already exists", args.out.display()),
        });
    }
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
            serde_json::to_string_pretty(&summary_json(named, &decision))?
        )?;
    } else {
        write!(out, "{}", summary_text(named, &decision))?;
    }
    out.flush()?;
    drop(out);

    if let Some(r) = &decision.refusal {
        return Err(CliError::Refused {
            rule: r.rule.into(),
            detail: r.detail.clone(),
        });
    }
    // Only a wallet with an analysis and no refusal gets here.
    let Some((_, checked)) = chosen else {
        return Err(CliError::Other(anyhow::anyhow!("no wallet to sign for")));
    };
    if !args.yes {
        confirm()?;
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

    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    let mut file = opts
        .open(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    file.write_all(&encode_psbt(&psbt, encoding))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
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

/// Asks on the terminal; without one, refuses (use `--yes` in scripts, after
/// reading `inspect`).
fn confirm() -> CliResult {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Usage(
            "no terminal to confirm on: read the summary, then run again with --yes".into(),
        ));
    }
    eprint!("sign this transaction? type yes to sign: ");
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the answer")?;
    if line.trim() != "yes" {
        return Err(CliError::Other(anyhow::anyhow!(
            "not confirmed; nothing was signed"
        )));
    }
    Ok(())
}
