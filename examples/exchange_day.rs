//! An exchange's day with kinko, end to end, in a temporary folder.
//!
//! ```sh
//! cargo run --release --example exchange_day
//! ```
//!
//! Key ceremony (three cold keystores; the hot wallet's 2-of-3 of the
//! exchange's key, the policy cosigner's key and a cold backup key), 3,000
//! deposits to derived addresses, sweeps to cold, 300 withdrawal requests
//! through the policy engine, the SQLite ledger and the cosigner, a refill
//! from cold signed by two cold keystores; every signed transaction checked
//! by Bitcoin Core's script interpreter (libbitcoinconsensus). Then the
//! exchange's hot key is stolen: what the attacker got against the policy's
//! loss bound, and when the circuit breaker fired. Ends with a summary table
//! and a verified audit log. The day's logic is `kinko_cosigner::day`
//! (shared with the integration test `tests/exchange_day.rs`).

#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::time::Instant;

use bitcoin::{OutPoint, Transaction, TxOut};
use kinko_cosigner::day::{self, DayConfig};

/// Bitcoin Core's script interpreter, input by input.
fn verify(tx: &Transaction, spent: &HashMap<OutPoint, TxOut>) -> Result<(), String> {
    tx.verify(|op| spent.get(op).cloned())
        .map_err(|e| format!("{} rejected: {e}", tx.compute_txid()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    println!(
        "kinko: an exchange's day (working folder {}, deleted at the end)",
        dir.path().display()
    );
    let report = day::run(dir.path(), &DayConfig::full(), &verify, &mut |line| {
        println!("[{:>6.1}s] {line}", started.elapsed().as_secs_f64());
    })?;
    println!();
    print!("{}", report.table());
    println!();
    println!("finished in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
