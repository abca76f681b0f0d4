//! Small value types with their own rules: instants, durations, shares and
//! levels. Each parses strictly from the text a policy file or an event
//! stream holds, and never panics on any input.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An amount in an asset's integer base units (satoshi, micro-XEM, ...).
///
/// No arithmetic operators: every sum is [`Amount::checked_add`] or says
/// that it saturates. Its JSON and TOML form is the plain integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(u64);

impl Amount {
    /// No base units.
    pub const ZERO: Amount = Amount(0);
    /// The largest amount (`u64::MAX` base units).
    pub const MAX: Amount = Amount(u64::MAX);

    /// This many base units.
    pub const fn from_units(units: u64) -> Self {
        Amount(units)
    }

    /// The number of base units.
    pub const fn units(self) -> u64 {
        self.0
    }

    /// Whether it is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, other: Amount) -> Option<Amount> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Amount(v)),
            None => None,
        }
    }

    /// `self - other`, `None` below zero.
    #[must_use]
    pub const fn checked_sub(self, other: Amount) -> Option<Amount> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Amount(v)),
            None => None,
        }
    }

    /// `self × n`, `None` on overflow.
    #[must_use]
    pub const fn checked_mul(self, n: u64) -> Option<Amount> {
        match self.0.checked_mul(n) {
            Some(v) => Some(Amount(v)),
            None => None,
        }
    }

    /// `self × n`, at most [`Amount::MAX`].
    #[must_use]
    pub const fn saturating_mul(self, n: u64) -> Amount {
        Amount(self.0.saturating_mul(n))
    }

    /// `self + other`, at most [`Amount::MAX`].
    #[must_use]
    pub const fn saturating_add(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }

    /// `self - other`, at least zero.
    #[must_use]
    pub const fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    /// The sum of `amounts`, `None` on overflow.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Amount>) -> Option<Amount> {
        amounts
            .into_iter()
            .try_fold(Amount::ZERO, |s, a| s.checked_add(a))
    }
}

// Comparing with a count of base units makes no amount, so it is allowed
// (tests and limits read naturally); arithmetic with bare integers is not.
impl PartialEq<u64> for Amount {
    fn eq(&self, other: &u64) -> bool {
        self.0 == *other
    }
}

impl PartialEq<Amount> for u64 {
    fn eq(&self, other: &Amount) -> bool {
        *self == other.0
    }
}

impl PartialOrd<Amount> for u64 {
    fn partial_cmp(&self, other: &Amount) -> Option<std::cmp::Ordering> {
        self.partial_cmp(&other.0)
    }
}

impl PartialOrd<u64> for Amount {
    fn partial_cmp(&self, other: &u64) -> Option<std::cmp::Ordering> {
        self.0.partial_cmp(other)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Amount {
    type Err = std::num::ParseIntError;
    /// A decimal integer of base units.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Amount)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(Amount)
    }
}

/// Basis points in one whole (100%).
pub const BPS_PER_WHOLE: u32 = 10_000;

/// An instant, in whole seconds since the Unix epoch (UTC).
///
/// The engine counts time in whole seconds: an RFC 3339 time with a fraction
/// is rounded down to its second. Text form: RFC 3339 (`2018-01-26T00:02:00+09:00`),
/// written back in UTC (`2018-01-25T15:02:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a timestamp did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not an RFC 3339 date-time with an offset.
    #[error("invalid rfc 3339 time {0:?}")]
    Invalid(String),
}

