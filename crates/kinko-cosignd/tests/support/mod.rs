//! The service on an ephemeral loopback port over a fixture's ledger, with
//! certificates made for the test, and the backend's client.

#![allow(dead_code)]

use kinko_client::{Client, TlsFiles};
use kinko_cosignd::certs::RunCerts;
use kinko_cosignd::{Options, Running};

use crate::common::Fixture;

/// The pin (SHA-256 of the DER) of a PEM certificate.
pub fn pin(pem: &str) -> [u8; 32] {
    let hex = kinko_cosignd::tls::fingerprint_pem(pem.as_bytes()).unwrap();
    let mut p = [0u8; 32];
    for (i, b) in p.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    p
}

/// The service's TLS configuration pinning `certs`' client certificate.
pub fn server_tls(certs: &RunCerts) -> rustls::ServerConfig {
    kinko_cosignd::tls::server_config(
        certs.server_pem.as_bytes(),
        certs.server_key_pem.as_bytes(),
        &[pin(&certs.client_pem)],
    )
    .unwrap()
}

/// The backend's client of `url` with `certs`' client certificate.
pub fn client(url: &str, certs: &RunCerts) -> Client {
    Client::connect(
        url,
        &TlsFiles::from_pem(
            certs.ca_pem.as_bytes(),
            certs.client_pem.as_bytes(),
            certs.client_key_pem.as_bytes(),
        )
        .unwrap(),
    )
    .unwrap()
}

/// A service over the fixture's ledger (a second authority on it, with the
/// fixture's clock), new certificates, and the backend's client.
pub struct Service {
    pub running: Running,
    pub client: Client,
    pub certs: RunCerts,
}

impl Service {
    pub fn start(f: &Fixture) -> Self {
        Self::start_with(f, Options::default())
    }

    pub fn start_with(f: &Fixture, options: Options) -> Self {
        let certs = kinko_cosignd::certs::generate().unwrap();
        let running = kinko_cosignd::spawn(
            f.reopen().unwrap(),
            server_tls(&certs),
            "127.0.0.1:0".parse().unwrap(),
            options,
        )
        .unwrap();
        let client = client(&running.url(), &certs);
        Service {
            running,
            client,
            certs,
        }
    }

    pub fn url(&self) -> String {
        self.running.url()
    }
}
