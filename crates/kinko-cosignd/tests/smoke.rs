//! The service on an ephemeral loopback port, through the client.

#[path = "../../kinko-cosigner/tests/common/mod.rs"]
mod common;

use common::*;
use kinko_client::api::WithdrawalRequest;
use kinko_client::{Client, TlsFiles};

#[test]
fn a_withdrawal_through_the_service() {
    let f = Fixture::new(POLICY);
    let certs = kinko_cosignd::certs::generate().unwrap();
    let pin = kinko_cosignd::tls::fingerprint_pem(certs.client_pem.as_bytes()).unwrap();
    let mut p = [0u8; 32];
    for i in 0..32 {
        p[i] = u8::from_str_radix(&pin[2 * i..2 * i + 2], 16).unwrap();
    }
    let tls = kinko_cosignd::tls::server_config(
        certs.server_pem.as_bytes(),
        certs.server_key_pem.as_bytes(),
        &[p],
    )
    .unwrap();
    let svc = kinko_cosignd::spawn(
        f.reopen().unwrap(),
        tls,
        "127.0.0.1:0".parse().unwrap(),
        kinko_cosignd::Options::default(),
    )
    .unwrap();
    let client = Client::connect(
        &svc.url(),
        &TlsFiles::from_pem(
            certs.ca_pem.as_bytes(),
            certs.client_pem.as_bytes(),
            certs.client_key_pem.as_bytes(),
        )
        .unwrap(),
    )
    .unwrap();
    let req = WithdrawalRequest {
        request_id: "r-1".into(),
        id: "w-1".into(),
        user: "u".into(),
        destination: outside(1).to_string(),
        amount_sat: 10_000,
    };
    let a = client.request_withdrawal(&req).unwrap();
    assert_eq!(a.outcome, "approved");
    let b = client.request_withdrawal(&req).unwrap();
    assert_eq!(a, b);
    let mut other = req.clone();
    other.amount_sat = 20_000;
    let e = client.request_withdrawal(&other).unwrap_err();
    assert_eq!(e.rule(), Some("request-id-reused"), "{e}");
    let st = client.state().unwrap();
    assert_eq!(st.reserved_sat, 10_000);
    svc.shutdown().unwrap();
}