impl Timestamp {
    /// The instant `secs` seconds after the Unix epoch.
    pub const fn from_unix(secs: i64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// The earliest instant [`Timestamp::parse_rfc3339`] accepts and
    /// `Display` writes in RFC 3339: `0000-01-01T00:00:00Z`.
    pub const MIN_RFC3339: Timestamp = Timestamp(-62_167_219_200);
    /// The latest instant [`Timestamp::parse_rfc3339`] accepts and `Display`
    /// writes in RFC 3339: `9999-12-31T23:59:59Z`.
    pub const MAX_RFC3339: Timestamp = Timestamp(253_402_300_799);

    /// Parses an RFC 3339 date-time with `Z` or a numeric offset, in one
    /// strict spelling, and returns its instant in whole seconds.
    ///
    /// An audit log must read the same instant from a text as every other
    /// tool does, and one instant should not hide behind odd spellings. So
    /// the accepted language is RFC 3339's `date-time`, narrowed:
    ///
    /// `YYYY-MM-DD` `T` `hh:mm:ss` \[`.` 1 to 9 digits\] (`Z` | `+hh:mm` | `-hh:mm`)
    ///
    /// - **Offsets** (`+09:00`, up to ±23:59) are accepted: exchanges log in
    ///   local time, and an offset names one instant exactly. `-00:00` is UTC
    ///   (RFC 3339 §4.3). The instant is written back in UTC with `Z`.
    /// - **A fraction** of 1 to 9 digits (nanoseconds, as JavaScript's
    ///   `toISOString` writes milliseconds) is accepted and **rounded down** to
    ///   its second: the engine counts whole seconds, and rounding down keeps
    ///   the order of any two events (never moves one later). More than nine
    ///   digits are refused.
    /// - **Refused**, although RFC 3339 or the `time` crate allow them: a
    ///   lowercase `t` or `z` and any separator other than `T` (a space, as
    ///   in SQL), so that logs have one spelling; a leap second `:60` (Unix
    ///   time, which the engine counts, has no leap seconds, and reading it as
    ///   `:59` would put two real seconds at one instant); and an instant
    ///   whose UTC form falls outside the years 0000 to 9999
    ///   ([`Self::MIN_RFC3339`] to [`Self::MAX_RFC3339`]), which `Display`
    ///   could not write back (e.g. `0000-01-01T00:00:00+01:00`).
    ///
    /// Every instant in that range round-trips: `parse_rfc3339(&t.to_string())
    /// == Ok(t)`. Calendar checks (month lengths, leap years, hour ≤ 23) are
    /// the `time` crate's.
    ///
    /// # Errors
    /// [`TimestampError::Invalid`] when the text is not in this form, names
    /// no valid date or time, or lies outside the years 0000 to 9999 in UTC.
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimestampError> {
        let invalid = || TimestampError::Invalid(s.chars().take(64).collect());
        // The narrowing above is a shape check on the bytes; the `time`
        // crate (no option for this narrower language) then does the
        // calendar and the offset arithmetic.
        if !strict_rfc3339_shape(s.as_bytes()) {
            return Err(invalid());
        }
        let dt = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| invalid())?;
        let t = Timestamp(dt.unix_timestamp());
        if t < Self::MIN_RFC3339 || t > Self::MAX_RFC3339 {
            return Err(invalid());
        }
        Ok(t)
    }

    /// This instant plus a duration, saturating at the ends of `i64`.
    pub fn saturating_add(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.secs_i64()))
    }

    /// This instant minus a duration, saturating at the ends of `i64`.
    pub fn saturating_sub(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_sub(d.secs_i64()))
    }
}

