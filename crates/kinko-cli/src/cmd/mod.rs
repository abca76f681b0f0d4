//! One module per command group: its clap `Args` and its `run`.

pub mod address;
pub mod audit;
pub mod cosigner;
pub mod ledger;
pub mod policy;
pub mod psbt;
pub mod setup;

use std::io::Read;
use std::path::Path;

use anyhow::Context;

/// Reads a file of at most `cap` bytes; a larger one is an error before it
/// is read whole (files relayed from the backend host — signed actions,
/// policies, PSBTs — must not make the cosigner's host read without bound).
/// kinko-signer has the same few lines in its own binary (`cmd::read_capped`).
pub fn read_capped(path: &Path, cap: usize) -> anyhow::Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(cap as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() > cap {
        anyhow::bail!("{} is larger than {cap} bytes", path.display());
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_capped_text(path: &Path, cap: usize) -> anyhow::Result<String> {
    String::from_utf8(read_capped(path, cap)?)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))
}
