//! The engine's names: asset, user, withdrawal and destination ids, each
//! checked once when it is made (from text, JSON or TOML) and cheap to clone
//! afterwards (shared, not copied: a decision records an id in its change,
//! its decision and the state without allocating).
//!
//! Approver names stay plain strings: they are checked against the
//! configured approvers, which the policy file validated.

use std::borrow::Borrow;
use std::collections::hash_map::{DefaultHasher, RandomState};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Deref;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Longest destination, user, withdrawal id or approver name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Longest asset id, in bytes.
pub const MAX_ASSET_LEN: usize = 64;

/// A name that breaks its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {rule}")]
pub struct IdError {
    /// What kind of name (`withdrawal id`, `user`, `destination`, `asset`).
    pub what: &'static str,
    /// The rule it breaks.
    pub rule: &'static str,
}

const NAME_RULE: &str = "1 to 256 characters without spaces or control characters";
const ASSET_RULE: &str = "1 to 64 characters from A-Z a-z 0-9 . _ -";

/// Whether `s` is a valid name: 1 to [`MAX_NAME_LEN`] bytes, no whitespace,
/// no control or invisible characters.
pub fn valid_name(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_NAME_LEN {
        return false;
    }
    // Fast path for ASCII (addresses, ids): printable and not a space, i.e.
    // every byte in b'!'..=b'~'. Written as a max over all bytes (no early
    // exit) so that it compiles to a few vector instructions.
    let graphic = s.bytes().fold(0u8, |m, b| m.max(b.wrapping_sub(b'!'))) <= b'~' - b'!';
    if graphic {
        return true;
    }
    !s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || invisible(c))
}

/// Whether `s` is a valid asset id: 1 to [`MAX_ASSET_LEN`] characters from
/// `A-Z a-z 0-9 . _ -`.
pub fn valid_asset(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ASSET_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Characters that change how a name looks without being seen: bidi
/// controls (which reorder what follows), zero-width characters, joiners,
/// fillers, tags. Two ids that look the same in a log are one mistake away
/// from a wrong payout, so names refuse them. (Rust's standard library has
/// no Unicode general category; this is the Cf list plus the invisible
/// fillers, written out.)
pub(crate) fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// The one keyed SipHash of the process: std's `RandomState` (random keys
/// from the operating system).
fn sip() -> &'static RandomState {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    KEYS.get_or_init(RandomState::new)
}

/// The keyed hash of a name's text, computed once when the name is made.
/// The names keyed by it come from outside (withdrawal ids, users,
/// destinations), so it stays keyed against collision floods; it is just not
/// computed again for every map operation (lookup, insert, rehash).
fn text_hash(s: &str) -> u64 {
    sip().hash_one(s)
}

/// The hasher of an [`IdMap`]: takes the hash a name computed when it was
/// made; anything else written to it is hashed with the keyed SipHash.
#[derive(Debug, Clone)]
pub struct IdHasher {
    other: DefaultHasher,
    cached: Option<u64>,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.cached = None;
        self.other.write(bytes);
    }

    fn write_u64(&mut self, i: u64) {
        // Only a name's cached hash is written as one u64 to this hasher.
        self.cached = Some(i);
    }

    fn finish(&self) -> u64 {
        self.cached.unwrap_or_else(|| self.other.finish())
    }
}

/// Builds [`IdHasher`]s (see there).
#[derive(Debug, Clone, Copy, Default)]
pub struct IdHashState;

impl BuildHasher for IdHashState {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            other: sip().build_hasher(),
            cached: None,
        }
    }
}

/// A map keyed by a withdrawal id, user or destination, hashing each key
/// once (when the name was made).
pub type IdMap<K, V> = HashMap<K, V, IdHashState>;

