//! The one owner of the verified file (and, with `--update-results`, of the rows appended to
//! the results), the counts and the progress display: it judges each outcome against the PIN
//! recorded for its row, and at the end prints the summary with what to do next.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::execution::{Control, RunState};
use crate::ledger::is_done;
use crate::ledger::plan::Coverage;
use crate::outcome::{Outcome, Pin, RowStatus, StopReason, UserRecord};
use crate::output::{PinPolicy, ResultsWriter};
use crate::progress::Progress;
use crate::summary::Tally;
use crate::words::thousands;

use super::file::VerifiedWriter;
use super::verdict::{judge, recorded_form, Verified};
use super::{Expected, VerifyConfig};

/// Outcomes taken from the executor at most at once.
const BATCH_ROWS: usize = 256;
/// What an appended results row says of itself.
pub const RECORDED_BY_VERIFY: &str = "recorded by verify";

/// What the results say the rotation never finished, which no GetUser can check: planned
/// users never attempted, and whether `would-reset` rows stand for users never reset.
pub struct Unfinished {
    /// Planned users without a row; `None` when the results have no plan.
    pub not_attempted: Option<u64>,
    /// Why the coverage is unknown, when it is.
    pub unknown: Option<&'static str>,
    /// The results hold real rows: only `reset` is done.
    pub real_rows: bool,
}

impl Unfinished {
    pub fn new(coverage: &Coverage, real_rows: bool) -> Unfinished {
        Unfinished {
            not_attempted: coverage.known().then(|| coverage.total().not_attempted),
            unknown: coverage.unknown.first().map(|(_, why)| *why),
            real_rows,
        }
    }
}

pub struct VerifyRecorder {
    pub writer: VerifiedWriter,
    /// The results file, with `--update-results`.
    pub updates: Option<ResultsWriter>,
    pub expected: Arc<Expected>,
    pub counts: BTreeMap<Verified, u64>,
    /// The statuses the verified file being resumed had settled already.
    pub settled: BTreeMap<Verified, u64>,
    pub recorded: u64,
    pub tally: Tally,
    pub progress: Progress,
    pub max_failures: Option<u64>,
    pub broken: bool,
}