/// Whether `b` has the shape `DDDD-DD-DDTDD:DD:DD[.D{1,9}](Z|[+-]DD:DD)`
/// with a seconds field other than `60` (see [`Timestamp::parse_rfc3339`]).
fn strict_rfc3339_shape(b: &[u8]) -> bool {
    fn digits(b: &[u8]) -> bool {
        b.iter().all(u8::is_ascii_digit)
    }
    let Some((head, rest)) = b.split_at_checked(19) else {
        return false;
    };
    let shape = digits(&head[0..4])
        && head[4] == b'-'
        && digits(&head[5..7])
        && head[7] == b'-'
        && digits(&head[8..10])
        && head[10] == b'T'
        && digits(&head[11..13])
        && head[13] == b':'
        && digits(&head[14..16])
        && head[16] == b':'
        && digits(&head[17..19])
        && &head[17..19] != b"60";
    if !shape {
        return false;
    }
    let offset = match rest.strip_prefix(b".") {
        Some(f) => {
            let n = f.iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=9).contains(&n) {
                return false;
            }
            &f[n..]
        }
        None => rest,
    };
    match offset {
        b"Z" => true,
        [sign, h1, h2, b':', m1, m2] => {
            (*sign == b'+' || *sign == b'-') && digits(&[*h1, *h2, *m1, *m2])
        }
        _ => false,
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|dt| dt.format(&Rfc3339).ok())
        {
            Some(s) => f.write_str(&s),
            // Outside the years RFC 3339 can write: show the raw seconds.
            None => write!(f, "@{}", self.0),
        }
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse_rfc3339(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 time such as \"2018-01-26T00:02:00+09:00\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                if let Some(raw) = v.strip_prefix('@') {
                    // The form Display writes for instants RFC 3339 cannot hold.
                    return raw
                        .parse::<i64>()
                        .map(Timestamp)
                        .map_err(|_| E::custom(format!("invalid time {v:?}")));
                }
                Timestamp::parse_rfc3339(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A length of time in whole seconds, written in policy files as one integer
/// and one unit: `"30s"`, `"10m"`, `"24h"`, `"7d"`.
///
/// Hand-written parser (a dozen lines) rather than `humantime`: the accepted
/// language is deliberately tiny and strict (one unit, no spaces, no sign, no
/// fractions), so a policy never means something other than what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u32);

/// The longest duration a policy may hold: 366 days.
pub const MAX_DURATION_SECS: u32 = 366 * 86_400;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Not `<digits><unit>` with unit s, m, h or d.
    #[error("invalid duration {0:?} (expected digits and one unit s, m, h or d, e.g. \"24h\")")]
    Invalid(String),
    /// Longer than [`MAX_DURATION_SECS`].
    #[error("duration {0:?} is longer than 366 days")]
    TooLong(String),
}

impl Duration {
    /// A duration of `secs` seconds, if at most [`MAX_DURATION_SECS`].
    pub const fn from_secs(secs: u32) -> Option<Self> {
        if secs <= MAX_DURATION_SECS {
            Some(Duration(secs))
        } else {
            None
        }
    }

    /// Whole seconds.
    pub const fn secs(self) -> u32 {
        self.0
    }

    fn secs_i64(self) -> i64 {
        i64::from(self.0)
    }

    /// Parses `"10m"`-style text; see the type's documentation.
    ///
    /// # Errors
    /// [`DurationError`] naming the text.
    pub fn parse(s: &str) -> Result<Self, DurationError> {
        let short = || s.chars().take(32).collect::<String>();
        let (digits, unit) = match s.char_indices().last() {
            Some((i, c)) => (&s[..i], c),
            None => return Err(DurationError::Invalid(short())),
        };
        let mult: u64 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return Err(DurationError::Invalid(short())),
        };
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DurationError::Invalid(short()));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| DurationError::Invalid(short()))?;
        let secs = n
            .checked_mul(mult)
            .ok_or_else(|| DurationError::TooLong(short()))?;
        if secs > u64::from(MAX_DURATION_SECS) {
            return Err(DurationError::TooLong(short()));
        }
        // Fits: at most MAX_DURATION_SECS.
        Ok(Duration(secs as u32))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s > 86_400 && s.is_multiple_of(86_400) {
            write!(f, "{}d", s / 86_400)
        } else if s != 0 && s.is_multiple_of(3_600) {
            write!(f, "{}h", s / 3_600)
        } else if s != 0 && s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"10m\" or \"24h\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A share of a whole, in basis points (1% = 100 bps), at most 100%.
///
/// Written as a percentage string with at most two decimals: `"5%"`,
/// `"0.25%"`, `"100%"`. Parsed exactly, never through a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Share(u32);

/// Why a share did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShareError {
    /// Not a percentage with at most two decimals.
    #[error("invalid percentage {0:?} (expected e.g. \"5%\" or \"0.25%\")")]
    Invalid(String),
    /// Above 100%.
    #[error("percentage {0:?} is above 100%")]
    AboveWhole(String),
}

impl Share {
    /// 100%.
    pub const WHOLE: Share = Share(BPS_PER_WHOLE);

