//! The workspace's binaries, found or built from a test or an example.
//!
//! `cargo test` and `cargo run --example` build only the root package's
//! targets, never another package's binaries (artifact dependencies are not
//! stable Cargo). So a test or example that runs `kinko-signer` builds it
//! itself: `cargo build -p <package>` into the target dir and profile it was
//! built in (cargo decides whether anything is stale; a no-op when fresh),
//! then takes `target/<profile>/<name>`.
//!
//! Used by the root tests (`mod bins` in `tests/tests.rs`): a test binary
//! cannot run itself as the signer (its arguments go to the test harness).
//! `examples/exchange_day.rs` needs none of this: it runs itself as
//! `kinko-signer` (`kinko_signer::main_with_args`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/`: the running executable lives in its `deps/` (a
/// test) or `examples/` (an example).
pub fn profile_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("no executable path: {e}"))?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{} is not in target/<profile>/<dir>/", exe.display()))
}

/// Where the binary `name` is (or will be) built: `target/<profile>/name`.
pub fn path(name: &str) -> Result<PathBuf, String> {
    Ok(profile_dir()?.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// Builds the binaries of `packages` with `$CARGO` (set by `cargo run` and
/// `cargo test`; else `cargo`) into the running executable's target dir and
/// profile. Cargo prints on stderr what it did.
pub fn build(packages: &[&str]) -> Result<(), String> {
    let dir = profile_dir()?;
    let target = dir
        .parent()
        .ok_or_else(|| format!("{} has no parent", dir.display()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--bins"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target);
    // The directory is named after the profile (`dev` builds into `debug`).
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => return Err(format!("{} names no profile", dir.display())),
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    if !status.success() {
        return Err(format!("cargo build -p {} failed", packages.join(" -p ")));
    }
    Ok(())
}

/// The path of one of the workspace's binaries (`kinko-signer`, `kinko`),
/// built once per test run.
///
/// # Panics
///
/// When the build fails or the binary is not where it should be.
#[cfg(test)]
pub fn bin(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if let Err(e) = BUILT.get_or_init(|| build(&["kinko-signer", "kinko-cli"])) {
        panic!("{e}");
    }
    let path = path(name).unwrap_or_else(|e| panic!("{e}"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}
