//! `kinko-signer action-key`, `approve`, `sign-action`, `sign-setup`: the
//! person's signed actions (kinko-auth), made on the air-gapped machine.
//!
//! What is signed is shown in words (the action's `Display`, its set-up id
//! and the signer's key) on stderr, then confirmed (or `--yes`); the signed
//! action is one JSON line on stdout or in `--out`.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::kinko_auth::{xonly_hex, Action, ParseError, SetupId, UnixTime, MAX_JSON_LEN};
use crate::{check_person_action, ActionKey, ActionRole};
use anyhow::Context;
use kinko_keys::bitcoin::secp256k1::Secp256k1;

use crate::cli::{ActionKeyArgs, ApproveArgs, SignActionArgs, SignSetupArgs, SignedOutArgs};
use crate::cmd::{confirm, open_keystore, read_capped, refuse_existing_out, write_new_file};
use kinko_cmd::{CliError, CliResult};

/// The largest set-up file read (its exact bytes are hashed, so a longer
/// one is refused rather than cut).
const MAX_SETUP_FILE: usize = 1 << 20;

/// Runs `action-key`.
pub fn run_action_key(args: &ActionKeyArgs) -> CliResult {
    let key = derive_key(&args.keystore, args.role.into())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", xonly_hex(&key.public_key()))?;
    out.flush()?;
    Ok(())
}

/// Runs `approve`.
pub fn run_approve(args: &ApproveArgs) -> CliResult {
    refuse_out_first(&args.output)?;
    let action = Action::Approval {
        setup_id: setup_id_of(&args.setup)?,
        asset: args.asset.clone(),
        withdrawal_id: args.id.clone(),
        destination: args.to.clone(),
        amount: args.amount,
        expires: args.expires,
    };
    action
        .check_fields()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    sign_and_write(&args.keystore, &action, &args.output)
}

/// Runs `sign-action`.
pub fn run_sign_action(args: &SignActionArgs) -> CliResult {
    refuse_out_first(&args.output)?;
    let bytes = read_capped(&args.action, MAX_JSON_LEN)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", args.action.display()))?;
    let action = Action::from_json(text).map_err(|e| {
        // kinko-auth's messages speak of signed actions; this one is not
        // signed yet.
        let reason = match e {
            ParseError::Json(m) => format!("malformed action: {m}"),
            ParseError::TooLong => format!("action is longer than {MAX_JSON_LEN} bytes"),
            other => other.to_string(),
        };
        anyhow::anyhow!(
            "cannot read the action in {}: {reason}",
            args.action.display()
        )
    })?;
    if let Err((rule, detail)) = check_person_action(&action) {
        return Err(CliError::Refused {
            rule: rule.into(),
            detail,
        });
    }
    sign_and_write(&args.keystore, &action, &args.output)
}

/// Runs `sign-setup`.
pub fn run_sign_setup(args: &SignSetupArgs) -> CliResult {
    refuse_out_first(&args.output)?;
    let action = Action::SetupSignature {
        setup_id: setup_id_of(&args.setup)?,
    };
    sign_and_write(&args.keystore, &action, &args.output)
}

fn refuse_out_first(output: &SignedOutArgs) -> CliResult {
    match &output.out {
        Some(out) => refuse_existing_out(out),
        None => Ok(()),
    }
}

fn derive_key(keystore: &Path, role: ActionRole) -> CliResult<ActionKey> {
    let keystore = open_keystore(keystore)?;
    let key = ActionKey::derive(&Secp256k1::new(), &keystore, role)
        .context("cannot derive the action key")?;
    // The mnemonic is wiped now; only the action key remains, wiped on drop.
    drop(keystore);
    Ok(key)
}

/// The set-up id of a set-up file's exact bytes.
fn setup_id_of(path: &Path) -> CliResult<SetupId> {
    let bytes = read_capped(path, MAX_SETUP_FILE)?;
    if bytes.len() > MAX_SETUP_FILE {
        return Err(CliError::Other(anyhow::anyhow!(
            "{} is larger than {MAX_SETUP_FILE} bytes; not a set-up file",
            path.display()
        )));
    }
    Ok(SetupId::of_file(&bytes))
}

/// Shows the action, asks, signs with the person key, writes one JSON line.
fn sign_and_write(keystore: &Path, action: &Action, output: &SignedOutArgs) -> CliResult {
    let key = derive_key(keystore, ActionRole::Person)?;
    let mut err = std::io::stderr().lock();
    writeln!(err, "{action}")?;
    writeln!(err, "  action:  {} (tag {})", action.name(), action.tag())?;
    writeln!(err, "  set-up:  {}", action.setup_id())?;
    writeln!(err, "  signer:  {}", xonly_hex(&key.public_key()))?;
    if let Some(expires) = action.expires() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .map(UnixTime::from_unix);
        if now.is_some_and(|now| expires < now) {
            writeln!(
                err,
                "  warning: already expired on this machine's clock; a verifier will refuse it (expired)"
            )?;
        }
    }
    err.flush()?;
    drop(err);
    if !output.yes {
        confirm("action")?;
    }
    let signed = key.sign(action);
    drop(key);
    let mut line = signed.to_json();
    line.push('\n');
    match &output.out {
        Some(path) => {
            write_new_file(path, line.as_bytes())?;
            let mut err = std::io::stderr().lock();
            writeln!(err, "signed; wrote {}", path.display())?;
            err.flush()?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(line.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}
