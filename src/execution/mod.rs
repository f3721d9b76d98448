//! Execution: [`Job`]s in, one [`Outcome`] per dispatched row out, joined to its job's payload.
//!
//! Two limits, each in one place: requests per second ([`rate`], one limiter shared by every
//! attempt, lowered when Chime throttles) and requests in flight (a semaphore here, so the
//! reader blocks when every slot is busy). Every call goes through the one retry loop
//! ([`retry`]). A failed row is data, not an error; only what stops the whole run goes through
//! [`control`].

pub mod canary;
pub mod control;
pub mod job;
pub mod rate;
pub mod retry;
mod row;

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::chime::ChimeApi;
use crate::dedup::{Dedup, Fingerprints};
pub use crate::outcome::LiveStats;
use crate::outcome::{Outcome, StopReason};

pub use control::Control;
pub use job::{Carried, Job, Payload, Row, Work};
pub use rate::RateGovernor;
pub use retry::RetryPolicy;
use row::{RowRunner, Slot};

/// Reset PINs, or only look the users up (`--dry-run`), or look them up to compare their PINs
/// with the ones recorded (`verify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Reset,
    DryRun,
    /// GetUser, keeping the PIN in the outcome's user: `verify` compares it and never writes
    /// it. A success has the status `found`.
    Verify,
}

/// The executor's settings, already validated.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// Requests per second across the run; `None` is unlimited.
    pub rate: Option<NonZeroU32>,
    pub burst: NonZeroU32,
    pub concurrency: NonZeroUsize,
    pub retry: RetryPolicy,
    pub mode: Mode,
    /// How long after it was sent an attempt of unknown outcome may still be applied: a reset
    /// after one is read back only once this has passed.
    pub settle: Duration,
    pub offboarding: Offboarding,
}

/// What `run` does beyond the reset when offboarding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offboarding {
    /// `--logout`: log each user out (LogoutUser) once their PIN is reset.
    pub logout: bool,
    /// `--missing-ok`: a user Chime no longer has, in an account it has, is `gone`, not
    /// `failed`.
    pub missing_ok: bool,
}

impl ExecConfig {
    /// The run's rate: the configured ceiling, and the adaptive rate under it.
    pub fn rate_governor(&self) -> RateGovernor {
        RateGovernor::new(self.rate, self.burst, self.concurrency).with_precise_timer()
    }
}

/// What the executor shares with the rest of the run.
#[derive(Debug)]
pub struct RunState {
    pub rate: RateGovernor,
    pub control: Control,
    pub live: LiveStats,
    /// The input's duplicate detection, which the executor consults too: a row that named its
    /// user by email is a duplicate when the user it resolves to was met already. `None` for a
    /// mode whose jobs name every user by id (`verify`).
    pub dedup: Option<Arc<Dedup>>,
    /// Calls in a row that could not connect, with no success between: the circuit breaker.
    unreachable_streak: AtomicU32,
    /// Rows between dispatch and outcome: line → (account, user id or email).
    rows_in_flight: Mutex<BTreeMap<u64, (String, String)>>,
    /// `--canary N`, taken by the executor when it starts.
    pub canary: Mutex<Option<canary::Canary>>,
    /// `--resume --logout`: the users reset already whose logout is not recorded as done.
    pub awaiting_logout: Fingerprints,
}

impl RunState {
    pub fn new(rate: RateGovernor) -> Self {
        RunState {
            rate,
            control: Control::default(),
            live: LiveStats::default(),
            dedup: None,
            unreachable_streak: AtomicU32::new(0),
            rows_in_flight: Mutex::default(),
            canary: Mutex::default(),
            awaiting_logout: Fingerprints::default(),
        }
    }

    /// The input's duplicate detection, for the rows that name their user by email.
    pub fn with_dedup(self, dedup: Arc<Dedup>) -> Self {
        RunState {
            dedup: Some(dedup),
            ..self
        }
    }

    /// The users that `--resume --logout` logs out without resetting them again.
    pub fn with_awaiting_logout(self, awaiting_logout: Fingerprints) -> Self {
        RunState {
            awaiting_logout,
            ..self
        }
    }

