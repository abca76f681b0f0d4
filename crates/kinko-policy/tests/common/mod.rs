//! What the integration tests share: a config, a state and a clock, and
//! short ways to send events and read decisions.

#![allow(dead_code)] // each test file uses its own part

use kinko_policy::{
    decide, Amount, Config, DecideError, Decision, Event, EventKind, Outcome, State, Timestamp,
    Wallet,
};

/// A config, a state and a clock in seconds from an arbitrary epoch.
pub struct H {
    pub config: Config,
    pub state: State,
}

pub const T0: i64 = 1_700_000_000;

pub fn t(s: i64) -> Timestamp {
    Timestamp::from_unix(T0 + s)
}

impl H {
    pub fn new(toml: &str) -> H {
        H {
            config: Config::from_toml_str(toml).unwrap(),
            state: State::default(),
        }
    }
    pub fn ev(&mut self, at: i64, kind: EventKind) -> Result<kinko_policy::Outcome, DecideError> {
        decide(&self.config, &mut self.state, &Event::new(t(at), kind))
    }
    pub fn deposit(&mut self, at: i64, wallet: Wallet, amount: u64) -> Outcome {
        self.ev(
            at,
            EventKind::Deposit {
                asset: "A".parse().unwrap(),
                wallet,
                amount: Amount::from_units(amount),
            },
        )
        .unwrap()
    }
    /// A tick of asset A.
    pub fn tick(&mut self, at: i64) -> Outcome {
        self.ev(
            at,
            EventKind::Tick {
                asset: "A".parse().unwrap(),
            },
        )
        .unwrap()
    }
    pub fn withdraw_to(
        &mut self,
        at: i64,
        id: &str,
        user: &str,
        dest: &str,
        amount: u64,
    ) -> Decision {
        self.ev(
            at,
            EventKind::Withdrawal {
                id: id.parse().unwrap(),
                user: user.parse().unwrap(),
                asset: "A".parse().unwrap(),
                destination: dest.parse().unwrap(),
                amount: Amount::from_units(amount),
            },
        )
        .unwrap()
        .decision
    }
    pub fn withdraw(&mut self, at: i64, id: &str, amount: u64) -> Decision {
        self.withdraw_to(at, id, "u1", "dest1", amount)
    }
    pub fn approve(&mut self, at: i64, id: &str, approver: &str) -> Result<Decision, DecideError> {
        self.ev(
            at,
            EventKind::Approval {
                asset: "A".parse().unwrap(),
                id: id.parse().unwrap(),
                approver: approver.into(),
            },
        )
        .map(|o| o.decision)
    }
    /// A manual freeze of asset A.
    pub fn freeze(&mut self, at: i64, by: &str, reason: &str) -> Outcome {
        let (by, reason) = (by.into(), reason.into());
        let asset = "A".parse().unwrap();
        self.ev(at, EventKind::Freeze { asset, by, reason })
            .unwrap()
    }
    /// One approver's unfreeze vote on asset A.
    pub fn unfreeze(&mut self, at: i64, approver: &str) -> Result<Outcome, DecideError> {
        let (asset, approver) = ("A".parse().unwrap(), approver.into());
        self.ev(at, EventKind::Unfreeze { asset, approver })
    }
    /// An `allowlist_add` (or, with `add` false, `allowlist_cancel`) on asset A.
    pub fn allowlist(
        &mut self,
        at: i64,
        add: bool,
        destination: &str,
    ) -> Result<Outcome, DecideError> {
        let (asset, destination) = ("A".parse().unwrap(), destination.parse().unwrap());
        let kind = if add {
            EventKind::AllowlistAdd { asset, destination }
        } else {
            EventKind::AllowlistCancel { asset, destination }
        };
        self.ev(at, kind)
    }
    pub fn a(&self) -> &kinko_policy::AssetState {
        &self.state.assets["A"]
    }
}

pub fn approved(d: &Decision) -> bool {
    matches!(d, Decision::Approved { .. })
}

pub fn denied_by(d: &Decision) -> &'static str {
    match d {
        Decision::Denied { rule, .. } => rule.name(),
        other => panic!("not denied: {other:?}"),
    }
}
