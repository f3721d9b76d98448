//! Waking a task at a given time to within a fraction of a millisecond.
//!
//! Tokio's timer fires on whole-millisecond ticks, up to a millisecond or two after the time
//! asked for. Two things here cannot take that:
//! - The simulator's answers: every request that arrived within the same millisecond would be
//!   answered at the same tick, about half a millisecond late on average: a `--latency-ms 20`
//!   that answers in 20.4 ms, in clumps no network delivers, which hold a client in lock-step.
//! - The pacer's sends where a late one is not made up for (after a throttle, and at the
//!   configured `--rate`): each late wake-up is time lost for good, a share of the rate that
//!   grows with it.
//!
//! The simulator answers many requests at once on a runtime of several threads: its
//! [`PreciseTimer`] is one thread that keeps the due times in order and sleeps on the operating
//! system's high-resolution timer until the earliest; each waiting task has a oneshot to be
//! woken by. Tasks only take a short lock to join the queue: the thread is woken for due times,
//! not for each new one.
//!
//! The pacer has one sender waiting at a time, on the client's one runtime thread: its
//! [`Alarm`] is a timerfd that the runtime's own poll waits on, so a due time wakes the runtime
//! thread once, straight from the kernel's timer, with no thread between (the timer thread's
//! wake-up, then the runtime's, cost two context switches and a fifth of a millisecond a send).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::oneshot;

/// The most [`PreciseTimer::sleep_until`] wakes early for: a loaded machine's wake-ups are
/// late by more, but the wake-ups of a quiet moment must not come early by as much.
const MAX_LEAD: Duration = Duration::from_millis(1);

/// A task's due time and the handle that wakes it.
struct Due {
    at: Instant,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

/// Wakes each waiting task at its due time; its thread ends when the timer is dropped.
pub struct PreciseTimer {
    shared: Arc<Waiting>,
    thread: Thread,
    /// How early the thread is asked to wake for [`PreciseTimer::sleep_until`], in
    /// nanoseconds: what it takes from the due time to the task running again (the thread's
    /// own wake-up, then the runtime's), learnt from the wake-ups so far, so that they come at
    /// their due time on average.
    lead_ns: AtomicU64,
    /// Wake-ups the lead has learnt from so far.
    learnt_from: AtomicU64,
}

/// The tasks waiting, earliest first, and whether the timer has been dropped.
#[derive(Default)]
struct Waiting {
    dues: Mutex<BinaryHeap<Reverse<Due>>>,
    stopped: AtomicBool,
}

impl PreciseTimer {
    /// Starts the timer's thread, called `name`.
    pub fn start(name: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Waiting::default());
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || wake_when_due(&shared))?
                .thread()
                .clone()
        };
        Ok(PreciseTimer {
            shared,
            thread,
            lead_ns: AtomicU64::new(0),
            learnt_from: AtomicU64::new(0),
        })
    }

    /// Returns at `at` on average (at once if it has passed), give or take the machine's
    /// scheduling: a little early as often as a little late.
    pub async fn sleep_until(&self, at: Instant) {
        let lead = Duration::from_nanos(self.lead_ns.load(Ordering::Relaxed));
        self.wake_at(at.checked_sub(lead).unwrap_or(at)).await;
        self.learn_lead(at, lead);
    }

    /// Moves the lead a step towards the one that would have woken this task on time: the mean
    /// of the first wake-ups, then a slow average of the last ones, so one descheduled wake-up
    /// does not move every next one.
    fn learn_lead(&self, due: Instant, lead: Duration) {
        const MOST_AVERAGED: u64 = 64;
        let learnt_from = self.learnt_from.fetch_add(1, Ordering::Relaxed) + 1;
        let step = 1.0 / learnt_from.min(MOST_AVERAGED) as f64;
        let now = Instant::now();
        let late_s = if now >= due {
            (now - due).as_secs_f64()
        } else {
            -(due - now).as_secs_f64()
        };
        let lead_s = (lead.as_secs_f64() + step * late_s).clamp(0.0, MAX_LEAD.as_secs_f64());
        self.lead_ns.store((lead_s * 1e9) as u64, Ordering::Relaxed);
    }

    /// Returns at `at` or just after (at once if it has passed), never before.
    pub async fn wake_at(&self, at: Instant) {
        let (wake, woken) = oneshot::channel();
        let earliest = {
            let mut dues = self.shared.dues.lock().unwrap_or_else(|e| e.into_inner());
            let earliest = dues.peek().is_none_or(|next| at < next.0.at);
            dues.push(Reverse(Due { at, wake }));
            earliest
        };
        // The thread sleeps until the earliest due time it knew: only an earlier one needs it
        // woken (for the simulator's answers, all due one latency after arrival, that is rare).
        if earliest {
            self.thread.unpark();
        }
        // The thread sends on every waker it takes; one is dropped unsent only with the timer,
        // when its owner has gone, and then nothing is worth waiting for.
        let _ = woken.await;
    }
}

