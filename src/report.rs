//! Reporting: the progress display while a run goes on and the summary at its end, on stderr
//! (stdout stays machine-readable). Nothing here ever sees a PIN: it counts outcomes.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::outcome::{LiveStats, Outcome, RowStatus, StopReason};

/// Counts of outcomes, per status and per error code.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub by_status: BTreeMap<RowStatus, u64>,
    pub by_error: BTreeMap<String, u64>,
    pub rows: u64,
}

impl Tally {
    pub fn record(&mut self, outcome: &Outcome) {
        self.rows += 1;
        *self.by_status.entry(outcome.status).or_default() += 1;
        if let Some(code) = &outcome.error_code {
            *self.by_error.entry(code.clone()).or_default() += 1;
        }
    }

    pub fn count(&self, status: RowStatus) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Rows that did not reach their goal (duplicates are not failures).
    pub fn unsuccessful(&self) -> u64 {
        self.count(RowStatus::Failed) + self.count(RowStatus::Invalid)
    }
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar: stderr is a terminal.
    Bar,
    /// A plain line every few seconds: stderr is a file or a pipe.
    Lines,
    /// `--quiet`.
    Off,
}

impl ProgressMode {
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            ProgressMode::Off
        } else if io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

const PLAIN_LINE_EVERY: Duration = Duration::from_secs(5);

/// The live progress display.
pub struct Progress {
    mode: ProgressMode,
    bar: ProgressBar,
    started: Instant,
    last_line: Instant,
    total: Option<u64>,
}

impl Progress {
    pub fn new(mode: ProgressMode, total: Option<u64>) -> Self {
        let bar = match mode {
            ProgressMode::Bar => {
                let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
                let template = if total.is_some() {
                    "{elapsed_precise} [{bar:20}] {pos}/{len} · ETA {eta} · {wide_msg}"
                } else {
                    "{elapsed_precise} {pos} rows · {wide_msg}"
                };
                bar.set_style(
                    ProgressStyle::with_template(template)
                        .expect("the progress template is valid")
                        .progress_chars("=> "),
                );
                bar
            }
            _ => ProgressBar::hidden(),
        };
        let now = Instant::now();
        Progress {
            mode,
            bar,
            started: now,
            last_line: now,
            total,
        }
    }

    /// Shows the state of the run; cheap enough to call for every batch of outcomes.
    pub fn update(&mut self, tally: &Tally, live: &LiveStats, rate: Option<f64>) {
        match self.mode {
            ProgressMode::Off => {}
            ProgressMode::Bar => {
                self.bar.set_position(tally.rows);
                self.bar.set_message(self.status_text(tally, live, rate));
            }
            ProgressMode::Lines => {
                if self.last_line.elapsed() >= PLAIN_LINE_EVERY {
                    self.last_line = Instant::now();
                    let done = match self.total {
                        Some(total) => format!("{}/{total}", tally.rows),
                        None => tally.rows.to_string(),
                    };
                    eprintln!(
                        "chime-pin-reset: {done} rows · {}",
                        self.status_text(tally, live, rate)
                    );
                }
            }
        }
    }

    fn status_text(&self, tally: &Tally, live: &LiveStats, rate: Option<f64>) -> String {
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let limit = match rate {
            Some(rate) => format!("limit {rate:.0}/s"),
            None => "no rate limit".to_string(),
        };
        format!(
            "{:.1} rows/s · {limit} · {} failed · {} throttled · {} in flight",
            tally.rows as f64 / elapsed,
            tally.unsuccessful(),
            live.throttles.load(Ordering::Relaxed),
            live.in_flight.load(Ordering::Relaxed),
        )
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// A handle on the bar, to hide it while a question waits for its answer.
    pub fn bar(&self) -> ProgressBar {
        self.bar.clone()
    }
}

/// The end of a run, for people (stderr) and for scripts (`--summary-json`).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// `completed`, `stopped` or `interrupted`.
    pub outcome: &'static str,
    pub stop_reason: Option<String>,
    pub rows: u64,
    pub statuses: BTreeMap<&'static str, u64>,
    pub errors: BTreeMap<String, u64>,
    /// Users skipped because the results being resumed already hold their reset.
    pub skipped_already_reset: u64,
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

/// A row whose outcome is not in the results.
#[derive(Clone, Debug, Serialize)]
pub struct UnrecordedRow {
    pub line: u64,
    pub account_id: String,
    /// The user id, or the email the row named its user by.
    pub user: String,
    pub status: &'static str,
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
            None => "completed",
            Some(StopReason::Interrupted) => "interrupted",
            Some(_) => "stopped",
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
        let headline = match (&self.stop_reason, self.outcome) {
            (Some(reason), "interrupted") => format!("Run interrupted: {reason}."),
            (Some(reason), _) => format!("Run stopped early: {reason}."),
            _ => "Run complete.".to_string(),
        };
        text.push_str(&headline);
        text.push('\n');
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, count)| format!("{count} {status}"))
            .collect();
        let statuses = if statuses.is_empty() {
            "no rows".to_string()
        } else {
            statuses.join(", ")
        };
        text.push_str(&format!("  rows:     {} ({statuses})\n", self.rows));
        if self.skipped_already_reset > 0 {
            text.push_str(&format!(
                "  skipped:  {} already reset in the results being resumed\n",
                self.skipped_already_reset
            ));
        }
        if !self.errors.is_empty() {
            let errors: Vec<String> = self
                .errors
                .iter()
                .map(|(code, count)| format!("{count} {code}"))
                .collect();
            text.push_str(&format!("  errors:   {}\n", errors.join(", ")));
        }
        text.push_str(&format!(
            "  time:     {:.1} s, {:.1} rows/s ({} throttled answers, {} retries)\n",
            self.elapsed_seconds, self.rows_per_second, self.throttled_answers, self.retries
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
        let _ = io::stderr().write_all(self.render().as_bytes());
    }

    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        std::fs::write(path, json + "\n")
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
