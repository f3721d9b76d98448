//! The run's request rate: one shared limiter at the configured rate and burst, lowered while
//! Chime throttles and raised again in quiet periods. Every attempt of every row, retries
//! included, waits here before it is sent.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

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

#[cfg(test)]
mod tests {
    use super::*;

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
