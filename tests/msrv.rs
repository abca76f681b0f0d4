//! The declared `rust-version` against the locked dependency tree.
//!
//! The machine has one toolchain, so no test can build with the declared
//! minimum itself. What can be checked offline is checked: no crate of the
//! locked tree (for this host) declares a newer `rust-version` than the
//! workspace; clippy's `incompatible_msrv` lint (on in CI with `-D
//! warnings`) refuses standard-library items newer than the declared one.
//! Syntax newer than it is not caught here.

use std::process::Command;

fn version(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

#[test]
fn no_locked_dependency_needs_a_newer_rust_than_the_declared_one() {
    let cargo = env!("CARGO");
    let vv = Command::new(cargo).arg("-vV").output().expect("cargo -vV");
    let vv = String::from_utf8(vv.stdout).expect("utf-8");
    let host = vv
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("cargo -vV names the host");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let declared = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "kinko")
        .and_then(|p| p["rust_version"].as_str())
        .and_then(version)
        .expect("the workspace declares a rust-version");
    let mut newer = Vec::new();
    for p in meta["packages"].as_array().expect("packages") {
        if let Some(v) = p["rust_version"].as_str().and_then(version) {
            if v > declared {
                newer.push(format!(
                    "{} {} needs {}",
                    p["name"], p["version"], p["rust_version"]
                ));
            }
        }
    }
    assert!(
        newer.is_empty(),
        "rust-version {declared:?} is declared, but: {newer:#?}"
    );
}
