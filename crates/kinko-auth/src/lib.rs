//! `kinko-auth`: signed human actions.
//!
//! A name is not an approval. Every action a person takes for the policy
//! cosigner — an approval, an unfreeze vote, an allowlist change, a policy
//! change, a custody statement, signing the set-up itself — and every audit
//! head the cosigner publishes is a BIP-340 Schnorr signature by a key named
//! in the custody set-up, over **one canonical byte string per action**:
//!
//! ```text
//! digest = sha256(sha256(tag) || sha256(tag) || fields)      (BIP-340 tagged hash)
//! ```
//!
//! with a tag per action (`kinko/approval/v1`, …), so a signature for one
//! action can never be replayed as another, and fields that bind the set-up
//! id, the asset, the object and an expiry. Strings are a 4-byte big-endian
//! length and their UTF-8 bytes, integers big-endian (amounts `u64`, times
//! `i64` Unix seconds), hashes their 32 raw bytes. The field table of every
//! action is in `docs/signed-messages.md`; committed vectors in
//! `crates/kinko-auth/tests/data/` let another implementation check itself.
//!
//! ```
//! use kinko_auth::{Action, SetupId, UnixTime};
//! use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secp = Secp256k1::new();
//! let key = Keypair::from_secret_key(&secp, &SecretKey::from_slice(&[7; 32])?);
//! let setup = SetupId::of_file(b"version = 1\n");
//! let approval = Action::Approval {
//!     setup_id: setup,
//!     asset: "BTC".into(),
//!     withdrawal_id: "w-1".into(),
//!     destination: "bc1qexample".into(),
//!     amount: 150_000_000,
//!     expires: UnixTime::from_unix(1_800_000_000),
//! };
//! let signed = approval.sign(&key);
//! let text = signed.to_json();
//! let back = kinko_auth::SignedAction::from_json(&text)?;
//! assert_eq!(back.verify()?, key.x_only_public_key().0);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

use std::fmt;

use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::secp256k1::{self, schnorr, Keypair, Message, Secp256k1, XOnlyPublicKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest string field a message may carry (bytes).
pub const MAX_FIELD_LEN: usize = 1024;
/// The longest signed action accepted as JSON (bytes).
pub const MAX_JSON_LEN: usize = 16 * 1024;

/// The tag of the set-up id (the hash of the set-up file's bytes).
pub const TAG_SETUP_ID: &str = "kinko/setup/v1";

/// A BIP-340 tagged hash: `sha256(sha256(tag) || sha256(tag) || msg)`.
pub fn tagged_hash(tag: &str, msg: &[u8]) -> [u8; 32] {
    let t = sha256::Hash::hash(tag.as_bytes());
    let mut e = sha256::Hash::engine();
    e.input(t.as_byte_array());
    e.input(t.as_byte_array());
    e.input(msg);
    sha256::Hash::from_engine(e).to_byte_array()
}

macro_rules! hex32 {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0.as_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.as_hex())
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                if s.len() != 64 {
                    return Err(ParseError::Hex(stringify!($name)));
                }
                <[u8; 32]>::from_hex(s)
                    .map($name)
                    .map_err(|_| ParseError::Hex(stringify!($name)))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex32!(
    /// The id of a custody set-up: [`tagged_hash`] with [`TAG_SETUP_ID`] of
    /// the set-up file's exact bytes. Shown as 64 lowercase hex digits.
    SetupId
);
hex32!(
    /// A SHA-256 digest (of a policy text, of an audit record), 64 hex digits.
    Digest
);

impl SetupId {
    /// The id of a set-up file with these bytes.
    pub fn of_file(bytes: &[u8]) -> Self {
        SetupId(tagged_hash(TAG_SETUP_ID, bytes))
    }
}

/// A time in whole Unix seconds; RFC 3339 (`2026-12-04T10:00:00Z`) in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(i64);

impl UnixTime {
    /// From Unix seconds.
    pub const fn from_unix(secs: i64) -> Self {
        UnixTime(secs)
    }

    /// 0000-01-01T00:00:00Z, the earliest time RFC 3339 can write.
    const MIN_RFC3339: i64 = -62_167_219_200;
    /// 9999-12-31T23:59:59Z, the latest time RFC 3339 can write.
    const MAX_RFC3339: i64 = 253_402_300_799;

    /// Unix seconds.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 with whole seconds (a fraction is refused: the
    /// signature covers whole seconds, so a fraction would be ambiguous).
    ///
    /// # Errors
    /// [`ParseError::Time`].
    pub fn parse_rfc3339(s: &str) -> Result<Self, ParseError> {
        let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|_| ParseError::Time)?;
        // Whole seconds with no fraction at all (not even `.0`; RFC 3339
        // has a '.' only there), and an instant whose UTC form has a
        // four-digit year (an offset can move 0000-01-01 or 9999-12-31 out
        // of it): the time prints back as RFC 3339 and parses to the same
        // value.
        let secs = t.unix_timestamp();
        if t.nanosecond() != 0
            || s.contains('.')
            || !(Self::MIN_RFC3339..=Self::MAX_RFC3339).contains(&secs)
        {
            return Err(ParseError::Time);
        }
        Ok(UnixTime(secs))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match time::OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }) {
            Some(s) => f.write_str(&s),
            None => write!(f, "@{}", self.0),
        }
    }
}

