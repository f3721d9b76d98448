//! Execution: judged rows in, one [`Outcome`] per dispatched row out.
//!
//! Two limits, each in one place: requests per second ([`RateGovernor`], one governor limiter
//! shared by every attempt, lowered when Chime throttles and raised again in quiet periods) and
//! requests in flight (a semaphore, so the reader blocks when every slot is busy). Retries live
//! here and only here, with exponential backoff and full jitter. A failed row is data, not an
//! error; only what stops the whole run goes through [`Control`].

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::chime::{Answer, CallError, ChimeApi, Disposition, UserRecord};
use crate::input::{Fingerprints, InputItem, Rejected, Rejection, RowTask, SeenPairs, Target};

/// The status column of the results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RowStatus {
    Reset,
    WouldReset,
    Failed,
    Invalid,
    Duplicate,
}

impl RowStatus {
    pub const ALL: [RowStatus; 5] = [
        RowStatus::Reset,
        RowStatus::WouldReset,
        RowStatus::Failed,
        RowStatus::Invalid,
        RowStatus::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Reset => "reset",
            RowStatus::WouldReset => "would-reset",
            RowStatus::Failed => "failed",
            RowStatus::Invalid => "invalid",
            RowStatus::Duplicate => "duplicate",
        }
    }
}

/// Our own error codes, beside the AWS exception names.
pub const INVALID_INPUT: &str = "InvalidInput";
pub const DUPLICATE_ROW: &str = "DuplicateRow";

/// What became of one row: everything its results line needs.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub line: u64,
    pub account_id: String,
    pub user_id: String,
    pub status: RowStatus,
    /// The user as Chime returned it (its PIN only after a reset).
    pub user: Option<UserRecord>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: u32,
    pub request_id: Option<String>,
    pub finished_at: SystemTime,
    pub carried: Vec<String>,
}

impl Outcome {
    fn rejected(rejected: Rejected) -> Self {
        let (status, code) = match rejected.rejection {
            Rejection::Invalid => (RowStatus::Invalid, INVALID_INPUT),
            Rejection::Duplicate => (RowStatus::Duplicate, DUPLICATE_ROW),
        };
        Outcome {
            line: rejected.line,
            account_id: rejected.account_id,
            user_id: rejected.user_id,
            status,
            user: None,
            error_code: Some(code.to_string()),
            error_message: Some(rejected.message),
            attempts: 0,
            request_id: None,
            finished_at: SystemTime::now(),
            carried: rejected.carried,
        }
    }
}

/// Reset PINs, or only look the users up (`--dry-run`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Reset,
    DryRun,
}

/// The executor's settings, already validated.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// Requests per second across the run; `None` is unlimited.
    pub rate: Option<NonZeroU32>,
    pub burst: NonZeroU32,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub mode: Mode,
}

/// How failed calls are retried: throttles (429), service failures (5xx) and lost or unreadable
/// answers, with exponential backoff and full jitter, up to `max_attempts` calls.
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

    /// Makes a one-off call (not a row's: see [`execute`]) until it succeeds, fails for good,
    /// or runs out of attempts. The client has the SDK's retries switched off, so this is the
    /// only retry loop around the call.
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

/// Why a run stopped before its input was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Credentials were refused; every remaining row would fail the same way.
    CredentialsRejected {
        code: String,
        message: String,
    },
    MaxFailures(u64),
    ResultsUnwritable(String),
    InputUnreadable(String),
    /// A row's task ended without an outcome (a bug): its row is named in the summary.
    RowLost,
    Interrupted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::CredentialsRejected { code, message } => {
                write!(f, "the credentials were refused ({code}: {message})")
            }
            StopReason::MaxFailures(n) => write!(f, "{n} rows failed (--max-failures {n})"),
            StopReason::ResultsUnwritable(why) => {
                write!(f, "the results file could not be written ({why})")
            }
            StopReason::InputUnreadable(why) => write!(f, "the input could not be read ({why})"),
            StopReason::RowLost => write!(f, "a row's task failed without an outcome"),
            StopReason::Interrupted => write!(f, "interrupted"),
        }
    }
}

