//! `kinko-signer inspect`: what a PSBT does, against the registered wallets.

use std::io::Write;

use crate::{decide_bytes, summary_json, summary_text};
use kinko_keys::bitcoin::secp256k1::Secp256k1;

use crate::cli::InspectArgs;
use crate::cmd::{analysis_options, open_keystore, read_psbt_file, registered_wallets};
use kinko_cmd::CliResult;

/// Runs `inspect`. Findings are shown, not enforced: the exit status is 0
/// for any PSBT that parses (`sign` is what refuses).
pub fn run(args: &InspectArgs) -> CliResult {
    let bytes = read_psbt_file(&args.psbt)?;
    let keystore = open_keystore(&args.keystore)?;
    let secp = Secp256k1::new();
    let network = args.checks.network.map(Into::into);
    let wallets = registered_wallets(&secp, &keystore, network)?;
    drop(keystore);
    let list: Vec<_> = wallets.iter().map(|(_, c)| c.wallet.clone()).collect();
    let (_, _, decision) = decide_bytes(&list, &bytes, &analysis_options(&args.checks))
        .map_err(|e| anyhow::Error::new(e).context(format!("{}", args.psbt.display())))?;
    let chosen = decision
        .wallet
        .and_then(|i| wallets.get(i))
        .map(|(n, c)| (n.as_str(), &c.wallet));
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            kinko_cmd::to_json_pretty(&summary_json(chosen, &decision))?
        )?;
    } else {
        write!(out, "{}", summary_text(chosen, &decision))?;
    }
    out.flush()?;
    Ok(())
}