impl Serialize for UnixTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UnixTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        UnixTime::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// One human (or audit-key) action. Each variant is one message with its own
/// tag ([`Action::tag`]) and field order ([`Action::encode`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Action {
    /// An admin signs the custody set-up (`kinko/setup-signature/v1`).
    SetupSignature {
        /// The set-up.
        setup_id: SetupId,
    },
    /// An approver approves one pending withdrawal, exactly as requested
    /// (`kinko/approval/v1`).
    Approval {
        /// The set-up.
        setup_id: SetupId,
        /// The asset.
        asset: String,
        /// The withdrawal id.
        withdrawal_id: String,
        /// The destination it pays.
        destination: String,
        /// The amount in base units.
        amount: u64,
        /// After this time the signature is refused.
        expires: UnixTime,
    },
    /// An approver's vote to lift the freeze that began at `frozen_at`
    /// (`kinko/unfreeze/v1`): a vote for one freeze never lifts a later one.
    Unfreeze {
        /// The set-up.
        setup_id: SetupId,
        /// The asset.
        asset: String,
        /// When the freeze being lifted began.
        frozen_at: UnixTime,
        /// After this time the signature is refused.
        expires: UnixTime,
    },
    /// An admin asks to add a destination to the allowlist
    /// (`kinko/allowlist-add/v1`); it becomes active after the delay.
    AllowlistAdd {
        /// The set-up.
        setup_id: SetupId,
        /// The asset.
        asset: String,
        /// The destination.
        destination: String,
        /// After this time the signature is refused.
        expires: UnixTime,
    },
    /// An admin cancels an allowlist entry (`kinko/allowlist-cancel/v1`).
    AllowlistCancel {
        /// The set-up.
        setup_id: SetupId,
        /// The asset.
        asset: String,
        /// The destination.
        destination: String,
        /// After this time the signature is refused.
        expires: UnixTime,
    },
    /// An admin signs a new policy text (`kinko/policy-change/v1`); the
    /// sequence number is the change's place in the set-up's history.
    PolicyChange {
        /// The set-up.
        setup_id: SetupId,
        /// The asset.
        asset: String,
        /// SHA-256 of the new policy's TOML text.
        policy_sha256: Digest,
        /// 1 for the first change after the set-up, then 2, …
        sequence: u64,
        /// After this time the signature is refused.
        expires: UnixTime,
    },
    /// An admin cancels a pending policy change (`kinko/policy-cancel/v1`).
    PolicyCancel {
        /// The set-up.
        setup_id: SetupId,
        /// The asset.
        asset: String,
        /// The change's sequence number.
        sequence: u64,
        /// After this time the signature is refused.
        expires: UnixTime,
    },
    /// An admin states the custody (hot and cold) the share limits may be
    /// measured against (`kinko/custody/v1`).
    CustodyStatement {
        /// The set-up.
        setup_id: SetupId,
        /// The asset.
        asset: String,
        /// Custody in base units as of `as_of`.
        amount: u64,
        /// When the custody was counted.
        as_of: UnixTime,
        /// After this time the signature is refused.
        expires: UnixTime,
    },
    /// The cosigner's audit key signs an audit chain's head
    /// (`kinko/audit-head/v1`).
    AuditHead {
        /// The set-up.
        setup_id: SetupId,
        /// The asset (the chain).
        asset: String,
        /// Records in the chain.
        count: u64,
        /// The last record's hash (all zero for an empty chain).
        hash: Digest,
        /// When the head was signed (the cosigner's clock).
        at: UnixTime,
    },
}

/// Appends fields in the canonical encoding.
struct Enc(Vec<u8>);

