//! Errors of the `kinko-signer` binary and their exit codes.
//!
//! 0 ok, 1 error, 2 usage (clap's own exit code for bad arguments),
//! 3 refused for a security reason (the refusal names the rule).

use std::process::ExitCode;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum CliError {
    /// The arguments parse but do not make sense together (exit 2).
    Usage(String),
    /// A security rule refused the operation (exit 3). `rule` is a stable,
    /// machine-readable rule name; `detail` is for people.
    Refused { rule: String, detail: String },
    /// Anything else (exit 1).
    Other(anyhow::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Refused { .. } => ExitCode::from(3),
            CliError::Other(_) => ExitCode::from(1),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "usage: {m}"),
            CliError::Refused { rule, detail } => write!(f, "refused by rule {rule}: {detail}"),
            // `{:#}` prints the whole anyhow context chain on one line.
            CliError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError::Other(e.into())
    }
}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
