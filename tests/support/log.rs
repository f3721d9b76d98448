//! The simulator's request log (`simulate --log FILE`), read into typed lines, and the figures
//! the tests and the benchmark take from it: arrival times, the busiest second, the rate.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

/// One line of the log: one API request, as the README describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct LogLine {
    /// Arrival, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// Arrival, milliseconds since the Unix epoch.
    pub at_unix_ms: f64,
    pub operation: String,
    pub account_id: Option<String>,
    /// `None` for ListUsers.
    pub user_id: Option<String>,
    /// `None` when the connection was dropped without an answer.
    pub status: Option<u16>,
    /// `answered`, `dropped`, `reset-then-dropped` or `garbage`.
    pub outcome: String,
    /// API requests in flight on arrival, this one included.
    pub in_flight: u64,
}

/// Every line of the request log at `path`, in file order. Stop the simulator first: it
/// flushes the log every 200 ms and at shutdown.
pub fn request_log(path: &Path) -> Vec<LogLine> {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("the simulator's log {}: {e}", path.display()));
    BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line.expect("a readable log line");
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{}:{}: not a log line: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The arrival times of `lines`, in seconds since the Unix epoch, sorted.
pub fn arrivals(lines: &[LogLine]) -> Vec<f64> {
    let mut times: Vec<f64> = lines.iter().map(|line| line.at_unix_ms / 1000.0).collect();
    times.sort_by(f64::total_cmp);
    times
}

/// Seconds from the first arrival to the last (0 for fewer than two).
pub fn span_s(lines: &[LogLine]) -> f64 {
    let times = arrivals(lines);
    match (times.first(), times.last()) {
        (Some(first), Some(last)) => last - first,
        _ => 0.0,
    }
}

/// Requests per second between the first and the last arrival.
pub fn achieved_rate(lines: &[LogLine]) -> f64 {
    lines.len().saturating_sub(1) as f64 / span_s(lines)
}

/// The most requests that arrived within any one-second window.
pub fn busiest_second(lines: &[LogLine]) -> usize {
    let times = arrivals(lines);
    let mut most = 0;
    let mut start = 0;
    for (end, t) in times.iter().enumerate() {
        while t - times[start] >= 1.0 {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}
