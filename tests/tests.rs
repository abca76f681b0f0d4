//! End-to-end tests across kinko's crates, built into one binary.
mod exchange_day;
mod signer_e2e;
