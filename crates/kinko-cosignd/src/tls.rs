//! Mutual TLS: the service's own certificate, and the backend's client
//! certificate pinned by the custody set-up (`[service]
//! backend_certificates`, SHA-256 of the certificate's DER).
//!
//! rustls's own client verifier (`WebPkiClientVerifier`) trusts whatever a
//! CA issues; the set-up pins one certificate (or a few during a rotation),
//! so the verifier here accepts exactly those, and leaves the handshake's
//! signature checks to rustls's `verify_tls12_signature` /
//! `verify_tls13_signature` with the ring provider's algorithms.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::{Digest, Sha256};

/// Why the TLS set-up failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file holds no certificate or no private key.
    #[error("{what}: {detail}")]
    Pem {
        /// Which file.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The set-up pins no backend certificate: nobody could call.
    #[error("the custody set-up pins no backend certificate ([service] backend_certificates)")]
    NoPins,
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The SHA-256 of a certificate's DER: what `[service]
/// backend_certificates` lists (hex).
pub fn fingerprint(cert: &CertificateDer<'_>) -> [u8; 32] {
    Sha256::digest(cert.as_ref()).into()
}

/// The fingerprint of the first certificate of a PEM text, as hex.
///
/// # Errors
/// [`TlsError::Pem`].
pub fn fingerprint_pem(pem: &[u8]) -> Result<String, TlsError> {
    let cert = CertificateDer::from_pem_slice(pem).map_err(|e| TlsError::Pem {
        what: "certificate",
        detail: e.to_string(),
    })?;
    Ok(hex(&fingerprint(&cert)))
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Accepts exactly the pinned client certificates.
#[derive(Debug)]
struct PinnedClients {
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for PinnedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The pin is the identity: a certificate the set-up names, whoever
        // issued it and whatever its dates (rotation is a new set-up).
        if self.pins.contains(&fingerprint(end_entity)) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The service's rustls configuration: its certificate chain and key (PEM),
/// client certificates required and pinned, HTTP/1.1.
///
/// # Errors
/// [`TlsError`].
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    pins: &[[u8; 32]],
) -> Result<rustls::ServerConfig, TlsError> {
    if pins.is_empty() {
        return Err(TlsError::NoPins);
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            what: "service certificate",
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            what: "service certificate",
            detail: "no PEM certificate (BEGIN CERTIFICATE) in it".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsError::Pem {
        what: "service key",
        detail: "no PEM private key in it".into(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedClients {
        pins: pins.to_vec(),
        provider: provider.clone(),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::Pem {
                what: "service certificate and key",
                detail: "the key is not the certificate's".into(),
            },
            other => TlsError::Rustls(other),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
