//! One row's journey: its calls (a lookup by email, the check that a row's id and email name
//! one person, the reset or the dry run's GetUser, a read-back when an attempt's outcome was
//! unknown, the logout of `--logout`) through the one retry loop, paced by the run's rate, all
//! within the row's one budget of calls; what each answer teaches the run (slow down, stop,
//! nothing answers); and the row's [`Outcome`].

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{ExecConfig, Mode, Row, RunState};
use crate::chime::{Answer, CallError, ChimeApi, Disposition};
use crate::dedup::{Fingerprints, UserKey};
use crate::execution::rate::SendTicket;
use crate::execution::retry::Pacing;
use crate::input::Target;
use crate::outcome::{codes, Logout, Outcome, ReadBack, RowStatus, StopReason, UserRecord};
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
    pub async fn track_row<F, Fut>(&self, task: Row, slot: &mut Slot, deliver: F)
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
    async fn process_row(&self, task: Row, slot: &mut Slot) -> Option<Outcome> {
        let given_email = task.email.clone();
        let outcome = self.row_calls(task, slot).await?;
        Some(self.missing_ok(outcome).with_given_email(given_email))
    }

    async fn row_calls(&self, task: Row, slot: &mut Slot) -> Option<Outcome> {
        let mut calls = 0;
        let user_id = match &task.target {
            Target::UserId(user_id) => user_id.clone(),
            Target::Email(email) => match self.resolve(&task, email, &mut calls).await? {
                Ok(user_id) => user_id,
                Err(outcome) => return Some(outcome),
            },
        };
        // GetUser, when the row gave an email beside its id: the user as Chime has them.
        let checked = match (&task.email, self.config.mode) {
            (Some(email), Mode::Reset | Mode::DryRun) => {
                match self.check_email(&task, &user_id, email, &mut calls).await? {
                    Ok(answer) => Some(answer),
                    Err(outcome) => return Some(outcome),
                }
            }
            _ => None,
        };
        let logout = self.config.offboarding.logout;
        let outcome = match self.config.mode {
            Mode::Reset if logout && self.awaits_logout(&task.account_id, &user_id) => {
                self.logout_only(task, user_id, checked, &mut calls).await?
            }
            Mode::Reset => {
                let reset = self.reset(task, user_id, &mut calls, slot).await?;
                match logout && reset.status == RowStatus::Reset {
                    true => self.log_out(reset, &mut calls).await,
                    false => reset,
                }
            }
            Mode::DryRun | Mode::Verify => match checked {
                Some(answer) => succeeded(task, user_id, answer, calls, self.config.mode),
                None => self.look_up(task, user_id, &mut calls).await?,
            },
        };
        let outcome = match (self.config.mode, outcome.status) {
            (Mode::DryRun, RowStatus::WouldReset) if logout => {
                outcome.with_note("would reset and log out")
            }
            _ => outcome,
        };
        Some(outcome)
    }

    /// The dry run's and `verify`'s GetUser.
    async fn look_up(&self, task: Row, user_id: String, calls: &mut u32) -> Option<Outcome> {
        let account = task.account_id.as_str();
        let found = self
            .config
            .retry
            .call(self, calls, || self.api.get_user(account, &user_id))
            .await?;
        Some(match found {
            Ok(answer) => succeeded(task, user_id, answer, *calls, self.config.mode),
            Err(error) => failed(task, user_id, error, *calls),
        })
    }

    /// GetUser for a row that gave a user id and an email: Chime's user of that id must have
    /// that email (ignoring case), or nothing is done for the row. A row that names one person
    /// twice is fine; one that names two is the worst outcome of an offboarding (the leaver
    /// keeps a PIN, a colleague loses theirs). Returns the user as Chime has them, or the
    /// row's outcome.
    async fn check_email(
        &self,
        task: &Row,
        user_id: &str,
        email: &str,
        calls: &mut u32,
    ) -> Option<Result<Answer, Outcome>> {
        let account = task.account_id.as_str();
        let found = self
            .config
            .retry
            .leaving_one()
            .call(self, calls, || self.api.get_user(account, user_id))
            .await?;
        let mut answer = match found {
            Ok(answer) => answer,
            Err(error) => return Some(Err(failed(task.clone(), user_id.into(), error, *calls))),
        };
        let chime_email = answer.user.primary_email.clone().unwrap_or_default();
        if chime_email.eq_ignore_ascii_case(email) {
            return Some(Ok(answer));
        }
        // GetUser returns the PIN in force; a row that fails never records it.
        answer.user.personal_pin = None;
        let message =
            format!(
            "line {}: the row gives the email {email}, but Chime's user {user_id} has the email \
             {}; nothing was done for this row: correct the id or the email",
            task.line,
            if chime_email.is_empty() { "(none)" } else { &chime_email }
        );
        Some(Err(Outcome::new(
            task.line,
            task.account_id.clone(),
            user_id.to_string(),
            RowStatus::Failed,
        )
        .with_user(answer.user)
        .with_error(codes::EMAIL_MISMATCH, message)
        .with_calls(*calls, answer.request_id)))
    }

    /// Whether `--resume --logout` found this user reset already but not logged out.
    fn awaits_logout(&self, account_id: &str, user_id: &str) -> bool {
        let key = Fingerprints::key(account_id, &UserKey::Id(user_id));
        self.state.awaiting_logout.contains(key)
    }

    /// `--resume --logout` for a user reset already: never a second reset. The row is
    /// written again as `reset` (the last row is the one `report` shows), with the PIN in force
    /// read with GetUser (the email check's, when the row had one), then the user is logged out.
    async fn logout_only(
        &self,
        task: Row,
        user_id: String,
        checked: Option<Answer>,
        calls: &mut u32,
    ) -> Option<Outcome> {
        let account = task.account_id.as_str();
        let read = match checked {
            Some(answer) => Ok(answer),
            None => {
                self.config
                    .retry
                    .leaving_one()
                    .call(self, calls, || self.api.get_user(account, &user_id))
                    .await?
            }
        };
        let answer = match read {
            Ok(answer) => answer,
            Err(error) => return Some(failed(task, user_id, error, *calls)),
        };
        let note = "reset by an earlier run; its PIN in force read back with GetUser";
        let reset = succeeded(task, user_id, answer, *calls, Mode::Reset).with_note(note);
        Some(self.log_out(reset, calls).await)
    }

    /// LogoutUser after a reset, within the row's budget. A failed logout never hides the
    /// reset: the row stays `reset` with its PIN, and the logout's error is in its error
    /// columns.
    async fn log_out(&self, reset: Outcome, calls: &mut u32) -> Outcome {
        let (account, user_id) = (reset.account_id.as_str(), reset.user_id.as_str());
        let logged_out = self
            .config
            .retry
            .call(self, calls, || self.api.logout_user(account, user_id))
            .await;
        let request_id = reset.request_id.clone();
        match logged_out {
            Some(Ok(request_id)) => reset
                .with_logout(Logout::Done)
                .with_calls(*calls, request_id),
            Some(Err(error)) => {
                let message = format!(
                    "the PIN was reset, but the logout failed: {}",
                    error.message
                );
                reset
                    .with_logout(Logout::Failed)
                    .with_error(error.code, message)
                    .with_calls(*calls, error.request_id.or(request_id))
            }
            // Not sent: the run stopped. The logout is not recorded, so a resume with
            // --logout sends it.
            None => reset.with_calls(*calls, request_id),
        }
    }

    /// `--missing-ok`: a user Chime does not find, in an account it has (the run's accounts
    /// are checked before it starts), is `gone`: no PIN is left to void.
    fn missing_ok(&self, outcome: Outcome) -> Outcome {
        let gone = self.config.offboarding.missing_ok
            && outcome.status == RowStatus::Failed
            && outcome.error_code.as_deref() == Some(NOT_FOUND);
        match gone {
            true => Outcome {
                status: RowStatus::Gone,
                ..outcome
            },
            false => outcome,
        }
    }

    /// The user a row named by email, claimed for this row; or the row's outcome when the
    /// lookup failed or another row names the same user.
    async fn resolve(
        &self,
        task: &Row,
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
            Ok(answer) if self.claim_resolved(account, &answer.user.user_id) => {
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

    /// Whether the user an email resolved to is this row's alone: no earlier row named them.
    /// A mode without duplicate detection names every user by id, and never asks.
    fn claim_resolved(&self, account: &str, user_id: &str) -> bool {
        let dedup = self.state.dedup.as_ref();
        dedup.is_none_or(|dedup| dedup.claim_resolved(account, user_id))
    }

    /// Resets the user's PIN. When an attempt's outcome was unknown, the PIN is read back
    /// before it is recorded (see [`RowRunner::read_back`]).
    async fn reset(
        &self,
        task: Row,
        user_id: String,
        calls: &mut u32,
        slot: &mut Slot,
    ) -> Option<Outcome> {
        let account = task.account_id.as_str();
        // When the last attempt of unknown outcome was sent.
        let doubt: Mutex<Option<Instant>> = Mutex::new(None);
        // A logout follows the reset within the row's budget.
        let retry = match self.config.offboarding.logout {
            true => self.config.retry.leaving_one(),
            false => self.config.retry,
        };
        let reset = retry
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
                let (answer, found, note) = self
                    .read_back(account, &user_id, answer, calls, doubtful, slot)
                    .await;
                succeeded(task, user_id, answer, *calls, Mode::Reset)
                    .with_note(note)
                    .with_read_back(found)
            }
            (Ok(answer), None) => succeeded(task, user_id, answer, *calls, Mode::Reset),
            (Err(error), _) => failed(task, user_id, error, *calls),
        })
    }

    /// A reset that succeeded after an attempt of unknown outcome: that attempt may have been
    /// applied after the answer that succeeded, voiding its PIN. GetUser returns the PIN in
    /// force, which is the one to record. Returns the answer to record, what the read-back
    /// found, and a note saying so (never the PIN); if the read-back fails, the reset's own
    /// answer stands.
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
    ) -> (Answer, ReadBack, String) {
        slot.release();
        let until = doubtful + self.config.settle;
        let waiting = self.state.live.confirming_until(until.into_std());
        let stopped = tokio::select! {
            _ = self.state.control.dispatch.cancelled() => true,
            _ = tokio::time::sleep_until(until) => false,
        };
        drop(waiting);
        let not_confirmed = ReadBack::NotConfirmed;
        if stopped {
            let note = "the run stopped before this PIN, set after an attempt of unknown outcome, \
                        was read back; `verify` checks it";
            return (reset, not_confirmed, note.to_string());
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
                let (found, note) = if current.user.personal_pin == reset.user.personal_pin {
                    let note =
                        "PIN read back with GetUser after an attempt of unknown outcome: unchanged";
                    (ReadBack::Unchanged, note)
                } else {
                    let note = "PIN read back with GetUser: an earlier attempt was applied after \
                                the answer that succeeded";
                    (ReadBack::Changed, note)
                };
                (current, found, note.to_string())
            }
            Some(Ok(_)) => (
                reset,
                not_confirmed,
                "GetUser returned no PIN of Chime's form to confirm this one".into(),
            ),
            Some(Err(error)) => {
                let note = format!(
                    "this PIN could not be read back after an attempt of unknown outcome ({}); \
                     `verify` checks it",
                    error.code
                );
                (reset, not_confirmed, note)
            }
            None => (
                reset,
                not_confirmed,
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

/// Chime's answer for a user (or an account) it does not have.
const NOT_FOUND: &str = "NotFoundException";

/// The fewest failures in a row that trip the breaker, so that a small window does not stop a
/// run on a brief network hiccup.
const MIN_BREAKER_STREAK: u32 = 8;

fn succeeded(task: Row, user_id: String, answer: Answer, calls: u32, mode: Mode) -> Outcome {
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
        Mode::Verify => RowStatus::Found,
    };
    Outcome::new(task.line, task.account_id, user_id, status)
        .with_user(user)
        .with_calls(calls, answer.request_id)
}

fn resolved_to_a_duplicate(task: Row, answer: Answer, calls: u32) -> Outcome {
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
}

fn failed(task: Row, user_id: String, error: CallError, calls: u32) -> Outcome {
    Outcome::new(task.line, task.account_id, user_id, RowStatus::Failed)
        .with_error(error.code, error.message)
        .with_calls(calls, error.request_id)
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
