//! One module per command group: its clap `Args` and its `run`.

pub mod address;
pub mod audit;
pub mod cosigner;
pub mod ledger;
pub mod policy;
pub mod psbt;
pub mod setup;
pub mod wallet;

use std::path::Path;

/// Reads a file of at most `cap` bytes; a larger one is an error before it
/// is read whole (files relayed from the backend host — signed actions,
/// policies, PSBTs — must not make the cosigner's host read without bound).
pub fn read_capped(path: &Path, cap: usize) -> anyhow::Result<Vec<u8>> {
    Ok(kinko_keys::read_capped(path, cap)?)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_capped_text(path: &Path, cap: usize) -> anyhow::Result<String> {
    String::from_utf8(read_capped(path, cap)?)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))
}
