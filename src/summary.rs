//! The counts of a run as its outcomes arrive ([`Tally`]) and the summary at its end, on
//! stderr and in `--summary-json` (stdout stays machine-readable); the progress line that shows
//! them while the run goes on is [`crate::progress`]. Nothing here ever sees a PIN: it counts
//! outcomes.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use crate::outcome::{LiveStats, Outcome, ReadBack, RowStatus, StopReason, UnrecordedRow};
use crate::words::{counted, hidden_rows_skipped, thousands};

/// Counts of outcomes, per status and per error code.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub by_status: BTreeMap<RowStatus, u64>,
    pub by_error: BTreeMap<String, u64>,
    pub rows: u64,
    /// `reset` rows whose `--logout` failed: the reset stands, the row is not done.
    pub logouts_failed: u64,
    pub read_backs: ReadBacks,
}

/// The PINs read back after a lost answer, by what the read-back found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReadBacks {
    pub unchanged: u64,
    pub changed: u64,
    pub not_confirmed: u64,
}

impl ReadBacks {
    fn record(&mut self, found: ReadBack) {
        *match found {
            ReadBack::Unchanged => &mut self.unchanged,
            ReadBack::Changed => &mut self.changed,
            ReadBack::NotConfirmed => &mut self.not_confirmed,
        } += 1;
    }

    fn total(&self) -> u64 {
        self.unchanged + self.changed + self.not_confirmed
    }
}

impl Tally {
    pub fn record(&mut self, outcome: &Outcome) {
        self.rows += 1;
        *self.by_status.entry(outcome.status).or_default() += 1;
        if let Some(code) = &outcome.error_code {
            *self.by_error.entry(code.clone()).or_default() += 1;
        }
        if outcome.logout == crate::outcome::Logout::Failed {
            self.logouts_failed += 1;
        }
        if let Some(found) = outcome.read_back {
            self.read_backs.record(found);
        }
    }

    pub fn count(&self, status: RowStatus) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Rows that did not reach their goal (duplicates are not failures, nor users already
    /// gone under `--missing-ok`).
    pub fn unsuccessful(&self) -> u64 {
        self.count(RowStatus::Failed) + self.count(RowStatus::Invalid) + self.logouts_failed
    }
}

/// How a run ended, as `--summary-json` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunEnding {
    Completed,
    Stopped,
    Interrupted,
}

/// The end of a run, for people (stderr) and for scripts (`--summary-json`).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub outcome: RunEnding,
    pub stop_reason: Option<String>,
    pub rows: u64,
    pub statuses: BTreeMap<&'static str, u64>,
    pub errors: BTreeMap<String, u64>,
    /// Users skipped because the results being resumed already hold their reset.
    pub skipped_already_reset: u64,
    /// Rows a workbook hides, skipped (`--include-hidden` reads them).
    pub skipped_hidden: u64,
    /// `--logout`: users reset whose logout failed (counted under `reset`).
    pub logouts_failed: u64,
    /// Resets that followed a lost answer, by what reading their PIN back found.
    pub read_backs: ReadBacks,
    pub throttled_answers: u64,
    pub retries: u64,
    pub elapsed_seconds: f64,
    pub rows_per_second: f64,
    pub results: String,
    /// The command that picks the run up where it stopped.
    pub resume_command: Option<String>,
    /// Rows answered whose outcome could not be written to the results (never their PINs).
    pub unrecorded_rows: Vec<UnrecordedRow>,
    /// Rows dropped while in flight (a second Ctrl-C): their requests may have reached Chime.
    pub dropped_in_flight: Vec<UnrecordedRow>,
    /// What the run set out to do, as shown before the first change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
}

impl Summary {
    pub fn new(
        tally: &Tally,
        live: &LiveStats,
        stop: Option<&StopReason>,
        elapsed: Duration,
        results: String,
    ) -> Self {
        let outcome = match stop {
            None => RunEnding::Completed,
            Some(StopReason::Interrupted) => RunEnding::Interrupted,
            Some(_) => RunEnding::Stopped,
        };
        let elapsed_seconds = elapsed.as_secs_f64();
        Summary {
            outcome,
            stop_reason: stop.map(ToString::to_string),
            rows: tally.rows,
            statuses: RowStatus::ALL
                .iter()
                .filter(|status| tally.count(**status) > 0)
                .map(|status| (status.as_str(), tally.count(*status)))
                .collect(),
            errors: tally.by_error.clone(),
            skipped_already_reset: live.skipped.load(Ordering::Relaxed),
            skipped_hidden: 0,
            logouts_failed: tally.logouts_failed,
            read_backs: tally.read_backs,
            throttled_answers: live.throttles.load(Ordering::Relaxed),
            retries: live.retries.load(Ordering::Relaxed),
            elapsed_seconds,
            rows_per_second: tally.rows as f64 / elapsed_seconds.max(0.001),
            results,
            resume_command: None,
            unrecorded_rows: Vec::new(),
            dropped_in_flight: Vec::new(),
            plan: None,
        }
    }