impl Enc {
    fn str(&mut self, s: &str) -> &mut Self {
        // Lengths are checked at parse time; a longer string built in code
        // still encodes unambiguously (the prefix is its true length).
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn time(&mut self, t: UnixTime) -> &mut Self {
        self.0.extend_from_slice(&t.0.to_be_bytes());
        self
    }
    fn h32(&mut self, h: &[u8; 32]) -> &mut Self {
        self.0.extend_from_slice(h);
        self
    }
}

impl Action {
    /// The action's BIP-340 tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Action::SetupSignature { .. } => "kinko/setup-signature/v1",
            Action::Approval { .. } => "kinko/approval/v1",
            Action::Unfreeze { .. } => "kinko/unfreeze/v1",
            Action::AllowlistAdd { .. } => "kinko/allowlist-add/v1",
            Action::AllowlistCancel { .. } => "kinko/allowlist-cancel/v1",
            Action::PolicyChange { .. } => "kinko/policy-change/v1",
            Action::PolicyCancel { .. } => "kinko/policy-cancel/v1",
            Action::CustodyStatement { .. } => "kinko/custody/v1",
            Action::AuditHead { .. } => "kinko/audit-head/v1",
        }
    }

    /// The action's name in JSON (`approval`, `unfreeze`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Action::SetupSignature { .. } => "setup-signature",
            Action::Approval { .. } => "approval",
            Action::Unfreeze { .. } => "unfreeze",
            Action::AllowlistAdd { .. } => "allowlist-add",
            Action::AllowlistCancel { .. } => "allowlist-cancel",
            Action::PolicyChange { .. } => "policy-change",
            Action::PolicyCancel { .. } => "policy-cancel",
            Action::CustodyStatement { .. } => "custody-statement",
            Action::AuditHead { .. } => "audit-head",
        }
    }

    /// The set-up the action is bound to.
    pub fn setup_id(&self) -> SetupId {
        match self {
            Action::SetupSignature { setup_id }
            | Action::Approval { setup_id, .. }
            | Action::Unfreeze { setup_id, .. }
            | Action::AllowlistAdd { setup_id, .. }
            | Action::AllowlistCancel { setup_id, .. }
            | Action::PolicyChange { setup_id, .. }
            | Action::PolicyCancel { setup_id, .. }
            | Action::CustodyStatement { setup_id, .. }
            | Action::AuditHead { setup_id, .. } => *setup_id,
        }
    }

    /// The asset the action is about (`None` for a set-up signature).
    pub fn asset(&self) -> Option<&str> {
        match self {
            Action::SetupSignature { .. } => None,
            Action::Approval { asset, .. }
            | Action::Unfreeze { asset, .. }
            | Action::AllowlistAdd { asset, .. }
            | Action::AllowlistCancel { asset, .. }
            | Action::PolicyChange { asset, .. }
            | Action::PolicyCancel { asset, .. }
            | Action::CustodyStatement { asset, .. }
            | Action::AuditHead { asset, .. } => Some(asset),
        }
    }

    /// When the signature stops being accepted (`None`: set-up signatures
    /// and audit heads do not expire).
    pub fn expires(&self) -> Option<UnixTime> {
        match self {
            Action::SetupSignature { .. } | Action::AuditHead { .. } => None,
            Action::Approval { expires, .. }
            | Action::Unfreeze { expires, .. }
            | Action::AllowlistAdd { expires, .. }
            | Action::AllowlistCancel { expires, .. }
            | Action::PolicyChange { expires, .. }
            | Action::PolicyCancel { expires, .. }
            | Action::CustodyStatement { expires, .. } => Some(*expires),
        }
    }

    /// The canonical field bytes (without the tag), in the documented order:
    /// the set-up id first, then the asset, then the action's own fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc(Vec::with_capacity(128));
        match self {
            Action::SetupSignature { setup_id } => {
                e.h32(&setup_id.0);
            }
            Action::Approval {
                setup_id,
                asset,
                withdrawal_id,
                destination,
                amount,
                expires,
            } => {
                e.h32(&setup_id.0)
                    .str(asset)
                    .str(withdrawal_id)
                    .str(destination)
                    .u64(*amount)
                    .time(*expires);
            }
            Action::Unfreeze {
                setup_id,
                asset,
                frozen_at,
                expires,
            } => {
                e.h32(&setup_id.0)
                    .str(asset)
                    .time(*frozen_at)
                    .time(*expires);
            }
            Action::AllowlistAdd {
                setup_id,
                asset,
                destination,
                expires,
            }
            | Action::AllowlistCancel {
                setup_id,
                asset,
                destination,
                expires,
            } => {
                e.h32(&setup_id.0)
                    .str(asset)
                    .str(destination)
                    .time(*expires);
            }
            Action::PolicyChange {
                setup_id,
                asset,
                policy_sha256,
                sequence,
                expires,
            } => {
                e.h32(&setup_id.0)
                    .str(asset)
                    .h32(&policy_sha256.0)
                    .u64(*sequence)
                    .time(*expires);
            }
            Action::PolicyCancel {
                setup_id,
                asset,
                sequence,
                expires,
            } => {
                e.h32(&setup_id.0).str(asset).u64(*sequence).time(*expires);
            }
            Action::CustodyStatement {
                setup_id,
                asset,
                amount,
                as_of,
                expires,
            } => {
                e.h32(&setup_id.0)
                    .str(asset)
                    .u64(*amount)
                    .time(*as_of)
                    .time(*expires);
            }
            Action::AuditHead {
                setup_id,
                asset,
                count,
                hash,
                at,
            } => {
                e.h32(&setup_id.0)
                    .str(asset)
                    .u64(*count)
                    .h32(&hash.0)
                    .time(*at);
            }
        }
        e.0
    }

    /// The 32-byte digest that is signed: [`tagged_hash`] of
    /// [`Action::encode`] under [`Action::tag`].
    pub fn digest(&self) -> [u8; 32] {
        tagged_hash(self.tag(), &self.encode())
    }

    /// Signs with `key` (BIP-340, fresh auxiliary randomness).
    pub fn sign(&self, key: &Keypair) -> SignedAction {
        let secp = Secp256k1::signing_only();
        let sig = secp.sign_schnorr(&Message::from_digest(self.digest()), key);
        self.signed(key, sig)
    }

    /// Signs with `key` and the given auxiliary randomness (deterministic:
    /// for test vectors).
    pub fn sign_with_aux_rand(&self, key: &Keypair, aux: &[u8; 32]) -> SignedAction {
        let secp = Secp256k1::signing_only();
        let sig = secp.sign_schnorr_with_aux_rand(&Message::from_digest(self.digest()), key, aux);
        self.signed(key, sig)
    }

    fn signed(&self, key: &Keypair, signature: schnorr::Signature) -> SignedAction {
        SignedAction {
            action: self.clone(),
            signer: key.x_only_public_key().0,
            signature,
        }
    }

    /// Reads an unsigned action: the `action` object of the JSON envelope
    /// alone (`{"action": "approval", "setup_id": …}`), what an approval app
    /// hands to a signer. The same rules and limits as
    /// [`SignedAction::from_json`].
    ///
    /// # Errors
    /// [`ParseError`].
    pub fn from_json(text: &str) -> Result<Self, ParseError> {
        if text.len() > MAX_JSON_LEN {
            return Err(ParseError::TooLong);
        }
        let action: Action = serde_json::from_str(text).map_err(json_error)?;
        action.check_fields()?;
        Ok(action)
    }

    /// Checks the lengths of the string fields.
    ///
    /// # Errors
    /// [`ParseError::FieldTooLong`].
    pub fn check_fields(&self) -> Result<(), ParseError> {
        let fields: [Option<&str>; 3] = match self {
            Action::Approval {
                asset,
                withdrawal_id,
                destination,
                ..
            } => [Some(asset), Some(withdrawal_id), Some(destination)],
            Action::AllowlistAdd {
                asset, destination, ..
            }
            | Action::AllowlistCancel {
                asset, destination, ..
            } => [Some(asset), Some(destination), None],
            other => [other.asset(), None, None],
        };
        match fields
            .into_iter()
            .flatten()
            .find(|s| s.len() > MAX_FIELD_LEN)
        {
            Some(_) => Err(ParseError::FieldTooLong),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Action {
    /// One line for a person about to sign.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetupSignature { setup_id } => write!(f, "sign custody set-up {setup_id}"),
            Action::Approval {
                asset,
                withdrawal_id,
                destination,
                amount,
                expires,
                ..
            } => write!(
                f,
                "approve withdrawal {withdrawal_id:?} of {amount} {asset} base units to {destination:?} (until {expires})"
            ),
            Action::Unfreeze {
                asset,
                frozen_at,
                expires,
                ..
            } => write!(
                f,
                "vote to lift the freeze of {asset} that began {frozen_at} (until {expires})"
            ),
            Action::AllowlistAdd {
                asset,
                destination,
                expires,
                ..
            } => write!(
                f,
                "add {destination:?} to the {asset} allowlist (until {expires})"
            ),
            Action::AllowlistCancel {
                asset,
                destination,
                expires,
                ..
            } => write!(
                f,
                "cancel {destination:?} on the {asset} allowlist (until {expires})"
            ),
            Action::PolicyChange {
                asset,
                policy_sha256,
                sequence,
                expires,
                ..
            } => write!(
                f,
                "change the {asset} policy to sha256 {policy_sha256} (change #{sequence}, until {expires})"
            ),
            Action::PolicyCancel {
                asset,
                sequence,
                expires,
                ..
            } => write!(
                f,
                "cancel {asset} policy change #{sequence} (until {expires})"
            ),
            Action::CustodyStatement {
                asset,
                amount,
                as_of,
                expires,
                ..
            } => write!(
                f,
                "state {asset} custody of {amount} base units as of {as_of} (until {expires})"
            ),
            Action::AuditHead {
                asset,
                count,
                hash,
                at,
                ..
            } => write!(f, "{asset} audit chain: {count} records, head {hash}, at {at}"),
        }
    }
}

