//! Integration tests of kinko-wallet, one binary.

mod common;

mod address;
mod analysis;
mod descriptor;
mod psbt;
mod sign_parallel;
mod vectors;
mod wallet_files;
