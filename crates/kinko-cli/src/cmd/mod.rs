//! One module per command group: its clap `Args` and its `run`.

pub mod policy;
pub mod address;
pub mod psbt;
pub mod ledger;
pub mod audit;
pub mod cosign;
