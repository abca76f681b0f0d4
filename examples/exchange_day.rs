//! An exchange's day with kinko, end to end, in a temporary folder.
//!
//! ```sh
//! cargo run --release --example exchange_day
//! ```
//!
//! Key ceremony (three cold keystores; the hot wallet's 2-of-3 of the
//! exchange's key, the policy cosigner's key and a cold backup key; the
//! approvers' and admins' action keys; the custody set-up file signed by two
//! admins, from which the policy cosigner's authority opens), 3,000
//! deposits to derived addresses reported to the authority, custody
//! statements signed by two admins, sweeps to the cold address the
//! authority hands out, 300 withdrawal requests decided by the authority
//! (the large ones approved by two approvers' signatures) and cosigned by
//! it, refills from cold each signed by two `kinko-signer` processes
//! through files (as on the key holders' air-gapped machines); every signed
//! transaction checked by Bitcoin Core's script interpreter
//! (libbitcoinconsensus). Then the exchange's hot key is stolen and the
//! attacker owns the backend host: each attack and the rule that refused it,
//! what the attacker got against the policy's loss bound, and when the
//! circuit breaker fired. Ends with a summary table, an audit log
//! verified with the cosigner's audit key, and a picture of the day
//! (`target/exchange-day.svg`: hot and cold share of custody, the
//! attacker's take against the loss bound). The day's logic is
//! `kinko-sim` (shared with the integration test
//! `tests/exchange_day.rs`).
//!
//! `cargo run --example` builds this example, not the `kinko-signer`
//! binary of another package: the example runs `cargo build -p
//! kinko-signer` first, into its own target dir and profile (a no-op when
//! the signer is up to date), and says so.

#![allow(clippy::print_stdout)]

// Find-or-build of a workspace binary, one copy shared with the root tests.
#[path = "../tests/bins.rs"]
mod bins;

use std::collections::HashMap;
use std::time::Instant;

use bitcoin::{OutPoint, Transaction, TxOut};
use kinko_sim::{self as day, picture, DayConfig};

/// Bitcoin Core's script interpreter, input by input.
fn verify(tx: &Transaction, spent: &HashMap<OutPoint, TxOut>) -> Result<(), String> {
    tx.verify(|op| spent.get(op).cloned())
        .map_err(|e| format!("{} rejected: {e}", tx.compute_txid()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let signer = bins::path("kinko-signer")?;
    let built = Instant::now();
    println!(
        "kinko: {} kinko-signer with cargo build -p kinko-signer ({})",
        if signer.exists() {
            "checking"
        } else {
            "building"
        },
        signer.display()
    );
    bins::build(&["kinko-signer"])?;
    if !signer.exists() {
        return Err(format!("{} was not built", signer.display()).into());
    }
    println!(
        "kinko: kinko-signer ready in {:.1}s",
        built.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    println!(
        "kinko: an exchange's day (working folder {}, deleted at the end)",
        dir.path().display()
    );
    let report = day::run(dir.path(), &DayConfig::full(signer), &verify, &mut |line| {
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
