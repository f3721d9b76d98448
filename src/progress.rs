//! The live progress display of a run, on stderr: a line redrawn at a capped rate on a
//! terminal, fitted to its width, or a plain line every few seconds into a file or a pipe.
//! Nothing here sees a PIN: it shows counts.

use std::collections::VecDeque;
use std::io::{self, IsTerminal};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use console::Term;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::outcome::LiveStats;
use crate::summary::Tally;
use crate::words::counted;

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
/// How often the live line may be redrawn: smooth to the eye, and a few kilobytes a second
/// over SSH instead of a redraw for every batch of outcomes (hundreds a second).
const REDRAWS_PER_SECOND: u8 = 15;

/// The live progress display.
pub struct Progress {
    mode: ProgressMode,
    bar: ProgressBar,
    terminal: Term,
    started: Instant,
    last_line: Instant,
    total: Option<u64>,
    recent: RecentRate,
}

impl Progress {
    pub fn new(mode: ProgressMode, total: Option<u64>) -> Self {
        let terminal = Term::stderr();
        let bar = match mode {
            ProgressMode::Bar => {
                let target = ProgressDrawTarget::term_like_with_hz(
                    Box::new(QuietTerm(terminal.clone())),
                    REDRAWS_PER_SECOND,
                );
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
            recent: RecentRate::default(),
        }
    }

    /// Whether anything is shown (`--quiet` shows nothing).
    pub fn is_shown(&self) -> bool {
        self.mode != ProgressMode::Off
    }

    /// Shows the state of the run; cheap enough to call for every batch of outcomes.
    pub fn update(&mut self, tally: &Tally, live: &LiveStats, rate: Option<f64>) {
        if self.mode != ProgressMode::Off {
            self.recent.record(Instant::now(), tally.rows);
        }
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
            recent_rate: self.recent.per_second(Instant::now(), tally.rows),
            confirming: live.confirming(Instant::now()),
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

/// The rate of the last few seconds, which the ETA and rows/s show. The run's average would
/// carry the start into every estimate: the first answers, which come back at once from an
/// idle Chime, make it optimistic, and a pause (a canary's question, a throttled spell) makes
/// it wrong for the rest of the run.
#[derive(Debug, Default)]
struct RecentRate {
    /// (when, rows done), oldest first: one a `RATE_SAMPLE_EVERY`, spanning `RATE_WINDOW`.
    samples: VecDeque<(Instant, u64)>,
}

/// How far back the recent rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// How often a sample is kept: 40 over the window, whatever the rate of outcomes.
const RATE_SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// Less than this is too short to say a rate.
const RATE_NEEDS: Duration = Duration::from_secs(1);

impl RecentRate {
    fn record(&mut self, now: Instant, done: u64) {
        let due = self
            .samples
            .back()
            .is_none_or(|(at, _)| now.duration_since(*at) >= RATE_SAMPLE_EVERY);
        if due {
            self.samples.push_back((now, done));
        }
        // Keep one sample at least a window old, so the rate spans the whole window.
        while self
            .samples
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Rows a second over the window, once it spans `RATE_NEEDS`.
    fn per_second(&self, now: Instant, done: u64) -> Option<f64> {
        let (since, done_then) = self.samples.front()?;
        let span = now.duration_since(*since);
        (span >= RATE_NEEDS).then(|| done.saturating_sub(*done_then) as f64 / span.as_secs_f64())
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
    /// Rows a second lately (see [`RecentRate`]); `None` in the first second.
    recent_rate: Option<f64>,
    /// Resets waiting to read their PIN back after lost answers, and how long the last waits.
    confirming: Option<(u64, Duration)>,
}

/// Between the fields of the progress line.
const SEPARATOR: &str = " · ";
/// The progress bar's inner width, in columns.
const BAR_WIDTH: usize = 10;

/// The progress line, at most `width` columns. Fields are shown in a fixed order; when they do
/// not all fit, the least useful go first. At 80 columns a large run keeps, on purpose, how far
/// it is (the bar and rows done of all), for how long it has run and when it will end, the
/// failures, and the rate in force (which the adaptive rate moves); throttles, rows a second
/// and requests in flight need a wider terminal. A narrow one keeps the rows done, the
/// failures and the ETA.
fn progress_line(snapshot: &Snapshot, width: usize) -> String {
    let remaining = snapshot
        .total
        .map(|total| total.saturating_sub(snapshot.done));
    // (usefulness: 0 is dropped last, text), in the order shown.
    let mut fields: Vec<(u8, String)> = Vec::new();
    if let Some(total) = snapshot.total {
        fields.push((3, bar(snapshot.done, total)));
        fields.push((0, format!("{}/{total}", snapshot.done)));
    } else {
        fields.push((0, format!("{} rows", snapshot.done)));
    }
    fields.push((4, clock(snapshot.elapsed)));
    let per_second = snapshot.recent_rate.filter(|rate| *rate > 0.0);
    // Rows waiting to read their PIN back are not sent at the rate: an ETA from it would lie.
    let confirming = snapshot.confirming.is_some();
    if let (Some(remaining), Some(per_second), false) = (remaining, per_second, confirming) {
        let eta = Duration::from_secs_f64(remaining as f64 / per_second);
        fields.push((2, format!("ETA {}", short_duration(eta))));
    }
    fields.push((1, format!("{} failed", snapshot.failed)));
    // The last minute of a run under lost answers: nothing is sent while these wait.
    if let Some((waiting, left)) = snapshot.confirming {
        let pins = counted(waiting, "PIN", "PINs");
        let left = left.as_secs_f64().ceil() as u64;
        fields.push((1, format!("confirming {pins} after lost answers: {left} s")));
    }
    fields.push((
        5,
        match snapshot.limit {
            Some(rate) => format!("limit {rate:.0}/s"),
            None => "no rate limit".to_string(),
        },
    ));
    fields.push((6, format!("{} throttled", snapshot.throttled)));
    if let Some(per_second) = snapshot.recent_rate {
        fields.push((7, format!("{per_second:.1} rows/s")));
    }
    fields.push((8, format!("{} in flight", snapshot.in_flight)));
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
            recent_rate: Some(2.5),
            confirming: None,
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
            for width in [40, 80, 140] {
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
            let wide = progress_line(&snapshot, 140);
            for field in [
                "2.5 rows/s",
                "throttled",
                "in flight",
                "limit 250/s",
                "03:25:00",
            ] {
                assert!(wide.contains(field), "140 columns show {field}: {wide}");
            }
        }
        let eighty = progress_line(&busy_run(), 80);
        for field in [
            "[=>",
            "12345/100000",
            "03:25:00",
            "ETA 9h44m",
            "failed",
            "limit 250/s",
        ] {
            assert!(eighty.contains(field), "80 columns show {field}: {eighty}");
        }
        for field in ["throttled", "rows/s", "in flight"] {
            assert!(!eighty.contains(field), "80 columns drop {field}: {eighty}");
        }
        assert!(progress_line(&busy_run(), 5).chars().count() <= 5);
    }

    #[test]
    fn while_pins_wait_to_be_confirmed_the_line_says_so_and_shows_no_eta() {
        let waiting = Snapshot {
            confirming: Some((39, Duration::from_millis(34_200))),
            ..busy_run()
        };
        let line = progress_line(&waiting, 80);
        assert!(
            line.contains("confirming 39 PINs"),
            "kept at 80 columns: {line}"
        );
        // A log file's line, with every field.
        let line = progress_line(&waiting, usize::MAX);
        assert!(
            line.contains("confirming 39 PINs after lost answers: 35 s"),
            "{line}"
        );
        assert!(!line.contains("ETA"), "{line}");
        assert!(line.contains("12345/100000"), "{line}");
    }

    #[test]
    fn the_eta_comes_from_the_last_seconds_not_the_run_average() {
        let start = Instant::now();
        let at = |seconds: f64| start + Duration::from_secs_f64(seconds);
        let mut recent = RecentRate::default();
        recent.record(at(0.0), 0);
        assert_eq!(recent.per_second(at(0.5), 200), None, "too soon to say");
        // 200 rows answered at once by an idle service, then 10 a second for 20 s.
        let mut done = 200;
        for tenth in 6..=205 {
            done += 1;
            recent.record(at(f64::from(tenth) / 10.0), done);
        }
        let now = at(20.5);
        let rate = recent.per_second(now, done).expect("a rate");
        assert!((9.5..=10.5).contains(&rate), "the last 10 s: {rate}");
        let average = done as f64 / 20.5;
        assert!(average > 19.0, "the average would say {average}");
        assert!(
            recent.samples.len() <= 42,
            "{} samples",
            recent.samples.len()
        );
        let line = progress_line(
            &Snapshot {
                done,
                total: Some(done + 600),
                recent_rate: Some(rate),
                ..busy_run()
            },
            80,
        );
        assert!(
            line.contains("ETA 1m0") || line.contains("ETA 59s"),
            "{line}"
        );
    }
}
