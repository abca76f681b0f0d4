//! The custody set-up: what the key ceremony pins for one asset, signed by a
//! quorum of admins.
//!
//! A set-up file (TOML, the format is in `docs/setup.md`) names the hot and
//! cold wallets, the policy text, the fee limits, the people allowed to act
//! (approvers and admins, each by a BIP-340 key), the cosigner's audit key and
//! a chain reference for the `nLockTime` check. Its id is
//! [`SetupId::of_file`] of the file's exact bytes; every signed action names
//! that id, so an action signed for one set-up never counts in another.
//!
//! The cosigner starts from [`Setup::load_signed`] only: the file and its
//! signatures file (one [`SignedAction`] per line, each an
//! [`Action::SetupSignature`] of this id by an admin), with at least
//! `admin_quorum` distinct admins. [`Setup::parse_unsigned`] is for the
//! ceremony tooling that writes and shows a set-up before it is signed.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
//! # let setup_bytes = std::fs::read(format!("{dir}/setup.toml"))?;
//! # let signatures = std::fs::read_to_string(format!("{dir}/setup.sigs"))?;
//! use kinko_cosigner::setup::Setup;
//! let setup = Setup::load_signed(&setup_bytes, &signatures)?;
//! assert_eq!(setup.asset(), "BTC");
//! assert!(setup.signed_by(&signatures)?.len() >= setup.admin_quorum() as usize);
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::fmt;

use bitcoin::absolute::LOCK_TIME_THRESHOLD;
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::{Amount, FeeRate, Network};
use kinko_auth::{Action, ActionRule, SetupId, SignedAction, UnixTime, Verifier};
use kinko_ledger::Policy;
use kinko_policy::AssetId;
use kinko_wallet::{DescriptorError, MultisigWallet};
use serde::Deserialize;

/// The set-up format version this build reads.
pub const SETUP_VERSION: u32 = 1;
/// The largest set-up file read (bytes), checked before parsing.
pub const MAX_SETUP_LEN: usize = 1024 * 1024;
/// The largest signatures file read (bytes), checked before parsing.
pub const MAX_SIGNATURES_LEN: usize = 1024 * 1024;
/// The longest approver or admin name (bytes).
pub const MAX_NAME_LEN: usize = 64;
/// The largest `change_gap`.
pub const MAX_CHANGE_GAP: u32 = 100_000;

/// A role in the set-up, as error messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// A person who approves withdrawals (`[[approvers]]`).
    Approver,
    /// A person who signs the set-up and policy changes (`[[admins]]`).
    Admin,
    /// The cosigner's audit key (`audit_key`).
    Audit,
}

impl Role {
    /// `approver`, `admin` or `audit key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Approver => "approver",
            Role::Admin => "admin",
            Role::Audit => "audit key",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which wallet of the set-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WalletRole {
    /// `hot_descriptor`.
    Hot,
    /// `cold_descriptor`.
    Cold,
}

impl fmt::Display for WalletRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WalletRole::Hot => "hot_descriptor",
            WalletRole::Cold => "cold_descriptor",
        })
    }
}

