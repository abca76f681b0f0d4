//! The incident replays' key numbers (the examples print the same data).

use kinko_policy::replay::{binance_2019, coincheck_2018};
use kinko_policy::Amount;
use kinko_policy::Timestamp;

#[test]
fn coincheck_2018_numbers() {
    let r = coincheck_2018().unwrap();
    // The thefts add up to the whole custody: Amount::from_units(100)% lost without a policy.
    assert_eq!(
        Amount::checked_sum(r.thefts.iter().map(|t| t.amount)).unwrap(),
        526_300_010
    );
    let col = |name: &str| r.columns.iter().find(|c| c.name == name).unwrap();

    let none = col("no policy");
    assert_eq!(none.lost, 526_300_010);
    assert!(none.denied_by.iter().all(Option::is_none));

    // Japan's 5% rule alone: the 100,000,000 transfers cannot be paid; the
    // thief drains the 26,315,000 hot wallet down to 14,990.
    let five = col("5% hot only");
    assert_eq!(five.hot_at_start, 26_315_000);
    assert_eq!(five.lost, 26_300_010);
    assert_eq!(&five.denied_by[1..6], &[Some("insufficient_hot"); 5]);
    assert_eq!(five.breaker_fired_at, None);

    // The standard and japan presets: the 10 XEM test passes, the first
    // 100,000,000 request trips the breaker (3% of custody in 1h) at 00:02.
    let fired = Timestamp::parse_rfc3339("2018-01-26T00:02:00+09:00").unwrap();
    for name in ["standard", "japan"] {
        let c = col(name);
        assert_eq!(c.lost, 10, "{name}");
        assert_eq!(c.breaker_fired_at, Some(fired), "{name}");
        assert_eq!(c.denied_by[1], Some("circuit_breaker"));
        assert!(c.denied_by[2..].iter().all(|d| *d == Some("frozen")));
        // Worst case over 00:02-11:25 for an attacker who adapts: 5% (the 24h window).
        assert_eq!(c.bound, 26_315_000);
    }
    assert_eq!(col("standard").hot_at_start, 52_630_001);
    assert_eq!(col("japan").hot_at_start, 26_315_000);
}

#[test]
fn binance_2019_numbers() {
    let r = binance_2019().unwrap();
    let col = |name: &str| r.columns.iter().find(|c| c.name == name).unwrap();
    assert_eq!(col("2% hot, no limits").hot_at_start, 7_000);
    assert_eq!(col("2% hot, no limits").lost, 7_000);
    assert_eq!(col("5% hot only").lost, 7_000);
    for name in ["standard", "japan"] {
        let c = col(name);
        // 7,000 BTC is above the per-withdrawal maximum (0.5% = 1,750 BTC).
        assert_eq!(c.lost, 0);
        assert_eq!(c.denied_by, vec![Some("max_withdrawal")]);
        // An attacker who adapts: at most 2% of custody in the first hour.
        assert_eq!(c.bound, 7_000);
    }
}
