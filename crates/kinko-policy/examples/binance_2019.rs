//! Binance, 2019-05-07: 7,000 BTC in one transaction, replayed under kinko policies.
//!
//! `cargo run -p kinko-policy --example binance_2019`

#![allow(clippy::print_stdout)]

mod table;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let replay = kinko_policy::replay::binance_2019()?;
    println!("Binance, 2019-05-07 (UTC): 7,000 BTC from a hot wallet holding about 2% of custody.");
    table::print(&replay);
    Ok(())
}