    /// A share of `bps` basis points, if at most 10,000.
    pub const fn from_bps(bps: u32) -> Option<Self> {
        if bps <= BPS_PER_WHOLE {
            Some(Share(bps))
        } else {
            None
        }
    }

    /// Basis points (1% = 100).
    pub const fn bps(self) -> u32 {
        self.0
    }

    /// `floor(amount × share)`, exact.
    pub fn of(self, amount: Amount) -> Amount {
        // With amount = q × 10,000 + r: floor(amount × bps / 10,000) =
        // q × bps + floor(r × bps / 10,000), exactly. No term overflows
        // (q × bps <= amount as bps <= 10,000; r × bps < 10^8), and the
        // divisions by a constant compile to multiplications, where a u128
        // division is a library call (every decision resolves a cap).
        let bps = u64::from(self.0);
        let whole = u64::from(BPS_PER_WHOLE);
        let (q, r) = (amount.0 / whole, amount.0 % whole);
        Amount(q * bps + r * bps / whole)
    }

    /// Parses `"5%"`-style text; see the type's documentation.
    ///
    /// # Errors
    /// [`ShareError`] naming the text.
    pub fn parse(s: &str) -> Result<Self, ShareError> {
        let short = || s.chars().take(32).collect::<String>();
        let body = s
            .strip_suffix('%')
            .ok_or_else(|| ShareError::Invalid(short()))?;
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        let digits_ok = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty()
            || int.len() > 3
            || !digits_ok(int)
            || frac.len() > 2
            || !digits_ok(frac)
            || (body.contains('.') && frac.is_empty())
        {
            return Err(ShareError::Invalid(short()));
        }
        let whole: u32 = int.parse().map_err(|_| ShareError::Invalid(short()))?;
        let mut hundredths: u32 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| ShareError::Invalid(short()))?
        };
        if frac.len() == 1 {
            hundredths *= 10;
        }
        let bps = whole * 100 + hundredths;
        Share::from_bps(bps).ok_or_else(|| ShareError::AboveWhole(short()))
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (w, h) = (self.0 / 100, self.0 % 100);
        if h == 0 {
            write!(f, "{w}%")
        } else if h % 10 == 0 {
            write!(f, "{w}.{}%", h / 10)
        } else {
            write!(f, "{w}.{h:02}%")
        }
    }
}