impl std::fmt::Debug for PreciseTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreciseTimer")
            .field("thread", &self.thread.name())
            .finish_non_exhaustive()
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// The timer's thread: wakes every task that is due, then sleeps until the next due time (or
/// until an earlier one arrives).
fn wake_when_due(shared: &Waiting) {
    let mut due_now = Vec::new();
    while !shared.stopped.load(Ordering::Acquire) {
        let now = Instant::now();
        let next = {
            let mut dues = shared.dues.lock().unwrap_or_else(|e| e.into_inner());
            while dues.peek().is_some_and(|next| next.0.at <= now) {
                due_now.extend(dues.pop());
            }
            dues.peek().map(|next| next.0.at)
        };
        for Reverse(due) in due_now.drain(..) {
            // The task may have gone meanwhile (a request whose client hung up, a pacer woken
            // sooner by a raised rate).
            let _ = due.wake.send(());
        }
        match next {
            Some(at) => std::thread::park_timeout(at - now),
            None => std::thread::park(),
        }
    }
}

/// A timer for one waiting task at a time (hence `&mut self`), woken by the runtime's own poll:
/// a timerfd on the kernel's high-resolution clock, registered with tokio's reactor.
#[derive(Debug)]
pub struct Alarm {
    fd: AsyncFd<AlarmFd>,
}

/// A timerfd, as tokio's reactor takes it.
#[derive(Debug)]
struct AlarmFd(TimerFd);

impl AsRawFd for AlarmFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl Alarm {
    /// A timerfd registered with the current runtime's reactor; `None` outside a runtime, or
    /// where the system has no timerfd. The runtime must have its I/O driver (every runtime of
    /// this crate is built with `enable_all`).
    pub fn new() -> Option<Self> {
        tokio::runtime::Handle::try_current().ok()?;
        let flags = TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC;
        let timer = AlarmFd(TimerFd::new(ClockId::CLOCK_MONOTONIC, flags).ok()?);
        // SAFETY: `AlarmFd` owns the timerfd, which stays open, always the same descriptor,
        // until the `AsyncFd` that owns it is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(timer, Interest::READABLE) }.ok()?;
        Some(Alarm { fd })
    }

    /// Returns at `at` or just after (at once if it has passed), never before.
    pub async fn sleep_until(&mut self, at: Instant) {
        loop {
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let timer = &self.fd.get_ref().0;
            let once = Expiration::OneShot(TimeSpec::from(left));
            // Setting the timer also forgets an expiry of a wait given up before it came.
            if timer.set(once, TimerSetTimeFlags::empty()).is_err() {
                return tokio::time::sleep_until(at.into()).await;
            }
            let Ok(mut ready) = self.fd.readable().await else {
                return tokio::time::sleep_until(at.into()).await;
            };
            // The expiry count is read so that the timerfd no longer reads as ready; a stale
            // readiness (nothing to read) is cleared the same way, and the loop waits again.
            let _ = nix::unistd::read(timer.as_fd(), &mut [0; 8]);
            ready.clear_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wakes tasks due 30, 10, 20 and 10 ms from now, by `sleep_until` (`on_average`) or
    /// `wake_at`; returns the order they woke in, panicking if one woke earlier than `leeway`
    /// before its time.
    async fn wake_four(on_average: bool, leeway: Duration) -> Vec<u64> {
        let timer = Arc::new(PreciseTimer::start("test-timer").unwrap());
        let start = Instant::now();
        let (woken_tx, mut woken) = tokio::sync::mpsc::unbounded_channel();
        for after_ms in [30, 10, 20, 10] {
            let (timer, woken_tx) = (timer.clone(), woken_tx.clone());
            tokio::spawn(async move {
                let due = start + Duration::from_millis(after_ms);
                if on_average {
                    timer.sleep_until(due).await;
                } else {
                    timer.wake_at(due).await;
                }
                let _ = woken_tx.send((after_ms, Instant::now() + leeway >= due));
            });
        }
        drop(woken_tx);
        let mut order = Vec::new();
        while let Some((after_ms, not_early)) = woken.recv().await {
            assert!(not_early, "the task due after {after_ms} ms woke early");
            order.push(after_ms);
        }
        order
    }

    #[tokio::test]
    async fn tasks_wake_in_the_order_they_are_due_and_never_much_early() {
        assert_eq!(wake_four(true, MAX_LEAD).await, [10, 10, 20, 30]);
    }

    #[tokio::test]
    async fn wake_at_never_wakes_early() {
        assert_eq!(wake_four(false, Duration::ZERO).await, [10, 10, 20, 30]);
    }

    #[tokio::test]
    async fn the_alarm_never_wakes_early_and_can_be_given_up() {
        let mut alarm = Alarm::new().expect("a timerfd on Linux");
        let start = Instant::now();
        // A wait given up leaves its expiry behind: the next wait must not take it for its own.
        tokio::select! {
            () = alarm.sleep_until(start + Duration::from_millis(5)) => panic!("woke early"),
            () = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        for after_ms in [20, 25, 25, 40] {
            let due = start + Duration::from_millis(after_ms);
            alarm.sleep_until(due).await;
            assert!(
                Instant::now() >= due,
                "the wait for {after_ms} ms woke early"
            );
        }
    }
}
