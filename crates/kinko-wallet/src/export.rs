//! Wallet files: the multisig wallet written for, and read back from, other
//! software. Bitcoin Core's `importdescriptors` JSON, the Coldcard multisig
//! setup file (also read and written by Sparrow, Keystone, Passport) and
//! Caravan's wallet configuration JSON. `docs/wallet-files.md` gives each
//! format's fields and what kinko checks and drops on import.
//!
//! Every reader takes untrusted bytes: the input is capped at
//! [`MAX_WALLET_FILE`] bytes and [`MAX_KEYS`] keys, and every failure is a
//! [`WalletFileError`], never a panic.

use std::str::FromStr;

use bitcoin::base58;
use bitcoin::bip32::{DerivationPath, Fingerprint, Xpub};
use bitcoin::{Network, NetworkKind};
use serde::{Deserialize, Serialize};

use crate::wallet::{m_path, DescriptorError, Keychain, MultisigWallet, WalletKey, MAX_KEYS};

/// At most this many bytes in a wallet file read back. A 20-key file of any
/// of the three formats is under 8 KiB; the cap bounds the work on a hostile
/// input.
pub const MAX_WALLET_FILE: usize = 64 * 1024;

/// Options of [`MultisigWallet::to_core_import`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreImportOptions {
    /// Last index Bitcoin Core should derive and watch (inclusive).
    pub range_end: u32,
    /// UNIX time of the wallet's birth; `None` writes `"now"` (no rescan).
    pub timestamp: Option<u64>,
}

impl Default for CoreImportOptions {
    fn default() -> Self {
        CoreImportOptions {
            range_end: 999,
            timestamp: None,
        }
    }
}