// Four types with one shape: written once. A crate for "validated shared
// string" would still need the four rules and names spelled out here.
macro_rules! name_type {
    // A name hashed once, when it is made: its `Hash` is that cached keyed
    // hash (consistent with `Eq`, as equal names have equal hashes). It has
    // no `Borrow<str>`, which would need `Hash` to agree with `str`'s for
    // every hasher: a map keyed by it is looked up by a name.
    (@hash $name:ident, cached) => {
        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                state.write_u64(self.1);
            }
        }
    };
    // A name hashed as its text, so that a map keyed by it is looked up by
    // `&str` too (assets: few, and only configured ones are keys).
    (@hash $name:ident, text) => {
        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, $what:literal, $valid:path, $rule:expr, $keying:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Arc<str>, u64);

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.1 == other.1 && self.0 == other.0
            }
        }

        impl Eq for $name {}

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.cmp(&other.0)
            }
        }

        name_type!(@hash $name, $keying);

        impl $name {
            /// Checks `s` and makes the id.
            ///
            /// # Errors
            /// [`IdError`] when `s` breaks the rule.
            pub fn new(s: &str) -> Result<Self, IdError> {
                if $valid(s) {
                    Ok($name(Arc::from(s), text_hash(s)))
                } else {
                    Err(IdError { what: $what, rule: $rule })
                }
            }

            /// Makes an id of text known to be valid (the engine's own
            /// generated ids); checked in debug builds only.
            #[allow(dead_code)]
            pub(crate) fn new_unchecked(s: &str) -> Self {
                debug_assert!($valid(s), "{s:?}");
                $name(Arc::from(s), text_hash(s))
            }

            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }


        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $name::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                $name::new(&s)
            }
        }

        impl TryFrom<&String> for $name {
            type Error = IdError;
            fn try_from(s: &String) -> Result<Self, IdError> {
                $name::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.as_ref().to_owned()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == &*other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == &*other.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a {}: {}", $what, $rule)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$name, E> {
                        $name::new(s).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

name_type!(
    /// An asset identifier (`"BTC"`, `"XEM"`): 1 to 64 characters from
    /// `A-Z a-z 0-9 . _ -`.
    AssetId,
    "asset",
    valid_asset,
    ASSET_RULE,
    text
);

name_type!(
    /// A user of the exchange (the owner of a withdrawal).
    UserId,
    "user",
    valid_name,
    NAME_RULE,
    cached
);

name_type!(
    /// A withdrawal's idempotency key: the same id twice never spends twice.
    WithdrawalId,
    "withdrawal id",
    valid_name,
    NAME_RULE,
    cached
);

name_type!(
    /// A destination (an address, in the chain's own text form). Matched
    /// exactly, never by prefix.
    Destination,
    "destination",
    valid_name,
    NAME_RULE,
    cached
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_when_made_and_shared_when_cloned() {
        let id = WithdrawalId::new("w1").unwrap();
        let again = id.clone();
        assert!(std::ptr::eq(id.as_str(), again.as_str()));
        assert_eq!(id, "w1");
        assert_eq!(format!("{id} {id:?}"), "w1 \"w1\"");
        for bad in ["", "a b", "a\u{200B}b", "\n", &"x".repeat(257)] {
            let e = WithdrawalId::new(bad).unwrap_err();
            assert_eq!(e.what, "withdrawal id");
            assert!(serde_json::from_str::<UserId>(&serde_json::to_string(bad).unwrap()).is_err());
        }
        assert!(AssetId::new("BTC").is_ok());
        assert!(AssetId::new("B TC").is_err());
        assert!(AssetId::new(&"A".repeat(65)).is_err());
        let d: Destination = serde_json::from_str("\"bc1qexample\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"bc1qexample\"");
        let mut m: IdMap<UserId, u8> = IdMap::default();
        for i in 0..1_000 {
            m.insert(UserId::new(&format!("u{i}")).unwrap(), 1);
        }
        assert_eq!(
            m.get(&UserId::new("u7").unwrap()),
            Some(&1),
            "made again, found"
        );
        assert_eq!(m.get(&UserId::new("u1000").unwrap()), None);
        let std: std::collections::HashSet<UserId> = m.keys().cloned().collect();
        assert!(std.contains(&UserId::new("u999").unwrap()));
        let assets: std::collections::HashMap<AssetId, u8> =
            [(AssetId::new("BTC").unwrap(), 1)].into();
        assert_eq!(assets.get("BTC"), Some(&1));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 10_000, failure_persistence: None, ..Default::default()
        })]

        /// The vectorised ASCII fast path changes no answer: a name is 1 to
        /// `MAX_NAME_LEN` bytes with no whitespace and no control character.
        #[test]
        fn valid_name_is_its_definition(
            s in proptest::prop_oneof![
                "[\\x00-\\x7f]{0,300}",
                "[!-~]{1,300}",
                "[!-~]{0,20}[ \\t\\x7f\\x00\\x85\\u{a0}\\u{3000}é]{0,2}[!-~]{0,20}",
                ".{0,80}",
            ]
        ) {
            let reference = !s.is_empty()
                && s.len() <= MAX_NAME_LEN
                && !s.chars().any(|c| c.is_whitespace() || c.is_control() || invisible(c));
            proptest::prop_assert_eq!(valid_name(&s), reference, "{:?}", s);
        }
    }

    #[test]
    fn names_refuse_bidi_and_zero_width() {
        // Trojan Source (CVE-2021-42574) reorderings and look-alike ids.
        for bad in [
            "w-1\u{202E}1-w",
            "alice\u{200B}",
            "\u{2066}bc1q\u{2069}",
            "u\u{200D}1",
            "\u{FEFF}w",
            "a\u{061C}b",
            "id\u{E0041}",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        for good in ["w-1", "アリス", "bc1qxyz", "é-1"] {
            assert!(valid_name(good), "{good:?}");
        }
    }
}