/// An action with its signer's x-only public key and BIP-340 signature.
///
/// JSON form: `{"action": {...}, "signer": "<64 hex>", "signature": "<128 hex>"}`
/// where `action` is the action's object (`{"action": "approval",
/// "setup_id": …}`, field names as in [`Action`]); unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAction {
    /// What was signed.
    pub action: Action,
    /// Who signed (BIP-340 x-only key).
    pub signer: XOnlyPublicKey,
    /// The signature over [`Action::digest`].
    pub signature: schnorr::Signature,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    action: Action,
    signer: String,
    signature: String,
}

/// Why a signed action's text was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Longer than [`MAX_JSON_LEN`].
    #[error("signed action is longer than {MAX_JSON_LEN} bytes")]
    TooLong,
    /// Not the documented JSON (the message says where).
    #[error("malformed signed action: {0}")]
    Json(String),
    /// A hex field of the wrong length or not hex.
    #[error("{0} is not 64 hex digits")]
    Hex(&'static str),
    /// The signer is not a valid x-only public key.
    #[error("signer is not a BIP-340 public key")]
    Signer,
    /// The signature is not 64 bytes of hex.
    #[error("signature is not 128 hex digits")]
    Signature,
    /// A time that is not RFC 3339 in whole seconds.
    #[error("time is not RFC 3339 in whole seconds")]
    Time,
    /// A string field longer than [`MAX_FIELD_LEN`].
    #[error("a field is longer than {MAX_FIELD_LEN} bytes")]
    FieldTooLong,
}

