//! Reporting: the progress display while a run goes on and the summary at its end, on stderr
//! (stdout stays machine-readable). Nothing here ever sees a PIN: it counts outcomes.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use console::Term;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use serde::Serialize;

use crate::outcome::{LiveStats, Outcome, RowStatus, StopReason};

/// Counts of outcomes, per status and per error code.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub by_status: BTreeMap<RowStatus, u64>,
    pub by_error: BTreeMap<String, u64>,
    pub rows: u64,
    /// `reset` rows whose `--logout` failed: the reset stands, the row is not done.
    pub logouts_failed: u64,
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
    terminal: Term,
    started: Instant,
    last_line: Instant,
    total: Option<u64>,
}

impl Progress {
    pub fn new(mode: ProgressMode, total: Option<u64>) -> Self {
        let terminal = Term::stderr();
        let bar = match mode {
            ProgressMode::Bar => {
                let target = ProgressDrawTarget::term_like(Box::new(QuietTerm(terminal.clone())));
                let bar = ProgressBar::with_draw_target(total, target);
                // The whole line is ours (see `progress_line`), fitted to the terminal's width.
                bar.set_style(
                    ProgressStyle::with_template("{msg}").expect("the progress template is valid"),
                );
                bar
            }
            _ => ProgressBar::hidden(),
        };
        let now = Instant::now();
        Progress {
            mode,
            bar,
            terminal,
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
                let width = usize::from(self.terminal.size().1);
                let line = progress_line(&self.snapshot(tally, live, rate), width);
                self.bar.set_message(line);
            }
            ProgressMode::Lines => {
                if self.last_line.elapsed() >= PLAIN_LINE_EVERY {
                    self.last_line = Instant::now();
                    // A log file has no width: every field.
                    let line = progress_line(&self.snapshot(tally, live, rate), usize::MAX);
                    crate::say!("chime-pin-reset: {line}");
                }
            }
        }
    }

    fn snapshot(&self, tally: &Tally, live: &LiveStats, rate: Option<f64>) -> Snapshot {
        Snapshot {
            done: tally.rows,
            total: self.total,
            failed: tally.unsuccessful(),
            throttled: live.throttles.load(Ordering::Relaxed),
            in_flight: live.in_flight.load(Ordering::Relaxed),
            limit: rate,
            elapsed: self.started.elapsed(),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// A handle on the bar, to hide it while a question waits for its answer.
    pub fn bar(&self) -> ProgressBar {
        self.bar.clone()
    }
}

/// The terminal indicatif draws on, with every error ignored: a progress line that cannot be
/// drawn (the terminal closed under the run) is not worth a panic or a stop.
#[derive(Debug)]
struct QuietTerm(Term);

impl TermLike for QuietTerm {
    fn width(&self) -> u16 {
        self.0.size().1
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        let _ = self.0.move_cursor_up(n);
        Ok(())
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        let _ = self.0.move_cursor_down(n);
        Ok(())
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        let _ = self.0.move_cursor_right(n);
        Ok(())
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        let _ = self.0.move_cursor_left(n);
        Ok(())
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        let _ = self.0.write_line(s);
        Ok(())
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        let _ = self.0.write_str(s);
        Ok(())
    }
    fn clear_line(&self) -> io::Result<()> {
        let _ = self.0.clear_line();
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

/// What the progress line shows, read at one moment.
#[derive(Clone, Debug)]
struct Snapshot {
    done: u64,
    total: Option<u64>,
    failed: u64,
    throttled: u64,
    in_flight: u64,
    /// The rate in force; `None` is unlimited.
    limit: Option<f64>,
    elapsed: Duration,
}

/// Between the fields of the progress line.
const SEPARATOR: &str = " · ";
/// The progress bar's inner width, in columns.
const BAR_WIDTH: usize = 10;

/// The progress line, at most `width` columns. Fields are shown in a fixed order; when they do
/// not all fit, the least useful go first, so that a narrow terminal still shows how far the
/// run is, how many rows failed and when it will end.
fn progress_line(snapshot: &Snapshot, width: usize) -> String {
    let elapsed = snapshot.elapsed.as_secs_f64().max(0.001);
    let per_second = snapshot.done as f64 / elapsed;
    let remaining = snapshot
        .total
        .map(|total| total.saturating_sub(snapshot.done));
    // (usefulness: 0 is dropped last, text), in the order shown.
    let mut fields: Vec<(u8, String)> = vec![(7, clock(snapshot.elapsed))];
    if let Some(total) = snapshot.total {
        fields.push((8, bar(snapshot.done, total)));
        fields.push((0, format!("{}/{total}", snapshot.done)));
    } else {
        fields.push((0, format!("{} rows", snapshot.done)));
    }
    if let Some(remaining) = remaining.filter(|_| per_second > 0.0) {
        let eta = Duration::from_secs_f64(remaining as f64 / per_second);
        fields.push((2, format!("ETA {}", short_duration(eta))));
    }
    fields.push((1, format!("{} failed", snapshot.failed)));
    fields.push((3, format!("{per_second:.1} rows/s")));
    fields.push((4, format!("{} throttled", snapshot.throttled)));
    fields.push((5, format!("{} in flight", snapshot.in_flight)));
    fields.push((
        6,
        match snapshot.limit {
            Some(rate) => format!("limit {rate:.0}/s"),
            None => "no rate limit".to_string(),
        },
    ));
    let columns = |fields: &[(u8, String)]| -> usize {
        let text: usize = fields.iter().map(|(_, text)| text.chars().count()).sum();
        text + SEPARATOR.chars().count() * fields.len().saturating_sub(1)
    };
    while fields.len() > 1 && columns(&fields) > width {
        let least_useful = (0..fields.len())
            .max_by_key(|&index| fields[index].0)
            .expect("more than one field is left");
        fields.remove(least_useful);
    }
    let line: Vec<&str> = fields.iter().map(|(_, text)| text.as_str()).collect();
    line.join(SEPARATOR).chars().take(width).collect()
}

/// `[=====>    ]`.
fn bar(done: u64, total: u64) -> String {
    let filled = if total == 0 {
        BAR_WIDTH
    } else {
        (done.min(total) as usize * BAR_WIDTH) / total as usize
    };
    let head = if filled < BAR_WIDTH { ">" } else { "" };
    let empty = BAR_WIDTH - filled - head.len();
    format!("[{}{head}{}]", "=".repeat(filled), " ".repeat(empty))
}

/// `01:02:03`.
fn clock(duration: Duration) -> String {
    let seconds = duration.as_secs();
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// `45s`, `3m12s`, `2h05m`.
fn short_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds / 60 % 60),
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
    /// `--logout`: users reset whose logout failed (counted under `reset`).
    pub logouts_failed: u64,
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

impl From<&Outcome> for UnrecordedRow {
    fn from(outcome: &Outcome) -> Self {
        UnrecordedRow {
            line: outcome.line,
            account_id: outcome.account_id.clone(),
            user: outcome.user_id.clone(),
            status: outcome.status.as_str(),
        }
    }
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
            logouts_failed: tally.logouts_failed,
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
            (Some(_), "interrupted") => {
                "Run interrupted (Ctrl-C, SIGTERM or SIGHUP): rows in flight were given the grace \
                 period."
                    .to_string()
            }
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
        if self.logouts_failed > 0 {
            text.push_str(&format!(
                "  logouts:  {} failed: those PINs are reset; resume with --logout to log the \
                 users out\n",
                self.logouts_failed
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
        crate::stderr::text(&self.render());
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

    /// A run well under way, with numbers as wide as a large run gives them.
    fn busy_run() -> Snapshot {
        Snapshot {
            done: 12_345,
            total: Some(100_000),
            failed: 1_234,
            throttled: 5_678,
            in_flight: 64,
            limit: Some(250.0),
            elapsed: Duration::from_secs(3 * 3600 + 25 * 60),
        }
    }

    #[test]
    fn the_progress_line_fits_the_terminal_and_keeps_the_most_useful_fields() {
        for snapshot in [
            busy_run(),
            Snapshot {
                total: None,
                ..busy_run()
            },
        ] {
            for width in [40, 80, 120] {
                let line = progress_line(&snapshot, width);
                assert!(
                    line.chars().count() <= width,
                    "{width} columns: {line:?} is {} wide",
                    line.chars().count()
                );
                assert!(line.contains("12345"), "{width}: rows done in {line:?}");
                assert!(
                    line.contains("1234 failed"),
                    "{width}: failures in {line:?}"
                );
                if snapshot.total.is_some() {
                    assert!(line.contains("12345/100000"), "{width}: {line:?}");
                    assert!(line.contains("ETA "), "{width}: {line:?}");
                }
            }
            let narrow = progress_line(&snapshot, 40);
            assert!(
                !narrow.contains("limit"),
                "the least useful go first: {narrow}"
            );
            let wide = progress_line(&snapshot, 120);
            for field in [
                "rows/s",
                "throttled",
                "in flight",
                "limit 250/s",
                "03:25:00",
            ] {
                assert!(wide.contains(field), "120 columns show {field}: {wide}");
            }
        }
        let eighty = progress_line(&busy_run(), 80);
        for field in ["rows/s", "throttled"] {
            assert!(eighty.contains(field), "80 columns show {field}: {eighty}");
        }
        assert!(progress_line(&busy_run(), 5).chars().count() <= 5);
    }

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
