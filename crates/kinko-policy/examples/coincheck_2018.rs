//! Coincheck, 2018-01-26: the NEM theft replayed under kinko policies.
//!
//! `cargo run -p kinko-policy --example coincheck_2018`

#![allow(clippy::print_stdout)]

mod table;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let replay = kinko_policy::replay::coincheck_2018()?;
    println!("Coincheck, 2018-01-26 (JST): all customer NEM in one hot wallet, one key.");
    table::print(&replay);
    Ok(())
}