/// Why a set-up (or its signatures) was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The set-up file is larger than [`MAX_SETUP_LEN`].
    #[error("set-up file is {len} bytes, at most {MAX_SETUP_LEN} are read")]
    TooLarge {
        /// The file's length.
        len: usize,
    },
    /// `[service] backend_certificates` is not a list of 1 to 16 distinct
    /// SHA-256 fingerprints.
    #[error("[service] backend_certificates: {detail}")]
    BackendCertificates {
        /// What is wrong.
        detail: String,
    },
    /// The set-up file is not UTF-8.
    #[error("set-up file is not utf-8")]
    NotUtf8,
    /// Not TOML of the set-up's shape (syntax, an unknown or missing key, a
    /// wrong type); the source names the key and line.
    #[error("set-up is not valid toml for the set-up format")]
    Toml(#[source] toml::de::Error),
    /// A `version` this build does not read (or none).
    #[error("unsupported set-up version {found} (this build reads version {SETUP_VERSION})")]
    UnsupportedVersion {
        /// The version found (`missing` when there is none).
        found: String,
    },
    /// `network` is not `bitcoin`, `testnet`, `signet` or `regtest`.
    #[error("unknown network {found:?} (bitcoin, testnet, signet or regtest)")]
    UnknownNetwork {
        /// The value found (cut to 64 characters).
        found: String,
    },
    /// A descriptor is not a valid multisig wallet on the set-up's network.
    #[error("{which} is not a valid wsh(sortedmulti) wallet on {network}")]
    Descriptor {
        /// Which descriptor.
        which: WalletRole,
        /// The set-up's network.
        network: Network,
        /// Why.
        #[source]
        source: DescriptorError,
    },
    /// The hot and cold descriptors are the same wallet (same threshold and
    /// keys: the same addresses).
    #[error("hot_descriptor and cold_descriptor are the same wallet")]
    SameWallet,
    /// The policy text is not a valid policy.
    #[error("policy is not a valid kinko policy")]
    Policy(#[source] kinko_policy::ConfigError),
    /// The policy does not have exactly one asset, the set-up's.
    #[error("policy must have exactly one asset, {asset:?}; it has {found:?}")]
    PolicyAssets {
        /// The set-up's asset.
        asset: String,
        /// The policy's assets.
        found: Vec<String>,
    },
    /// An approver the policy's `[approvals]` names has no key in `[[approvers]]`.
    #[error("the policy's approver {name:?} has no key in [[approvers]]")]
    ApproverWithoutKey {
        /// The name (cut to 64 characters).
        name: String,
    },
    /// A name is not 1 to [`MAX_NAME_LEN`] characters of `a-z 0-9 . _ -`.
    #[error("{role} name {name:?} is not 1 to 64 characters of a-z, 0-9, '.', '_' and '-'")]
    InvalidName {
        /// The role.
        role: Role,
        /// The name (cut to 64 characters).
        name: String,
    },
    /// Two people of one role have the same name.
    #[error("{role} {name:?} is listed twice")]
    DuplicateName {
        /// The role.
        role: Role,
        /// The name.
        name: String,
    },
    /// A key is not 64 hex digits of a BIP-340 public key.
    #[error("{field} is not a bip-340 public key (64 hex digits)")]
    InvalidKey {
        /// The key's place (`approvers[1].key`, `audit_key`, …).
        field: String,
    },
    /// One key in two places: every approver, admin and the audit key has
    /// its own key.
    #[error("{first} and {second} have the same key")]
    DuplicateKey {
        /// The first holder (`approver "alice"`, …).
        first: String,
        /// The second holder.
        second: String,
    },
    /// `admin_quorum` is 0 or above the number of admins.
    #[error("admin_quorum {quorum} must be between 1 and the number of admins ({admins})")]
    AdminQuorum {
        /// The quorum.
        quorum: u32,
        /// The number of admins.
        admins: usize,
    },
    /// A fee limit is 0 or out of range (`batch_max_fee_sat` also below
    /// `max_fee_sat`).
    #[error("fees.{field} = {value} must be between 1 and {max}")]
    FeeLimit {
        /// `max_fee_sat`, `max_fee_rate_sat_vb`, `batch_fee_per_payout_sat`,
        /// `batch_max_fee_sat`, `max_batch_payouts` or `max_fees_24h_sat`.
        field: &'static str,
        /// The value.
        value: u64,
        /// The largest accepted.
        max: u64,
    },
    /// `policy_delay` is not a duration of at least an hour.
    #[error("policy_delay {value:?} must be a duration of at least 1h")]
    PolicyDelay {
        /// The value given.
        value: String,
    },
    /// `change_gap` is 0 or above [`MAX_CHANGE_GAP`].
    #[error("change_gap {gap} must be between 1 and {MAX_CHANGE_GAP}")]
    ChangeGap {
        /// The gap.
        gap: u32,
    },
    /// `chain.reference_time` is not RFC 3339 in whole seconds.
    #[error("chain.reference_time {found:?} is not an rfc 3339 time in whole seconds")]
    ChainTime {
        /// The value (cut to 64 characters).
        found: String,
    },
    /// `chain.reference_height` is not a block height.
    #[error("chain.reference_height {height} is not a block height (below {LOCK_TIME_THRESHOLD})")]
    ChainHeight {
        /// The value.
        height: u32,
    },
    /// The signatures file is larger than [`MAX_SIGNATURES_LEN`].
    #[error("signatures file is {len} bytes, at most {MAX_SIGNATURES_LEN} are read")]
    SignaturesTooLarge {
        /// The file's length.
        len: usize,
    },
    /// A line of the signatures file is refused: malformed, another action
    /// than a set-up signature, for another set-up, by a key that is not an
    /// admin's, or not verifying. The rule is [`ActionRule`]'s name.
    #[error("signatures line {line}: refused by rule {rule}: {detail}")]
    SignatureRefused {
        /// The line number, from 1.
        line: usize,
        /// The rule: `malformed`, `wrong-action`, `wrong-setup`,
        /// `unknown-signer` or `bad-signature`.
        rule: ActionRule,
        /// For people.
        detail: String,
    },
    /// Fewer distinct admins signed than `admin_quorum`.
    #[error("{have} distinct admins signed the set-up, {need} must")]
    NotEnoughSignatures {
        /// Distinct admins whose signature verified.
        have: u32,
        /// `admin_quorum`.
        need: u32,
    },
}

impl SetupError {
    /// The rule of a refused signatures line.
    pub fn action_rule(&self) -> Option<ActionRule> {
        match self {
            SetupError::SignatureRefused { rule, .. } => Some(*rule),
            _ => None,
        }
    }
}

// ----- the file's shape (private: validated into `Setup`) -----

/// Read first, so that a file of another version is refused as such rather
/// than for a key this version does not know.
#[derive(Deserialize)]
struct VersionProbe {
    version: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetup {
    #[allow(dead_code)] // checked by the probe
    version: u32,
    asset: String,
    network: String,
    hot_descriptor: String,
    cold_descriptor: String,
    change_gap: u32,
    audit_key: String,
    admin_quorum: u32,
    fees: RawFees,
    #[serde(default)]
    policy_delay: Option<String>,
    chain: Option<RawChain>,
    #[serde(default)]
    service: Option<RawService>,
    #[serde(default)]
    approvers: Vec<RawPerson>,
    #[serde(default)]
    admins: Vec<RawPerson>,
    policy: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFees {
    max_fee_sat: u64,
    max_fee_rate_sat_vb: u64,
    #[serde(default)]
    batch_fee_per_payout_sat: Option<u64>,
    #[serde(default)]
    batch_max_fee_sat: Option<u64>,
    #[serde(default)]
    max_batch_payouts: Option<u64>,
    #[serde(default)]
    max_fees_24h_sat: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChain {
    reference_height: u32,
    reference_time: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    backend_certificates: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    name: String,
    key: String,
}

/// A validated custody set-up of one asset. It can only hold a set-up that
/// passed every rule of `docs/setup.md`.
#[derive(Debug, Clone)]
pub struct Setup {
    id: SetupId,
    asset: AssetId,
    network: Network,
    hot: MultisigWallet,
    cold: MultisigWallet,
    policy: Policy,
    policy_text: String,
    max_fee: Amount,
    max_fee_rate: FeeRate,
    batch: BatchLimits,
    change_gap: u32,
    policy_delay: kinko_policy::Duration,
    chain: Option<(u32, i64)>,
    approvers: Vec<(String, XOnlyPublicKey)>,
    admins: Vec<(String, XOnlyPublicKey)>,
    admin_quorum: u32,
    audit_key: XOnlyPublicKey,
    backend_certificates: Vec<[u8; 32]>,
}

/// How long a policy change that loosens anything waits when the set-up
/// names no `policy_delay`.
pub const DEFAULT_POLICY_DELAY: kinko_policy::Duration =
    match kinko_policy::Duration::from_secs(48 * 3600) {
        Some(d) => d,
        None => panic!("48 h is a duration"),
    };
/// The shortest `policy_delay` a set-up may name.
pub const MIN_POLICY_DELAY: kinko_policy::Duration = match kinko_policy::Duration::from_secs(3600) {
    Some(d) => d,
    None => panic!("1 h is a duration"),
};

/// Checks a policy text for a set-up of `asset` whose approvers are
/// `approvers`: it parses, has exactly that one asset, and every approver
/// it names has a key. Used for the set-up's own policy and for every
/// policy change.
///
/// # Errors
/// [`SetupError::Policy`], [`SetupError::PolicyAssets`],
/// [`SetupError::ApproverWithoutKey`].
pub fn check_policy(
    asset: &str,
    approvers: &[(String, XOnlyPublicKey)],
    text: &str,
) -> Result<Policy, SetupError> {
    let policy = Policy::from_toml_str(text).map_err(SetupError::Policy)?;
    let assets: Vec<&AssetId> = policy.config().assets().map(|(id, _)| id).collect();
    if assets.len() != 1 || assets[0] != asset {
        return Err(SetupError::PolicyAssets {
            asset: cut(asset),
            found: assets.iter().take(16).map(|a| cut(a)).collect(),
        });
    }
    let approvals = policy.config().asset(asset).and_then(|p| p.approvals());
    if let Some(a) = approvals {
        if let Some(name) = a
            .approvers()
            .iter()
            .find(|n| !approvers.iter().any(|(have, _)| have == *n))
        {
            return Err(SetupError::ApproverWithoutKey { name: cut(name) });
        }
    }
    Ok(policy)
}

/// At most 64 characters of untrusted text, for messages.
fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn parse_network(s: &str) -> Result<Network, SetupError> {
    match s {
        "bitcoin" => Ok(Network::Bitcoin),
        "testnet" => Ok(Network::Testnet),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        other => Err(SetupError::UnknownNetwork { found: cut(other) }),
    }
}

/// Names and keys of one role, checked: valid, unique names; valid keys.
fn people(role: Role, list: Vec<RawPerson>) -> Result<Vec<(String, XOnlyPublicKey)>, SetupError> {
    let field = match role {
        Role::Admin => "admins",
        _ => "approvers",
    };
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, p) in list.into_iter().enumerate() {
        if !valid_name(&p.name) {
            return Err(SetupError::InvalidName {
                role,
                name: cut(&p.name),
            });
        }
        if !names.insert(p.name.clone()) {
            return Err(SetupError::DuplicateName { role, name: p.name });
        }
        let key = kinko_auth::parse_xonly(&p.key).map_err(|_| SetupError::InvalidKey {
            field: format!("{field}[{i}].key"),
        })?;
        out.push((p.name, key));
    }
    Ok(out)
}

/// The keys a wallet's addresses derive from, in a canonical order
/// (`sortedmulti`: the order in the descriptor does not matter).
fn wallet_keys(w: &MultisigWallet) -> (usize, Vec<[u8; 65]>) {
    let mut keys: Vec<[u8; 65]> = w
        .keys()
        .iter()
        .map(|k| {
            let mut b = [0; 65];
            b[..33].copy_from_slice(&k.xpub.public_key.serialize());
            b[33..].copy_from_slice(k.xpub.chain_code.as_bytes());
            b
        })
        .collect();
    keys.sort_unstable();
    (w.threshold(), keys)
}

impl Setup {
    /// Parses and validates a set-up file **without** its signatures: for
    /// the ceremony tooling that writes, shows and signs a set-up. A
    /// cosigner starts from [`Setup::load_signed`] only.
    ///
    /// # Errors
    ///
    /// The [`SetupError`] of the first rule broken, checked in this order:
    /// size, UTF-8, TOML shape and `version`, `network`, names and keys,
    /// `admin_quorum`, fees, `change_gap`, `[chain]`, the descriptors, the
    /// policy and its approvers.
    pub fn parse_unsigned(bytes: &[u8]) -> Result<Setup, SetupError> {
        if bytes.len() > MAX_SETUP_LEN {
            return Err(SetupError::TooLarge { len: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| SetupError::NotUtf8)?;
        let probe: VersionProbe = toml::from_str(text).map_err(SetupError::Toml)?;
        match probe.version {
            Some(toml::Value::Integer(v)) if v == i64::from(SETUP_VERSION) => {}
            Some(toml::Value::Integer(v)) => {
                return Err(SetupError::UnsupportedVersion {
                    found: v.to_string(),
                })
            }
            Some(other) => {
                return Err(SetupError::UnsupportedVersion {
                    found: cut(&other.to_string()),
                })
            }
            None => {
                return Err(SetupError::UnsupportedVersion {
                    found: "missing".into(),
                })
            }
        }
        let raw: RawSetup = toml::from_str(text).map_err(SetupError::Toml)?;
        let network = parse_network(&raw.network)?;

        let approvers = people(Role::Approver, raw.approvers)?;
        let admins = people(Role::Admin, raw.admins)?;
        let audit_key =
            kinko_auth::parse_xonly(&raw.audit_key).map_err(|_| SetupError::InvalidKey {
                field: "audit_key".into(),
            })?;
        check_distinct_keys(&approvers, &admins, &audit_key)?;
        if raw.admin_quorum == 0 || raw.admin_quorum as usize > admins.len() {
            return Err(SetupError::AdminQuorum {
                quorum: raw.admin_quorum,
                admins: admins.len(),
            });
        }

        let (max_fee, max_fee_rate) = fee_limits(&raw.fees)?;
        let batch = batch_limits(&raw.fees, max_fee)?;
        if raw.change_gap == 0 || raw.change_gap > MAX_CHANGE_GAP {
            return Err(SetupError::ChangeGap {
                gap: raw.change_gap,
            });
        }
        let chain = raw.chain.map(chain_reference).transpose()?;
        let backend_certificates = raw
            .service
            .map(|s| certificate_pins(&s.backend_certificates))
            .transpose()?
            .unwrap_or_default();

        let wallet = |which, d: &str| {
            MultisigWallet::from_descriptor(d, network).map_err(|source| SetupError::Descriptor {
                which,
                network,
                source,
            })
        };
        let hot = wallet(WalletRole::Hot, &raw.hot_descriptor)?;
        let cold = wallet(WalletRole::Cold, &raw.cold_descriptor)?;
        if wallet_keys(&hot) == wallet_keys(&cold) {
            return Err(SetupError::SameWallet);
        }

        let policy = check_policy(&raw.asset, &approvers, &raw.policy)?;
        // The policy has exactly this asset, which its parser checked.
        let asset = AssetId::new(&raw.asset).map_err(|_| SetupError::PolicyAssets {
            asset: cut(&raw.asset),
            found: Vec::new(),
        })?;
        let policy_delay = match raw.policy_delay.as_deref() {
            None => DEFAULT_POLICY_DELAY,
            Some(text) => kinko_policy::Duration::parse(text)
                .ok()
                .filter(|d| d.secs() >= MIN_POLICY_DELAY.secs())
                .ok_or_else(|| SetupError::PolicyDelay { value: cut(text) })?,
        };

        Ok(Setup {
            id: SetupId::of_file(bytes),
            asset,
            network,
            hot,
            cold,
            policy,
            policy_text: raw.policy,
            max_fee,
            max_fee_rate,
            batch,
            change_gap: raw.change_gap,
            policy_delay,
            chain,
            approvers,
            admins,
            admin_quorum: raw.admin_quorum,
            audit_key,
            backend_certificates,
        })
    }

    /// Parses and validates a set-up file and its signatures file, and
    /// checks that at least `admin_quorum` distinct admins signed it: the
    /// only way a cosigner should start.
    ///
    /// The signatures file holds one [`SignedAction`] JSON per line (blank
    /// lines are ignored), each an [`Action::SetupSignature`] of this
    /// set-up's id by an `[[admins]]` key. The same admin signing twice
    /// counts once. Every line must pass: a file carrying a stranger's or a
    /// broken line is refused whole.
    ///
    /// # Errors
    ///
    /// The errors of [`Setup::parse_unsigned`];
    /// [`SetupError::SignaturesTooLarge`];
    /// [`SetupError::SignatureRefused`] naming the first refused line and
    /// its rule; [`SetupError::NotEnoughSignatures`].
    pub fn load_signed(setup_bytes: &[u8], signatures_text: &str) -> Result<Setup, SetupError> {
        let setup = Setup::parse_unsigned(setup_bytes)?;
        let signed = setup.signed_by(signatures_text)?;
        let have = u32::try_from(signed.len()).unwrap_or(u32::MAX);
        if have < setup.admin_quorum {
            return Err(SetupError::NotEnoughSignatures {
                have,
                need: setup.admin_quorum,
            });
        }
        Ok(setup)
    }

    /// The admins whose signature of this set-up is in `signatures_text`,
    /// distinct, in the order of their first line. No quorum is checked:
    /// for tooling that shows a ceremony's progress.
    ///
    /// # Errors
    ///
    /// [`SetupError::SignaturesTooLarge`]; [`SetupError::SignatureRefused`]
    /// naming the first refused line and its rule.
    pub fn signed_by(&self, signatures_text: &str) -> Result<Vec<&str>, SetupError> {
        if signatures_text.len() > MAX_SIGNATURES_LEN {
            return Err(SetupError::SignaturesTooLarge {
                len: signatures_text.len(),
            });
        }
        let verifier = Verifier {
            setup_id: self.id,
            keys: &self.admins,
            // Set-up signatures do not expire.
            now: UnixTime::from_unix(0),
        };
        let mut signed: Vec<&str> = Vec::new();
        for (i, line) in signatures_text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let refused = |rule, detail: String| SetupError::SignatureRefused {
                line: line_no,
                rule,
                detail,
            };
            let action = SignedAction::from_json(line)
                .map_err(|e| refused(ActionRule::Malformed, e.to_string()))?;
            if !matches!(action.action, Action::SetupSignature { .. }) {
                return Err(refused(
                    ActionRule::WrongAction,
                    format!("a {}, not a set-up signature", action.action.name()),
                ));
            }
            verifier
                .check(&action, None)
                .map_err(|r| refused(r.rule, r.detail))?;
            // The verifier found the signer among the admins.
            if let Some((name, _)) = self.admins.iter().find(|(_, k)| *k == action.signer) {
                if !signed.contains(&name.as_str()) {
                    signed.push(name);
                }
            }
        }
        Ok(signed)
    }

    /// The set-up's id: [`SetupId::of_file`] of the file's exact bytes.
    pub fn id(&self) -> SetupId {
        self.id
    }

    /// The action each admin signs for this set-up.
    pub fn signature_action(&self) -> Action {
        Action::SetupSignature { setup_id: self.id }
    }

    /// The asset (the policy's one asset).
    pub fn asset(&self) -> &str {
        &self.asset
    }

    /// The asset, as the engine's id.
    pub fn asset_id(&self) -> &AssetId {
        &self.asset
    }

    /// The network of both wallets.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The hot wallet (the 2-of-3 holding the cosigner's key).
    pub fn hot_wallet(&self) -> &MultisigWallet {
        &self.hot
    }

    /// The cold wallet sweeps pay.
    pub fn cold_wallet(&self) -> &MultisigWallet {
        &self.cold
    }

    /// The policy, hashed from [`Setup::policy_text`].
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The policy's TOML text, exactly as in the file (its SHA-256 is the
    /// policy's hash).
    pub fn policy_text(&self) -> &str {
        &self.policy_text
    }

    /// The cosigner's fee limits: the largest fee and fee rate it signs.
    pub fn fee_limits(&self) -> (Amount, FeeRate) {
        (self.max_fee, self.max_fee_rate)
    }

    /// The limits of a payout of many reservations (`[fees]`
    /// `batch_fee_per_payout_sat`, `batch_max_fee_sat`, `max_batch_payouts`).
    pub fn batch_limits(&self) -> BatchLimits {
        self.batch
    }

    /// How long a policy change that loosens anything waits on the
    /// cosigner's clock (`policy_delay`, default 48 h).
    pub fn policy_delay(&self) -> kinko_policy::Duration {
        self.policy_delay
    }

    /// The change gap: a change index above the highest seen plus this gap
    /// is refused (`change-beyond-gap`).
    pub fn change_gap(&self) -> u32 {
        self.change_gap
    }

    /// The chain reference pinned at the ceremony: a height and the Unix
    /// time it was mined, for the `nLockTime` height estimate.
    pub fn chain_reference(&self) -> Option<(u32, i64)> {
        self.chain
    }

    /// The approvers, by name, with their action keys.
    pub fn approvers(&self) -> &[(String, XOnlyPublicKey)] {
        &self.approvers
    }

    /// The admins, by name, with their action keys.
    pub fn admins(&self) -> &[(String, XOnlyPublicKey)] {
        &self.admins
    }

    /// How many distinct admins sign the set-up (and policy changes).
    pub fn admin_quorum(&self) -> u32 {
        self.admin_quorum
    }

    /// The cosigner's audit key (signs the audit heads).
    pub fn audit_key(&self) -> XOnlyPublicKey {
        self.audit_key
    }

    /// The SHA-256 of each client certificate (DER) the cosigner service
    /// accepts from the backend (`[service] backend_certificates`); empty
    /// when the set-up pins none (the service then refuses to start).
    pub fn backend_certificates(&self) -> &[[u8; 32]] {
        &self.backend_certificates
    }
}

/// At most this many pinned backend certificates (old and new during a
/// rotation, a few backends).
pub const MAX_BACKEND_CERTIFICATES: usize = 16;

fn certificate_pins(pins: &[String]) -> Result<Vec<[u8; 32]>, SetupError> {
    if pins.is_empty() || pins.len() > MAX_BACKEND_CERTIFICATES {
        return Err(SetupError::BackendCertificates {
            detail: format!(
                "{} certificates; name 1 to {MAX_BACKEND_CERTIFICATES}",
                pins.len()
            ),
        });
    }
    let mut out: Vec<[u8; 32]> = Vec::with_capacity(pins.len());
    for p in pins {
        let bad = || SetupError::BackendCertificates {
            detail: format!("{:?} is not 64 lowercase hex digits", cut(p)),
        };
        if p.len() != 64 || !p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        let mut pin = [0u8; 32];
        for (i, byte) in pin.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&p[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        if out.contains(&pin) {
            return Err(SetupError::BackendCertificates {
                detail: format!("{p} is named twice"),
            });
        }
        out.push(pin);
    }
    Ok(out)
}

/// Every approver, admin and the audit key holds its own key.
fn check_distinct_keys(
    approvers: &[(String, XOnlyPublicKey)],
    admins: &[(String, XOnlyPublicKey)],
    audit: &XOnlyPublicKey,
) -> Result<(), SetupError> {
    let holders = approvers
        .iter()
        .map(|(n, k)| (Role::Approver, n.as_str(), k))
        .chain(admins.iter().map(|(n, k)| (Role::Admin, n.as_str(), k)))
        .chain(std::iter::once((Role::Audit, "", audit)));
    let mut seen: std::collections::HashMap<[u8; 32], (Role, &str)> =
        std::collections::HashMap::new();
    let who = |(role, name): (Role, &str)| match role {
        Role::Audit => role.to_string(),
        _ => format!("{role} {name:?}"),
    };
    for (role, name, key) in holders {
        if let Some(first) = seen.insert(key.serialize(), (role, name)) {
            return Err(SetupError::DuplicateKey {
                first: who(first),
                second: who((role, name)),
            });
        }
    }
    Ok(())
}

/// The limits of payouts of many reservations (and of consolidations of
/// many inputs), from the set-up's `[fees]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// The fee a payout may add per reservation beyond the first.
    pub fee_per_payout: Amount,
    /// The ceiling of any payout's fee.
    pub max_fee: Amount,
    /// The most reservations one payout pays.
    pub max_payouts: usize,
    /// The most the transactions the cosigner signs in any 24 hours may pay
    /// in fees together (a payout and its fee bumps count once, at their
    /// highest fee).
    pub max_fees_24h: Amount,
}

/// `batch_fee_per_payout_sat` when the set-up does not say.
pub const DEFAULT_BATCH_FEE_PER_PAYOUT_SAT: u64 = 10_000;
/// `batch_max_fee_sat` when the set-up does not say: 50 × `max_fee_sat`
/// (capped at 21 million BTC).
pub const DEFAULT_BATCH_MAX_FEE_FACTOR: u64 = 50;
/// `max_fees_24h_sat` when the set-up does not say: 100 × `max_fee_sat`
/// (capped at 21 million BTC).
pub const DEFAULT_FEES_24H_FACTOR: u64 = 100;
/// `max_batch_payouts` when the set-up does not say.
pub const DEFAULT_MAX_BATCH_PAYOUTS: usize = 500;
/// The largest `max_batch_payouts`: about the most P2WSH outputs Bitcoin's
/// standard transaction weight (400,000) holds with a few inputs.
pub const MAX_BATCH_PAYOUTS: usize = 2_000;

impl BatchLimits {
    /// The largest fee of a payout of `n` reservations (or a consolidation
    /// of `n` inputs): `max_fee_sat + (n - 1) * batch_fee_per_payout_sat`,
    /// at most `batch_max_fee_sat`, and never below `max_fee_sat`.
    pub fn fee_limit(&self, single: Amount, n: usize) -> Amount {
        let extra = u64::try_from(n.saturating_sub(1)).unwrap_or(u64::MAX);
        let scaled = single
            .to_sat()
            .saturating_add(self.fee_per_payout.to_sat().saturating_mul(extra));
        Amount::from_sat(scaled.min(self.max_fee.to_sat()).max(single.to_sat()))
    }
}

fn batch_limits(f: &RawFees, max_fee: Amount) -> Result<BatchLimits, SetupError> {
    let max_sat = Amount::MAX_MONEY.to_sat();
    let per = f
        .batch_fee_per_payout_sat
        .unwrap_or(DEFAULT_BATCH_FEE_PER_PAYOUT_SAT);
    if per > max_sat {
        return Err(SetupError::FeeLimit {
            field: "batch_fee_per_payout_sat",
            value: per,
            max: max_sat,
        });
    }
    let ceiling = f.batch_max_fee_sat.unwrap_or_else(|| {
        max_fee
            .to_sat()
            .saturating_mul(DEFAULT_BATCH_MAX_FEE_FACTOR)
            .min(max_sat)
    });
    if ceiling < max_fee.to_sat() || ceiling > max_sat {
        return Err(SetupError::FeeLimit {
            field: "batch_max_fee_sat",
            value: ceiling,
            max: max_sat,
        });
    }
    let n = f
        .max_batch_payouts
        .unwrap_or(DEFAULT_MAX_BATCH_PAYOUTS as u64);
    if n == 0 || n > MAX_BATCH_PAYOUTS as u64 {
        return Err(SetupError::FeeLimit {
            field: "max_batch_payouts",
            value: n,
            max: MAX_BATCH_PAYOUTS as u64,
        });
    }
    let day = f.max_fees_24h_sat.unwrap_or_else(|| {
        max_fee
            .to_sat()
            .saturating_mul(DEFAULT_FEES_24H_FACTOR)
            .min(max_sat)
    });
    if day < max_fee.to_sat() || day > max_sat {
        return Err(SetupError::FeeLimit {
            field: "max_fees_24h_sat",
            value: day,
            max: max_sat,
        });
    }
    Ok(BatchLimits {
        fee_per_payout: Amount::from_sat(per),
        max_fee: Amount::from_sat(ceiling),
        max_payouts: usize::try_from(n).unwrap_or(MAX_BATCH_PAYOUTS),
        max_fees_24h: Amount::from_sat(day),
    })
}

fn fee_limits(f: &RawFees) -> Result<(Amount, FeeRate), SetupError> {
    let max_sat = Amount::MAX_MONEY.to_sat();
    if f.max_fee_sat == 0 || f.max_fee_sat > max_sat {
        return Err(SetupError::FeeLimit {
            field: "max_fee_sat",
            value: f.max_fee_sat,
            max: max_sat,
        });
    }
    // 1 sat/vB is 250 sat/kwu: the largest rate representable in sat/kwu.
    let max_rate = u64::MAX / 250;
    let rate = (f.max_fee_rate_sat_vb > 0)
        .then(|| FeeRate::from_sat_per_vb(f.max_fee_rate_sat_vb))
        .flatten()
        .ok_or(SetupError::FeeLimit {
            field: "max_fee_rate_sat_vb",
            value: f.max_fee_rate_sat_vb,
            max: max_rate,
        })?;
    Ok((Amount::from_sat(f.max_fee_sat), rate))
}

fn chain_reference(c: RawChain) -> Result<(u32, i64), SetupError> {
    let time = UnixTime::parse_rfc3339(&c.reference_time).map_err(|_| SetupError::ChainTime {
        found: cut(&c.reference_time),
    })?;
    if c.reference_height >= LOCK_TIME_THRESHOLD {
        return Err(SetupError::ChainHeight {
            height: c.reference_height,
        });
    }
    Ok((c.reference_height, time.unix()))
}

/// [`Setup::load_signed`].
///
/// # Errors
///
/// As [`Setup::load_signed`].
pub fn load_signed(setup_bytes: &[u8], signatures_text: &str) -> Result<Setup, SetupError> {
    Setup::load_signed(setup_bytes, signatures_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "carol", "ops-1.b_c", &"a".repeat(64)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "Carol", "a b", "ä", &"a".repeat(65), "a/b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn batch_limits_scale_per_payout_up_to_the_ceiling() {
        let raw = |per, ceiling, n| RawFees {
            max_fee_sat: 50_000,
            max_fee_rate_sat_vb: 100,
            batch_fee_per_payout_sat: per,
            batch_max_fee_sat: ceiling,
            max_batch_payouts: n,
            max_fees_24h_sat: None,
        };
        let single = Amount::from_sat(50_000);
        let d = batch_limits(&raw(None, None, None), single).unwrap();
        assert_eq!(d.max_payouts, 500);
        assert_eq!(d.fee_limit(single, 1), single);
        assert_eq!(d.fee_limit(single, 11).to_sat(), 150_000);
        assert_eq!(d.fee_limit(single, 500).to_sat(), 2_500_000);
        assert_eq!(d.fee_limit(single, 5_000).to_sat(), 2_500_000);
        let l = batch_limits(&raw(Some(1_000), Some(60_000), Some(2_000)), single).unwrap();
        assert_eq!(l.fee_limit(single, 5).to_sat(), 54_000);
        assert_eq!(l.fee_limit(single, 100).to_sat(), 60_000);
        assert!(batch_limits(&raw(None, Some(49_999), None), single).is_err());
        assert!(batch_limits(&raw(None, None, Some(0)), single).is_err());
        assert!(batch_limits(&raw(None, None, Some(2_001)), single).is_err());
    }

    #[test]
    fn fee_limit_bounds() {
        let f = |a, b| {
            fee_limits(&RawFees {
                max_fee_sat: a,
                max_fee_rate_sat_vb: b,
                batch_fee_per_payout_sat: None,
                batch_max_fee_sat: None,
                max_batch_payouts: None,
                max_fees_24h_sat: None,
            })
        };
        assert!(f(1, 1).is_ok());
        assert!(f(0, 1).is_err());
        assert!(f(1, 0).is_err());
        assert!(f(Amount::MAX_MONEY.to_sat() + 1, 1).is_err());
        assert!(f(1, u64::MAX / 250).is_ok());
        assert!(f(1, u64::MAX / 250 + 1).is_err());
    }
}
