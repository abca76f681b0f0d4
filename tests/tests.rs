//! End-to-end tests across kinko's crates, built into one binary.
mod bins;
mod exchange_day;
mod msrv;
mod signer_e2e;