/// Why a wallet file does not give a valid kinko wallet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletFileError {
    /// The file is larger than [`MAX_WALLET_FILE`].
    #[error("wallet file of {len} bytes is larger than the {max} allowed", max = MAX_WALLET_FILE)]
    TooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// Not JSON, or JSON of the wrong shape (Caravan, Core).
    #[error("invalid json")]
    Json(#[source] serde_json::Error),
    /// A field the wallet needs is absent.
    #[error("missing {0}")]
    MissingField(&'static str),
    /// A Coldcard field that may appear once appears again.
    #[error("line {line}: second {field} line")]
    DuplicateField {
        /// The field (`name`, `policy`, `format`).
        field: &'static str,
        /// Line of the repetition, from 1.
        line: usize,
    },
    /// A Coldcard line that is none of the known ones.
    #[error("line {line}: not a line of a coldcard multisig file")]
    UnknownLine {
        /// Line number, from 1.
        line: usize,
    },
    /// A Coldcard `Policy:` line that is not `M of N`.
    #[error("line {line}: invalid policy (expected \"m of n\")")]
    BadPolicy {
        /// Line number, from 1.
        line: usize,
    },
    /// A Coldcard `Derivation:` line that is not a BIP32 path.
    #[error("line {line}: invalid derivation path")]
    BadDerivation {
        /// Line number, from 1.
        line: usize,
    },
    /// The address type is not native P2WSH (or Coldcard's `Format:` line is
    /// missing, which means P2SH there).
    #[error("not a p2wsh wallet")]
    NotP2wsh,
    /// Caravan's `network` is none of `mainnet`, `testnet`, `signet`, `regtest`.
    #[error("unknown network")]
    UnknownNetwork,
    /// The quorum's n differs from the number of keys listed.
    #[error("the file declares {declared} keys but lists {found}")]
    KeyCount {
        /// n as declared.
        declared: usize,
        /// Keys listed.
        found: usize,
    },
    /// More keys than [`MAX_KEYS`].
    #[error("more than {max} keys", max = MAX_KEYS)]
    TooManyKeys,
    /// A key's master fingerprint is not 8 hexadecimal digits.
    #[error("key {position}: the fingerprint is not 8 hexadecimal digits")]
    BadFingerprint {
        /// Position of the key in the file, from 0.
        position: usize,
    },
    /// A Coldcard key line comes before any `Derivation:` line.
    #[error("key {position}: no derivation line before it")]
    MissingDerivation {
        /// Position of the key in the file, from 0.
        position: usize,
    },
    /// A Caravan key's `bip32Path` is not a BIP32 path (Caravan writes
    /// `Unknown` for keys typed in by hand).
    #[error("key {position}: invalid or unknown bip32 path")]
    BadPath {
        /// Position of the key in the file, from 0.
        position: usize,
    },
    /// A key is not an extended public key kinko reads (xpub, tpub, or the
    /// P2WSH multisig forms Zpub, Vpub).
    #[error("key {position}: invalid extended public key")]
    BadXpub {
        /// Position of the key in the file, from 0.
        position: usize,
    },
    /// A key of another network than the wallet's.
    #[error("key {position} is for {keys:?} but the wallet network is {network}")]
    WrongNetwork {
        /// Position of the key in the file, from 0.
        position: usize,
        /// Network kind of the key.
        keys: NetworkKind,
        /// The wallet's network.
        network: Network,
    },
    /// Core's JSON is neither one multipath entry nor one receive and one
    /// change entry.
    #[error("expected one multipath entry, or one receive and one change entry")]
    CoreEntries,
    /// The parts read do not make a valid wallet (threshold, duplicate keys,
    /// descriptor).
    #[error("invalid wallet")]
    Wallet(#[source] DescriptorError),
}

/// Caravan's wallet configuration, as Caravan's coordinator writes it
/// (`getWalletDetailsText` in caravan-bitcoin/caravan,
/// `apps/coordinator/src/selectors/wallet.js`). Field order as Caravan's.
/// Fields kinko neither writes nor needs (`uuid`, `ledgerPolicyHmacs`, a
/// private client's `url`/`username`/`walletName`) are ignored on read.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaravanConfig {
    name: Option<String>,
    address_type: Option<String>,
    network: Option<String>,
    client: Option<CaravanClient>,
    quorum: Option<CaravanQuorum>,
    extended_public_keys: Option<Vec<CaravanKey>>,
    starting_address_index: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct CaravanClient {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaravanQuorum {
    required_signers: Option<u64>,
    total_signers: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaravanKey {
    name: Option<String>,
    bip32_path: Option<String>,
    xpub: Option<String>,
    xfp: Option<String>,
}

/// One entry of Core's `importdescriptors` array; the other fields (`range`,
/// `timestamp`, `active`, `label`) are ignored on read.
#[derive(Deserialize)]
struct CoreEntry {
    desc: Option<String>,
    internal: Option<bool>,
}

/// Caravan's network name: Caravan knows `mainnet`, `testnet` and
/// `regtest`; signet addresses are testnet's (`tb1…`), so signet is written
/// `testnet`.
fn caravan_network(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "mainnet",
        Network::Regtest => "regtest",
        _ => "testnet",
    }
}

fn too_large(text: &str) -> Result<(), WalletFileError> {
    if text.len() > MAX_WALLET_FILE {
        return Err(WalletFileError::TooLarge { len: text.len() });
    }
    Ok(())
}

/// A key's master fingerprint: exactly 8 hexadecimal digits, either case.
fn parse_fingerprint(s: &str, position: usize) -> Result<Fingerprint, WalletFileError> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WalletFileError::BadFingerprint { position });
    }
    Fingerprint::from_str(s).map_err(|_| WalletFileError::BadFingerprint { position })
}

/// SLIP-132 version bytes of P2WSH multisig keys (Zpub, Vpub), which
/// Coldcard and Sparrow may write, and the plain BIP32 versions (xpub,
/// tpub) they stand for.
const SLIP132_P2WSH: [([u8; 4], [u8; 4]); 2] = [
    ([0x02, 0xaa, 0x7e, 0xd3], [0x04, 0x88, 0xb2, 0x1e]),
    ([0x02, 0x57, 0x54, 0x83], [0x04, 0x35, 0x87, 0xcf]),
];

