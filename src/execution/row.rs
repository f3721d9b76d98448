//! One row's journey: its calls (a lookup by email, the reset or the dry run's GetUser, a
//! read-back when an attempt's outcome was unknown) through the one retry loop, paced by the
//! run's rate; what each answer teaches the run (slow down, stop, nothing answers); and the
//! row's [`Outcome`].

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{ExecConfig, Mode, RunState};
use crate::chime::{Answer, CallError, ChimeApi, Disposition};
use crate::execution::rate::SendTicket;
use crate::execution::retry::Pacing;
use crate::input::{RowTask, Target};
use crate::outcome::{codes, Outcome, RowStatus, StopReason, UserRecord};
use crate::rules::is_chime_pin;

/// What every row's task shares: the client, the settings and the run's state.
pub(super) struct RowRunner<A> {
    pub api: Arc<A>,
    pub config: ExecConfig,
    pub state: Arc<RunState>,
}

impl<A: ChimeApi> RowRunner<A> {
    /// Runs one row and hands its outcome to `deliver`, listed in `rows_in_flight` until the
    /// outcome is handed over: a row still listed at the end was dropped mid-flight (a second
    /// Ctrl-C, the end of the grace period while the recorder was full) or lost to a panic,
    /// and is named then.
    pub async fn track_row<F, Fut>(&self, task: RowTask, slot: &mut Slot, deliver: F)
    where
        F: FnOnce(Outcome) -> Fut,
        Fut: Future<Output = ()>,
    {
        let line = task.line;
        let user = task.target.as_str().to_string();
        self.state
            .rows_in_flight()
            .insert(line, (task.account_id.clone(), user));
        if let Some(outcome) = self.process_row(task, slot).await {
            deliver(outcome).await;
        }
        self.state.rows_in_flight().remove(&line);
    }

    /// One row from first call to outcome; `None` when the run stopped before it was sent.
    /// Every call the row makes counts against one budget of `--max-attempts`.
    async fn process_row(&self, task: RowTask, slot: &mut Slot) -> Option<Outcome> {
        let mut calls = 0;
        let user_id = match &task.target {
            Target::UserId(user_id) => user_id.clone(),
            Target::Email(email) => match self.resolve(&task, email, &mut calls).await? {
                Ok(user_id) => user_id,
                Err(outcome) => return Some(outcome),
            },
        };
        let outcome = match self.config.mode {
            Mode::Reset => self.reset(task, user_id, &mut calls, slot).await?,
            Mode::DryRun | Mode::Verify => {
                let account = task.account_id.as_str();
                match self
                    .config
                    .retry
                    .call(self, &mut calls, || self.api.get_user(account, &user_id))
                    .await?
                {
                    Ok(answer) => succeeded(task, user_id, answer, calls, self.config.mode),
                    Err(error) => failed(task, user_id, error, calls),
                }
            }
        };
        Some(outcome)
    }

    /// The user a row named by email, claimed for this row; or the row's outcome when the
    /// lookup failed or another row names the same user.
    async fn resolve(
        &self,
        task: &RowTask,
        email: &str,
        calls: &mut u32,
    ) -> Option<Result<String, Outcome>> {
        let account = task.account_id.as_str();
        let found = self
            .config
            .retry
            .leaving_one()
            .call(self, calls, || self.api.find_user_by_email(account, email))
            .await?;
        Some(match found {
            Ok(answer)
                if self
                    .state
                    .dedup
                    .claim_resolved(account, &answer.user.user_id) =>
            {
                Ok(answer.user.user_id)
            }
            Ok(answer) => Err(resolved_to_a_duplicate(task.clone(), answer, *calls)),
            // The row named no user id: the email it gave is what names the user in the results.
            Err(error) => Err(
                failed(task.clone(), String::new(), error, *calls).with_user(UserRecord {
                    primary_email: Some(email.to_string()),
                    ..UserRecord::default()
                }),
            ),
        })
    }

