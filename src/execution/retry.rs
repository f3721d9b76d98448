//! The one retry loop. Every call the tool makes goes through [`RetryPolicy::call`]: a row's
//! lookups and resets in `run`, each page of `export`, the single `reset`. The SDK's own retries
//! are off, so no two loops are ever stacked.
//!
//! Throttles (429), service failures (5xx) and lost or unreadable answers are sent again after
//! an exponential backoff with full jitter; anything else is final. `max_attempts` bounds the
//! calls a row makes in all, whatever mix of calls it needs (a row named by email looks its
//! user up before the reset, and both count).

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::chime::{CallError, Disposition};

/// How failed calls are retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Calls at most, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // `run --max-attempts` defaults to 8 too.
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(20),
        }
    }
}

/// What surrounds each attempt of a call. The executor paces attempts through the run's rate,
/// counts them and learns from their answers; a one-off command needs none of that.
pub trait Pacing {
    /// What an attempt carries from its admission to its answer (when it was sent).
    type Ticket: Send;

    /// Waits until an attempt may be sent. `first` is the first call of the row; `None` means
    /// it must not be sent at all (the run stopped before the row went out).
    fn admit(&self, first: bool) -> impl Future<Output = Option<Self::Ticket>> + Send;

    /// Learns from an attempt's result: `None` for a success.
    fn observe(&self, ticket: Self::Ticket, error: Option<&CallError>);

    /// Whether a call that failed transiently may be sent again now; called once per retry.
    fn allow_retry(&self) -> bool;
}

/// No pacing: every attempt goes at once and every retry is allowed.
pub struct Unpaced;

impl Pacing for Unpaced {
    type Ticket = ();

    async fn admit(&self, _first: bool) -> Option<()> {
        Some(())
    }

    fn observe(&self, _ticket: (), _error: Option<&CallError>) {}

    fn allow_retry(&self) -> bool {
        true
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

    /// Whether a call that failed with `error` is sent again when `calls` have been made.
    pub fn retries(&self, error: &CallError, calls: u32) -> bool {
        matches!(
            error.disposition,
            Disposition::Retry | Disposition::Throttled
        ) && calls < self.max_attempts
    }

    /// Sends a call until it succeeds, fails for good, or `calls` (the row's count, shared by
    /// every call it makes) reaches `max_attempts`. `None` when `pacing` refused to send it.
    pub async fn call<T, F, Fut>(
        &self,
        pacing: &impl Pacing,
        calls: &mut u32,
        mut send: F,
    ) -> Option<Result<T, CallError>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        // This call's own tries drive the backoff; a lookup's retries do not lengthen the
        // reset's waits.
        let mut tries = 0;
        loop {
            let ticket = pacing.admit(*calls == 0).await?;
            *calls += 1;
            tries += 1;
            let error = match send().await {
                Ok(value) => {
                    pacing.observe(ticket, None);
                    return Some(Ok(value));
                }
                Err(error) => error,
            };
            pacing.observe(ticket, Some(&error));
            if !self.retries(&error, *calls) || !pacing.allow_retry() {
                return Some(Err(error));
            }
            tokio::time::sleep(self.backoff(tries)).await;
        }
    }

    /// The policy for a call that another must follow within the same budget (a row's lookup
    /// by email, before its reset): it leaves the last call for the one that follows.
    pub fn leaving_one(self) -> Self {
        RetryPolicy {
            max_attempts: self.max_attempts.saturating_sub(1).max(1),
            ..self
        }
    }

    /// A call made on its own (a page of `export`, the single `reset`): unpaced, with a budget
    /// of its own.
    pub async fn call_alone<T, F, Fut>(&self, send: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let mut calls = 0;
        self.call(&Unpaced, &mut calls, send)
            .await
            .expect("an unpaced call is always sent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        }
    }

    fn failure(disposition: Disposition, code: &str) -> CallError {
        CallError::new(disposition, code, "scripted")
    }

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
        let policy = quick(4);
        let mut sent = 0;
        let result: Result<(), CallError> = policy
            .call_alone(|| {
                sent += 1;
                async { Err(failure(Disposition::Throttled, "ThrottledClientException")) }
            })
            .await;
        assert_eq!(result.unwrap_err().code, "ThrottledClientException");
        assert_eq!(sent, policy.max_attempts);

        let mut sent = 0;
        let result: Result<(), CallError> = policy
            .call_alone(|| {
                sent += 1;
                async { Err(failure(Disposition::Final, "NotFoundException")) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(sent, 1, "a final answer is not retried");

        let mut sent = 0;
        let result = policy
            .call_alone(|| {
                sent += 1;
                let answer = if sent < 3 {
                    Err(failure(Disposition::Retry, "ServiceFailureException"))
                } else {
                    Ok(sent)
                };
                async move { answer }
            })
            .await;
        assert_eq!(result.ok(), Some(3));
    }

    #[tokio::test]
    async fn the_budget_counts_every_call_of_a_row() {
        let policy = quick(3);
        let mut calls = 0;
        let lookup: Option<Result<(), CallError>> = policy
            .leaving_one()
            .call(&Unpaced, &mut calls, || async {
                Err(failure(Disposition::Retry, "Timeout"))
            })
            .await;
        assert!(matches!(lookup, Some(Err(_))));
        assert_eq!(calls, 2, "a lookup leaves one call for the reset");
        let mut sent = 0;
        let reset: Option<Result<(), CallError>> = policy
            .call(&Unpaced, &mut calls, || {
                sent += 1;
                async { Err(failure(Disposition::Retry, "Timeout")) }
            })
            .await;
        assert!(matches!(reset, Some(Err(_))));
        assert_eq!(sent, 1, "the row's third call is its last");
        assert_eq!(calls, policy.max_attempts);
    }
}
