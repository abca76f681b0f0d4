//! Opening a ledger for reading (the audit commands). Decisions are not
//! made here: they are the cosigner's (`cmd::cosigner`).

use anyhow::Context;
use kinko_ledger::Ledger;

use kinko_cmd::CliResult;

/// Opens an existing ledger: a mistyped SQLite path is an error, not an
/// empty log that verifies. The error never contains the URL (it may hold a
/// password).
pub fn open_existing(url: &str) -> CliResult<Ledger> {
    Ok(Ledger::open_existing(url).context("cannot open the ledger")?)
}
