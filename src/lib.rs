//! kinko (金庫, "strongbox"): a custody library for cryptocurrency exchanges.
//!
//! This crate re-exports the workspace's library crates so that an exchange
//! backend can depend on one crate. Each is a trust boundary of its own; see
//! `docs/crates.md` and the top-level README.

#![forbid(unsafe_code)]

pub use kinko_auth as auth;
pub use kinko_cosigner as cosigner;
pub use kinko_keys as keys;
pub use kinko_ledger as ledger;
pub use kinko_policy as policy;
pub use kinko_wallet as wallet;
