//! What docs/policy.md says about the cases a reader would otherwise have to
//! guess (issue 14): one test a case, each naming the section that says it.

use kinko_policy::Amount;
use kinko_policy::{
    Change, Config, DecideError, Decision, Event, EventKind, FreezeReason, Level, Limit, Proposal,
    Rule, Share, Wallet, WithdrawalStatus,
};

mod common;

use common::*;

fn share(text: &str) -> Share {
    Share::parse(text).unwrap()
}

fn limit(amount: Option<u64>, share_text: Option<&str>) -> Option<Limit> {
    Limit::new(amount.map(Amount::from_units), share_text.map(share))
}

/// The refused config's message (`key: reason`).
fn refused(text: &str) -> String {
    match Config::from_toml_str(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

/// The changes of an outcome other than the clock's.
fn changes(out: &kinko_policy::Outcome) -> Vec<&Change> {
    out.changes
        .iter()
        .filter(|c| !matches!(c, Change::Clock { .. }))
        .collect()
}

const APPROVERS: &str =
    "[assets.A.approvals]\napprovers = [\"ann\", \"ben\", \"cat\"]\nquorum = 2\n";

/// docs/policy.md, "Presets": the issue's example. The preset's
/// `max_withdrawal_share` (0.5%) stands beside the written `max_withdrawal`,
/// so the maximum is min(48505, 0.5% of 946722) = 4733, under both presets.
#[test]
fn a_written_max_withdrawal_keeps_the_presets_share_beside_it() {
    for preset in ["standard", "japan"] {
        let mut h = H::new(&format!(
            "[assets.A]\npreset = \"{preset}\"\nhot_cap = 400000\nmax_withdrawal = 48505\n{APPROVERS}"
        ));
        h.deposit(0, Wallet::Cold, 866_722);
        h.deposit(0, Wallet::Hot, 80_000);
        let d = h.withdraw(5, "w-1", 9_000);
        assert_eq!(
            d,
            Decision::Denied {
                id: "w-1".parse().unwrap(),
                rule: Rule::MaxWithdrawal {
                    limit: Amount::from_units(4_733)
                }
            },
            "{preset}"
        );
        let p = h.config.asset("A").unwrap();
        assert_eq!(p.max_withdrawal(), limit(Some(48_505), Some("0.5%")));
        assert_eq!(
            p.max_withdrawal().unwrap().to_string(),
            "min(48505, 0.5% of custody)"
        );
        let filled: Vec<_> = p.preset_fills().iter().map(|f| (f.key, f.beside)).collect();
        assert_eq!(
            filled,
            [
                ("hot_cap_share", "hot_cap"),
                ("max_withdrawal_share", "max_withdrawal")
            ]
        );
    }
}

/// What the file writes of one pair.
#[derive(Debug, Clone, Copy)]
enum Written {
    Neither,
    AmountOnly,
    ShareOnly,
    Both,
}

const WRITTEN: [Written; 4] = [
    Written::Neither,
    Written::AmountOnly,
    Written::ShareOnly,
    Written::Both,
];

/// docs/policy.md, "Presets": every pair, with each preset, for each of
/// neither half, the amount only, the share only and both written. A pair of
/// the asset's own keys is filled in half by half (and `preset_fills` names
/// the half filled beside a written one); a window's or the breaker's pair is
/// inside a table, which, written, replaces the preset's whole.
#[test]
fn presets_fill_in_each_half_of_every_pair_alike() {
    for (preset, hot) in [("standard", "10%"), ("japan", "5%")] {
        for w in WRITTEN {
            let (amount, share_text) = match w {
                Written::Neither => (None, None),
                Written::AmountOnly => (Some(1_000u64), None),
                Written::ShareOnly => (None, Some("0.25%")),
                Written::Both => (Some(1_000), Some("0.25%")),
            };
            let keys = |a: &str, s: &str| {
                amount.map_or(String::new(), |v| format!("{a} = {v}\n"))
                    + &share_text.map_or(String::new(), |v| format!("{s} = \"{v}\"\n"))
            };
            let base = format!("[assets.A]\npreset = \"{preset}\"\n");
            let ctx = format!("{preset} {w:?}");
            // An amount/share pair of the asset's own keys: the preset's
            // share fills in a share left out (the presets write no amounts).
            let filled = amount.is_some() && share_text.is_none();
            for (a, s, preset_share) in [
                ("hot_cap", "hot_cap_share", hot),
                ("max_withdrawal", "max_withdrawal_share", "0.5%"),
            ] {
                let c = Config::from_toml_str(&format!("{base}{}{APPROVERS}", keys(a, s))).unwrap();
                let p = c.asset("A").unwrap();
                let got = if a == "hot_cap" {
                    Some(p.hot_cap())
                } else {
                    p.max_withdrawal()
                };
                let want = limit(amount, share_text.or(Some(preset_share)));
                assert_eq!(got, want, "{ctx} {a}");
                let fills: Vec<_> = p.preset_fills().iter().map(|f| (f.key, f.beside)).collect();
                assert_eq!(
                    fills,
                    if filled { vec![(s, a)] } else { vec![] },
                    "{ctx} {a}"
                );
            }
            // The refill pair (floor, target): each level left out is the preset's.
            let c = Config::from_toml_str(&format!(
                "{base}{}{APPROVERS}",
                amount.map_or(String::new(), |_| "refill_floor = \"30%\"\n"
                    .parse()
                    .unwrap())
                    + &share_text.map_or(String::new(), |_| "refill_target = \"40%\"\n"
                        .parse()
                        .unwrap())
            ))
            .unwrap();
            let p = c.asset("A").unwrap();
            let floor = if amount.is_some() { "30%" } else { "20%" };
            let target = if share_text.is_some() { "40%" } else { "50%" };
            assert_eq!(
                p.refill(),
                Some((
                    Level::ShareOfCap(share(floor)),
                    Level::ShareOfCap(share(target))
                )),
                "{ctx} refill"
            );
            let fills: Vec<_> = p.preset_fills().iter().map(|f| (f.key, f.beside)).collect();
            let want = match w {
                Written::AmountOnly => vec![("refill_target", "refill_floor")],
                Written::ShareOnly => vec![("refill_floor", "refill_target")],
                _ => vec![],
            };
            assert_eq!(fills, want, "{ctx} refill");
            // A window's and the breaker's pair: the table is the file's or the preset's.
            let table = keys("limit", "share");
            let text = match w {
                Written::Neither => format!("{base}{APPROVERS}"),
                _ => format!(
                    "{base}{APPROVERS}[[assets.A.windows]]\nduration = \"2h\"\n{table}[assets.A.breaker]\nwindow = \"2h\"\n{table}"
                ),
            };
            let c = Config::from_toml_str(&text).unwrap();
            let p = c.asset("A").unwrap();
            let windows: Vec<_> = p
                .windows()
                .iter()
                .map(|w| (w.duration().to_string(), Some(w.limit())))
                .collect();
            let breaker = p
                .breaker()
                .map(|b| (b.window().to_string(), Some(b.limit())));
            match w {
                Written::Neither => {
                    assert_eq!(
                        windows,
                        [
                            ("10m".to_owned(), limit(None, Some("1%"))),
                            ("1h".to_owned(), limit(None, Some("2%"))),
                            ("24h".to_owned(), limit(None, Some("5%"))),
                        ],
                        "{ctx}"
                    );
                    assert_eq!(
                        breaker,
                        Some(("1h".parse().unwrap(), limit(None, Some("3%")))),
                        "{ctx}"
                    );
                }
                _ => {
                    assert_eq!(
                        windows,
                        [("2h".to_owned(), limit(amount, share_text))],
                        "{ctx}"
                    );
                    assert_eq!(
                        breaker,
                        Some(("2h".parse().unwrap(), limit(amount, share_text))),
                        "{ctx}"
                    );
                }
            }
        }
    }
}

/// docs/policy.md, "Presets": a `[breaker]`, `[[windows]]` or `[allowlist]`
/// the file writes replaces the preset's table whole, key for key nothing of
/// the preset's table is kept; the asset's other keys still come from it.
#[test]
fn a_written_table_replaces_the_presets() {
    let c = Config::from_toml_str(&format!(
        "[assets.A]\npreset = \"standard\"\n{APPROVERS}\
         [[assets.A.windows]]\nduration = \"1h\"\nlimit = 7\n\
         [assets.A.breaker]\nwindow = \"1h\"\nlimit = 9\n\
         [assets.A.allowlist]\nmode = \"deny\"\nactivation_delay = \"1h\"\n"
    ))
    .unwrap();
    let p = c.asset("A").unwrap();
    assert_eq!(p.windows().len(), 1);
    assert_eq!(p.windows()[0].limit(), limit(Some(7), None).unwrap());
    assert_eq!(p.breaker().unwrap().limit(), limit(Some(9), None).unwrap());
    assert!(p.allowlist().unwrap().entries().is_empty());
    assert_eq!(p.hot_cap(), limit(None, Some("10%")).unwrap());
    assert_eq!(p.max_withdrawal(), limit(None, Some("0.5%")));
    assert_eq!(p.preset(), Some("standard"));
}

const BREAKER: &str = "[assets.A]\nhot_cap = 1_000_000\n\
    [assets.A.approvals]\napprovers = [\"ann\", \"ben\", \"cat\"]\nquorum = 2\n\
    [assets.A.breaker]\nwindow = \"1h\"\nlimit = 20_000\n";

/// docs/policy.md, "Freezes and approvals": the breaker's count is not reset
/// when it trips (the tripping request counts), requests denied `frozen` are
/// not counted, and the count restarts from zero when a freeze is lifted —
/// whatever froze the asset.
#[test]
fn the_breakers_count_restarts_when_a_freeze_is_lifted() {
    let mut h = H::new(BREAKER);
    let window = kinko_policy::Duration::from_secs(3_600).unwrap();
    h.deposit(0, Wallet::Hot, 1_000_000);
    assert!(approved(&h.withdraw(1, "w1", 15_000)));
    assert_eq!(denied_by(&h.withdraw(2, "w2", 6_000)), "circuit_breaker");
    assert_eq!(h.a().breaker().used(t(2), window), 21_000);
    assert_eq!(denied_by(&h.withdraw(3, "w3", 1_000)), "frozen");
    assert_eq!(h.a().breaker().used(t(3), window), 21_000);
    h.unfreeze(4, "ann").unwrap();
    let out = h.unfreeze(5, "ben").unwrap();
    assert!(out.changes.contains(&Change::FreezeLifted));
    assert_eq!(h.a().breaker().used(t(5), window), 0);
    // Within the same hour, a fresh 19,999 fits.
    assert!(approved(&h.withdraw(6, "w4", 19_999)));
    // A manual freeze's lift clears it as well.
    h.freeze(7, "op", "drill");
    h.unfreeze(8, "ann").unwrap();
    h.unfreeze(9, "cat").unwrap();
    assert_eq!(h.a().breaker().used(t(9), window), 0);
}

const ALLOWLIST: &str = "[assets.A]\nhot_cap = 1_000_000\n\
    [assets.A.allowlist]\nmode = \"deny\"\nactivation_delay = \"1h\"\nentries = [\"file-dest\"]\n";

/// docs/policy.md, "The allowlist": a destination added at t is active from
/// t + delay exactly (and at once with a delay of 0s).
#[test]
fn an_added_destination_is_active_at_exactly_t_plus_the_delay() {
    let mut h = H::new(ALLOWLIST);
    h.deposit(0, Wallet::Hot, 100_000);
    h.allowlist(100, true, "d1").unwrap();
    assert_eq!(
        denied_by(&h.withdraw_to(3_699, "w1", "u", "d1", 10)),
        "not_allowlisted"
    );
    assert!(approved(&h.withdraw_to(3_700, "w2", "u", "d1", 10)));

    let mut h = H::new(&ALLOWLIST.replace("\"1h\"", "\"0s\""));
    h.deposit(0, Wallet::Hot, 100_000);
    h.allowlist(5, true, "d1").unwrap();
    assert!(approved(&h.withdraw_to(5, "w1", "u", "d1", 10)));
}

/// docs/policy.md, "The allowlist": an entry can be cancelled before or after
/// it became active; a file entry cannot be cancelled (refused); adding an
/// entry again (or a file entry) is recorded and changes nothing — the
/// first activation time stands; after a cancel, adding it again starts a
/// new delay; cancelling a destination that is not on the list is refused.
#[test]
fn cancelling_and_adding_again() {
    let mut h = H::new(ALLOWLIST);
    h.deposit(0, Wallet::Hot, 100_000);
    h.allowlist(0, true, "d1").unwrap();
    let again = h.allowlist(1_800, true, "d1").unwrap();
    assert!(changes(&again).is_empty());
    assert!(changes(&h.allowlist(1_800, true, "file-dest").unwrap()).is_empty());
    assert_eq!(h.a().allowlist_entry("d1").unwrap().active_at, t(3_600));
    assert!(approved(&h.withdraw_to(3_600, "w1", "u", "d1", 10)));
    // Cancelled after it became active: gone at once.
    h.allowlist(4_000, false, "d1").unwrap();
    assert_eq!(
        denied_by(&h.withdraw_to(4_000, "w2", "u", "d1", 10)),
        "not_allowlisted"
    );
    // Added again: a new delay.
    h.allowlist(4_000, true, "d1").unwrap();
    assert_eq!(h.a().allowlist_entry("d1").unwrap().active_at, t(7_600));
    let before = h.state.clone();
    assert_eq!(
        h.allowlist(4_001, false, "file-dest").unwrap_err(),
        DecideError::EntryInConfig
    );
    assert_eq!(
        h.allowlist(4_001, false, "nowhere").unwrap_err(),
        DecideError::UnknownEntry
    );
    assert_eq!(h.state, before);
}

const APPROVALS: &str = "[assets.A]\nhot_cap = 1_000_000\n\
    [assets.A.approvals]\napprovers = [\"ann\", \"ben\", \"cat\"]\nquorum = 2\nthreshold = 5_000\n";

/// A 6,000 withdrawal `w1` above the threshold, pending with one of two
/// approvals (ann's).
fn pending_w1_approved_by_ann() -> H {
    let mut h = H::new(APPROVALS);
    h.deposit(0, Wallet::Hot, 100_000);
    assert!(matches!(
        h.withdraw(1, "w1", 6_000),
        Decision::Pending { .. }
    ));
    h.approve(2, "w1", "ann").unwrap();
    h
}

/// docs/policy.md, "Freezes and approvals": a quorum reached while the asset
/// is frozen denies the withdrawal `frozen` for good (nothing reserved; a
/// later approval is refused).
#[test]
fn a_quorum_reached_while_frozen_denies_frozen() {
    let mut h = pending_w1_approved_by_ann();
    h.freeze(3, "op", "incident");
    let d = h.approve(4, "w1", "ben").unwrap();
    assert_eq!(denied_by(&d), "frozen");
    assert_eq!(
        h.a().withdrawal("w1").unwrap().status,
        WithdrawalStatus::Denied
    );
    assert_eq!(h.a().reserved(), 0);
    h.unfreeze(5, "ann").unwrap();
    h.unfreeze(6, "ben").unwrap();
    assert!(matches!(
        h.approve(7, "w1", "cat"),
        Err(DecideError::WrongStatus {
            found: "denied",
            ..
        })
    ));
}

/// docs/policy.md, "Freezes and approvals": a freeze (by hand, or a hot
/// balance below the books) while already frozen is recorded and changes
/// nothing: the first freeze's reason and time and its unfreeze votes are
/// kept, so the quorum counts the votes cast before it.
#[test]
fn a_freeze_while_frozen_keeps_the_first_freeze_and_its_votes() {
    let mut h = H::new(APPROVALS);
    h.deposit(0, Wallet::Hot, 100_000);
    h.freeze(1, "op1", "first");
    h.unfreeze(2, "ann").unwrap();
    assert!(changes(&h.freeze(3, "op2", "second")).is_empty());
    let shortfall = h
        .ev(
            4,
            EventKind::HotBalance {
                asset: "A".parse().unwrap(),
                balance: Amount::from_units(1),
            },
        )
        .unwrap();
    assert!(changes(&shortfall).is_empty());
    let f = h.a().freeze().unwrap().clone();
    assert_eq!(f.at, t(1));
    assert!(matches!(f.reason, FreezeReason::Manual { ref by, .. } if by == "op1"));
    assert_eq!(f.votes.len(), 1);
    let out = h.unfreeze(5, "ben").unwrap();
    assert!(out.changes.contains(&Change::FreezeLifted));
}

/// docs/policy.md, "Withdrawals": when hot cannot pay it and a window would
/// not hold it, the reason is `insufficient_hot`; among windows, the first
/// failing one in file order is named.
#[test]
fn insufficient_hot_is_named_before_velocity_and_windows_in_file_order() {
    let mut h = H::new(
        "[assets.A]\nhot_cap = 1_000_000\n\
         [[assets.A.windows]]\nduration = \"1h\"\nlimit = 500\n\
         [[assets.A.windows]]\nduration = \"10m\"\nlimit = 300\n",
    );
    h.deposit(0, Wallet::Hot, 1_000);
    assert_eq!(
        h.withdraw(1, "w1", 2_000),
        Decision::Denied {
            id: "w1".parse().unwrap(),
            rule: Rule::InsufficientHot {
                available: Amount::from_units(1_000)
            }
        }
    );
    match h.withdraw(2, "w2", 600) {
        Decision::Denied {
            rule: Rule::Velocity { window, limit, .. },
            ..
        } => assert_eq!((window.to_string(), limit.units()), ("1h".to_owned(), 500)),
        other => panic!("{other:?}"),
    }
}

fn refill_of(out: &kinko_policy::Outcome) -> Option<u64> {
    out.proposals.iter().find_map(|p| match p {
        Proposal::Refill { amount, .. } => Some(amount.units()),
        _ => None,
    })
}

/// docs/policy.md, "Sweeps and refills": a refill is proposed when what hot
/// can pay (hot − reserved) is strictly below the floor, for the target
/// minus what hot can pay, at most what cold holds, never while frozen.
#[test]
fn a_refill_is_measured_from_hot_minus_reserved_and_capped_at_cold() {
    let policy = "[assets.A]\nhot_cap = 10_000\nrefill_floor = 2_000\nrefill_target = 5_000\n";
    let mut h = H::new(policy);
    h.deposit(0, Wallet::Cold, 100_000);
    let out = h.deposit(0, Wallet::Hot, 2_000);
    assert_eq!(refill_of(&out), None, "at the floor is not below it");
    assert!(approved(&h.withdraw(1, "w1", 1_500)));
    let out = h.tick(2);
    assert_eq!(refill_of(&out), Some(4_500), "5,000 − (2,000 − 1,500)");
    h.freeze(3, "op", "x");
    let out = h.tick(4);
    assert_eq!(refill_of(&out), None, "never while frozen");

    let mut h = H::new(policy);
    h.deposit(0, Wallet::Cold, 1_200);
    let out = h.tick(0);
    assert_eq!(refill_of(&out), Some(1_200), "at most what cold holds");
}

/// docs/policy.md, "Values in force": an amount level above the cap in force counts
/// as the cap; a share level is the share of the cap rounded down (and a
/// share cap is the share of custody rounded down).
#[test]
fn levels_are_clamped_to_the_cap_and_shares_round_down() {
    let mut h = H::new("[assets.A]\nhot_cap = 10_000\nsweep_target = 50_000\n");
    h.deposit(0, Wallet::Hot, 12_000);
    let out = h.tick(0);
    assert!(out.proposals.contains(&Proposal::Sweep {
        asset: "A".parse().unwrap(),
        amount: Amount::from_units(2_000)
    }));

    // cap 999: floor 33.33% = 332.97 → 332, target 50% = 499.5 → 499.
    let mut h =
        H::new("[assets.A]\nhot_cap = 999\nrefill_floor = \"33.33%\"\nrefill_target = \"50%\"\n");
    h.deposit(0, Wallet::Cold, 10_000);
    h.deposit(0, Wallet::Hot, 332);
    let out = h.tick(0);
    assert_eq!(refill_of(&out), None);
    let mut h =
        H::new("[assets.A]\nhot_cap = 999\nrefill_floor = \"33.33%\"\nrefill_target = \"50%\"\n");
    h.deposit(0, Wallet::Cold, 10_000);
    h.deposit(0, Wallet::Hot, 331);
    let out = h.tick(0);
    assert_eq!(refill_of(&out), Some(168));
    let c = Config::from_toml_str("[assets.A]\nhot_cap_share = \"10%\"\n").unwrap();
    assert_eq!(
        c.asset("A")
            .unwrap()
            .hot_cap()
            .resolve(Amount::from_units(999)),
        99
    );
}

/// docs/policy.md, "Withdrawals": ids are unique per asset: the same id in
/// two assets is two withdrawals.
#[test]
fn withdrawal_ids_are_unique_per_asset() {
    let mut h = H::new("[assets.A]\nhot_cap = 1_000\n[assets.B]\nhot_cap = 1_000\n");
    for asset in ["A", "B"] {
        let deposit = EventKind::Deposit {
            asset: asset.parse().unwrap(),
            wallet: Wallet::Hot,
            amount: Amount::from_units(500),
        };
        h.ev(0, deposit).unwrap();
        let w = EventKind::Withdrawal {
            id: "w1".parse().unwrap(),
            user: "u".parse().unwrap(),
            asset: asset.parse().unwrap(),
            destination: "d".parse().unwrap(),
            amount: Amount::from_units(100),
        };
        assert!(approved(&h.ev(1, w).unwrap().decision), "{asset}");
    }
    assert!(matches!(
        h.withdraw(2, "w1", 100),
        Decision::Duplicate { .. }
    ));
}

/// docs/policy.md, "Freezes and approvals": an approval for an unknown id, from
/// a name not among the approvers, or for a withdrawal no longer pending, and
/// an unfreeze vote when nothing is frozen, are refused (the state, clock
/// included, is unchanged); a repeated vote is recorded and changes nothing.
#[test]
fn approvals_and_votes_that_are_refused_or_change_nothing() {
    let mut h = pending_w1_approved_by_ann();
    let before = h.state.clone();
    assert_eq!(
        h.approve(3, "nope", "ben"),
        Err(DecideError::UnknownWithdrawal)
    );
    assert_eq!(
        h.approve(3, "w1", "mallory"),
        Err(DecideError::UnknownApprover)
    );
    assert_eq!(h.unfreeze(3, "ann").unwrap_err(), DecideError::NotFrozen);
    assert_eq!(h.state, before);
    let again = h
        .ev(
            3,
            EventKind::Approval {
                asset: "A".parse().unwrap(),
                id: "w1".parse().unwrap(),
                approver: "ann".parse().unwrap(),
            },
        )
        .unwrap();
    assert!(changes(&again).is_empty());
    assert!(matches!(again.decision, Decision::Pending { ref missing, .. } if missing.have == 1));
    assert!(approved(&h.approve(4, "w1", "ben").unwrap()));
    assert!(matches!(
        h.approve(5, "w1", "cat"),
        Err(DecideError::WrongStatus {
            found: "reserved",
            ..
        })
    ));
    h.freeze(6, "op", "x");
    h.unfreeze(7, "ann").unwrap();
    assert!(changes(&h.unfreeze(8, "ann").unwrap()).is_empty());
    assert_eq!(
        h.unfreeze(8, "mallory").unwrap_err(),
        DecideError::UnknownApprover
    );
    assert!(h.a().freeze().is_some());
}

/// docs/policy.md, "Event streams" and "Refused events": a line that is not an event (bad JSON,
/// an unknown field, a bad time) is not one; `kinko policy simulate` stops
/// there (crates/kinko-cli/tests/policy.rs). An event the engine refuses is
/// refused alone: the next one is decided.
#[test]
fn malformed_lines_are_not_events_and_a_refused_event_is_refused_alone() {
    for line in [
        "{\"at\":\"2026-03-01T09:00:00Z\",\"type\":\"tick\"",
        "{\"at\":\"2026-03-01T09:00:00Z\",\"type\":\"tick\",\"asset\":\"A\",\"extra\":1}",
        "{\"at\":\"2026-03-01 09:00:00Z\",\"type\":\"tick\",\"asset\":\"A\"}",
        "{\"at\":\"2026-03-01T09:00:00Z\",\"type\":\"deposit\",\"asset\":\"A\",\"wallet\":\"hot\",\"amount\":1.5}",
    ] {
        assert!(serde_json::from_str::<Event>(line).is_err(), "{line}");
    }
    let mut h = H::new("[assets.A]\nhot_cap = 1_000\n");
    h.deposit(10, Wallet::Hot, 5);
    assert!(h
        .ev(
            9,
            EventKind::Tick {
                asset: "A".parse().unwrap()
            }
        )
        .is_err());
    h.deposit(10, Wallet::Hot, 5);
    assert_eq!(h.a().hot(), 10);
}

/// docs/policy.md, "Velocity windows": a share limit is the share of the
/// custody at each decision; so in a span of length W approved outflow stays
/// within the limit at the custody of the span's last approval.
#[test]
fn share_limits_use_the_custody_at_each_decision() {
    let mut h = H::new(
        "[assets.A]\nhot_cap_share = \"100%\"\n\
         [[assets.A.windows]]\nduration = \"1h\"\nshare = \"10%\"\n",
    );
    h.deposit(0, Wallet::Hot, 100_000);
    assert!(approved(&h.withdraw(1, "w1", 10_000)));
    h.deposit(10, Wallet::Cold, 100_000);
    // 20,000 within the hour: 10% of the custody at the second approval.
    assert!(approved(&h.withdraw(20, "w2", 10_000)));
    for (at, id) in [(30, "w1"), (31, "w2")] {
        h.ev(
            at,
            EventKind::Confirmed {
                asset: "A".parse().unwrap(),
                id: id.parse().unwrap(),
            },
        )
        .unwrap();
    }
    // Custody 180,000: the limit is now 18,000, below the 20,000 counted.
    assert_eq!(denied_by(&h.withdraw(40, "w3", 1)), "velocity");
}

/// docs/policy.md, "Validation": the rules beyond each key's type.
#[test]
fn validation_rules() {
    let a = "[assets.A]\nhot_cap = 1\n";
    let ap = "[assets.A.approvals]\napprovers = [\"ann\"]\nquorum = 1\n";
    let win = |d: &str, extra: &str| {
        format!("[[assets.A.windows]]\nduration = \"{d}\"\nlimit = 5\n{extra}")
    };
    let cases: Vec<(String, &str)> = vec![
        (format!("{a}{}", win("1h", "bucket = \"7m\"\n")), "assets.A.windows[0].bucket: bucket must be at most a tenth of the window"),
        (format!("{a}{}", win("1h", "bucket = \"0s\"\n")), "assets.A.windows[0].bucket: bucket must be longer than 0s"),
        (format!("{a}{}{}", win("1h", ""), win("60m", "")), "assets.A.windows[1].duration: two windows of the same duration and scope"),
        (format!("{a}{}", win("0s", "")), "assets.A.windows[0].duration: must be longer than 0s"),
        (format!("{a}{}", (0..17).map(|i| win(&format!("{}m", i + 1), "")).collect::<String>()), "assets.A.windows: at most 16 windows"),
        (format!("{a}refill_floor = \"50%\"\nrefill_target = \"50%\"\n"), "assets.A.refill_floor: must be below refill_target"),
        (format!("{a}sweep_target = \"60%\"\nrefill_floor = \"10%\"\nrefill_target = \"70%\"\n"), "assets.A.refill_target: must not be above sweep_target"),
        (format!("{a}refill_floor = \"10%\"\n"), "assets.A.refill_floor: refill_floor and refill_target go together"),
        (format!("{a}[assets.A.allowlist]\nmode = \"require-approval\"\nactivation_delay = \"1h\"\n"), "assets.A.allowlist.mode: require-approval needs assets.A.approvals"),
        (format!("{a}[assets.A.breaker]\nwindow = \"1h\"\nlimit = 5\n"), "assets.A.breaker: needs assets.A.approvals"),
        (format!("{a}{ap}[assets.A.breaker]\nwindow = \"1h\"\nlimit = 5\nbucket = \"7m\"\n"), "assets.A.breaker.bucket: bucket must be at most a tenth"),
        (format!("{a}[assets.A.approvals]\napprovers = [\"a b\"]\nquorum = 1\n"), "assets.A.approvals.approvers: approver names are 1 to 256 characters without spaces"),
        (format!("{a}[assets.A.approvals]\napprovers = [\"{}\"]\nquorum = 1\n", "x".repeat(257)), "assets.A.approvals.approvers: approver names are 1 to 256"),
        (format!("{a}[assets.A.approvals]\napprovers = [\"ann\"]\nquorum = 0\n"), "assets.A.approvals.quorum: must be between 1 and the number of approvers (1)"),
        (format!("{a}[assets.A.allowlist]\nmode = \"deny\"\nactivation_delay = \"1h\"\nentries = [\"\"]\n"), "assets.A.allowlist.entries[0]: destinations are 1 to 256"),
        (format!("{a}max_withdrawal = 0\n"), "assets.A.max_withdrawal: must be above 0"),
    ];
    for (text, want) in cases {
        let got = refused(&text);
        assert!(got.starts_with(want), "{text}\ngot:  {got}\nwant: {want}");
    }
    // Zero caps, limits and thresholds mean what they say.
    let zeros = "[assets.A]\nhot_cap = 0\n[[assets.A.windows]]\nduration = \"1h\"\nlimit = 0\n\
                 [assets.A.approvals]\napprovers = [\"ann\"]\nquorum = 1\nthreshold = 0\n";
    Config::from_toml_str(zeros).unwrap();
    // The same duration per user and in total are two scopes: accepted.
    Config::from_toml_str(&format!(
        "{a}{}{}",
        win("1h", ""),
        win("1h", "per_user = true\n")
    ))
    .unwrap();

    // Events: amounts above zero, names of 1 to 256 bytes without spaces, no overflow.
    let mut h = H::new("[assets.A]\nhot_cap = 1\n");
    let zero = EventKind::Deposit {
        asset: "A".parse().unwrap(),
        wallet: Wallet::Hot,
        amount: Amount::from_units(0),
    };
    assert_eq!(h.ev(0, zero).unwrap_err(), DecideError::ZeroAmount);
    // Names are checked when they are made: an event cannot hold a bad one.
    for id in ["", "a b", &"x".repeat(257)] {
        let e = id.parse::<kinko_policy::WithdrawalId>().unwrap_err();
        assert_eq!(
            DecideError::from(e),
            DecideError::InvalidName("withdrawal id")
        );
        let line = format!(
            r#"{{"at":"2026-01-01T00:00:00Z","type":"withdrawal","id":{},"user":"u","asset":"A","destination":"d","amount":1}}"#,
            serde_json::to_string(id).unwrap()
        );
        assert!(serde_json::from_str::<kinko_policy::Event>(&line).is_err());
    }
    h.deposit(0, Wallet::Cold, u64::MAX);
    let more = EventKind::Deposit {
        asset: "A".parse().unwrap(),
        wallet: Wallet::Hot,
        amount: Amount::from_units(1),
    };
    assert_eq!(h.ev(0, more).unwrap_err(), DecideError::Overflow);
}