impl FromStr for Share {
    type Err = ShareError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Share::parse(s)
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Share;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage string such as \"5%\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Share, E> {
                Share::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A level relative to the hot cap in force: an absolute amount (an integer
/// in the file) or a share of the cap (a percentage string). Used for the
/// sweep target and the refill floor and target, so that they follow a cap
/// that moves with custody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// This many base units (never more than the cap).
    Amount(Amount),
    /// This share of the hot cap in force.
    ShareOfCap(Share),
}

impl Level {
    /// The level in base units for a cap, never above the cap.
    pub fn resolve(self, cap: Amount) -> Amount {
        match self {
            Level::Amount(a) => a.min(cap),
            Level::ShareOfCap(s) => s.of(cap),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Level::Amount(a) => write!(f, "{a}"),
            Level::ShareOfCap(s) => write!(f, "{s} of the hot cap"),
        }
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Level::Amount(a) => a.serialize(s),
            Level::ShareOfCap(sh) => sh.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Level;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer amount in base units or a percentage of the hot cap")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Level, E> {
                Ok(Level::Amount(Amount(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Level, E> {
                u64::try_from(v)
                    .map(|v| Level::Amount(Amount(v)))
                    .map_err(|_| E::custom(format!("negative amount {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Level, E> {
                Share::parse(v).map(Level::ShareOfCap).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_strictly() {
        assert_eq!(Duration::parse("10m").unwrap().secs(), 600);
        assert_eq!(Duration::parse("24h").unwrap().secs(), 86_400);
        assert_eq!(Duration::parse("7d").unwrap().secs(), 604_800);
        assert_eq!(Duration::parse("0s").unwrap().secs(), 0);
        for bad in [
            "",
            "h",
            "10",
            "1.5h",
            "-1h",
            "+1h",
            " 1h",
            "1h ",
            "1H",
            "1h30m",
            "10mm",
            "１h",
            "99999999999d",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            Duration::parse("367d"),
            Err(DurationError::TooLong(_))
        ));
        assert_eq!(Duration::parse("90m").unwrap().to_string(), "90m");
        assert_eq!(Duration::parse("120m").unwrap().to_string(), "2h");
        assert_eq!(Duration::parse("1d").unwrap().to_string(), "24h");
        assert_eq!(Duration::parse("7d").unwrap().to_string(), "7d");
    }

    #[test]
    fn shares_parse_exactly() {
        assert_eq!(Share::parse("5%").unwrap().bps(), 500);
        assert_eq!(Share::parse("0.25%").unwrap().bps(), 25);
        assert_eq!(Share::parse("0.5%").unwrap().bps(), 50);
        assert_eq!(Share::parse("100%").unwrap().bps(), 10_000);
        assert_eq!(Share::parse("0%").unwrap().bps(), 0);
        for bad in [
            "5", "%", ".5%", "5.%", "0.125%", "-1%", "1e2%", "5 %", "1000%",
        ] {
            assert!(Share::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            Share::parse("100.01%"),
            Err(ShareError::AboveWhole(_))
        ));
        for s in ["5%", "0.25%", "0.5%", "12.3%", "100%"] {
            assert_eq!(Share::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Share::parse("5%")
                .unwrap()
                .of(Amount::from_units(526_300_010)),
            26_315_000
        );
        assert_eq!(Share::WHOLE.of(Amount::MAX), Amount::MAX);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 10_000, failure_persistence: None, ..Default::default()
        })]

        /// `Share::of` equals the 128-bit product and quotient.
        #[test]
        fn share_of_is_the_exact_floor(
            amount in proptest::prop_oneof![proptest::num::u64::ANY, 0u64..100_000],
            bps in 0u32..=BPS_PER_WHOLE,
        ) {
            let exact = u128::from(amount) * u128::from(bps) / u128::from(BPS_PER_WHOLE);
            let share = Share::from_bps(bps).unwrap();
            proptest::prop_assert_eq!(u128::from(share.of(Amount::from_units(amount)).units()), exact);
        }
    }

    /// What `parse_rfc3339` accepts (with the instant, in Unix seconds) and
    /// what it refuses: see its documentation for the reasons.
    #[test]
    fn timestamps_parse_one_strict_rfc3339_spelling() {
        let coincheck = 1_516_892_520; // 2018-01-25T15:02:00Z
        let accepted: &[(&str, i64)] = &[
            ("2018-01-25T15:02:00Z", coincheck),
            ("2018-01-26T00:02:00+09:00", coincheck),
            ("2018-01-25T10:32:00-04:30", coincheck),
            ("2018-01-25T15:02:00+00:00", coincheck),
            ("2018-01-25T15:02:00-00:00", coincheck),
            // Fractions of 1 to 9 digits, rounded down to the second.
            ("2018-01-25T15:02:00.9Z", coincheck),
            ("2018-01-25T15:02:00.999Z", coincheck),
            ("2018-01-25T15:02:00.999999999Z", coincheck),
            ("2018-01-26T00:02:00.5+09:00", coincheck),
            // Rounded down also before the epoch (toward the earlier second).
            ("1969-12-31T23:59:59.5Z", -1),
            ("1970-01-01T00:00:00Z", 0),
            // Offsets up to ±23:59, across day and year ends.
            ("2018-01-26T23:59:00+23:59", 1_516_924_800),
            ("2017-12-31T23:00:00-01:00", 1_514_764_800),
            // Calendar: 29 February of a leap year.
            ("2024-02-29T12:00:00Z", 1_709_208_000),
            // The ends of what Display writes back.
            ("0000-01-01T00:00:00Z", Timestamp::MIN_RFC3339.unix()),
            ("9999-12-31T23:59:59Z", Timestamp::MAX_RFC3339.unix()),
            (
                "9999-12-31T23:59:59.999999999Z",
                Timestamp::MAX_RFC3339.unix(),
            ),
            ("0000-01-01T09:00:00+09:00", Timestamp::MIN_RFC3339.unix()),
        ];
        for &(text, unix) in accepted {
            assert_eq!(
                Timestamp::parse_rfc3339(text),
                Ok(Timestamp::from_unix(unix)),
                "{text:?}"
            );
        }
        let refused = [
            // Not a date-time with an offset.
            "",
            "yesterday",
            "2018-01-26",
            "2018-01-26T00:02:00",
            "2018-01-26T00:02Z",
            "1516892520",
            // One spelling: uppercase T and Z, no other separator.
            "2018-01-25t15:02:00Z",
            "2018-01-25T15:02:00z",
            "2018-01-25 15:02:00Z",
            "2018-01-25_15:02:00Z",
            // Leap seconds, even a real one (2016-12-31T23:59:60Z).
            "2016-12-31T23:59:60Z",
            "2018-01-25T15:02:60Z",
            // Fractions: at least one digit, at most nine.
            "2018-01-25T15:02:00.Z",
            "2018-01-25T15:02:00.1234567890Z",
            "2018-01-25T15:02:00,5Z",
            // Offsets: hh:mm within ±23:59, with a sign and a colon.
            "2018-01-25T15:02:00+0900",
            "2018-01-25T15:02:00+9:00",
            "2018-01-25T15:02:00+24:00",
            "2018-01-25T15:02:00+09:60",
            "2018-01-25T15:02:00 +09:00",
            "2018-01-25T15:02:00+09:00:00",
            "2018-01-25T15:02:00UTC",
            "2018-01-25T15:02:00Z ",
            " 2018-01-25T15:02:00Z",
            // Calendar and clock.
            "2018-02-29T00:00:00Z",
            "2018-13-01T00:00:00Z",
            "2018-00-01T00:00:00Z",
            "2018-01-32T00:00:00Z",
            "2018-01-25T24:00:00Z",
            "2018-01-25T15:60:00Z",
            // Signs, widths and non-ASCII digits.
            "+2018-01-25T15:02:00Z",
            "-0001-12-31T00:00:00Z",
            "12018-01-25T15:02:00Z",
            "２018-01-25T15:02:00Z",
            // Instants outside the years 0000 to 9999 in UTC.
            "0000-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            // Display's form for those is read by serde, not by this parser.
            "@0",
        ];
        for text in refused {
            assert!(
                matches!(
                    Timestamp::parse_rfc3339(text),
                    Err(TimestampError::Invalid(_))
                ),
                "{text:?} was accepted"
            );
        }
        assert_eq!(
            Timestamp::from_unix(coincheck).to_string(),
            "2018-01-25T15:02:00Z"
        );
        assert_eq!(
            Timestamp::from_unix(i64::MAX).to_string(),
            format!("@{}", i64::MAX)
        );
        assert_eq!(
            Timestamp::from_unix(Timestamp::MIN_RFC3339.unix() - 1).to_string(),
            format!("@{}", Timestamp::MIN_RFC3339.unix() - 1)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 10_000, failure_persistence: None, ..Default::default()
        })]

        /// Every instant Display writes in RFC 3339 parses back to itself;
        /// every other one is written `@secs` and still round-trips through
        /// serde.
        #[test]
        fn every_representable_timestamp_round_trips(
            secs in proptest::prop_oneof![
                Timestamp::MIN_RFC3339.unix()..=Timestamp::MAX_RFC3339.unix(),
                proptest::num::i64::ANY,
            ]
        ) {
            let t = Timestamp::from_unix(secs);
            let text = t.to_string();
            if (Timestamp::MIN_RFC3339..=Timestamp::MAX_RFC3339).contains(&t) {
                proptest::prop_assert!(text.ends_with('Z') && text.len() == 20, "{}", text);
                proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&text), Ok(t));
            } else {
                proptest::prop_assert_eq!(text.clone(), format!("@{secs}"));
                proptest::prop_assert!(Timestamp::parse_rfc3339(&text).is_err());
            }
            let json = serde_json::to_string(&t).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        }
    }
}
