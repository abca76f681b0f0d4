//! The logic of kinko's air-gapped signer, apart from its command line:
//!
//! - [`check_wallet`]: is a descriptor a wallet this keystore may sign for
//!   (our key at the stated origin, no duplicate keys, one network)?
//! - [`decide`] / [`decide_bytes`]: from a PSBT file's bytes to a
//!   [`Decision`], taken **only** from kinko-wallet's
//!   [`PsbtAnalysis`](kinko_wallet::PsbtAnalysis), so the policy cosigner
//!   decides from the same facts;
//! - [`summary_text`] / [`summary_json`]: what the key holder reads before
//!   signing;
//! - [`ActionKey`] / [`check_person_action`]: signed human actions
//!   (kinko-auth): the BIP-340 action keys a keystore derives
//!   (`m/1057'/0'/0'` for a person, `m/1057'/1'/0'` for the cosigner's audit
//!   key) and which actions a person signs.
//!
//! No networking or database crate is in this crate's dependency tree, and
//! nothing here prints.

#![forbid(unsafe_code)]

mod action;
mod decide;
mod register;
mod summary;

pub use action::{check_person_action, ActionKey, ActionRole, RULE_NOT_A_PERSON_ACTION};
pub use decide::{decide, decide_bytes, Decision, Refusal, RULE_NO_WALLET};
pub use register::{check_wallet, load_wallet, CheckedWallet, RegisterError};
pub use summary::{btc, summary_json, summary_text};

/// Re-exported so the binary and tests use the same crates.
pub use kinko_auth;
pub use kinko_keys;
pub use kinko_wallet;
