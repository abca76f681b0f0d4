//! criterion's mean estimate of a case in this run, for the benches that
//! print ratios after criterion's own report. An estimate written before
//! the run started (a case this run filtered out) is not taken for one of
//! this run. Shared by kinko-wallet's and
//! kinko-ledger's benches (through `#[path]`), so there is one copy.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where criterion writes its estimates: `CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else `criterion/` in the target folder the
/// running bench was built in (`cargo bench` runs a bench in its package's
/// folder, so a relative `target/` would miss the workspace's).
fn criterion_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(home.into());
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(target).join("criterion"));
    }
    // target/<profile>/deps/<bench>
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent().and_then(Path::parent).and_then(Path::parent)?;
    Some(target.join("criterion"))
}

/// Mean time (ns per iteration) criterion measured for `group/id` in the
/// run that started at `since`, or `None` when that run made no estimate.
pub fn mean_ns(group: &str, id: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_home()?
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let written = std::fs::metadata(&path).ok()?.modified().ok()?;
    if written < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}