/// How the run is stopped: `dispatch` ends the sending of new rows (in-flight rows finish),
/// `abort` drops the in-flight rows too. The first reason given is the one reported.
#[derive(Debug, Default)]
pub struct Control {
    pub dispatch: CancellationToken,
    pub abort: CancellationToken,
    reason: Mutex<Option<StopReason>>,
}

impl Control {
    pub fn stop(&self, reason: StopReason) {
        let mut first = self
            .reason
            .lock()
            .expect("the stop reason lock is never poisoned");
        first.get_or_insert(reason);
        self.dispatch.cancel();
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .expect("the stop reason lock is never poisoned")
            .clone()
    }
}

/// Counters the progress display reads while the run goes on.
#[derive(Debug, Default)]
pub struct LiveStats {
    pub in_flight: AtomicU64,
    pub throttles: AtomicU64,
    pub retries: AtomicU64,
    pub skipped: AtomicU64,
}

/// The run's request rate: one governor limiter at the configured rate and burst, and in front
/// of it a pacer that spaces requests further apart while Chime throttles.
///
/// The pacer hands out evenly spaced send times; changing its rate changes the spacing of the
/// times handed out next, so a change never lets two rates run side by side.
///
/// The control is multiplicative decrease, quick recovery: a throttle cuts the rate by 30%
/// (by half when the last cut was under a second ago, so an opening overshoot is shed fast)
/// and remembers the rate that was throttled as a ceiling. Each quiet period then closes half
/// of the gap to 85% of that ceiling, and above it probes upward by 1% of the configured rate.
#[derive(Debug)]
pub struct RateGovernor {
    target: Option<f64>,
    limiter: Option<DefaultDirectRateLimiter>,
    /// One request at a time waits on the limiter, the rest queue here in order: otherwise
    /// every waiting request wakes at every free slot and all but one go back to sleep.
    turn: tokio::sync::Mutex<()>,
    state: Mutex<RateState>,
}

#[derive(Debug)]
struct RateState {
    /// The rate in force; infinite when unlimited and never throttled.
    current: f64,
    /// The pacer's next free send time, used while `current` is below the configured rate.
    next_slot: Instant,
    /// The rate at the last throttle.
    ceiling: f64,
    last_change: Instant,
    last_cut: Option<Instant>,
    last_throttle: Option<Instant>,
    /// Successful answers in the current one-second window, to find a starting point when an
    /// unlimited run is throttled.
    window_start: Instant,
    window_successes: u32,
}

/// Throttles closer together than this count as one: the answers in flight when the first
/// arrived say nothing new.
const THROTTLE_COOLDOWN: Duration = Duration::from_millis(250);
/// Consecutive cuts closer than this mean the rate is still far too high.
const STILL_OVERSHOOTING: Duration = Duration::from_secs(1);
/// How long the run must go without a throttle before the rate is raised a step.
const QUIET_PERIOD: Duration = Duration::from_millis(500);

