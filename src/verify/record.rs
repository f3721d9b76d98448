//! The one owner of the counts and the progress display of `verify`, and of the handle on the
//! thread that writes its files (the verified file and, with `--update-results`, the rows
//! appended to the results): it judges each outcome against the PIN recorded for its row, hands
//! the rows to that thread as `run`'s recorder does (a blocked pipe holds up nothing but the
//! sending of new rows), and at the end prints the summary with what to do next.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::engine::Recording;
use crate::execution::{Control, RunState};
use crate::ledger::is_done;
use crate::ledger::plan::Coverage;
use crate::outcome::{Outcome, Pin, RowStatus, StopReason, UnrecordedRow, UserRecord};
use crate::output::{PinPolicy, ResultsWriter};
use crate::progress::Progress;
use crate::summary::Tally;
use crate::words::thousands;
use crate::writer_thread::{BatchWriter, Closed, WriterThread};

use super::file::{VerifiedCells, VerifiedWriter};
use super::verdict::{judge, recorded_form, Verified};
use super::verified_record::VerifiedRow;
use super::{Checked, VerifyConfig};

/// A checked user's row of the verified file, and, for a `changed` user under
/// `--update-results`, the `reset` row with the live PIN to append to the results.
pub struct VerifyRow {
    cells: VerifiedRow,
    update: Option<Outcome>,
    /// How the row is named if it cannot be written.
    unrecorded: UnrecordedRow,
}

/// The files `verify` writes, on the writer's thread.
pub struct VerifyFiles {
    pub verified: VerifiedWriter,
    pub updates: Option<ResultsWriter>,
    /// The live PINs appended to the results, for the summary.
    pub recorded: Arc<AtomicU64>,
}

impl BatchWriter for VerifyFiles {
    type Row = VerifyRow;

    fn write_batch(&mut self, rows: &[VerifyRow]) -> io::Result<()> {
        self.verified
            .write_rows(rows.iter().map(|row| &row.cells))?;
        let Some(results) = &mut self.updates else {
            return Ok(());
        };
        let updates: Vec<&Outcome> = rows.iter().filter_map(|row| row.update.as_ref()).collect();
        if !updates.is_empty() {
            results.write_batch(updates.iter().copied())?;
            self.recorded
                .fetch_add(updates.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.verified.sync()?;
        match &mut self.updates {
            Some(results) => results.sync(),
            None => Ok(()),
        }
    }

    fn unrecorded(row: &VerifyRow) -> UnrecordedRow {
        row.unrecorded.clone()
    }
}

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
    /// The writer's thread; `None` once handed off at the end.
    pub files: Option<WriterThread<VerifyFiles>>,
    /// Rows judged, not yet handed to the writer (it is busy, or blocked on a pipe).
    pub backlog: Vec<VerifyRow>,
    /// Whether `--update-results` appends live PINs to the results.
    pub updating: bool,
    /// How a verified row's cells are made.
    pub cells: VerifiedCells,
    pub counts: BTreeMap<Verified, u64>,
    /// The statuses the verified file being resumed had settled already.
    pub settled: BTreeMap<Verified, u64>,
    /// The live PINs appended to the results (counted by the writer's thread).
    pub recorded: Arc<AtomicU64>,
    pub tally: Tally,
    pub progress: Progress,
    pub max_failures: Option<u64>,
}

impl Recording for VerifyRecorder {
    type Answer = Checked;
    type Writer = VerifyFiles;

    fn writer(&mut self) -> (&mut WriterThread<VerifyFiles>, &mut Vec<VerifyRow>) {
        let files = self.files.as_mut().expect("handed off only at the end");
        (files, &mut self.backlog)
    }

    fn take(&mut self, batch: &mut Vec<Checked>, control: &Control) {
        self.record_batch(batch, control);
    }

    fn woke(&mut self, state: &RunState) {
        self.progress
            .update(&self.tally, &state.live, state.rate.current());
    }

    fn hand_off(&mut self) -> (WriterThread<VerifyFiles>, Vec<VerifyRow>) {
        let files = self.files.take().expect("handed off once");
        (files, std::mem::take(&mut self.backlog))
    }

    fn wants_ticks(&self) -> bool {
        self.progress.is_shown()
    }
}

impl VerifyRecorder {
    fn record_batch(&mut self, batch: &mut Vec<Checked>, control: &Control) {
        for checked in batch.drain(..) {
            let Checked {
                outcome,
                recorded,
                input_line,
            } = checked;
            self.tally.record(&outcome);
            let verdict = judge(&outcome, &recorded);
            *self.counts.entry(verdict.status).or_default() += 1;
            let cells = self.cells.row(&outcome, &verdict);
            let unrecorded = UnrecordedRow {
                status: verdict.status.as_str(),
                ..UnrecordedRow::from(&outcome)
            };
            let update = (verdict.status == Verified::Changed && self.updating)
                .then(|| live_pin_row(outcome, &recorded, input_line));
            self.backlog.push(VerifyRow {
                cells,
                update,
                unrecorded,
            });
        }
        let failed = self.counts.get(&Verified::Failed).copied().unwrap_or(0);
        if let Some(limit) = self.max_failures.filter(|limit| failed >= *limit) {
            control.stop(StopReason::MaxFailures(limit));
        }
    }

    /// Syncs the files, prints the summary and returns the exit code.
    pub fn finish(
        self,
        config: &VerifyConfig,
        state: &RunState,
        closed: Closed,
        started: Instant,
        not_checked: &BTreeMap<RowStatus, u64>,
        unfinished: &Unfinished,
    ) -> u8 {
        self.progress.finish();
        let mut stop = state.control.reason();
        if stop.is_none() {
            stop = match &closed.synced {
                Some(Err(err)) => Some(StopReason::ResultsUnwritable(err.to_string())),
                None => Some(StopReason::ResultsUnwritable(
                    "the writer of the verified file was still blocked".into(),
                )),
                Some(Ok(())) => None,
            };
        }
        let mut text = self.summary(config, stop.as_ref(), started, not_checked);
        if !closed.unrecorded.is_empty() {
            text += &format!(
                "  not written: {} checked but not in {} (verify again with --resume)\n",
                users(closed.unrecorded.len() as u64),
                config.engine.output.name()
            );
        }
        text += &unfinished_lines(unfinished);
        if !config.engine.quiet || stop.is_some() {
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
        text += &format!("  verified: {}\n", config.engine.output.name());
        let results = config.results.display();
        let changed = self.count(Verified::Changed);
        if changed > 0 && config.update_results {
            let live_pins = match self.recorded.load(Ordering::Relaxed) {
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
            if let Some(command) = config.engine.resume_command() {
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
