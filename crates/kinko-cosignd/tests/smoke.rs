//! The service on an ephemeral loopback port, through the client: the
//! first answer, a retry, and a reused request id.

#[path = "../../kinko-cosigner/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use kinko_client::api::WithdrawalRequest;
use support::Service;

#[test]
fn a_withdrawal_through_the_service() {
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let req = WithdrawalRequest {
        request_id: "r-1".into(),
        id: "w-1".into(),
        user: "u".into(),
        destination: outside(1).to_string(),
        amount_sat: 10_000,
    };
    let a = svc.client.request_withdrawal(&req).unwrap();
    assert_eq!(a.outcome, "approved");
    let b = svc.client.request_withdrawal(&req).unwrap();
    assert_eq!(a, b, "a retry gets the first answer");
    let mut other = req.clone();
    other.amount_sat = 20_000;
    let e = svc.client.request_withdrawal(&other).unwrap_err();
    assert_eq!(e.rule(), Some("request-id-reused"), "{e}");
    let st = svc.client.state().unwrap();
    assert_eq!(st.reserved_sat, 10_000);
    svc.running.shutdown().unwrap();
}