/// An xpub or tpub, or a Zpub or Vpub read as the xpub or tpub it encodes.
fn parse_xpub(s: &str, position: usize) -> Result<Xpub, WalletFileError> {
    let bad = WalletFileError::BadXpub { position };
    // An extended key is 111 or 112 base58 characters; refuse long strings
    // before decoding them.
    if s.len() > 120 {
        return Err(bad);
    }
    let mut data = base58::decode_check(s).map_err(|_| WalletFileError::BadXpub { position })?;
    if let Some(version) = data.get(0..4) {
        if let Some((_, plain)) = SLIP132_P2WSH.iter().find(|(v, _)| v == version) {
            data[0..4].copy_from_slice(plain);
        }
    }
    Xpub::decode(&data).map_err(|_| bad)
}

/// Checks a key's network against the wallet's.
fn check_network(xpub: &Xpub, position: usize, network: Network) -> Result<(), WalletFileError> {
    if xpub.network != NetworkKind::from(network) {
        return Err(WalletFileError::WrongNetwork {
            position,
            keys: xpub.network,
            network,
        });
    }
    Ok(())
}

/// The quorum check shared by the readers: n as declared equals the keys
/// listed, then every wallet rule of [`MultisigWallet::new`].
fn assemble(
    threshold: usize,
    declared: usize,
    keys: Vec<WalletKey>,
    network: Network,
) -> Result<MultisigWallet, WalletFileError> {
    if keys.is_empty() {
        return Err(WalletFileError::MissingField("keys"));
    }
    if declared != keys.len() {
        return Err(WalletFileError::KeyCount {
            declared,
            found: keys.len(),
        });
    }
    MultisigWallet::new(threshold, keys, network).map_err(WalletFileError::Wallet)
}

/// `M of N` as Coldcard reads it: two numbers with anything but digits
/// between (`2 of 3`, `2/3`, `2,3`).
fn parse_policy(value: &str) -> Option<(usize, usize)> {
    let first_end = value.find(|c: char| !c.is_ascii_digit())?;
    let (m, rest) = value.split_at(first_end);
    let n = rest.trim_start_matches(|c: char| !c.is_ascii_digit());
    if m.is_empty() || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // More digits than any count of keys: refuse before parsing.
    if m.len() > 3 || n.len() > 3 {
        return None;
    }
    Some((m.parse().ok()?, n.parse().ok()?))
}

/// A Coldcard or Caravan path: `m/48'/1'/0'/2'`, `48h/1h/0h/2h`; `m` alone is
/// the master. The empty string is not a path, nor one of more than 255
/// steps (a BIP32 key's depth is one byte).
fn parse_path(s: &str) -> Option<DerivationPath> {
    if s.is_empty() || s.split('/').count() > 256 {
        return None;
    }
    let path = DerivationPath::from_str(s).ok()?;
    (path.len() <= 255).then_some(path)
}

impl MultisigWallet {
    /// The JSON array for Bitcoin Core's `importdescriptors`: the receive
    /// descriptor (`internal: false`) and the change descriptor
    /// (`internal: true`), each with checksum, range and timestamp. Both are
    /// watch-only (`active` requires a wallet with private keys disabled).
    pub fn to_core_import(&self, opts: &CoreImportOptions) -> String {
        let ts = match opts.timestamp {
            Some(t) => serde_json::Value::from(t),
            None => serde_json::Value::from("now"),
        };
        let entry = |k: Keychain| {
            serde_json::json!({
                "desc": self.branch_descriptor(k),
                "active": true,
                "internal": k == Keychain::Change,
                "range": [0, opts.range_end],
                "timestamp": ts.clone(),
            })
        };
        let v = serde_json::Value::Array(vec![entry(Keychain::Receive), entry(Keychain::Change)]);
        // Serializing a `Value` of strings, numbers and booleans cannot fail.
        serde_json::to_string_pretty(&v).expect("serializing a json value cannot fail")
    }