    /// Resets the user's PIN. When an attempt's outcome was unknown, the PIN is read back
    /// before it is recorded (see [`RowRunner::read_back`]).
    async fn reset(
        &self,
        task: RowTask,
        user_id: String,
        calls: &mut u32,
        slot: &mut Slot,
    ) -> Option<Outcome> {
        let account = task.account_id.as_str();
        // When the last attempt of unknown outcome was sent.
        let doubt: Mutex<Option<Instant>> = Mutex::new(None);
        let reset = self
            .config
            .retry
            .call(self, calls, || async {
                let sent = Instant::now();
                let answer = self.api.reset_personal_pin(account, &user_id).await;
                if answer.as_ref().is_err_and(CallError::outcome_unknown) {
                    *doubt.lock().expect("never poisoned") = Some(sent);
                }
                answer
            })
            .await?;
        let doubt = doubt.into_inner().expect("never poisoned");
        Some(match (reset, doubt) {
            (Ok(answer), Some(doubtful)) => {
                let (answer, note) = self
                    .read_back(account, &user_id, answer, calls, doubtful, slot)
                    .await;
                succeeded(task, user_id, answer, *calls, Mode::Reset).with_note(note)
            }
            (Ok(answer), None) => succeeded(task, user_id, answer, *calls, Mode::Reset),
            (Err(error), _) => failed(task, user_id, error, *calls),
        })
    }

    /// A reset that succeeded after an attempt of unknown outcome: that attempt may have been
    /// applied after the answer that succeeded, voiding its PIN. GetUser returns the PIN in
    /// force, which is the one to record. Returns the answer to record and a note saying what
    /// was done (never the PIN); if the read-back fails, the reset's own answer stands.
    ///
    /// Read at once, the PIN could still be voided by the doubtful attempt landing after it,
    /// so the read waits until `settle` has passed since that attempt was sent. The row gives
    /// up its place among the requests in flight while it waits, and takes one again to read.
    async fn read_back(
        &self,
        account: &str,
        user_id: &str,
        reset: Answer,
        calls: &mut u32,
        doubtful: Instant,
        slot: &mut Slot,
    ) -> (Answer, String) {
        slot.release();
        let stopped = tokio::select! {
            _ = self.state.control.dispatch.cancelled() => true,
            _ = tokio::time::sleep_until(doubtful + self.config.settle) => false,
        };
        if stopped {
            let note = "the run stopped before this PIN, set after an attempt of unknown outcome, \
                        was read back; `verify` checks it";
            return (reset, note.to_string());
        }
        slot.retake().await;
        let read = self
            .config
            .retry
            .call(self, calls, || self.api.get_user(account, user_id))
            .await;
        match read {
            Some(Ok(current))
                if current
                    .user
                    .personal_pin
                    .as_ref()
                    .is_some_and(|pin| is_chime_pin(pin.expose())) =>
            {
                let note = if current.user.personal_pin == reset.user.personal_pin {
                    "PIN read back with GetUser after an attempt of unknown outcome: unchanged"
                } else {
                    "PIN read back with GetUser: an earlier attempt was applied after the \
                     answer that succeeded"
                };
                (current, note.to_string())
            }
            Some(Ok(_)) => (
                reset,
                "GetUser returned no PIN of Chime's form to confirm this one".into(),
            ),
            Some(Err(error)) => {
                let note = format!(
                    "this PIN could not be read back after an attempt of unknown outcome ({}); \
                     `verify` checks it",
                    error.code
                );
                (reset, note)
            }
            None => (
                reset,
                "the run stopped before this PIN was read back".into(),
            ),
        }
    }
}

/// A row's attempts go through the run's rate, count as in flight, teach the rate what the
/// answers say, and stop the run when the credentials are refused.
impl<A: ChimeApi> Pacing for RowRunner<A> {
    type Ticket = SendTicket;

    async fn admit(&self, first: bool) -> Option<SendTicket> {
        let state = &self.state;
        let ticket = if first {
            // A row not sent yet leaves at once when the run stops, rather than waiting for a
            // send slot it will not use.
            let ticket = tokio::select! {
                biased;
                _ = state.control.dispatch.cancelled() => return None,
                ticket = state.rate.acquire() => ticket,
            };
            if state.control.dispatch.is_cancelled() {
                return None;
            }
            ticket
        } else {
            state.rate.acquire().await
        };
        state.live.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(ticket)
    }