    pub fn rows_in_flight(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (String, String)>> {
        self.rows_in_flight
            .lock()
            .expect("the rows in flight are never poisoned")
    }
}

/// Sends every job from `items` (read in chunks, so the reader is woken once a chunk rather
/// than once a row) within the limits and sends one answer per dispatched row (and per row
/// answered without a call) to `outcomes`. Returns when the input is done or the run is
/// stopped and the in-flight rows have finished (or were aborted).
pub async fn execute<A: ChimeApi, P: Payload>(
    api: Arc<A>,
    mut items: mpsc::Receiver<Vec<Work<P>>>,
    config: ExecConfig,
    state: Arc<RunState>,
    outcomes: mpsc::Sender<P::Answered>,
) {
    let slots = Arc::new(Semaphore::new(config.concurrency.get()));
    let control = &state.control;
    let runner = Arc::new(RowRunner {
        api,
        config,
        state: state.clone(),
    });
    let mut tasks = JoinSet::new();
    let mut canary = state.canary.lock().expect("never poisoned").take();
    'dispatch: loop {
        let chunk = tokio::select! {
            biased;
            _ = control.dispatch.cancelled() => break,
            chunk = items.recv() => chunk,
        };
        let Some(chunk) = chunk else { break };
        for item in chunk {
            let Job { row, payload } = match item {
                Work::Skipped => {
                    runner.state.live.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Work::Answered(answered) => {
                    let _ = outcomes.send(answered).await;
                    continue;
                }
                Work::Unreadable(message) => {
                    control.stop(StopReason::InputUnreadable(message));
                    break 'dispatch;
                }
                Work::Job(job) => job,
            };
            let slot = tokio::select! {
                biased;
                _ = control.dispatch.cancelled() => break 'dispatch,
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            };
            while let Some(joined) = tasks.try_join_next() {
                note_lost_row(joined, control);
            }
            let (runner, outcomes) = (runner.clone(), outcomes.clone());
            let mut slot = Slot::new(slot, slots.clone());
            let watch = canary.as_mut().map(canary::Canary::dispatched);
            tasks.spawn(async move {
                let deliver = |outcome: Outcome| async move {
                    if let Some(tally) = watch {
                        tally.note(outcome.status);
                    }
                    let _ = outcomes.send(payload.answer(outcome)).await;
                };
                runner.track_row(row, &mut slot, deliver).await;
                drop(slot);
            });
            if canary.as_ref().is_some_and(canary::Canary::all_dispatched) {
                let finished = canary.take().expect("checked just above");
                if !finished.await_verdict(&mut tasks, control).await {
                    break 'dispatch;
                }
            }
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

/// An executor at work, with the watch for the signals that stop it.
pub struct Running {
    executor: tokio::task::JoinHandle<()>,
    signals: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts [`execute`] and, beside it, the watch for Ctrl-C, SIGTERM and SIGHUP, which
    /// gives the rows in flight `grace` to finish: what `run` and `verify` both start.
    pub fn start<A: ChimeApi, P: Payload>(
        api: A,
        items: mpsc::Receiver<Vec<Work<P>>>,
        config: ExecConfig,
        state: Arc<RunState>,
        outcomes: mpsc::Sender<P::Answered>,
        grace: Duration,
    ) -> Running {
        let signals = {
            let state = state.clone();
            tokio::spawn(async move { control::watch_signals(&state.control, grace).await })
        };
        let executor = tokio::spawn(execute(Arc::new(api), items, config, state, outcomes));
        Running { executor, signals }
    }

    /// Waits for the executor to finish (every row sent has its outcome, or was dropped).
    pub async fn finished(&mut self) {
        let _ = (&mut self.executor).await;
    }

    /// Stops watching for signals: the run's end is settled.
    pub fn stop_watching(self) {
        self.signals.abort();
    }
}

/// A row task that panicked made no outcome: stop the run, which names the row.
fn note_lost_row(joined: Result<(), tokio::task::JoinError>, control: &Control) {
    if joined.is_err_and(|error| error.is_panic()) {
        control.stop(StopReason::RowLost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chime::{Answer, CallError, Disposition};
    use crate::dedup::UserKey;
    use crate::input::Target;
    use crate::outcome::{codes, Logout, RowStatus};
    use crate::outcome::{Pin, UserRecord};
    use std::collections::HashMap;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

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
        async fn logout_user(&self, _: &str, user_id: &str) -> Result<Option<String>, CallError> {
            self.answer(user_id).map(|answer| answer.request_id)
        }
    }

    fn config(mode: Mode) -> ExecConfig {
        ExecConfig {
            rate: None,
            burst: NonZeroU32::MIN,
            concurrency: NonZeroUsize::new(4).unwrap(),
            retry: RetryPolicy {
                max_attempts: 3,
                base: Duration::from_millis(1),
                cap: Duration::from_millis(2),
            },
            mode,
            settle: Duration::from_millis(5),
            offboarding: Offboarding::default(),
        }
    }

    /// A run's job for `user`, on line 2.
    fn task(user: &str) -> Work<Carried> {
        job(Target::UserId(user.to_string()))
    }

    fn job(target: Target) -> Work<Carried> {
        Work::Job(Job {
            row: Row {
                line: 2,
                account_id: "acct".to_string(),
                target,
                email: None,
            },
            payload: Carried(vec![]),
        })
    }

    async fn run(
        fake: Arc<FakeChime>,
        items: Vec<Work<Carried>>,
        mode: Mode,
    ) -> (Vec<Outcome>, Arc<RunState>) {
        run_in(fake, items, mode, Dedup::default()).await
    }

    /// A reset run whose reader has already met the users in `seen`.
    async fn run_with_seen(
        fake: Arc<FakeChime>,
        items: Vec<Work<Carried>>,
        seen: Dedup,
    ) -> (Vec<Outcome>, Arc<RunState>) {
        run_in(fake, items, Mode::Reset, seen).await
    }

    async fn run_in(
        fake: Arc<FakeChime>,
        items: Vec<Work<Carried>>,
        mode: Mode,
        seen: Dedup,
    ) -> (Vec<Outcome>, Arc<RunState>) {
        let (item_tx, item_rx) = mpsc::channel(16);
        let (out_tx, mut out_rx) = mpsc::channel(16);
        let config = config(mode);
        let state = Arc::new(RunState::new(config.rate_governor()).with_dedup(Arc::new(seen)));
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

    #[tokio::test]
    async fn the_reset_leaves_the_logout_one_call_of_the_rows_budget() {
        let retry = error(Disposition::Retry, "ServiceFailureException");
        // One failure: the reset's second attempt succeeds, the logout takes the third call.
        // Two: the reset has used all it may, and no logout follows a reset that failed.
        for (failures, status, logout, attempts) in [
            (1, RowStatus::Reset, Logout::Done, 3),
            (2, RowStatus::Failed, Logout::NotAsked, 2),
        ] {
            let fake = Arc::new(FakeChime::default());
            let script = vec![retry.clone(); failures];
            fake.scripts.lock().unwrap().insert("u1".into(), script);
            let (item_tx, item_rx) = mpsc::channel(1);
            let (out_tx, mut out_rx) = mpsc::channel(1);
            let mut config = config(Mode::Reset);
            config.offboarding.logout = true;
            let state = Arc::new(RunState::new(config.rate_governor()));
            let executor = tokio::spawn(execute(fake.clone(), item_rx, config, state, out_tx));
            item_tx.send(vec![task("u1")]).await.unwrap();
            drop(item_tx);
            let outcome = out_rx.recv().await.expect("one outcome");
            executor.await.unwrap();
            assert_eq!((outcome.status, outcome.logout), (status, logout));
            assert_eq!(outcome.attempts, attempts);
            assert_eq!(fake.resets.load(Ordering::SeqCst), 2);
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_and_counted() {
        let fake = Arc::new(FakeChime::default());
        fake.scripts.lock().unwrap().insert(
            "u1".into(),
            vec![
                error(Disposition::Throttled, "ThrottledClientException"),
                error(Disposition::Retry, "ServiceFailureException"),
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
        let by_email = |email: &str| job(Target::Email(email.to_string()));
        // The fake resolves an email to the user id spelled the same.
        let items = vec![task("u1"), by_email("u1"), by_email("u2")];
        let seen = Dedup::default();
        seen.admit("acct", UserKey::Id("u1"));
        let (outcomes, _) = run_with_seen(fake.clone(), items, seen).await;
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

    #[tokio::test]
    async fn a_reset_after_an_attempt_of_unknown_outcome_is_read_back() {
        let fake = Arc::new(FakeChime::default());
        fake.scripts
            .lock()
            .unwrap()
            .insert("u1".into(), vec![error(Disposition::Retry, codes::TIMEOUT)]);
        let (outcomes, _) = run(fake.clone(), vec![task("u1"), task("u2")], Mode::Reset).await;
        let by_user = |user: &str| outcomes.iter().find(|o| o.user_id == user).unwrap();
        assert_eq!(by_user("u1").status, RowStatus::Reset);
        let note = by_user("u1").error_message.as_deref().unwrap_or_default();
        assert!(note.contains("read back"), "{note}");
        assert_eq!(by_user("u1").attempts, 3, "two resets and one GetUser");
        assert_eq!(
            by_user("u2").error_message,
            None,
            "a clean reset needs no read-back"
        );
        assert_eq!(fake.gets.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn calls_that_cannot_connect_trip_the_breaker() {
        let fake = Arc::new(FakeChime::default());
        let users: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
        for user in &users {
            fake.scripts.lock().unwrap().insert(
                user.clone(),
                vec![error(Disposition::Retry, codes::CONNECTION_ERROR); 3],
            );
        }
        let items = users.iter().map(|user| task(user)).collect();
        let (outcomes, state) = run(fake.clone(), items, Mode::Reset).await;
        assert!(matches!(
            state.control.reason(),
            Some(StopReason::Unreachable { .. })
        ));
        assert!(
            outcomes.len() < users.len(),
            "rows never sent are not written: {} of {}",
            outcomes.len(),
            users.len()
        );
        assert!(fake.resets.load(Ordering::SeqCst) < 3 * 40);
    }
}