/// serde's message names the field or position; at most 200 bytes of it
/// are kept (cut at a character boundary: the message may quote an unknown
/// field's name, which is untrusted UTF-8).
fn json_error(e: serde_json::Error) -> ParseError {
    let mut m = e.to_string();
    if m.len() > 200 {
        let mut cut = 200;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
    }
    ParseError::Json(m)
}

/// The signature does not verify (nothing else is said: a cryptographic
/// failure reveals nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signature does not verify")]
pub struct BadSignature;

impl SignedAction {
    /// Reads the JSON form.
    ///
    /// # Errors
    /// [`ParseError`].
    pub fn from_json(text: &str) -> Result<Self, ParseError> {
        if text.len() > MAX_JSON_LEN {
            return Err(ParseError::TooLong);
        }
        let w: Wire = serde_json::from_str(text).map_err(json_error)?;
        w.action.check_fields()?;
        let signer = (w.signer.len() == 64)
            .then(|| <[u8; 32]>::from_hex(&w.signer).ok())
            .flatten()
            .and_then(|b| XOnlyPublicKey::from_slice(&b).ok())
            .ok_or(ParseError::Signer)?;
        let signature = (w.signature.len() == 128)
            .then(|| <[u8; 64]>::from_hex(&w.signature).ok())
            .flatten()
            .and_then(|b| schnorr::Signature::from_slice(&b).ok())
            .ok_or(ParseError::Signature)?;
        Ok(SignedAction {
            action: w.action,
            signer,
            signature,
        })
    }

    /// The JSON form (one line).
    pub fn to_json(&self) -> String {
        let w = Wire {
            action: self.action.clone(),
            signer: self.signer.serialize().as_hex().to_string(),
            signature: self.signature.serialize().as_hex().to_string(),
        };
        // Serializing plain strings, integers and hex cannot fail.
        serde_json::to_string(&w).unwrap_or_default()
    }

    /// Verifies the signature against the signer it names and returns that
    /// key. Who the signer is allowed to be, the set-up, the asset and the
    /// expiry are the caller's checks (see [`Verifier`]).
    ///
    /// # Errors
    /// [`BadSignature`].
    pub fn verify(&self) -> Result<XOnlyPublicKey, BadSignature> {
        let secp = Secp256k1::verification_only();
        secp.verify_schnorr(
            &self.signature,
            &Message::from_digest(self.action.digest()),
            &self.signer,
        )
        .map(|()| self.signer)
        .map_err(|_| BadSignature)
    }
}

