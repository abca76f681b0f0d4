//! Prints a replay as a table (shared by the replay examples).

use kinko_policy::replay::Replay;
use kinko_policy::Timestamp;

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    // Hundredths of a percent, integer arithmetic.
    let bps = u128::from(part) * 10_000 / u128::from(whole);
    format!("{}.{:02}%", bps / 100, bps % 100)
}

/// Prints the replay: one row per theft, one column per policy, then totals.
pub fn print(r: &Replay) {
    let unit = r.unit;
    println!("custody {} {unit}", r.custody);
    let w = 25;
    print!("{:<26}{:>14}", "time", "amount");
    for c in &r.columns {
        print!("  {:>w$}", c.name);
    }
    println!();
    print!("{:<26}{:>14}", "hot at start", "");
    for c in &r.columns {
        print!("  {:>w$}", c.hot_at_start);
    }
    println!();
    for (i, t) in r.thefts.iter().enumerate() {
        print!("{:<26}{:>14}", t.at, t.amount);
        for c in &r.columns {
            let cell = match c.denied_by.get(i).copied().flatten() {
                None => "sent".to_owned(),
                Some(rule) => format!("denied {rule}"),
            };
            print!("  {cell:>w$}");
        }
        println!();
    }
    if let Some(d) = r.detected_at {
        println!("{:<26}{:>14}", d, "detected");
    }
    print!("{:<40}", format!("lost ({unit})"));
    for c in &r.columns {
        print!("  {:>w$}", c.lost);
    }
    println!();
    print!("{:<40}", "lost (% of custody)");
    for c in &r.columns {
        print!("  {:>w$}", pct(c.lost.units(), r.custody.units()));
    }
    println!();
    print!("{:<40}", "breaker fired at");
    for c in &r.columns {
        // Shown in the incident's local time, as the thefts are.
        let at = c.breaker_fired_at.map_or("-".to_owned(), |t| {
            r.thefts
                .iter()
                .find(|x| Timestamp::parse_rfc3339(x.at).ok() == Some(t))
                .map_or_else(|| t.to_string(), |x| x.at.to_owned())
        });
        print!("  {at:>w$}");
    }
    println!();
    print!("{:<40}", "worst case (loss bound)");
    for c in &r.columns {
        print!("  {:>w$}", c.bound);
    }
    println!();
    println!();
    println!("loss bound: the most an attacker holding the hot key could take over the");
    println!("incident's span (first theft to detection; 1h if unknown), assuming refills");
    println!("keep the hot wallet funded; a policy with no window or breaker bounds nothing.");
}
