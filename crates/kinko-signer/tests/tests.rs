//! Integration tests of the `kinko-signer` binary, built into one binary.

mod action;
mod air_gap;
mod fixtures;
mod init_xpub;
mod register;
mod sign;
mod snapshots;