    fn observe(&self, ticket: SendTicket, error: Option<&CallError>) {
        let state = &self.state;
        state.live.in_flight.fetch_sub(1, Ordering::Relaxed);
        let Some(error) = error else {
            state.unreachable_streak.store(0, Ordering::Relaxed);
            state.rate.on_success(ticket);
            return;
        };
        self.note_reachability(error);
        match error.disposition {
            Disposition::StopRun => state.control.stop(StopReason::CredentialsRejected {
                code: error.code.clone(),
                message: error.message.clone(),
            }),
            Disposition::Throttled => {
                state.live.throttles.fetch_add(1, Ordering::Relaxed);
                state.rate.on_throttle(ticket);
            }
            Disposition::Retry | Disposition::Final => {}
        }
    }

    fn allow_retry(&self) -> bool {
        let control = &self.state.control;
        // Once nothing answers, retries in flight would only wait out their backoff.
        if control.abort.is_cancelled()
            || matches!(control.reason(), Some(StopReason::Unreachable { .. }))
        {
            return false;
        }
        self.state.live.retries.fetch_add(1, Ordering::Relaxed);
        true
    }
}

impl<A: ChimeApi> RowRunner<A> {
    /// The circuit breaker: when twice the in-flight window of calls in a row could not
    /// connect, with no answer of any kind between, nothing is listening (a wrong endpoint, a
    /// DNS failure, a proxy that is down) and every other row would fail the same way after
    /// its backoff. Stop dispatching rather than spend minutes failing them one by one.
    fn note_reachability(&self, error: &CallError) {
        let state = &self.state;
        if !error.unreachable() {
            state.unreachable_streak.store(0, Ordering::Relaxed);
            return;
        }
        let failures = state.unreachable_streak.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.breaker_threshold() {
            state.control.stop(StopReason::Unreachable {
                endpoint: self.api.endpoint_name(),
                failures,
                error: error.message.clone(),
            });
        }
    }

    fn breaker_threshold(&self) -> u32 {
        let window = u32::try_from(self.config.concurrency.get()).unwrap_or(u32::MAX);
        window.saturating_mul(2).max(MIN_BREAKER_STREAK)
    }
}

/// The fewest failures in a row that trip the breaker, so that a small window does not stop a
/// run on a brief network hiccup.
const MIN_BREAKER_STREAK: u32 = 8;

fn succeeded(task: RowTask, user_id: String, answer: Answer, calls: u32, mode: Mode) -> Outcome {
    let mut user = answer.user;
    let status = match mode {
        Mode::Reset => RowStatus::Reset,
        Mode::DryRun => {
            // GetUser returns the current PIN; a dry run never records one.
            user.personal_pin = None;
            RowStatus::WouldReset
        }
        // Verify compares the PIN in force with the one recorded; its recorder never writes
        // it out.
        Mode::Verify => RowStatus::WouldReset,
    };
    Outcome::new(task.line, task.account_id, user_id, status)
        .with_user(user)
        .with_calls(calls, answer.request_id)
        .with_carried(task.carried)
}

fn resolved_to_a_duplicate(task: RowTask, answer: Answer, calls: u32) -> Outcome {
    let message = format!(
        "line {}: {} is user {}, whom another line names too; a second reset would void the \
         first PIN",
        task.line,
        task.target.as_str(),
        answer.user.user_id
    );
    Outcome::new(
        task.line,
        task.account_id,
        answer.user.user_id,
        RowStatus::Duplicate,
    )
    .with_error(codes::DUPLICATE_ROW, message)
    .with_calls(calls, answer.request_id)
    .with_carried(task.carried)
}

fn failed(task: RowTask, user_id: String, error: CallError, calls: u32) -> Outcome {
    Outcome::new(task.line, task.account_id, user_id, RowStatus::Failed)
        .with_error(error.code, error.message)
        .with_calls(calls, error.request_id)
        .with_carried(task.carried)
}

/// A row's place among the requests in flight (the executor's semaphore), which it gives up
/// while it only waits.
pub(super) struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    slots: Arc<Semaphore>,
}

impl Slot {
    pub fn new(permit: OwnedSemaphorePermit, slots: Arc<Semaphore>) -> Self {
        Slot {
            permit: Some(permit),
            slots,
        }
    }

    fn release(&mut self) {
        self.permit = None;
    }

    async fn retake(&mut self) {
        if self.permit.is_none() {
            let permit = self.slots.clone().acquire_owned().await;
            self.permit = Some(permit.expect("the semaphore is never closed"));
        }
    }
}