/// Why a signed action was refused in context. Names ([`ActionRule::as_str`])
/// are stable: the CLI prints them, the audit log records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionRule {
    /// The signature does not verify (`bad-signature`).
    BadSignature,
    /// The signer is not one of the keys allowed for this action
    /// (`unknown-signer`).
    UnknownSigner,
    /// Signed for another set-up (`wrong-setup`).
    WrongSetup,
    /// Signed for another asset (`wrong-asset`).
    WrongAsset,
    /// Another kind of action than the one expected (`wrong-action`).
    WrongAction,
    /// The expiry has passed on the verifier's clock (`expired`).
    Expired,
    /// The action does not match its object (another amount, destination,
    /// freeze, policy, …) (`object-mismatch`).
    ObjectMismatch,
    /// The same key signed this action before (`replayed`).
    Replayed,
    /// The text is not a signed action (`malformed`).
    Malformed,
}

impl ActionRule {
    /// The stable name (kebab case).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionRule::BadSignature => "bad-signature",
            ActionRule::UnknownSigner => "unknown-signer",
            ActionRule::WrongSetup => "wrong-setup",
            ActionRule::WrongAsset => "wrong-asset",
            ActionRule::WrongAction => "wrong-action",
            ActionRule::Expired => "expired",
            ActionRule::ObjectMismatch => "object-mismatch",
            ActionRule::Replayed => "replayed",
            ActionRule::Malformed => "malformed",
        }
    }
}

impl fmt::Display for ActionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused action: the rule and a detail for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by rule {rule}: {detail}")]
pub struct ActionRefusal {
    /// The rule.
    pub rule: ActionRule,
    /// For people (never a secret).
    pub detail: String,
}

impl ActionRefusal {
    /// A refusal.
    pub fn new(rule: ActionRule, detail: impl Into<String>) -> Self {
        ActionRefusal {
            rule,
            detail: detail.into(),
        }
    }
}

/// Checks signed actions in context: the set-up, the keys allowed (by name)
/// and the verifier's own clock.
#[derive(Debug, Clone)]
pub struct Verifier<'a> {
    /// The set-up every action must name.
    pub setup_id: SetupId,
    /// The keys allowed for the action, with their names.
    pub keys: &'a [(String, XOnlyPublicKey)],
    /// The verifier's clock (never the request's).
    pub now: UnixTime,
}

impl Verifier<'_> {
    /// Checks `signed`: the set-up, the asset (when given), the signer is one
    /// of `keys`, the expiry is not past `now`, and the signature verifies.
    /// Returns the signer's name. The object (amount, destination, …) is the
    /// caller's check against its own records.
    ///
    /// # Errors
    /// [`ActionRefusal`] naming the first rule broken, in this order:
    /// `wrong-setup`, `wrong-asset`, `unknown-signer`, `expired`,
    /// `bad-signature`.
    pub fn check<'k>(
        &'k self,
        signed: &SignedAction,
        asset: Option<&str>,
    ) -> Result<&'k str, ActionRefusal> {
        let a = &signed.action;
        if a.setup_id() != self.setup_id {
            return Err(ActionRefusal::new(
                ActionRule::WrongSetup,
                format!("signed for set-up {}, not {}", a.setup_id(), self.setup_id),
            ));
        }
        if let (Some(want), Some(got)) = (asset, a.asset()) {
            if want != got {
                return Err(ActionRefusal::new(
                    ActionRule::WrongAsset,
                    format!("signed for asset {got:?}, not {want:?}"),
                ));
            }
        }
        let Some((name, _)) = self.keys.iter().find(|(_, k)| *k == signed.signer) else {
            return Err(ActionRefusal::new(
                ActionRule::UnknownSigner,
                format!(
                    "key {} may not sign an action of kind {}",
                    signed.signer.serialize().as_hex(),
                    a.name()
                ),
            ));
        };
        if let Some(exp) = a.expires() {
            if exp < self.now {
                return Err(ActionRefusal::new(
                    ActionRule::Expired,
                    format!("expired at {exp}, now {}", self.now),
                ));
            }
        }
        signed.verify().map_err(|_| {
            ActionRefusal::new(
                ActionRule::BadSignature,
                format!("{}'s signature does not verify", name),
            )
        })?;
        Ok(name)
    }
}

/// Parses a BIP-340 x-only public key from 64 hex digits.
///
/// # Errors
/// [`ParseError::Signer`].
pub fn parse_xonly(s: &str) -> Result<XOnlyPublicKey, ParseError> {
    (s.len() == 64)
        .then(|| <[u8; 32]>::from_hex(s).ok())
        .flatten()
        .and_then(|b| XOnlyPublicKey::from_slice(&b).ok())
        .ok_or(ParseError::Signer)
}

