//! The policy cosigner: signs only what the ledger approved.

#![forbid(unsafe_code)]
