//! Air-gapped by construction: no networking or database crate anywhere in
//! kinko-signer's normal dependency tree, and no socket in its sources. The
//! tree is also held to a reviewed allow-list (`tests/data/allowed-crates.txt`):
//! a crate nobody looked at fails this test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates that open sockets, speak network protocols or hold databases.
const DENY: &[&str] = &[
    "tokio",
    "mio",
    "async-std",
    "smol",
    "reqwest",
    "hyper",
    "h2",
    "http",
    "ureq",
    "curl",
    "isahc",
    "surf",
    "socket2",
    "rustls",
    "native-tls",
    "openssl",
    "tungstenite",
    "postgres",
    "tokio-postgres",
    "postgres-protocol",
    "rusqlite",
    "libsqlite3-sys",
    "sqlx",
    "diesel",
    "redis",
    "mysql",
    "bitcoincore-rpc",
    "jsonrpc",
    "electrum-client",
    "esplora-client",
    "bdk_electrum",
    "bdk_esplora",
    "kinko-ledger",
    "kinko-cosigner",
    "kinko-cli",
];

#[test]
fn dependency_tree_has_no_networking_or_database_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            "kinko-signer",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.contains(&"kinko-wallet"), "tree looks wrong: {text}");
    assert!(names.len() > 10, "tree looks wrong: {text}");
    let found: Vec<&&str> = names.iter().filter(|n| DENY.contains(n)).collect();
    assert!(found.is_empty(), "denied crates in the tree: {found:?}");
    let allowed = include_str!("data/allowed-crates.txt");
    let allowed: Vec<&str> = allowed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    let mut new: Vec<&&str> = names.iter().filter(|n| !allowed.contains(n)).collect();
    new.sort();
    new.dedup();
    assert!(
        new.is_empty(),
        "crates in kinko-signer's tree that nobody reviewed (add them to \
         tests/data/allowed-crates.txt once reviewed): {new:?}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable source dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn sources_open_no_socket() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).expect("utf-8 source");
        for needle in [
            "std::net",
            "TcpStream",
            "TcpListener",
            "UdpSocket",
            "UnixStream",
            "ToSocketAddrs",
        ] {
            assert!(!text.contains(needle), "{} mentions {needle}", f.display());
        }
    }
}