    /// Reads Bitcoin Core's `importdescriptors` JSON back: either the
    /// receive (`internal` false or absent) and change (`internal: true`)
    /// pair [`MultisigWallet::to_core_import`] writes, or one entry with a
    /// multipath `/<0;1>/*` descriptor. Ranges, timestamps and labels are
    /// dropped.
    ///
    /// # Errors
    ///
    /// [`WalletFileError`]; a descriptor's own errors are
    /// [`WalletFileError::Wallet`].
    pub fn from_core_import(json: &str, network: Network) -> Result<Self, WalletFileError> {
        too_large(json)?;
        let entries: Vec<CoreEntry> = serde_json::from_str(json).map_err(WalletFileError::Json)?;
        let desc = |e: &CoreEntry| e.desc.clone().ok_or(WalletFileError::MissingField("desc"));
        match entries.as_slice() {
            [one] if one.internal.is_none() => {
                Self::from_descriptor(&desc(one)?, network).map_err(WalletFileError::Wallet)
            }
            [a, b] => {
                let (receive, change) = match (a.internal, b.internal) {
                    (None | Some(false), Some(true)) => (a, b),
                    (Some(true), None | Some(false)) => (b, a),
                    _ => return Err(WalletFileError::CoreEntries),
                };
                Self::from_pair(&desc(receive)?, &desc(change)?, network)
                    .map_err(WalletFileError::Wallet)
            }
            _ => Err(WalletFileError::CoreEntries),
        }
    }

    /// The Coldcard multisig setup file (also read by Sparrow, Keystone, Passport):
    /// `Name`, `Policy: m of n`, `Derivation`, `Format: P2WSH` and one
    /// `XFP: xpub` line per key. `name` is cut to 20 printable ASCII characters.
    pub fn to_coldcard(&self, name: &str) -> String {
        let name: String = name
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .take(20)
            .collect();
        let keys = self.keys();
        let mut s = String::from("# Coldcard multisig setup file (written by kinko)\n#\n");
        s.push_str(&format!("Name: {name}\n"));
        s.push_str(&format!("Policy: {} of {}\n", self.threshold(), keys.len()));
        let first = &keys[0].origin_path;
        let same_path = keys.iter().all(|k| &k.origin_path == first);
        if same_path {
            s.push_str(&format!("Derivation: {}\n", m_path(first)));
        }
        s.push_str("Format: P2WSH\n\n");
        for k in keys {
            if !same_path {
                s.push_str(&format!("Derivation: {}\n", m_path(&k.origin_path)));
            }
            s.push_str(&format!(
                "{}: {}\n",
                k.fingerprint.to_string().to_uppercase(),
                k.xpub
            ));
        }
        s
    }