    /// The summary in plain words, for stderr.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let (run, done) = if self.is_dry_run() {
            ("Dry run", "Dry run complete: no PIN was changed.")
        } else {
            ("Run", "Run complete.")
        };
        let headline = match (&self.stop_reason, self.outcome) {
            (Some(_), RunEnding::Interrupted) => format!(
                "{run} interrupted (Ctrl-C, SIGTERM or SIGHUP): rows in flight were given the \
                 grace period."
            ),
            (Some(reason), _) => format!("{run} stopped early: {reason}."),
            _ => done.to_string(),
        };
        text.push_str(&headline);
        text.push('\n');
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, count)| format!("{} {status}", thousands(*count)))
            .collect();
        let statuses = if statuses.is_empty() {
            "no rows".to_string()
        } else {
            statuses.join(", ")
        };
        text.push_str(&format!(
            "  rows:     {} ({statuses})\n",
            thousands(self.rows)
        ));
        if self.skipped_already_reset > 0 {
            text.push_str(&format!(
                "  skipped:  {} already reset in the results being resumed\n",
                thousands(self.skipped_already_reset)
            ));
        }
        if self.skipped_hidden > 0 {
            text.push_str(&format!(
                "  hidden:   {}: --include-hidden reads them\n",
                hidden_rows_skipped(self.skipped_hidden)
            ));
        }
        if self.logouts_failed > 0 {
            text.push_str(&format!(
                "  logouts:  {} failed: those PINs are reset; resume with --logout to log the \
                 users out\n",
                self.logouts_failed
            ));
        }
        let read_backs = self.read_backs;
        if read_backs.total() > 0 {
            text.push_str(&format!(
                "  read back: {} after lost answers: {} unchanged, {} changed (the PIN in \
                 force is recorded), {} not confirmed{}\n",
                counted(read_backs.total(), "PIN", "PINs"),
                read_backs.unchanged,
                read_backs.changed,
                read_backs.not_confirmed,
                if read_backs.not_confirmed > 0 {
                    " (`verify` checks those)"
                } else {
                    ""
                }
            ));
        }
        if !self.errors.is_empty() {
            let errors: Vec<String> = self
                .errors
                .iter()
                .map(|(code, count)| format!("{} {code}", thousands(*count)))
                .collect();
            text.push_str(&format!("  errors:   {}\n", errors.join(", ")));
        }
        text.push_str(&format!(
            "  time:     {:.1} s, {:.1} rows/s ({}, {})\n",
            self.elapsed_seconds,
            self.rows_per_second,
            counted(
                self.throttled_answers,
                "throttled answer",
                "throttled answers"
            ),
            counted(self.retries, "retry", "retries")
        ));
        text.push_str(&format!("  results:  {}\n", self.results));
        list_rows(
            &mut text,
            "NOT RECORDED: these rows were answered but could not be written; read the PINs \
             of those reset back with `aws chime get-user`:",
            &self.unrecorded_rows,
        );
        list_rows(
            &mut text,
            "DROPPED IN FLIGHT: these rows' requests may have reached Chime; --resume sends \
             them again:",
            &self.dropped_in_flight,
        );
        if let Some(command) = &self.resume_command {
            text.push_str(&format!("  resume:   {command}\n"));
        }
        text
    }

    pub fn print(&self) {
        crate::stderr::text(&self.render());
    }

    /// Whether the run changed no PIN (`--dry-run`), as the plan it carries says: the plan is
    /// the one record of the run's mode that reaches the summary.
    fn is_dry_run(&self) -> bool {
        let mode = self.plan.as_ref().and_then(|plan| plan.get("mode"));
        mode.and_then(serde_json::Value::as_str) == Some("dry-run")
    }

    /// The summary as JSON, for `--summary-json`.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary is plain data") + "\n"
    }
}

/// A heading and one line per row, when there are rows.
fn list_rows(text: &mut String, heading: &str, rows: &[UnrecordedRow]) {
    if rows.is_empty() {
        return;
    }
    text.push_str(&format!("  {heading}\n"));
    for row in rows {
        text.push_str(&format!(
            "    line {} account {} user {} ({})\n",
            row.line, row.account_id, row.user, row.status
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_summary_says_why_and_how_to_resume() {
        let mut summary = Summary::new(
            &Tally::default(),
            &LiveStats::default(),
            Some(&StopReason::MaxFailures(3)),
            Duration::from_secs(2),
            "out.csv".into(),
        );
        summary.resume_command = Some("chime-pin-reset run in.csv -o out.csv --resume".into());
        let text = summary.render();
        assert!(text.contains("stopped early: 3 rows failed"), "{text}");
        assert!(text.contains("--resume"), "{text}");
    }
}