impl RateGovernor {
    pub fn new(rate: Option<NonZeroU32>, burst: NonZeroU32) -> Self {
        let now = Instant::now();
        let target = rate.map(|r| f64::from(r.get()));
        let limiter = rate.map(|r| RateLimiter::direct(Quota::per_second(r).allow_burst(burst)));
        RateGovernor {
            target,
            limiter,
            turn: tokio::sync::Mutex::new(()),
            state: Mutex::new(RateState {
                next_slot: now,
                current: target.unwrap_or(f64::INFINITY),
                ceiling: target.unwrap_or(f64::INFINITY),
                last_change: now,
                last_cut: None,
                last_throttle: None,
                window_start: now,
                window_successes: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RateState> {
        self.state
            .lock()
            .expect("the rate lock is never held across a panic")
    }

    /// Waits until one more request may be sent.
    pub async fn acquire(&self) {
        let slot = {
            let mut state = self.lock();
            self.raise_if_quiet(&mut state);
            self.reserve_slot(&mut state)
        };
        if let Some(slot) = slot {
            tokio::time::sleep_until(slot.into()).await;
        }
        if let Some(limiter) = &self.limiter {
            let _turn = self.turn.lock().await;
            limiter.until_ready().await;
        }
    }

    /// The pacer's next send time while the rate is lowered; `None` at the configured rate.
    fn reserve_slot(&self, state: &mut RateState) -> Option<Instant> {
        let lowered = match self.target {
            Some(target) => state.current < target,
            None => state.current.is_finite(),
        };
        if !lowered {
            return None;
        }
        let slot = state.next_slot.max(Instant::now());
        state.next_slot = slot + Duration::from_secs_f64(1.0 / state.current);
        Some(slot)
    }

    /// The rate in force, or `None` when unlimited.
    pub fn current(&self) -> Option<f64> {
        let current = self.lock().current;
        current.is_finite().then_some(current)
    }

    pub fn on_success(&self) {
        let mut state = self.lock();
        if state.window_start.elapsed() >= Duration::from_secs(1) {
            state.window_start = Instant::now();
            state.window_successes = 0;
        }
        state.window_successes += 1;
    }

    /// Lowers the rate after a throttle.
    pub fn on_throttle(&self) {
        let mut state = self.lock();
        let now = Instant::now();
        state.last_throttle = Some(now);
        if state.last_change.elapsed() < THROTTLE_COOLDOWN && state.last_cut.is_some() {
            return;
        }
        let current = if state.current.is_finite() {
            state.current
        } else {
            // Unlimited until now: start from what the service answered over the last second.
            let elapsed = state.window_start.elapsed().as_secs_f64().max(0.25);
            (f64::from(state.window_successes) / elapsed).max(1.0)
        };
        let overshooting = state
            .last_cut
            .is_some_and(|cut| cut.elapsed() < STILL_OVERSHOOTING);
        let factor = if overshooting { 0.5 } else { 0.7 };
        state.ceiling = current;
        state.last_cut = Some(now);
        self.set_rate(&mut state, (current * factor).max(1.0));
    }

    fn raise_if_quiet(&self, state: &mut RateState) {
        let quiet = |at: Option<Instant>| at.is_none_or(|at| at.elapsed() >= QUIET_PERIOD);
        if !state.current.is_finite()
            || state.last_change.elapsed() < QUIET_PERIOD
            || !quiet(state.last_throttle)
            || self.target.is_some_and(|target| state.current >= target)
        {
            return;
        }
        let goal = state.ceiling * 0.85;
        let probe = (self.target.unwrap_or(state.ceiling) * 0.01).max(0.5);
        let raised = if state.current + probe < goal {
            state.current + (goal - state.current) / 2.0
        } else {
            state.current + probe
        };
        let raised = self.target.map_or(raised, |target| raised.min(target));
        self.set_rate(state, raised);
    }

    fn set_rate(&self, state: &mut RateState, rate: f64) {
        state.current = rate;
        state.last_change = Instant::now();
    }
}

/// What the executor shares with the rest of the run.
#[derive(Debug)]
pub struct RunState {
    pub rate: RateGovernor,
    pub control: Control,
    pub live: LiveStats,
    /// The (account, user) pairs seen so far, shared with the reader: a row that named its
    /// user by email is a duplicate when the user it resolves to is already there.
    pub seen: SeenPairs,
    /// Rows between dispatch and outcome: line → (account, user id or email).
    rows_in_flight: Mutex<BTreeMap<u64, (String, String)>>,
}

impl RunState {
    pub fn new(rate: RateGovernor, seen: SeenPairs) -> Self {
        RunState {
            rate,
            control: Control::default(),
            live: LiveStats::default(),
            seen,
            rows_in_flight: Mutex::default(),
        }
    }

    pub fn rows_in_flight(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (String, String)>> {
        self.rows_in_flight
            .lock()
            .expect("the rows in flight are never poisoned")
    }
}

/// What every row's task shares.
struct Context<A> {
    api: Arc<A>,
    config: ExecConfig,
    state: Arc<RunState>,
}

/// Sends every task from `items` (read in chunks, so the reader is woken once a chunk rather
/// than once a row) within the limits and sends one outcome per dispatched row
/// (and per rejected row) to `outcomes`. Returns when the input is done or the run is stopped
/// and the in-flight rows have finished (or were aborted).
pub async fn execute<A: ChimeApi>(
    api: Arc<A>,
    mut items: mpsc::Receiver<Vec<InputItem>>,
    config: ExecConfig,
    state: Arc<RunState>,
    outcomes: mpsc::Sender<Outcome>,
) {
    let slots = Arc::new(Semaphore::new(config.concurrency));
    let control = &state.control;
    let context = Arc::new(Context {
        api,
        config,
        state: state.clone(),
    });
    let mut tasks = JoinSet::new();
    'dispatch: loop {
        let chunk = tokio::select! {
            biased;
            _ = control.dispatch.cancelled() => break,
            chunk = items.recv() => chunk,
        };
        let Some(chunk) = chunk else { break };
        for item in chunk {
            let task = match item {
                InputItem::Skipped => {
                    context.state.live.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                InputItem::Rejected(rejected) => {
                    let _ = outcomes.send(Outcome::rejected(rejected)).await;
                    continue;
                }
                InputItem::Unreadable(message) => {
                    control.stop(StopReason::InputUnreadable(message));
                    break 'dispatch;
                }
                InputItem::Task(task) => task,
            };
            let slot = tokio::select! {
                biased;
                _ = control.dispatch.cancelled() => break 'dispatch,
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            };
            while let Some(joined) = tasks.try_join_next() {
                note_lost_row(joined, control);
            }
            let (context, outcomes) = (context.clone(), outcomes.clone());
            tasks.spawn(async move {
                if let Some(outcome) = track_row(&context, task).await {
                    let _ = outcomes.send(outcome).await;
                }
                drop(slot);
            });
        }
    }
    let finish_in_flight = async {
        while let Some(joined) = tasks.join_next().await {
            note_lost_row(joined, control);
        }
    };
    tokio::select! {
        _ = control.abort.cancelled() => {}
        _ = finish_in_flight => {}
    }
    tasks.abort_all();
    while let Some(joined) = tasks.join_next().await {
        note_lost_row(joined, control);
    }
}

/// A row task that panicked made no outcome: stop the run, which names the row.
fn note_lost_row(joined: Result<(), tokio::task::JoinError>, control: &Control) {
    if joined.is_err_and(|error| error.is_panic()) {
        control.stop(StopReason::RowLost);
    }
}

/// Runs one row, listed in `rows_in_flight` until its outcome is made: a row still listed at
/// the end was dropped mid-flight (a second Ctrl-C) or lost to a panic, and is named then.
async fn track_row<A: ChimeApi>(context: &Context<A>, task: RowTask) -> Option<Outcome> {
    let line = task.line;
    let user = match &task.target {
        Target::UserId(user) | Target::Email(user) => user.clone(),
    };
    context
        .state
        .rows_in_flight()
        .insert(line, (task.account_id.clone(), user));
    let outcome = process_row(context, task).await;
    context.state.rows_in_flight().remove(&line);
    outcome
}

/// One row from first call to outcome; `None` when the run stopped before it was sent.
async fn process_row<A: ChimeApi>(context: &Context<A>, task: RowTask) -> Option<Outcome> {
    let mut attempts = 0;
    let account = task.account_id.as_str();
    let user_id = match &task.target {
        Target::UserId(user_id) => user_id.clone(),
        Target::Email(email) => {
            let found = context
                .call(&mut attempts, || {
                    context.api.find_user_by_email(account, email)
                })
                .await?;
            match found {
                Ok(answer) if context.claim(account, &answer.user.user_id) => answer.user.user_id,
                Ok(answer) => return Some(resolved_to_a_duplicate(task, answer, attempts)),
                Err(error) => return Some(failed(task, String::new(), error, attempts)),
            }
        }
    };
    let result = match context.config.mode {
        Mode::Reset => {
            context
                .call(&mut attempts, || {
                    context.api.reset_personal_pin(account, &user_id)
                })
                .await?
        }
        Mode::DryRun => {
            context
                .call(&mut attempts, || context.api.get_user(account, &user_id))
                .await?
        }
    };
    Some(match result {
        Ok(answer) => succeeded(task, user_id, answer, attempts, context.config.mode),
        Err(error) => failed(task, user_id, error, attempts),
    })
}

impl<A: ChimeApi> Context<A> {
    /// Claims a user an email resolved to; false when a row of the input names the same user
    /// already (by id, or by another email). Rows read later that name it are duplicates.
    fn claim(&self, account_id: &str, user_id: &str) -> bool {
        let key = Fingerprints::key(account_id, &Target::UserId(user_id.to_string()));
        self.state
            .seen
            .lock()
            .expect("the set of pairs is never poisoned")
            .insert(key)
    }

    /// Makes one call with the run's retry policy. `None` when the run stopped before the
    /// first attempt was sent.
    async fn call<F, Fut>(
        &self,
        attempts: &mut u32,
        mut send: F,
    ) -> Option<Result<Answer, CallError>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Answer, CallError>>,
    {
        let mut tries = 0;
        loop {
            if *attempts == 0 {
                // A row not sent yet leaves at once when the run stops, rather than waiting
                // for a send slot it will not use.
                tokio::select! {
                    biased;
                    _ = self.state.control.dispatch.cancelled() => return None,
                    _ = self.state.rate.acquire() => {}
                }
                if self.state.control.dispatch.is_cancelled() {
                    return None;
                }
            } else {
                self.state.rate.acquire().await;
            }
            *attempts += 1;
            tries += 1;
            self.state.live.in_flight.fetch_add(1, Ordering::Relaxed);
            let result = send().await;
            self.state.live.in_flight.fetch_sub(1, Ordering::Relaxed);
            let error = match result {
                Ok(answer) => {
                    self.state.rate.on_success();
                    return Some(Ok(answer));
                }
                Err(error) => error,
            };
            match error.disposition {
                Disposition::Final => return Some(Err(error)),
                Disposition::StopRun => {
                    self.state.control.stop(StopReason::CredentialsRejected {
                        code: error.code.clone(),
                        message: error.message.clone(),
                    });
                    return Some(Err(error));
                }
                Disposition::Throttled => {
                    self.state.live.throttles.fetch_add(1, Ordering::Relaxed);
                    self.state.rate.on_throttle();
                }
                Disposition::Retry => {}
            }
            if !self.config.retry.retries(&error, tries) || self.state.control.abort.is_cancelled()
            {
                return Some(Err(error));
            }
            self.state.live.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(self.config.retry.backoff(tries)).await;
        }
    }
}

fn succeeded(task: RowTask, user_id: String, answer: Answer, attempts: u32, mode: Mode) -> Outcome {
    let mut user = answer.user;
    let status = match mode {
        Mode::Reset => RowStatus::Reset,
        Mode::DryRun => {
            // GetUser returns the current PIN; a dry run never records one.
            user.personal_pin = None;
            RowStatus::WouldReset
        }
    };
    Outcome {
        line: task.line,
        account_id: task.account_id,
        user_id,
        status,
        user: Some(user),
        error_code: None,
        error_message: None,
        attempts,
        request_id: answer.request_id,
        finished_at: SystemTime::now(),
        carried: task.carried,
    }
}

fn resolved_to_a_duplicate(task: RowTask, answer: Answer, attempts: u32) -> Outcome {
    let email = match &task.target {
        Target::Email(email) => email.clone(),
        Target::UserId(_) => String::new(),
    };
    let message = format!(
        "line {}: {email} is user {}, whom another line names too; a second reset would \
         void the first PIN",
        task.line, answer.user.user_id
    );
    Outcome {
        line: task.line,
        account_id: task.account_id,
        user_id: answer.user.user_id,
        status: RowStatus::Duplicate,
        user: None,
        error_code: Some(DUPLICATE_ROW.to_string()),
        error_message: Some(message),
        attempts,
        request_id: answer.request_id,
        finished_at: SystemTime::now(),
        carried: task.carried,
    }
}

fn failed(task: RowTask, user_id: String, error: CallError, attempts: u32) -> Outcome {
    Outcome {
        line: task.line,
        account_id: task.account_id,
        user_id,
        status: RowStatus::Failed,
        user: None,
        error_code: Some(error.code),
        error_message: Some(error.message),
        attempts,
        request_id: error.request_id,
        finished_at: SystemTime::now(),
        carried: task.carried,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chime::Pin;
    use std::collections::HashMap;
    use std::sync::atomic::AtomicU32;

    /// An in-memory Chime: each user answers with a scripted list of errors, then succeeds.
    #[derive(Default)]
    struct FakeChime {
        scripts: Mutex<HashMap<String, Vec<CallError>>>,
        resets: AtomicU32,
        gets: AtomicU32,
    }

    impl FakeChime {
        fn answer(&self, user_id: &str) -> Result<Answer, CallError> {
            let scripted = self
                .scripts
                .lock()
                .unwrap()
                .get_mut(user_id)
                .and_then(|s| (!s.is_empty()).then(|| s.remove(0)));
            match scripted {
                Some(error) => Err(error),
                None => Ok(Answer {
                    user: UserRecord {
                        user_id: user_id.to_string(),
                        personal_pin: Some(Pin::new("0000000000")),
                        ..UserRecord::default()
                    },
                    request_id: Some("req".to_string()),
                }),
            }
        }
    }

    impl ChimeApi for FakeChime {
        async fn reset_personal_pin(&self, _: &str, user_id: &str) -> Result<Answer, CallError> {
            self.resets.fetch_add(1, Ordering::SeqCst);
            self.answer(user_id)
        }
        async fn get_user(&self, _: &str, user_id: &str) -> Result<Answer, CallError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            self.answer(user_id)
        }
        async fn find_user_by_email(&self, _: &str, email: &str) -> Result<Answer, CallError> {
            self.answer(email)
        }
    }

    fn config(mode: Mode) -> ExecConfig {
        ExecConfig {
            rate: None,
            burst: NonZeroU32::MIN,
            concurrency: 4,
            retry: RetryPolicy {
                max_attempts: 3,
                base: Duration::from_millis(1),
                cap: Duration::from_millis(2),
            },
            mode,
        }
    }

    fn task(user: &str) -> InputItem {
        InputItem::Task(RowTask {
            line: 2,
            account_id: "acct".to_string(),
            target: Target::UserId(user.to_string()),
            carried: vec![],
        })
    }

    async fn run(
        fake: Arc<FakeChime>,
        items: Vec<InputItem>,
        mode: Mode,
    ) -> (Vec<Outcome>, Arc<RunState>) {
        run_in(fake, items, mode, SeenPairs::default()).await
    }

    /// A reset run whose reader has already seen the pairs in `seen`.
    async fn run_with_seen(
        fake: Arc<FakeChime>,
        items: Vec<InputItem>,
        seen: SeenPairs,
    ) -> (Vec<Outcome>, Arc<RunState>) {
        run_in(fake, items, Mode::Reset, seen).await
    }

    async fn run_in(
        fake: Arc<FakeChime>,
        items: Vec<InputItem>,
        mode: Mode,
        seen: SeenPairs,
    ) -> (Vec<Outcome>, Arc<RunState>) {
        let (item_tx, item_rx) = mpsc::channel(16);
        let (out_tx, mut out_rx) = mpsc::channel(16);
        let config = config(mode);
        let state = Arc::new(RunState::new(
            RateGovernor::new(config.rate, config.burst),
            seen,
        ));
        let executor = tokio::spawn(execute(fake, item_rx, config, state.clone(), out_tx));
        item_tx.send(items).await.unwrap();
        drop(item_tx);
        let mut outcomes = Vec::new();
        while let Some(outcome) = out_rx.recv().await {
            outcomes.push(outcome);
        }
        executor.await.unwrap();
        (outcomes, state)
    }

    fn error(disposition: Disposition, code: &str) -> CallError {
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

    #[tokio::test]
    async fn transient_errors_are_retried_and_counted() {
        let fake = Arc::new(FakeChime::default());
        fake.scripts.lock().unwrap().insert(
            "u1".into(),
            vec![
                error(Disposition::Throttled, "ThrottledClientException"),
                error(Disposition::Retry, "Timeout"),
            ],
        );
        let (outcomes, _) = run(fake.clone(), vec![task("u1")], Mode::Reset).await;
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].status, RowStatus::Reset);
        assert_eq!(outcomes[0].attempts, 3);
        assert_eq!(fake.resets.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn final_errors_are_not_retried_and_attempts_are_bounded() {
        let fake = Arc::new(FakeChime::default());
        fake.scripts.lock().unwrap().insert(
            "gone".into(),
            vec![error(Disposition::Final, "NotFoundException")],
        );
        fake.scripts.lock().unwrap().insert(
            "busy".into(),
            vec![error(Disposition::Retry, "ServiceFailureException"); 5],
        );
        let (outcomes, _) = run(fake, vec![task("gone"), task("busy")], Mode::Reset).await;
        let by_user = |user: &str| outcomes.iter().find(|o| o.user_id == user).unwrap().clone();
        assert_eq!(by_user("gone").attempts, 1);
        assert_eq!(
            by_user("gone").error_code.as_deref(),
            Some("NotFoundException")
        );
        assert_eq!(by_user("busy").attempts, 3);
        assert_eq!(by_user("busy").status, RowStatus::Failed);
    }

    #[tokio::test]
    async fn an_email_that_resolves_to_a_user_named_elsewhere_is_a_duplicate() {
        let fake = Arc::new(FakeChime::default());
        let by_email = |email: &str| {
            InputItem::Task(RowTask {
                line: 3,
                account_id: "acct".to_string(),
                target: Target::Email(email.to_string()),
                carried: vec![],
            })
        };
        // The fake resolves an email to the user id spelled the same.
        let items = vec![task("u1"), by_email("u1"), by_email("u2")];
        let state_seen = SeenPairs::default();
        state_seen
            .lock()
            .unwrap()
            .insert(Fingerprints::key("acct", &Target::UserId("u1".to_string())));
        let (outcomes, _) = run_with_seen(fake.clone(), items, state_seen).await;
        let by_line_and_user = |user: &str, status: RowStatus| {
            outcomes
                .iter()
                .any(|o| o.user_id == user && o.status == status)
        };
        assert!(by_line_and_user("u1", RowStatus::Duplicate), "{outcomes:?}");
        assert!(by_line_and_user("u2", RowStatus::Reset), "{outcomes:?}");
        assert_eq!(
            fake.resets.load(Ordering::SeqCst),
            2,
            "u1 once (by id), u2 once"
        );
    }

    #[tokio::test]
    async fn a_dry_run_only_reads_and_never_keeps_a_pin() {
        let fake = Arc::new(FakeChime::default());
        let (outcomes, _) = run(fake.clone(), vec![task("u1")], Mode::DryRun).await;
        assert_eq!(outcomes[0].status, RowStatus::WouldReset);
        assert!(outcomes[0].user.as_ref().unwrap().personal_pin.is_none());
        assert_eq!(fake.resets.load(Ordering::SeqCst), 0);
        assert_eq!(fake.gets.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refused_credentials_stop_the_run() {
        let fake = Arc::new(FakeChime::default());
        fake.scripts.lock().unwrap().insert(
            "u1".into(),
            vec![error(Disposition::StopRun, "UnauthorizedClientException")],
        );
        let (_, state) = run(fake, vec![task("u1")], Mode::Reset).await;
        assert!(matches!(
            state.control.reason(),
            Some(StopReason::CredentialsRejected { .. })
        ));
    }

    #[test]
    fn throttling_cuts_the_rate_and_cuts_harder_while_overshooting() {
        let governor = RateGovernor::new(NonZeroU32::new(200), NonZeroU32::new(10).unwrap());
        governor.lock().last_change -= THROTTLE_COOLDOWN;
        governor.on_throttle();
        let lowered = governor.current().unwrap();
        assert_eq!(lowered, 140.0, "a first throttle cuts by 30%");
        governor.on_throttle();
        assert_eq!(
            governor.current().unwrap(),
            lowered,
            "a second throttle within the cooldown is the same event"
        );
        governor.lock().last_change -= THROTTLE_COOLDOWN;
        governor.on_throttle();
        assert_eq!(
            governor.current().unwrap(),
            70.0,
            "still overshooting: cut by half"
        );
    }
}
