//! Errors of the binaries and their exit codes.
//!
//! 0 ok, 1 error, 2 usage (clap's own exit code for bad arguments),
//! 3 refused for a security reason (the refusal names the rule).

use std::borrow::Cow;
use std::process::ExitCode;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum CliError {
    /// The arguments parse but do not make sense together (exit 2).
    Usage(String),
    /// A security rule refused the operation (exit 3). `rule` is the rule's
    /// stable, machine-readable name, taken from the typed rule that refused
    /// (static) or from the cosigner service's answer (owned); `detail` is
    /// for people.
    Refused {
        /// The rule's stable name.
        rule: Cow<'static, str>,
        /// For people.
        detail: String,
    },
    /// Anything else (exit 1).
    Other(anyhow::Error),
}

impl CliError {
    /// A refusal by `rule` (exit 3).
    pub fn refused(rule: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        CliError::Refused {
            rule: rule.into(),
            detail: detail.into(),
        }
    }

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

/// The end of a binary's `main`: an error is printed on stderr as
/// `PROGRAM: MESSAGE`, and the exit code is returned.
#[allow(clippy::print_stderr)] // the binaries' one place for errors
pub fn finish(program: &str, result: CliResult) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_messages() {
        let usage = CliError::Usage("give --out".into());
        assert_eq!(usage.exit_code(), ExitCode::from(2));
        assert_eq!(usage.to_string(), "usage: give --out");
        let refused = CliError::refused("no-overwrite", "out.psbt already exists");
        assert_eq!(refused.exit_code(), ExitCode::from(3));
        assert_eq!(
            refused.to_string(),
            "refused by rule no-overwrite: out.psbt already exists"
        );
        let other = CliError::from(anyhow::anyhow!("inner").context("outer"));
        assert_eq!(other.exit_code(), ExitCode::from(1));
        assert_eq!(other.to_string(), "outer: inner");
    }
}
