//! `kinko policy check` and `kinko policy simulate`: validate a policy file
//! and print its worst-case loss bound; replay a JSON-lines event stream
//! through the engine. The logic lives in `kinko-policy`; this module only
//! reads files and prints.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use kinko_policy::{
    decide, loss_bound, Amount, AssetId, Change, Config, Decision, Destination, Duration, Event,
    IdError, LossBound, Proposal, State, UserId, WithdrawalId,
};
use serde_json::json;

use kinko_cmd::{CliError, CliResult};

/// Validate a policy or replay events through it.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// What to do with the policy.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// `kinko policy …` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file and print its worst-case loss bound (1h, 24h).
    Check {
        /// The policy file (TOML).
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// Custody of an asset (hot + cold, base units) to turn shares into
        /// amounts: `--custody XEM=526300010`; repeatable.
        #[arg(long, value_name = "ASSET=AMOUNT")]
        custody: Vec<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Replay a JSON-lines event stream: one decision per event, the
    /// proposals and a summary.
    Simulate {
        /// The policy file (TOML).
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// Events, one JSON object per line with "at" (RFC 3339) and "type".
        #[arg(long, value_name = "FILE.jsonl")]
        events: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `kinko policy …`.
pub fn run(args: Args) -> CliResult {
    match args.command {
        PolicyCommand::Check {
            policy,
            custody,
            json,
        } => check(&policy, &custody, json),
        PolicyCommand::Simulate {
            policy,
            events,
            json,
        } => simulate(&policy, &events, json),
    }
}

fn load_config(path: &PathBuf) -> CliResult<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy file {}", path.display()))?;
    let config = Config::from_toml_str(&text)
        .with_context(|| format!("invalid policy file {}", path.display()))?;
    Ok(config)
}

const HORIZONS: [(&str, u32); 2] = [("1h", 3_600), ("24h", 86_400)];

fn share_text(bps: u64) -> String {
    kinko_policy::Share::from_bps(u32::try_from(bps).unwrap_or(u32::MAX))
        .map_or_else(|| "100%".to_owned(), |s| s.to_string())
}

fn bound_json(b: &LossBound, custody: Option<Amount>) -> serde_json::Value {
    let at = custody.map(|c| b.at_custody(c));
    json!({
        "horizon": b.horizon.to_string(),
        "effective_horizon": b.effective_horizon.to_string(),
        "absolute": b.absolute(),
        "share_bps": b.share_bps(),
        "custody": custody,
        "amount": at.map(|a| a.0),
        "limited_by": at.map(|a| a.1),
    })
}

fn bound_text(b: &LossBound, custody: Option<Amount>) -> String {
    if b.effective_horizon.secs() == 0 {
        return "0 (a new destination is not active within the horizon)".to_owned();
    }
    if let Some(c) = custody {
        let (amount, rule) = b.at_custody(c);
        return format!(
            "{amount} at custody {c} (limited by {})",
            rule.unwrap_or("nothing: all of custody")
        );
    }
    match (b.absolute(), b.share_bps()) {
        (Some(a), Some(s)) => format!("min({a}, {} of custody)", share_text(s)),
        (Some(a), None) => a.to_string(),
        (None, Some(s)) => format!("{} of custody", share_text(s)),
        (None, None) => "all of custody (no velocity window or breaker)".to_owned(),
    }
}

fn parse_custody(specs: &[String]) -> CliResult<BTreeMap<String, Amount>> {
    let mut out = BTreeMap::new();
    for s in specs {
        let (asset, amount) = s
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--custody {s:?}: expected ASSET=AMOUNT")))?;
        let amount: Amount = amount
            .parse()
            .map_err(|_| CliError::Usage(format!("--custody {s:?}: amount is not an integer")))?;
        out.insert(asset.to_owned(), amount);
    }
    Ok(out)
}

fn check(path: &PathBuf, custody: &[String], json: bool) -> CliResult {
    let config = load_config(path)?;
    // What admins sign in a `policy-change` (and what every audit record
    // names): the SHA-256 of the file's exact text.
    let sha256 = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| kinko_ledger::Policy::from_toml_str(&t).ok())
        .and_then(|p| p.sha256().map(str::to_owned))
        .unwrap_or_default();
    let custody = parse_custody(custody)?;
    for asset in custody.keys() {
        if config.asset(asset).is_none() {
            return Err(CliError::Usage(format!(
                "--custody names asset {asset:?}, which the policy does not have"
            )));
        }
    }
    if json {
        let mut assets = serde_json::Map::new();
        for (id, p) in config.assets() {
            let c = custody.get(id.as_str()).copied();
            let mut bounds = serde_json::Map::new();
            for (name, secs) in HORIZONS {
                let h = Duration::from_secs(secs).unwrap_or_default();
                bounds.insert(name.to_owned(), bound_json(&loss_bound(p, h), c));
            }
            let warnings: Vec<_> = p
                .preset_fills()
                .iter()
                .map(|f| {
                    json!({ "key": f.key, "value": f.value, "beside": f.beside,
                    "message": preset_warning(id, p, f) })
                })
                .collect();
            assets.insert(
                id.to_string(),
                json!({
                    "preset": p.preset(),
                    "hot_cap": p.hot_cap(),
                    "sweep_target": p.sweep_target(),
                    "refill": p.refill().map(|(floor, target)| json!({ "floor": floor, "target": target })),
                    "max_withdrawal": p.max_withdrawal(),
                    "warnings": warnings,
                    "windows": p.windows(),
                    "breaker": p.breaker(),
                    "loss_bound": bounds,
                }),
            );
        }
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "valid": true, "sha256": sha256, "assets": assets })
            )?
        );
        return Ok(());
    }
    println!(
        "policy {} is valid: {} asset(s), sha256 {sha256}",
        path.display(),
        config.assets().count()
    );
    for (id, p) in config.assets() {
        let c = custody.get(id.as_str()).copied();
        println!("{id}");
        if let Some(preset) = p.preset() {
            println!("  preset:         {preset}");
        }
        println!("  hot cap:        {}", p.hot_cap());
        println!("  sweep target:   {}", p.sweep_target());
        if let Some((floor, target)) = p.refill() {
            println!("  refill:         below {floor}, up to {target}");
        }
        if let Some(m) = p.max_withdrawal() {
            println!("  max withdrawal: {m}");
        }
        for w in p.windows() {
            println!(
                "  window {:>6}{}: {}",
                w.duration().to_string(),
                if w.per_user() { " per user" } else { "" },
                w.limit()
            );
        }
        if let Some(a) = p.allowlist() {
            println!(
                "  allowlist:      mode {}, activation delay {}, {} entries in the file",
                match a.mode() {
                    kinko_policy::AllowlistMode::Deny => "deny",
                    _ => "require-approval",
                },
                a.activation_delay(),
                a.entries().len()
            );
        }
        if let Some(a) = p.approvals() {
            println!(
                "  approvals:      {} of {:?}{}",
                a.quorum(),
                a.approvers(),
                a.threshold()
                    .map_or(String::new(), |t| format!(" above {t}"))
            );
        }
        if let Some(b) = p.breaker() {
            println!(
                "  breaker:        requested outflow in {} above {}",
                b.window(),
                b.limit()
            );
        }
        for f in p.preset_fills() {
            println!("  warning: {}", preset_warning(id, p, f));
        }
        println!(
            "  worst-case loss to an attacker on the backend host (hot key, files, database), \
             the policy cosigner deciding:"
        );
        for (name, secs) in HORIZONS {
            let h = Duration::from_secs(secs).unwrap_or_default();
            println!("    {name:>3}: {}", bound_text(&loss_bound(p, h), c));
        }
    }
    Ok(())
}