/// The x-only key as 64 hex digits.
pub fn xonly_hex(k: &XOnlyPublicKey) -> String {
    k.serialize().as_hex().to_string()
}

pub use secp256k1::Keypair as ActionKeypair;

/// Whose action key a keystore derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// A person's key (approver or admin): `m/1057'/0'/0'`.
    Person,
    /// The policy cosigner's audit key: `m/1057'/1'/0'`.
    Audit,
}

impl KeyRole {
    /// The BIP32 path of the role's key (hardened all the way: no wallet
    /// xpub can derive it; purpose 1057' is kinko's own).
    pub fn path(self) -> bitcoin::bip32::DerivationPath {
        use bitcoin::bip32::ChildNumber;
        let role = match self {
            KeyRole::Person => 0,
            KeyRole::Audit => 1,
        };
        [1057, role, 0]
            .into_iter()
            .map(|i| ChildNumber::Hardened { index: i })
            .collect::<Vec<_>>()
            .into()
    }
}

/// The derivation failed (negligible probability for a valid master key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("action key derivation failed")]
pub struct DeriveError;

/// The action key of `role` from a BIP32 master key. Keep the returned
/// `Keypair` in one place (it is the secret; its `Debug` does not print the
/// secret key) and drop it when done. The derived private key is erased with
/// secp256k1's `non_secure_erase` before returning (best effort: `Xpriv` is
/// `Copy` and its chain code stays); a caller
/// holding the master in a kinko-keys keystore can derive through
/// `SecretXpriv::derive` instead, which wipes every intermediate key.
///
/// # Errors
/// [`DeriveError`].
pub fn derive_action_key(
    master: &bitcoin::bip32::Xpriv,
    role: KeyRole,
) -> Result<Keypair, DeriveError> {
    let secp = Secp256k1::new();
    let mut child = master
        .derive_priv(&secp, &role.path())
        .map_err(|_| DeriveError)?;
    let keypair = Keypair::from_secret_key(&secp, &child.private_key);
    child.private_key.non_secure_erase();
    Ok(keypair)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::SecretKey;

    fn key(b: u8) -> Keypair {
        Keypair::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[b; 32]).unwrap())
    }

    fn approval(amount: u64) -> Action {
        Action::Approval {
            setup_id: SetupId::of_file(b"x"),
            asset: "BTC".into(),
            withdrawal_id: "w-1".into(),
            destination: "bc1q".into(),
            amount,
            expires: UnixTime::from_unix(2_000_000_000),
        }
    }

    #[test]
    fn tagged_hash_matches_bip340_definition() {
        // BIP-340's own challenge tag, empty message: checked against an
        // independent computation with sha256 of the concatenation.
        let t = sha256::Hash::hash(b"BIP0340/challenge");
        let mut cat = Vec::new();
        cat.extend_from_slice(t.as_byte_array());
        cat.extend_from_slice(t.as_byte_array());
        cat.extend_from_slice(b"abc");
        assert_eq!(
            tagged_hash("BIP0340/challenge", b"abc"),
            sha256::Hash::hash(&cat).to_byte_array()
        );
    }

    #[test]
    fn round_trip_and_verify() {
        let k = key(1);
        let s = approval(5).sign(&k);
        let text = s.to_json();
        let back = SignedAction::from_json(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.verify().unwrap(), k.x_only_public_key().0);
    }

    #[test]
    fn another_amount_does_not_verify() {
        let k = key(1);
        let mut s = approval(5).sign(&k);
        s.action = approval(6);
        assert_eq!(s.verify(), Err(BadSignature));
    }

    #[test]
    fn one_action_cannot_pass_as_another() {
        // Same field bytes under another tag: the digests differ.
        let setup_id = SetupId::of_file(b"x");
        let add = Action::AllowlistAdd {
            setup_id,
            asset: "BTC".into(),
            destination: "d".into(),
            expires: UnixTime::from_unix(9),
        };
        let cancel = Action::AllowlistCancel {
            setup_id,
            asset: "BTC".into(),
            destination: "d".into(),
            expires: UnixTime::from_unix(9),
        };
        assert_eq!(add.encode(), cancel.encode());
        assert_ne!(add.digest(), cancel.digest());
        let mut s = add.sign(&key(2));
        s.action = cancel;
        assert!(s.verify().is_err());
    }

    #[test]
    fn verifier_rules_in_order() {
        let alice = key(1);
        let mallory = key(3);
        let keys = vec![("alice".to_owned(), alice.x_only_public_key().0)];
        let v = Verifier {
            setup_id: SetupId::of_file(b"x"),
            keys: &keys,
            now: UnixTime::from_unix(1_000),
        };
        let ok = approval(5).sign(&alice);
        assert_eq!(v.check(&ok, Some("BTC")).unwrap(), "alice");
        assert_eq!(
            v.check(&ok, Some("XEM")).unwrap_err().rule,
            ActionRule::WrongAsset
        );
        let stranger = approval(5).sign(&mallory);
        assert_eq!(
            v.check(&stranger, None).unwrap_err().rule,
            ActionRule::UnknownSigner
        );
        // A name is not a key: claiming alice's key with mallory's signature.
        let mut forged = stranger.clone();
        forged.signer = alice.x_only_public_key().0;
        assert_eq!(
            v.check(&forged, None).unwrap_err().rule,
            ActionRule::BadSignature
        );
        let late = Verifier {
            now: UnixTime::from_unix(2_000_000_001),
            ..v.clone()
        };
        assert_eq!(late.check(&ok, None).unwrap_err().rule, ActionRule::Expired);
        let other = Verifier {
            setup_id: SetupId::of_file(b"y"),
            ..v
        };
        assert_eq!(
            other.check(&ok, None).unwrap_err().rule,
            ActionRule::WrongSetup
        );
    }

    #[test]
    fn times_print_back_as_they_parse() {
        for (s, ok) in [
            ("0000-01-01T00:00:00Z", true),
            ("9999-12-31T23:59:59Z", true),
            ("2026-12-04T12:00:00+02:00", true),
            // An offset moving the instant out of years 0000..=9999 (UTC).
            ("0000-01-01T00:00:00+01:00", false),
            ("9999-12-31T23:59:59-01:00", false),
            ("2026-12-04T10:00:00.0Z", false),
            ("2026-12-31T23:59:60Z", false),
        ] {
            let t = UnixTime::parse_rfc3339(s);
            assert_eq!(t.is_ok(), ok, "{s}");
            if let Ok(t) = t {
                assert_eq!(UnixTime::parse_rfc3339(&t.to_string()), Ok(t), "{s}");
            }
        }
    }

    #[test]
    fn long_error_messages_are_cut_at_a_character_boundary() {
        // serde quotes the unknown field's name; the cut at 200 bytes fell
        // inside a 3-byte character (fuzz/regressions/signed_action/crash-b559…).
        let field = "\u{ff8d}".repeat(100);
        let text = format!("{{\"{field}\":1}}");
        assert!(matches!(
            SignedAction::from_json(&text),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(Action::from_json(&text), Err(ParseError::Json(_))));
    }

    #[test]
    fn unsigned_action_round_trip() {
        let a = approval(5);
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(Action::from_json(&text), Ok(a.clone()));
        assert!(Action::from_json(&text.replace('}', ",\"x\":1}")).is_err());
        // Hex in upper case reads the same bytes (docs/signed-messages.md).
        let id = a.setup_id().to_string();
        assert_eq!(
            Action::from_json(&text.replace(&id, &id.to_uppercase())),
            Ok(a)
        );
        // A lone surrogate is not a string; an escaped character is.
        assert!(Action::from_json(&text.replace("BTC", "\\ud800")).is_err());
        assert!(Action::from_json(&text.replace("BTC", "\\u0042TC")).is_ok());
        // A member twice is refused, in the action and in the envelope.
        let twice = text.replace("\"amount\":5", "\"amount\":5,\"amount\":5");
        assert!(matches!(
            Action::from_json(&twice),
            Err(ParseError::Json(m)) if m.contains("duplicate")
        ));
        let signed = approval(5).sign(&key(1));
        let member = format!("\"signer\":\"{}\"", xonly_hex(&signed.signer));
        let text = signed.to_json();
        assert!(SignedAction::from_json(&text).is_ok());
        let twice = text.replace(&member, &format!("{member},{member}"));
        assert!(matches!(
            SignedAction::from_json(&twice),
            Err(ParseError::Json(m)) if m.contains("duplicate")
        ));
    }

    #[test]
    fn malformed_json_is_refused() {
        let good = approval(5).sign(&key(1)).to_json();
        for bad in [
            String::new(),
            "{}".into(),
            good.replace("\"amount\":5", "\"amount\":-5"),
            good.replace("\"amount\":5", "\"amount\":5.0"),
            good.replace("}", ",\"x\":1}"),
            good.replace("Z\"", ".5Z\""),
            "x".repeat(MAX_JSON_LEN + 1),
        ] {
            assert!(SignedAction::from_json(&bad).is_err(), "{bad}");
        }
    }
}