impl VerifyRecorder {
    pub async fn record_all(&mut self, mut outcomes: mpsc::Receiver<Outcome>, state: &RunState) {
        let mut ticker = tokio::time::interval(Duration::from_millis(200));
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                received = outcomes.recv_many(&mut batch, BATCH_ROWS) => {
                    if received == 0 {
                        break;
                    }
                    self.record_batch(&mut batch, &state.control);
                }
                _ = ticker.tick() => {}
            }
            self.progress
                .update(&self.tally, &state.live, state.rate.current());
        }
    }

    fn record_batch(&mut self, batch: &mut Vec<Outcome>, control: &Control) {
        let mut rows = Vec::with_capacity(batch.len());
        let mut updates = Vec::new();
        for outcome in batch.drain(..) {
            self.tally.record(&outcome);
            let Some(recorded) = self.expected.take(outcome.line) else {
                continue;
            };
            let verdict = judge(&outcome, &recorded.pin);
            *self.counts.entry(verdict.status).or_default() += 1;
            rows.push(self.writer.row(&outcome, &verdict));
            if verdict.status == Verified::Changed && self.updates.is_some() {
                updates.push(live_pin_row(outcome, &recorded.pin, recorded.input_line));
            }
        }
        if self.broken {
            return;
        }
        let written = self
            .writer
            .write_rows(&rows)
            .and_then(|()| match &mut self.updates {
                Some(results) if !updates.is_empty() => results.write_batch(&updates),
                _ => Ok(()),
            });
        match written {
            Ok(()) => self.recorded += updates.len() as u64,
            Err(err) => {
                self.broken = true;
                control.stop(StopReason::ResultsUnwritable(err.to_string()));
            }
        }
        let failed = self.counts.get(&Verified::Failed).copied().unwrap_or(0);
        if let Some(limit) = self.max_failures.filter(|limit| failed >= *limit) {
            control.stop(StopReason::MaxFailures(limit));
        }
    }

    /// Syncs the files, prints the summary and returns the exit code.
    pub fn finish(
        mut self,
        config: &VerifyConfig,
        state: &RunState,
        started: Instant,
        not_checked: &BTreeMap<RowStatus, u64>,
        unfinished: &Unfinished,
    ) -> u8 {
        self.progress.finish();
        let synced = self.writer.sync().and_then(|()| match &mut self.updates {
            Some(results) => results.sync(),
            None => Ok(()),
        });
        let mut stop = state.control.reason();
        if let (Err(err), None) = (&synced, &stop) {
            stop = Some(StopReason::ResultsUnwritable(err.to_string()));
        }
        let mut text = self.summary(config, stop.as_ref(), started, not_checked);
        text += &unfinished_lines(unfinished);
        if !config.quiet || stop.is_some() {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        // The users settled by the verified file being resumed count as much as those checked now.
        let all_current = self
            .counts
            .keys()
            .chain(self.settled.keys())
            .all(|status| *status == Verified::Current);
        // A rotation is finished only when every planned user was attempted and every user's
        // final row is `reset`: what verify could not check is not proven.
        let finished = unfinished.not_attempted.unwrap_or(0) == 0
            && not_checked
                .keys()
                .all(|status| is_done(*status, unfinished.real_rows));
        StopReason::exit_code(stop.as_ref(), all_current && finished)
    }

    /// Users with `status`, checked now or settled by the file being resumed.
    fn count(&self, status: Verified) -> u64 {
        [&self.counts, &self.settled]
            .iter()
            .map(|counts| counts.get(&status).copied().unwrap_or(0))
            .sum()
    }

    fn summary(
        &self,
        config: &VerifyConfig,
        stop: Option<&StopReason>,
        started: Instant,
        not_checked: &BTreeMap<RowStatus, u64>,
    ) -> String {
        let mut text = match stop {
            Some(StopReason::Interrupted) => "Verify interrupted.\n".to_string(),
            Some(reason) => format!("Verify stopped early: {reason}.\n"),
            None => "Verify complete.\n".to_string(),
        };
        let total: u64 = self.counts.values().sum();
        text += &format!(
            "  checked:  {} ({})\n",
            thousands(total),
            counted(&self.counts)
        );
        let unchecked: Vec<String> = not_checked
            .iter()
            .map(|(status, count)| format!("{} {}", thousands(*count), status.as_str()))
            .collect();
        if !unchecked.is_empty() {
            text += &format!(
                "  not checked: {} (their final row is not reset; `report` lists them)\n",
                unchecked.join(", ")
            );
        }
        let skipped: u64 = self.settled.values().sum();
        if skipped > 0 {
            text += &format!(
                "  skipped:  {} settled already in the file being resumed ({})\n",
                thousands(skipped),
                counted(&self.settled)
            );
        }
        text += &format!("  time:     {:.1} s\n", started.elapsed().as_secs_f64());
        text += &format!("  verified: {}\n", config.output.name());
        let results = config.results.display();
        let changed = self.count(Verified::Changed);
        if changed > 0 && config.update_results {
            let live_pins = match self.recorded {
                1 => "the live PIN of 1 changed user was".to_string(),
                n => format!("the live PINs of {} changed users were", thousands(n)),
            };
            text += &format!(
                "  next:     {live_pins} appended to {results} \
                 (\"{RECORDED_BY_VERIFY}\"); verify again to confirm\n"
            );
        } else if changed > 0 {
            text += &format!(
                "  next:     {} with a PIN other than the one recorded: run again with \
                 --update-results to record the live PINs in {results}, or reset those users \
                 again\n",
                users(changed)
            );
        }
        let advice = [
            (
                Verified::NotFound,
                "no longer found: remove their rows from the input",
            ),
            (
                Verified::Unverifiable,
                "without a PIN recorded to compare (--pins omit or masked)",
            ),
            (
                Verified::Failed,
                "not checked (GetUser failed): verify again with --resume",
            ),
        ];
        for (status, what) in advice {
            if self.count(status) > 0 {
                text += &format!("  next:     {} {what}\n", users(self.count(status)));
            }
        }
        if stop.is_some() {
            if let Some(command) = config.resume_command() {
                text += &format!("  resume:   {command}\n");
            }
        }
        text
    }
}

/// The summary's lines on what the results never reached.
fn unfinished_lines(unfinished: &Unfinished) -> String {
    match (unfinished.not_attempted, unfinished.unknown) {
        (Some(0), _) => String::new(),
        (Some(never), _) => format!(
            "  not attempted: {never} planned users have no row in the results, so they could \
             not be checked: `run --resume` with the same input reaches them\n"
        ),
        (None, Some(why)) => format!("  coverage: unknown: {why}\n"),
        (None, None) => String::new(),
    }
}

/// Counts per status in words: `6 current, 1 changed`, or `none`.
/// `1 user`, `2 users`.
fn users(n: u64) -> String {
    crate::words::counted(n, "user", "users")
}

fn counted(counts: &BTreeMap<Verified, u64>) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|(status, count)| format!("{} {}", thousands(*count), status.as_str()))
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

/// The `reset` row that records a changed user's live PIN in the results, in the form the
/// results kept the old one.
fn live_pin_row(outcome: Outcome, recorded: &Pin, input_line: u64) -> Outcome {
    let form = recorded_form(recorded.expose());
    let user = outcome.user.map(|user| UserRecord {
        personal_pin: user
            .personal_pin
            .map(|pin| Pin::new(form.apply(pin.expose()))),
        ..user
    });
    let mut row = Outcome::new(
        input_line,
        outcome.account_id,
        outcome.user_id,
        RowStatus::Reset,
    )
    .with_calls(outcome.attempts, outcome.request_id)
    .with_carried(outcome.carried);
    row.user = user;
    row.error_message = Some(RECORDED_BY_VERIFY.to_string());
    row
}

/// The policy of the results writer that appends live PINs: the form is chosen per row.
pub const UPDATE_PINS: PinPolicy = PinPolicy::Full;
