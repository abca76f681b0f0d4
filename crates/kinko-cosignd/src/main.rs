//! `kinko-cosignd`: the policy cosigner service. See `docs/cosignd.md`.
//!
//! ```text
//! kinko-cosignd serve --setup setup.toml --keystore cosigner.age \
//!     --ledger sqlite:cosigner.db --cert server.pem --key server.key \
//!     [--listen 127.0.0.1:8443] [--passphrase-fd N] [--log json]
//! kinko-cosignd certs --out DIR
//! kinko-cosignd fingerprint CERT.pem
//! ```
//!
//! Exit codes: 0 stopped cleanly, 2 usage, 3 refused to start (a set-up
//! not signed, a ledger whose rows are not its chain's, no pinned backend
//! certificate), 1 any other error.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use kinko_cosigner::setup::{Setup, MAX_SETUP_LEN, MAX_SIGNATURES_LEN};
use kinko_cosigner::{Authority, Clock, OpenAuthorityError};
use kinko_keys::Passphrase;

/// The policy cosigner service.
#[derive(Debug, Parser)]
#[command(name = "kinko-cosignd", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the /v1 API over HTTPS with mutual TLS.
    Serve(ServeArgs),
    /// Make a CA, a service certificate (localhost, 127.0.0.1) and a backend
    /// client certificate into DIR; prints the client certificate's SHA-256
    /// for the set-up's `[service] backend_certificates`.
    Certs {
        /// The folder (created; files are never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Print the SHA-256 of a PEM certificate (what the set-up pins).
    Fingerprint {
        /// The certificate.
        cert: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The custody set-up (TOML) signed at the ceremony; it pins the
    /// backend's client certificates.
    #[arg(long, value_name = "FILE")]
    setup: PathBuf,
    /// The admins' signatures over the set-up (default: the set-up's path
    /// with `.sigs` appended).
    #[arg(long, value_name = "FILE")]
    setup_sigs: Option<PathBuf>,
    /// The cosigner's keystore (age file). Its passphrase: `--passphrase-fd`,
    /// else env KINKO_PASSPHRASE, else a prompt on the terminal.
    #[arg(long, value_name = "FILE")]
    keystore: PathBuf,
    /// Read the keystore's passphrase (first line) from this file descriptor.
    #[arg(long, value_name = "N")]
    passphrase_fd: Option<u32>,
    /// The cosigner's own ledger: `sqlite:PATH` or `postgres://…` (or env
    /// KINKO_LEDGER, which keeps a password out of the process list).
    #[arg(long, value_name = "URL", env = "KINKO_LEDGER", hide_env_values = true)]
    ledger: String,
    /// The service's certificate chain (PEM).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// The service's private key (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Address to listen on (port 0: any free port; the address taken is
    /// printed on stdout as `listening on https://ADDR`).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Seconds a request may take before it is answered `503 timeout`
    /// (at least 1: 0 would time out every request).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout: u64,
    /// Seconds a shutdown (SIGTERM, SIGINT) waits for requests in flight.
    #[arg(long, default_value_t = 30)]
    drain: u64,
    /// Log format (logs go to stderr; RUST_LOG filters, default `info`).
    #[arg(long, value_enum, default_value = "text")]
    log: LogFormat,
}

/// A refusal to start (exit 3).
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn read_capped(path: &Path, max: usize) -> anyhow::Result<Vec<u8>> {
    Ok(kinko_keys::read_capped(path, max)?)
}

fn passphrase(fd: Option<u32>) -> anyhow::Result<Passphrase> {
    if let Some(fd) = fd {
        // /dev/fd/N: the descriptor the parent passed, without unsafe code.
        let f = std::fs::File::open(format!("/dev/fd/{fd}"))
            .with_context(|| format!("cannot read the passphrase from fd {fd}"))?;
        let mut line = String::new();
        std::io::BufReader::new(f.take(4096))
            .read_line(&mut line)
            .with_context(|| format!("cannot read the passphrase from fd {fd}"))?;
        let p = Passphrase::from(line.trim_end_matches(['\n', '\r']).to_owned());
        zeroize_string(line);
        return Ok(p);
    }
    if let Ok(v) = std::env::var("KINKO_PASSPHRASE") {
        return Ok(Passphrase::from(v));
    }
    let v = rpassword::prompt_password("cosigner keystore passphrase: ")
        .context("no passphrase: give --passphrase-fd, KINKO_PASSPHRASE or a terminal")?;
    Ok(Passphrase::from(v))
}

fn zeroize_string(mut s: String) {
    use zeroize::Zeroize;
    s.zeroize();
}

fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only on a terminal: not in a log file or a journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (stderr closed: the log reader
        // went away) is dropped. Reporting it would `eprintln!` to the same
        // closed stderr, which panics the task that logged: every request,
        // and the shutdown, so that SIGTERM no longer stopped the service.
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    match a.log {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }

    let setup_bytes = read_capped(&a.setup, MAX_SETUP_LEN)?;
    let sigs_path = a.setup_sigs.clone().unwrap_or_else(|| {
        let mut s = a.setup.as_os_str().to_owned();
        s.push(".sigs");
        PathBuf::from(s)
    });
    let sigs = String::from_utf8(read_capped(&sigs_path, MAX_SIGNATURES_LEN)?)
        .context("the set-up signatures are not UTF-8")?;
    let setup = Setup::load_signed(&setup_bytes, &sigs)
        .map_err(|e| Refused(format!("set-up not signed: {e}")))?;
    let tls = kinko_cosignd::tls::server_config(
        &read_capped(&a.cert, 1 << 20)?,
        &read_capped(&a.key, 1 << 20)?,
        setup.backend_certificates(),
    )
    .map_err(|e| {
        Refused(format!(
            "{e} (--cert {}, --key {})",
            a.cert.display(),
            a.key.display()
        ))
    })?;
    let pass = passphrase(a.passphrase_fd)?;
    let (keys, audit) = kinko_cosigner::keys::open_keystore(&a.keystore, &pass, setup.network())?;
    drop(pass);
    let setup_id = setup.id().to_string();
    let asset = setup.asset().to_owned();
    let authority =
        Authority::open(setup, &a.ledger, keys, audit, Clock::System).map_err(|e| match e {
            OpenAuthorityError::Refused(inner) => anyhow::Error::new(Refused(inner.to_string())),
            // Keys that are not the set-up's: the wrong keystore.
            e @ (OpenAuthorityError::WrongAuditKey | OpenAuthorityError::Cosigner(_)) => {
                anyhow::Error::new(Refused(e.to_string()))
            }
            other => anyhow::Error::new(other),
        })?;
    let listener = std::net::TcpListener::bind(a.listen)
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, setup = setup_id, asset, "kinko-cosignd serving");
    println!("listening on https://{addr}");
    let options = kinko_cosignd::Options {
        request_timeout: Duration::from_secs(a.request_timeout),
        drain: Duration::from_secs(a.drain),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(kinko_cosignd::serve(
        authority,
        tls,
        listener,
        options,
        shutdown_signal(),
    ))?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the service runs until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => serve(a),
        Command::Certs { out } => {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let c = kinko_cosignd::certs::generate()?;
            c.write_to(&out)?;
            println!("{}", c.client_sha256);
            Ok(())
        }
        Command::Fingerprint { cert } => {
            let pem = read_capped(&cert, 1 << 20)?;
            let fp = kinko_cosignd::tls::fingerprint_pem(&pem)
                .with_context(|| format!("{} holds no PEM certificate", cert.display()))?;
            println!("{fp}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kinko-cosignd: error: {e:#}");
            if e.downcast_ref::<Refused>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