/// The warning for a key a preset filled in beside the other key of its
/// pair, which the file wrote (docs/policy.md, "Presets").
fn preset_warning(
    asset: &str,
    p: &kinko_policy::AssetPolicy,
    f: &kinko_policy::PresetFill,
) -> String {
    let both = if f.key.starts_with("refill") {
        "both levels apply"
    } else {
        "the lower of the two applies"
    };
    format!(
        "assets.{asset}.{} = {} comes from preset {:?}, beside the {} the file writes: {both} (write both keys to choose both)",
        f.key,
        f.value,
        p.preset().unwrap_or_default(),
        f.beside
    )
}

#[derive(Default)]
struct Summary {
    events: u64,
    approved: u64,
    pending: u64,
    denied: u64,
    duplicate: u64,
    errors: u64,
    approved_amount: BTreeMap<String, Amount>,
    denied_by: BTreeMap<&'static str, u64>,
}

fn simulate(policy: &PathBuf, events: &PathBuf, json: bool) -> CliResult {
    let config = load_config(policy)?;
    let file = std::fs::File::open(events)
        .with_context(|| format!("cannot read events file {}", events.display()))?;
    let mut state = State::default();
    let mut summary = Summary::default();
    let mut last_proposals: BTreeMap<String, Vec<Proposal>> = BTreeMap::new();
    let mut json_events = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("{}: cannot read line {n}", events.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = match serde_json::from_str(&line) {
            Ok(e) => e,
            Err(e) => {
                // A line whose only fault is a name the engine refuses is a
                // refused event, as when the engine checked names itself;
                // anything else is not an event at all.
                let Some(bad) = bad_name(&line) else {
                    return Err(e)
                        .with_context(|| format!("{} line {n}: invalid event", events.display()))
                        .map_err(Into::into);
                };
                summary.events += 1;
                summary.errors += 1;
                if json {
                    json_events.push(json!({ "line": n, "at": bad.at, "type": bad.kind,
                        "asset": bad.asset, "error": bad.error }));
                } else {
                    println!(
                        "{}  {:<6} {:<40} refused event: {}",
                        bad.at, bad.asset, bad.kind, bad.error
                    );
                }
                continue;
            }
        };
        summary.events += 1;
        let asset = event.kind.asset().to_owned();
        let amount = match &event.kind {
            kinko_policy::EventKind::Withdrawal { amount, .. } => Some(*amount),
            _ => None,
        };
        let result = decide(&config, &mut state, &event);
        let (text, new_props) = match &result {
            Ok(out) => {
                match &out.decision {
                    Decision::Approved { id } => {
                        summary.approved += 1;
                        let a = amount.or_else(|| {
                            state
                                .assets
                                .get(asset.as_str())
                                .and_then(|s| s.withdrawal(id))
                                .map(|w| w.amount)
                        });
                        let e = summary.approved_amount.entry(asset.clone()).or_default();
                        *e = e.saturating_add(a.unwrap_or(Amount::ZERO));
                    }
                    Decision::Pending { .. } => summary.pending += 1,
                    Decision::Denied { rule, .. } => {
                        summary.denied += 1;
                        *summary.denied_by.entry(rule.name()).or_default() += 1;
                    }
                    Decision::Duplicate { .. } => summary.duplicate += 1,
                    _ => {}
                }
                let mut text = decision_text(&out.decision);
                for c in &out.changes {
                    match c {
                        Change::FreezeSet { freeze } => {
                            text.push_str(&format!("; FROZEN: {}", freeze.reason));
                        }
                        Change::FreezeLifted => text.push_str("; freeze lifted"),
                        Change::AllowlistAdded { entry, .. } => {
                            text.push_str(&format!("; active from {}", entry.active_at));
                        }
                        _ => {}
                    }
                }
                (text, Some(out.proposals.clone()))
            }
            Err(e) => {
                summary.errors += 1;
                (format!("refused event: {e}"), None)
            }
        };
        let changed_props = match new_props {
            Some(p) if last_proposals.get(&asset) != Some(&p) => {
                last_proposals.insert(asset.clone(), p.clone());
                Some(p)
            }
            _ => None,
        };
        if json {
            json_events.push(match &result {
                Ok(out) => json!({ "line": n, "at": event.at, "type": event.kind.type_name(),
                    "asset": asset, "decision": out.decision, "changes": out.changes,
                    "proposals": out.proposals }),
                Err(e) => json!({ "line": n, "at": event.at, "type": event.kind.type_name(),
                    "asset": asset, "error": e.to_string() }),
            });
        } else {
            let what = match (&event.kind, amount) {
                (kinko_policy::EventKind::Withdrawal { id, user, .. }, Some(a)) => {
                    format!("withdrawal {id} user {user} {a}")
                }
                (k, _) => k.type_name().to_owned(),
            };
            println!("{}  {asset:<6} {what:<40} {text}", event.at);
            for p in changed_props.unwrap_or_default() {
                match p {
                    Proposal::Sweep { amount, .. } => {
                        println!("    proposal: sweep {amount} hot -> cold")
                    }
                    Proposal::Refill { amount, .. } => {
                        println!("    proposal: refill {amount} cold -> hot")
                    }
                    _ => println!("    proposal: {p:?}"),
                }
            }
        }
    }
    let mut assets = BTreeMap::new();
    for (id, s) in &state.assets {
        assets.insert(
            id.clone(),
            json!({
                "hot": s.hot(), "cold": s.cold(), "reserved": s.reserved(),
                "approved_amount": summary.approved_amount.get(id.as_str()).copied().unwrap_or(Amount::ZERO),
                "frozen": s.freeze().map(|f| json!({"at": f.at, "reason": f.reason.to_string()})),
                "proposals": last_proposals.get(id.as_str()),
            }),
        );
    }
    if json {
        let doc = json!({
            "events": json_events,
            "summary": {
                "events": summary.events, "approved": summary.approved,
                "pending": summary.pending, "denied": summary.denied,
                "duplicate": summary.duplicate, "refused_events": summary.errors,
                "denied_by": summary.denied_by, "assets": assets,
            }
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "summary: {} events, {} approved, {} pending, {} denied, {} duplicate, {} refused",
            summary.events,
            summary.approved,
            summary.pending,
            summary.denied,
            summary.duplicate,
            summary.errors
        );
        for (rule, n) in &summary.denied_by {
            println!("  denied by {rule}: {n}");
        }
        for (id, s) in &state.assets {
            println!(
                "  {id}: approved {} | hot {} cold {} reserved {} | {}",
                summary
                    .approved_amount
                    .get(id.as_str())
                    .copied()
                    .unwrap_or(Amount::ZERO),
                s.hot(),
                s.cold(),
                s.reserved(),
                s.freeze().map_or("not frozen".to_owned(), |f| format!(
                    "frozen since {} ({})",
                    f.at, f.reason
                ))
            );
        }
    }
    Ok(())
}

fn decision_text(d: &Decision) -> String {
    match d {
        Decision::Approved { .. } => "approved".to_owned(),
        Decision::Pending { missing, .. } => {
            format!(
                "pending: {} of {} approvals",
                missing.have, missing.required
            )
        }
        Decision::Denied { rule, .. } => format!("denied [{}]: {rule}", rule.name()),
        Decision::Duplicate { status, .. } => format!("duplicate id (already {})", status.name()),
        Decision::Recorded => "recorded".to_owned(),
        _ => format!("{d:?}"),
    }
}

/// An event line refused for a name only: its time, type, asset and why.
struct BadName {
    at: kinko_policy::Timestamp,
    kind: String,
    asset: String,
    error: String,
}

/// The line's time, type and asset when its names break their rules and it
/// is an event once they are mended: the first name's [`IdError`], checked
/// by the names' own types (the line is read again with each bad name
/// replaced by a good one, so a line with any other fault is not this).
fn bad_name(line: &str) -> Option<BadName> {
    let mut v: serde_json::Value = serde_json::from_str(line).ok()?;
    let mut first: Option<IdError> = None;
    let mut mend = |slot: &mut serde_json::Value, check: fn(&str) -> Result<(), IdError>| {
        if let Some(Err(e)) = slot.as_str().map(check) {
            first.get_or_insert(e);
            *slot = json!("X");
        }
    };
    let obj = v.as_object_mut()?;
    let asset = obj
        .get("asset")
        .and_then(|a| a.as_str())
        .unwrap_or_default()
        .to_owned();
    for (key, check) in [
        (
            "id",
            (|s| WithdrawalId::new(s).map(drop)) as fn(&str) -> Result<(), IdError>,
        ),
        ("user", |s| UserId::new(s).map(drop)),
        ("destination", |s| Destination::new(s).map(drop)),
        ("asset", |s| AssetId::new(s).map(drop)),
    ] {
        if let Some(slot) = obj.get_mut(key) {
            mend(slot, check);
        }
    }
    if let Some(ids) = obj.get_mut("withdrawals").and_then(|w| w.as_array_mut()) {
        for slot in ids {
            mend(slot, |s| WithdrawalId::new(s).map(drop));
        }
    }
    let error = first?;
    let event: Event = serde_json::from_value(v).ok()?;
    Some(BadName {
        at: event.at,
        kind: event.kind.type_name().to_owned(),
        asset,
        error: error.to_string(),
    })
}
