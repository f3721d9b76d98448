//! The commands around a run: [`validate`] checks an input offline, [`export`] lists the users
//! of accounts into an input, [`reset`] resets one user as `aws chime reset-personal-pin` does,
//! and [`template`] prints a sample input to start from.
//!
//! This module owns what they share: the AWS flags, ID checks and the retry loop of the one-off
//! calls (the bulk executor in [`crate::execution`] has its own, with a rate and an in-flight
//! bound; these commands send one call at a time and need neither).

pub mod export;
pub mod reset;
pub mod template;
pub mod validate;

use std::future::Future;
use std::io;
use std::time::Duration;

use anyhow::bail;
use rand::Rng;

use crate::chime::{CallError, ClientSettings, Disposition};
use crate::exit;

/// How `export` and `reset` reach Chime: the same flags as `run`.
#[derive(Clone, Debug, clap::Args)]
pub struct AwsArgs {
    /// The AWS profile to use.
    #[arg(long)]
    pub profile: Option<String>,

    /// The AWS region (the Chime API lives in us-east-1).
    #[arg(long, default_value = "us-east-1")]
    pub region: String,

    /// The Chime endpoint (wins over AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_CHIME).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Allow a plain-http endpoint that is not on this machine (the answers carry PINs).
    #[arg(long)]
    pub allow_insecure_endpoint: bool,
}

impl AwsArgs {
    /// The client settings, with the endpoint checked and `run`'s default timeouts.
    pub fn client_settings(&self) -> anyhow::Result<ClientSettings> {
        if let Some(url) = &self.endpoint_url {
            crate::config::check_endpoint(url, self.allow_insecure_endpoint)?;
        }
        Ok(ClientSettings {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            static_credentials: None,
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(20),
        })
    }
}

/// Checks an ID given on the command line as `run` checks one in a file: a GUID, or with
/// `--no-strict-ids` anything non-empty without `/` (it goes into the request path).
pub fn check_id(flag: &str, id: &str, strict: bool) -> anyhow::Result<()> {
    if id.trim().is_empty() {
        bail!("{flag} is empty");
    }
    if strict && !crate::input::is_guid(id) {
        bail!("{flag} {id:?} is not a GUID (8-4-4-4-12 hex digits; --no-strict-ids accepts other IDs)");
    }
    if id.contains('/') {
        bail!("{flag} {id:?} contains '/'");
    }
    Ok(())
}

/// The retry policy of the one-off calls: throttles (429), service failures (5xx) and lost or
/// unreadable answers are retried with exponential backoff and full jitter.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Calls at most, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // The defaults of `run` (--max-attempts 8, and the executor's backoff).
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a random wait up to base × 2^(tries − 1), capped.
    pub fn backoff(&self, tries: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << tries.saturating_sub(1).min(16))
            .min(self.cap);
        ceiling.mul_f64(rand::rng().random_range(0.0..=1.0))
    }

    /// Whether a call that failed with `error` on its `tries`-th attempt is sent again.
    pub fn retries(&self, error: &CallError, tries: u32) -> bool {
        matches!(
            error.disposition,
            Disposition::Retry | Disposition::Throttled
        ) && tries < self.max_attempts
    }

    /// Makes a call until it succeeds, fails for good, or runs out of attempts. The client has
    /// the SDK's retries switched off, so this is the only retry loop around these calls.
    pub async fn call<T, F, Fut>(&self, mut send: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let error = match send().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !self.retries(&error, tries) {
                return Err(error);
            }
            tokio::time::sleep(self.backoff(tries)).await;
        }
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
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(350),
        };
        for _ in 0..100 {
            assert!(policy.backoff(1) <= Duration::from_millis(100));
            assert!(policy.backoff(2) <= Duration::from_millis(200));
            assert!(policy.backoff(30) <= Duration::from_millis(350));
        }
    }

    #[tokio::test]
    async fn only_transient_failures_are_retried() {
        let policy = RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        };
        let mut calls = 0;
        let result: Result<(), CallError> = policy
            .call(|| {
                calls += 1;
                async {
                    Err(CallError::new(
                        Disposition::Throttled,
                        "ThrottledClientException",
                        "slow down",
                    ))
                }
            })
            .await;
        assert_eq!(result.unwrap_err().code, "ThrottledClientException");
        assert_eq!(calls, policy.max_attempts);

        let mut calls = 0;
        let result: Result<(), CallError> = policy
            .call(|| {
                calls += 1;
                async {
                    Err(CallError::new(
                        Disposition::Final,
                        "NotFoundException",
                        "no",
                    ))
                }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls, 1, "a final answer is not retried");

        let mut calls = 0;
        let result = policy
            .call(|| {
                calls += 1;
                let outcome = if calls < 3 {
                    Err(CallError::new(
                        Disposition::Retry,
                        "ServiceFailureException",
                        "5xx",
                    ))
                } else {
                    Ok(calls)
                };
                async move { outcome }
            })
            .await;
        assert_eq!(result.ok(), Some(3));
    }

    #[test]
    fn ids_are_checked_like_the_input() {
        assert!(check_id("--user-id", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", true).is_ok());
        assert!(check_id("--user-id", "nope", true).is_err());
        assert!(check_id("--user-id", "nope", false).is_ok());
        assert!(check_id("--user-id", "a/b", false).is_err());
        assert!(check_id("--user-id", " ", false).is_err());
    }
}
