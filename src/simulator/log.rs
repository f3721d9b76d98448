//! The request log of `--log FILE`: one JSON line per API request, written through a buffer that
//! a background task flushes every 200 ms (and shutdown flushes at the end), so logging costs a
//! memory copy per request, not a system call. It never holds a PIN.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::Serialize;

/// How often the buffer reaches the file at the latest.
pub(crate) const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// One line of the log.
#[derive(Debug, Serialize)]
pub(crate) struct LogLine<'a> {
    /// Arrival, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// Arrival, milliseconds since the Unix epoch.
    pub at_unix_ms: f64,
    pub operation: &'static str,
    pub account_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    /// The status answered (or, for `reset-then-dropped`, the one that would have been);
    /// `null` for `dropped`.
    pub status: Option<u16>,
    /// `answered`, `dropped`, `reset-then-dropped` or `garbage`.
    pub outcome: &'static str,
    /// API requests in flight on arrival, this one included.
    pub in_flight: u64,
}

pub(crate) struct RequestLog {
    out: Mutex<BufWriter<File>>,
    failed: AtomicBool,
}

impl RequestLog {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("cannot create log file {}", path.display()))?;
        Ok(RequestLog {
            out: Mutex::new(BufWriter::with_capacity(256 * 1024, file)),
            failed: AtomicBool::new(false),
        })
    }

    pub fn write(&self, line: &LogLine<'_>) {
        let mut bytes = Vec::with_capacity(256);
        // Serializing plain strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut bytes, line);
        bytes.push(b'\n');
        let result = self
            .out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(&bytes);
        self.note(result);
    }

    pub fn flush(&self) {
        let result = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
        self.note(result);
    }

    fn note(&self, result: std::io::Result<()>) {
        if let Err(err) = result {
            if !self.failed.swap(true, Ordering::Relaxed) {
                eprintln!("chime-pin-reset simulate: cannot write the request log: {err}");
            }
        }
    }
}

/// Milliseconds since the Unix epoch, with fractions.
pub(crate) fn unix_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