    /// Reads a Coldcard multisig setup file, as Coldcard and Sparrow write
    /// it, for `network`.
    ///
    /// Follows Coldcard's reader (`from_simple_text` in Coldcard/firmware
    /// `shared/multisig.py`): a line starting with `#` is a comment, and so
    /// is the rest of a line from a `#` not followed by a digit; labels are
    /// case-insensitive; `Derivation:` applies to the key lines after it
    /// (one shared, or one before each key); a key line is `XFP: xpub` with
    /// an 8-digit hexadecimal fingerprint; without `Policy:` the wallet is
    /// n of n. Stricter than Coldcard: `Format: P2WSH` is required (without
    /// it Coldcard reads P2SH), unknown lines, repeated `Name`/`Policy`/
    /// `Format` lines and bare xpubs without a fingerprint are errors. The
    /// name is dropped.
    ///
    /// # Errors
    ///
    /// [`WalletFileError`].
    pub fn from_coldcard(text: &str, network: Network) -> Result<Self, WalletFileError> {
        too_large(text)?;
        let mut policy: Option<(usize, usize)> = None;
        let mut format_seen = false;
        let mut name_seen = false;
        let mut derivation: Option<DerivationPath> = None;
        let mut keys: Vec<WalletKey> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let mut ln = raw.trim();
            if ln.starts_with('#') {
                continue;
            }
            // Coldcard keeps `#` followed by a digit (a name like `vault #2`).
            if let Some(pos) = ln
                .char_indices()
                .filter(|&(_, c)| c == '#')
                .map(|(p, _)| p)
                .find(|&p| !ln[p + 1..].starts_with(|c: char| c.is_ascii_digit()))
            {
                ln = ln[..pos].trim();
            }
            if ln.is_empty() {
                continue;
            }
            let Some((label, value)) = ln.split_once(':') else {
                return Err(WalletFileError::UnknownLine { line });
            };
            let label = label.trim().to_ascii_lowercase();
            let value = value.trim();
            match label.as_str() {
                "name" => {
                    if name_seen {
                        return Err(WalletFileError::DuplicateField {
                            field: "name",
                            line,
                        });
                    }
                    name_seen = true;
                }
                "policy" => {
                    if policy.is_some() {
                        return Err(WalletFileError::DuplicateField {
                            field: "policy",
                            line,
                        });
                    }
                    policy = Some(parse_policy(value).ok_or(WalletFileError::BadPolicy { line })?);
                }
                "format" => {
                    if format_seen {
                        return Err(WalletFileError::DuplicateField {
                            field: "format",
                            line,
                        });
                    }
                    if !value.eq_ignore_ascii_case("p2wsh") {
                        return Err(WalletFileError::NotP2wsh);
                    }
                    format_seen = true;
                }
                "derivation" => {
                    derivation =
                        Some(parse_path(value).ok_or(WalletFileError::BadDerivation { line })?);
                }
                l if l.len() == 8 && l.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    let position = keys.len();
                    if position == MAX_KEYS {
                        return Err(WalletFileError::TooManyKeys);
                    }
                    let fingerprint = parse_fingerprint(l, position)?;
                    let origin_path = derivation
                        .clone()
                        .ok_or(WalletFileError::MissingDerivation { position })?;
                    let xpub = parse_xpub(value, position)?;
                    check_network(&xpub, position, network)?;
                    keys.push(WalletKey {
                        fingerprint,
                        origin_path,
                        xpub,
                    });
                }
                _ => return Err(WalletFileError::UnknownLine { line }),
            }
        }
        if !format_seen {
            return Err(WalletFileError::NotP2wsh);
        }
        let (threshold, declared) = policy.unwrap_or((keys.len(), keys.len()));
        assemble(threshold, declared, keys, network)
    }

    /// Caravan's wallet configuration JSON, as Caravan's coordinator imports
    /// and exports it: `name`, `addressType` `P2WSH`, `network` (`mainnet`,
    /// `testnet` or `regtest`; signet is written `testnet`, its addresses
    /// being testnet's), `client` `{"type": "public"}`, `quorum`
    /// (`requiredSigners`, `totalSigners`), `extendedPublicKeys` (`name`,
    /// `bip32Path`, `xpub`, `xfp` for each key, in descriptor order) and
    /// `startingAddressIndex` 0. Each key's name is `key N (fingerprint)`.
    pub fn to_caravan(&self, name: &str) -> String {
        let config = CaravanConfig {
            name: Some(name.to_owned()),
            address_type: Some("P2WSH".into()),
            network: Some(caravan_network(self.network()).into()),
            client: Some(CaravanClient {
                kind: Some("public".into()),
            }),
            quorum: Some(CaravanQuorum {
                required_signers: Some(self.threshold() as u64),
                total_signers: Some(self.keys().len() as u64),
            }),
            extended_public_keys: Some(
                self.keys()
                    .iter()
                    .enumerate()
                    .map(|(i, k)| CaravanKey {
                        name: Some(format!("key {} ({})", i + 1, k.fingerprint)),
                        bip32_path: Some(m_path(&k.origin_path)),
                        xpub: Some(k.xpub.to_string()),
                        xfp: Some(k.fingerprint.to_string()),
                    })
                    .collect(),
            ),
            starting_address_index: Some(0),
        };
        // Strings and integers only: serializing cannot fail.
        serde_json::to_string_pretty(&config).expect("serializing a caravan config cannot fail")
    }

    /// Reads Caravan's wallet configuration JSON. The network comes from
    /// the file (`mainnet`, `testnet`, `signet`, `regtest`). Checks
    /// `addressType` is `P2WSH`, the quorum against the keys, each key's
    /// `xfp`, `bip32Path` (Caravan's `Unknown` is refused: kinko needs key
    /// origins) and xpub network. The name, key names, `client`,
    /// `startingAddressIndex`, `uuid` and `ledgerPolicyHmacs` are dropped.
    ///
    /// # Errors
    ///
    /// [`WalletFileError`].
    pub fn from_caravan(json: &str) -> Result<Self, WalletFileError> {
        too_large(json)?;
        let c: CaravanConfig = serde_json::from_str(json).map_err(WalletFileError::Json)?;
        let address_type = c
            .address_type
            .ok_or(WalletFileError::MissingField("addressType"))?;
        if !address_type.eq_ignore_ascii_case("p2wsh") {
            return Err(WalletFileError::NotP2wsh);
        }
        let network = match c
            .network
            .ok_or(WalletFileError::MissingField("network"))?
            .as_str()
        {
            "mainnet" => Network::Bitcoin,
            "testnet" => Network::Testnet,
            "signet" => Network::Signet,
            "regtest" => Network::Regtest,
            _ => return Err(WalletFileError::UnknownNetwork),
        };
        let quorum = c.quorum.ok_or(WalletFileError::MissingField("quorum"))?;
        let required = quorum
            .required_signers
            .ok_or(WalletFileError::MissingField("quorum.requiredSigners"))?;
        let total = quorum
            .total_signers
            .ok_or(WalletFileError::MissingField("quorum.totalSigners"))?;
        let listed = c
            .extended_public_keys
            .ok_or(WalletFileError::MissingField("extendedPublicKeys"))?;
        if listed.len() > MAX_KEYS {
            return Err(WalletFileError::TooManyKeys);
        }
        let mut keys = Vec::with_capacity(listed.len());
        for (position, k) in listed.iter().enumerate() {
            let fingerprint = parse_fingerprint(
                k.xfp
                    .as_deref()
                    .ok_or(WalletFileError::MissingField("extendedPublicKeys.xfp"))?,
                position,
            )?;
            let origin_path = k
                .bip32_path
                .as_deref()
                .and_then(parse_path)
                .ok_or(WalletFileError::BadPath { position })?;
            let xpub = parse_xpub(
                k.xpub
                    .as_deref()
                    .ok_or(WalletFileError::MissingField("extendedPublicKeys.xpub"))?,
                position,
            )?;
            check_network(&xpub, position, network)?;
            keys.push(WalletKey {
                fingerprint,
                origin_path,
                xpub,
            });
        }
        // Counts beyond usize on a 32-bit target are no count of keys.
        let required = usize::try_from(required).unwrap_or(usize::MAX);
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        assemble(required, total, keys, network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_as_coldcard_reads_them() {
        assert_eq!(parse_policy("2 of 3"), Some((2, 3)));
        assert_eq!(parse_policy("2/3"), Some((2, 3)));
        assert_eq!(parse_policy("2,3"), Some((2, 3)));
        assert_eq!(parse_policy("15 of 15"), Some((15, 15)));
        assert_eq!(parse_policy("2 of"), None);
        assert_eq!(parse_policy("of 3"), None);
        assert_eq!(parse_policy("2 of 3x"), None);
        assert_eq!(parse_policy("9999 of 9999"), None);
        assert_eq!(parse_policy(""), None);
    }

    #[test]
    fn paths_need_steps_or_m() {
        assert_eq!(parse_path(""), None);
        assert_eq!(parse_path("m"), Some(DerivationPath::master()));
        assert_eq!(
            parse_path("48h/1h/0h/2h"),
            Some("m/48'/1'/0'/2'".parse().unwrap())
        );
        assert_eq!(parse_path("Unknown"), None);
        let deepest = "1/".repeat(254) + "1";
        assert_eq!(parse_path(&deepest).map(|p| p.len()), Some(255));
        assert_eq!(
            parse_path(&format!("m/{deepest}")).map(|p| p.len()),
            Some(255)
        );
        assert_eq!(parse_path(&format!("{deepest}/1")), None);
    }

    #[test]
    fn caravan_networks() {
        assert_eq!(caravan_network(Network::Bitcoin), "mainnet");
        assert_eq!(caravan_network(Network::Testnet), "testnet");
        assert_eq!(caravan_network(Network::Signet), "testnet");
        assert_eq!(caravan_network(Network::Regtest), "regtest");
    }
}
