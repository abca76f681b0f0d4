//! The `kinko-cosignd` binary as an operator runs it: a real keystore file
//! (low work factor), the cosigner's key and audit key derived from it, a
//! set-up signed by two admins that pins the backend's client certificate,
//! certificates written to files, its own SQLite ledger, `--listen
//! 127.0.0.1:0` and the passphrase from `KINKO_PASSPHRASE`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};

use base64::Engine as _;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Secp256k1, XOnlyPublicKey};
use bitcoin::{Address, Network, OutPoint, TxOut};
use kinko_auth::{derive_action_key, KeyRole, SetupId};
use kinko_client::{Client, TlsFiles};
use kinko_keys::{KeyPath, Keystore, KeystoreOptions, Language, Mnemonic, Passphrase, WordCount};
use kinko_wallet::{MultisigWallet, Utxo};

use crate::common::*;

/// The keystore's passphrase.
pub const PASS: &str = "cosignd test passphrase";

/// A cosigner host's files.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub setup: PathBuf,
    pub keystore: PathBuf,
    pub db: PathBuf,
    /// The ledger the service opens: the SQLite file `db`, or a
    /// PostgreSQL URL a test sets.
    pub ledger: String,
    pub setup_id: SetupId,
    /// The audit key (x-only) the chain's heads are signed with.
    pub audit: XOnlyPublicKey,
    pub hot: MultisigWallet,
    pub utxos: Vec<Utxo>,
    pub txouts: HashMap<OutPoint, TxOut>,
}

impl Env {
    /// A new keystore, certificates (`ca.pem`, `server.pem`, `server.key`,
    /// `client.pem`, `client.key`), and the set-up of `policy`: hot wallet
    /// [exchange 1, this keystore, backup 3], cold [4, 5, 6], signed by carol
    /// and dave, pinning `client.pem`.
    pub fn new(policy: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keystore = dir.path().join("cosigner.age");
        let ks = Keystore::new(
            Mnemonic::generate(WordCount::W12, Language::English).unwrap(),
            Passphrase::empty(),
        );
        ks.create_file(
            &keystore,
            &Passphrase::from(PASS.to_owned()),
            &KeystoreOptions::new().with_work_factor(10).unwrap(),
        )
        .unwrap();
        let secp = Secp256k1::new();
        let net = Network::Regtest;
        let xpub = ks
            .account_xpub(&secp, net, &KeyPath::bip48(net, 0).unwrap())
            .unwrap();
        let master = ks.master_key(net).unwrap();
        let audit = derive_action_key(master.expose_xpriv(), KeyRole::Audit)
            .unwrap()
            .x_only_public_key()
            .0;
        let hot = wallet_of(&[
            descriptor_key(&signer(1)),
            format!("{xpub}/<0;1>/*"),
            descriptor_key(&signer(3)),
        ]);
        let cold = wallet([4, 5, 6]);

        let certs = kinko_cosignd::certs::generate().unwrap();
        certs.write_to(dir.path()).unwrap();
        let text = format!(
            "{}\n[service]\nbackend_certificates = [\"{}\"]\n",
            setup_text_of(&hot, &cold, &kinko_auth::xonly_hex(&audit), policy),
            certs.client_sha256
        );
        let setup = dir.path().join("setup.toml");
        std::fs::write(&setup, &text).unwrap();
        let sigs: String = [0x21, 0x22]
            .iter()
            .map(|s| sign_setup(&text, *s) + "\n")
            .collect();
        std::fs::write(dir.path().join("setup.toml.sigs"), sigs).unwrap();
        let (utxos, txouts) = funding(&hot);
        let db = dir.path().join("cosigner.db");
        Env {
            ledger: format!("sqlite:{}", db.display()),
            db,
            setup_id: SetupId::of_file(text.as_bytes()),
            dir,
            setup,
            keystore,
            audit,
            hot,
            utxos,
            txouts,
        }
    }

    /// The ledger's URL.
    pub fn ledger_url(&self) -> String {
        self.ledger.clone()
    }

    /// A file in the host's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `kinko-cosignd serve` with every flag of this host, the passphrase
    /// in `KINKO_PASSPHRASE`, logs (warnings only) appended to `cosignd.log`.
    pub fn serve(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kinko-cosignd"));
        c.arg("serve")
            .arg("--setup")
            .arg(&self.setup)
            .arg("--keystore")
            .arg(&self.keystore)
            .arg("--ledger")
            .arg(self.ledger_url())
            .arg("--cert")
            .arg(self.path("server.pem"))
            .arg("--key")
            .arg(self.path("server.key"))
            .args(["--listen", "127.0.0.1:0"])
            .env("KINKO_PASSPHRASE", PASS)
            .env("RUST_LOG", "warn")
            .env_remove("KINKO_LEDGER");
        c
    }

    /// Starts the service; returns once it listens.
    pub fn start(&self) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("cosignd.log"))
            .unwrap();
        self.start_with(log.into(), "warn")
    }

    /// Starts the service with `stderr` and `RUST_LOG` `log`; returns once
    /// it listens.
    pub fn start_with(&self, stderr: Stdio, log: &str) -> Daemon {
        // Owned by a daemon at once: killed and reaped however this ends.
        let mut d = Daemon {
            child: self
                .serve()
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(stderr)
                .env("RUST_LOG", log)
                .spawn()
                .unwrap(),
            url: String::new(),
            _stdout: None,
        };
        let mut stdout = BufReader::new(d.child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if !matches!(stdout.read_line(&mut line), Ok(n) if n > 0) {
                let status = d.child.wait();
                panic!(
                    "kinko-cosignd exited ({status:?}) before it listened: {}",
                    std::fs::read_to_string(self.path("cosignd.log")).unwrap_or_default()
                );
            }
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                d.url = addr.to_owned();
                d._stdout = Some(stdout);
                return d;
            }
        }
    }

    /// The backend's client of the service at `url`.
    pub fn client(&self, url: &str) -> Client {
        Client::connect(
            url,
            &TlsFiles::read(
                self.path("ca.pem"),
                self.path("client.pem"),
                self.path("client.key"),
            )
            .unwrap(),
        )
        .unwrap()
    }

    /// A PSBT of the hot wallet paying `to` (change at `change_index`),
    /// signed by the exchange, base64.
    pub fn psbt(&self, to: &Address, amount: u64, sat_per_vb: u64, change_index: u32) -> String {
        self.psbt_from(0..self.utxos.len(), to, amount, sat_per_vb, change_index)
    }

    /// [`Env::psbt`] from the funding coins `coins` only.
    pub fn psbt_from(
        &self,
        coins: std::ops::Range<usize>,
        to: &Address,
        amount: u64,
        sat_per_vb: u64,
        change_index: u32,
    ) -> String {
        let mut psbt: Psbt = create_psbt(
            &self.hot,
            &self.utxos[coins],
            &[(to, amount)],
            sat_per_vb,
            change_index,
        );
        self.hot.sign(&mut psbt, &signer(1)).unwrap();
        base64::engine::general_purpose::STANDARD.encode(psbt.serialize())
    }
}

/// A running `kinko-cosignd serve`.
pub struct Daemon {
    pub child: Child,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    _stdout: Option<BufReader<ChildStdout>>,
}

impl Daemon {
    /// SIGKILL, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (it drains and exits).
    pub fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM {}", self.child.id());
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
