//! `kinko-signer`, the air-gapped signer. Thin: the command line is
//! [`kinko_signer::main_with_args`]; the logic is in kinko-keys,
//! kinko-wallet and this package's library. No networking crate in its
//! dependency tree.
//!
//! Exit codes: 0 ok, 1 error, 2 usage, 3 refused for a security reason.

use std::process::ExitCode;

fn main() -> ExitCode {
    kinko_signer::main_with_args(std::env::args_os())
}
