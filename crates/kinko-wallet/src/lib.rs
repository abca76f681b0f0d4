//! m-of-n P2WSH multisig wallets, fast addresses and PSBTs with one analysis for kinko.
//!
//! A [`MultisigWallet`] is a `wsh(sortedmulti(m, …))` descriptor whose keys carry
//! their origins (`[fingerprint/path]xpub/<0;1>/*`). From it:
//!
//! - receive and change addresses, one or a range ([`MultisigWallet::address`],
//!   [`MultisigWallet::addresses`]), derived from cached branch keys;
//! - PSBTs built from caller-given UTXOs ([`MultisigWallet::create_psbt`]),
//!   batch payouts of many withdrawals in one PSBT ([`MultisigWallet::build_batch`]),
//!   signed ([`MultisigWallet::sign`]), combined ([`combine`]), finalized and
//!   extracted ([`finalize`], [`extract`]);
//! - one analysis of any PSBT ([`MultisigWallet::analyze`]): the facts every
//!   signer and the policy cosigner decide from.
//! - wallet files for other software, written and read back: Bitcoin Core's
//!   `importdescriptors` JSON, the Coldcard/Sparrow setup file and Caravan's
//!   JSON ([`MultisigWallet::to_caravan`], [`MultisigWallet::from_coldcard`],
//!   [`MultisigWallet::from_caravan`], [`MultisigWallet::from_core_import`]).
//!
//! ```
//! use kinko_wallet::{Keychain, MultisigWallet};
//!
//! let desc = "wsh(sortedmulti(2,\
//! [4ba43603/48'/1'/0'/2']tpubDDwf2gdFxFahr9RUtDQCuZmsx34CfdZ7RALAirwC2FGeLBzW1TDiEpqFeRdxLdZD7rfsbZHYwSaT6CLM3TAcYRw6xfRv4U6KCQt4Zuhvjkz/<0;1>/*,\
//! [8dfc9b34/48'/1'/0'/2']tpubDEXiq2SVhhqALktxfVFgj3C9M3T2G7xL11iezYg2LJAf245YkNyqp2K9TrvHABDCp2232k34UegU4aKEtUZNigit8EEqoLNe2JKMzMiLwYq/<0;1>/*,\
//! [56c4fac3/48'/1'/0'/2']tpubDEg3kqr2jo5ergkJbFqRHvCpiob7wR7Hi44J7y987G1JZfbzBND77XKTyPZzGvh3uyDf8kexMJnFD9W8FuraJ4wLMsx6YuZVXRSRRcx6QdD/<0;1>/*))";
//! let wallet: MultisigWallet = desc.parse()?;
//! assert_eq!(wallet.threshold(), 2);
//! let first = wallet.address(Keychain::Receive, 0)?;
//! assert!(first.to_string().starts_with("tb1q"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod analysis;
mod batch;
mod create;
mod derive;
mod export;
mod finalize;
mod psbt_io;
pub mod report;
mod sign;
mod wallet;

pub use analysis::{
    AnalysisOptions, Finding, InputAnalysis, OutputAnalysis, OutputKind, PsbtAnalysis, Rule,
    Severity, DEFAULT_MAX_FEE, DEFAULT_MAX_FEE_RATE,
};
pub use batch::{
    Batch, BatchError, BatchParams, Payout, DEFAULT_MAX_PAYOUTS, MAX_STANDARD_TX_WEIGHT,
};
pub use create::{CreateError, CreateParams, CreatedPsbt, Utxo, MAX_FEE_RATE, MIN_FEE_RATE};
pub use derive::{child_pubkey, sorted_multisig_script, AddressError, ScriptIndex};
pub use export::{CoreImportOptions, WalletFileError, MAX_WALLET_FILE};
pub use finalize::{combine, extract, finalize, CombineError, ExtractError, FinalizeError};
pub use psbt_io::{decode_psbt, encode_psbt, DecodePsbtError, PsbtEncoding, MAX_PSBT_FILE};
pub use sign::{
    KeyRequest, KeySourceError, SignError, SignReport, SigningKeys, XprvSigner, XprvSignerError,
};
pub use wallet::{DescriptorError, Keychain, MultisigWallet, WalletKey, WalletWarning, MAX_KEYS};

/// Re-exported so callers use the same `bitcoin` and `miniscript` as kinko.
pub use bitcoin;
pub use miniscript;
