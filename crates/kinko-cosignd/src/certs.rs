//! Certificates for a run or a test: a CA of its own, the service's
//! certificate (for `localhost` and `127.0.0.1`) and one backend client
//! certificate, all ECDSA P-256 (rcgen). An exchange uses its own PKI; the
//! set-up pins the client certificate's fingerprint either way.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::tls::{fingerprint_pem, TlsError};

/// A CA, a server and a client certificate, PEM.
#[derive(Clone)]
pub struct RunCerts {
    /// The CA certificate (the backend trusts the service through it).
    pub ca_pem: String,
    /// The service's certificate.
    pub server_pem: String,
    /// The service's private key.
    pub server_key_pem: String,
    /// The backend's client certificate.
    pub client_pem: String,
    /// The backend's client key.
    pub client_key_pem: String,
    /// The client certificate's SHA-256 (hex), for the set-up's
    /// `[service] backend_certificates`.
    pub client_sha256: String,
}

impl std::fmt::Debug for RunCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunCerts")
            .field("client_sha256", &self.client_sha256)
            .field("keys", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Why the certificates were not made or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertsError {
    /// rcgen refused.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// The new client certificate does not read back.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A file could not be written (an existing file is never
    /// overwritten). The cause is the source (printed after it by a chain
    /// of errors, not twice).
    #[error("cannot write {path} (files are never overwritten)")]
    Write {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Makes a CA and, signed by it, a service certificate for `localhost` and
/// `127.0.0.1` plus a backend client certificate.
///
/// # Errors
/// [`CertsError`].
pub fn generate() -> Result<RunCerts, CertsError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kinko cosigner run CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key)?;

    let server_key = KeyPair::generate()?;
    let mut sp = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    sp.distinguished_name
        .push(DnType::CommonName, "kinko-cosignd");
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = sp.signed_by(&server_key, &ca, &ca_key)?;

    let client_key = KeyPair::generate()?;
    let mut cp = CertificateParams::new(Vec::<String>::new())?;
    cp.distinguished_name
        .push(DnType::CommonName, "kinko exchange backend");
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = cp.signed_by(&client_key, &ca, &ca_key)?;

    let client_pem = client.pem();
    Ok(RunCerts {
        ca_pem: ca.pem(),
        server_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
        client_sha256: fingerprint_pem(client_pem.as_bytes())?,
        client_pem,
        client_key_pem: client_key.serialize_pem(),
    })
}

impl RunCerts {
    /// Writes `ca.pem`, `server.pem`, `server.key`, `client.pem`,
    /// `client.key` and `client.sha256` into `dir` (keys readable by the
    /// owner only), refusing to overwrite.
    ///
    /// # Errors
    /// [`CertsError::Write`].
    pub fn write_to(&self, dir: &Path) -> Result<(), CertsError> {
        let files = [
            ("ca.pem", &self.ca_pem, false),
            ("server.pem", &self.server_pem, false),
            ("server.key", &self.server_key_pem, true),
            ("client.pem", &self.client_pem, false),
            ("client.key", &self.client_key_pem, true),
            ("client.sha256", &format!("{}\n", self.client_sha256), false),
        ];
        for (name, text, secret) in files {
            let path = dir.join(name);
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(if secret { 0o600 } else { 0o644 });
            }
            #[cfg(not(unix))]
            let _ = secret;
            let write = |o: &std::fs::OpenOptions| {
                use std::io::Write;
                o.open(&path)?.write_all(text.as_bytes())
            };
            write(&o).map_err(|source| CertsError::Write {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }
}
