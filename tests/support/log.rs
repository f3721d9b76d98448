//! The simulator's request log (`simulate --log FILE`), read into typed lines (the fields the
//! tests and the benchmark read; serde leaves the others), and their arrival times.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

/// One line of the log: one API request, as the README describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct LogLine {
    /// Arrival, milliseconds since the Unix epoch.
    pub at_unix_ms: f64,
    pub operation: String,
    /// `None` for ListUsers.
    pub user_id: Option<String>,
    /// `None` when the connection was dropped without an answer.
    pub status: Option<u16>,
    /// `answered`, `dropped`, `reset-then-dropped` or `garbage`.
    pub outcome: String,
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
