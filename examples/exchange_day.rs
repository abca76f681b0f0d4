//! An exchange's day with kinko, end to end, in a temporary folder.
//!
//! ```sh
//! cargo run --release --example exchange_day
//! ```
//!
//! Key ceremony (three cold keystores; the hot wallet's 2-of-3 of the
//! exchange's key, the policy cosigner's key and a cold backup key; the
//! approvers' and admins' action keys; the service's certificates; the
//! custody set-up file, pinning the backend's client certificate, signed
//! by two admins, from which the policy cosigner's authority opens), 3,000
//! deposits to derived addresses reported to the cosigner, custody
//! statements signed by two admins, sweeps to the cold address the
//! cosigner hands out, 300 withdrawal requests decided by the cosigner
//! (the large ones approved by two approvers' signatures) and paid in
//! batches every 10 simulated minutes, each cosigned by it and reported
//! confirmed by its txid (one batch stuck at a low fee and replaced at a
//! higher one; the summary sets the batches' virtual bytes and fees against
//! one transaction per withdrawal, and the cosigner's hot books against the
//! chain), refills from cold each signed by two `kinko-signer` processes
//! through files (as on the key holders' air-gapped machines); every signed
//! transaction checked by Bitcoin Core's script interpreter
//! (libbitcoinconsensus). Then the exchange's hot key is stolen and the
//! attacker owns the backend host: each attack through the API and the
//! rule that refused it (and, as defense in depth, the cosigner's ledger
//! file edited as if its host were breached too), what the attacker got
//! against the policy's loss bound, and when the circuit breaker fired.
//! Ends with a summary table, the audit export verified with the
//! cosigner's audit key, and a picture of the day
//! (`target/exchange-day.svg`: hot and cold share of custody, the
//! attacker's take against the loss bound). The day's logic is
//! `kinko-sim` (shared with the integration test
//! `tests/exchange_day.rs`).
//!
//! The policy cosigner runs as the service (`kinko-cosignd`) on a loopback
//! port with mutual TLS: it owns the authority, the cosigner's keys and
//! its ledger, and reads the day's simulated clock. The exchange's backend
//! holds only the hot key and the client certificate the set-up pins, and
//! does everything through the `/v1` API; so does the attacker who owns it.
//!
//! The cold key holders' `kinko-signer` processes are this executable
//! started as `exchange_day kinko-signer <args…>`: it then runs the
//! signer's entry point (`kinko_signer::main_with_args`, the code of the
//! `kinko-signer` binary) and exits, so the day needs no second build.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Instant;

use bitcoin::{OutPoint, Transaction, TxOut};
use kinko_sim::{self as day, picture, DayConfig};

/// The first argument that makes this executable the signer.
const SIGNER: &str = "kinko-signer";

/// Bitcoin Core's script interpreter, input by input.
fn verify(tx: &Transaction, spent: &HashMap<OutPoint, TxOut>) -> Result<(), String> {
    tx.verify(|op| spent.get(op).cloned())
        .map_err(|e| format!("{} rejected: {e}", tx.compute_txid()))
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).as_deref() == Some(SIGNER.as_ref()) {
        // A cold key holder's signer process: `kinko-signer <args…>`.
        let args = std::iter::once(OsString::from(SIGNER)).chain(std::env::args_os().skip(2));
        return kinko_signer::main_with_args(args);
    }
    match the_day() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exchange_day: {e}");
            ExitCode::FAILURE
        }
    }
}

fn the_day() -> Result<(), Box<dyn std::error::Error>> {
    let signer = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    println!(
        "kinko: an exchange's day (working folder {}, deleted at the end)",
        dir.path().display()
    );
    let cfg = DayConfig::full(signer).with_signer_prefix(&[SIGNER]);
    let report = day::run(dir.path(), &cfg, &verify, &mut |line| {
        println!("[{:>6.1}s] {line}", started.elapsed().as_secs_f64());
    })?;
    println!();
    print!("{}", report.table());
    // The workspace's target/ (the example's manifest is the root one).
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target)?;
    let svg = target.join("exchange-day.svg");
    std::fs::write(&svg, picture::svg(&report)?)?;
    println!();
    println!("picture of the day: {}", svg.display());
    println!();
    println!("finished in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
