//! The commands around a run: [`validate`] checks an input offline, [`export`] lists the users
//! of accounts into an input, [`reset`] resets one user as `aws chime reset-personal-pin` does,
//! and [`template`] prints a sample input to start from.
//!
//! This module owns what they share: ID checks, error reporting and exit codes. The AWS flags
//! are `run`'s ([`AwsArgs`]) and the retry policy the executor's ([`RetryPolicy`]); these
//! commands send one call at a time and need neither a rate nor an in-flight bound.

pub mod export;
pub mod reset;
pub mod template;
pub mod validate;

use std::io;

use anyhow::bail;

pub use crate::config::AwsArgs;
pub use crate::execution::RetryPolicy;

use crate::chime::CallError;
use crate::exit;

/// Checks an ID given on the command line as `run` checks one in a file: a GUID, or with
/// `--no-strict-ids` anything non-empty without `/` (it goes into the request path).
pub fn check_id(flag: &str, id: &str, strict: bool) -> anyhow::Result<()> {
    match crate::input::id_problem(flag, id.trim(), strict) {
        Some(problem) => bail!("{problem}"),
        None => Ok(()),
    }
}

/// A failed call on one line: the exception name, the message and the AWS request id.
pub fn describe(error: &CallError) -> String {
    match &error.request_id {
        Some(id) => format!("{}: {} (request id {id})", error.code, error.message),
        None => format!("{}: {}", error.code, error.message),
    }
}

/// The exit code of a call that failed: 2 when nothing could be sent (no usable credentials, a
/// request that could not be built), 1 when Chime or the network said no.
pub fn exit_code(error: &CallError) -> u8 {
    // These two codes are our own (see `chime::classify`), given only before anything is sent.
    match error.code.as_str() {
        "CredentialsError" | "ConfigurationError" => exit::USAGE,
        _ => exit::ROWS_FAILED,
    }
}

/// A write to stdout that failed because the reader went away (`| head`) is not an error.
pub fn broken_pipe_is_success(result: io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(err).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_like_the_input() {
        assert!(check_id("--user-id", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", true).is_ok());
        assert!(check_id("--user-id", "nope", true).is_err());
        assert!(check_id("--user-id", "nope", false).is_ok());
        assert!(check_id("--user-id", "a/b", false).is_err());
        assert!(check_id("--user-id", " ", false).is_err());
    }
}
