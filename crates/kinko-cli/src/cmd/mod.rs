//! One module per command group: its clap `Args` and its `run`.

pub mod address;
pub mod audit;
pub mod cosigner;
pub mod ledger;
pub mod policy;
pub mod psbt;
pub mod setup;
