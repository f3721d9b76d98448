//! Messages to stderr that can never panic.
//!
//! `eprintln!` panics when stderr is gone (`run … 2>&1 | tee log` with tee killed by the same
//! Ctrl-C, an ssh session closed under the run). A panic on the Ctrl-C path would kill the task
//! that runs the grace period and the second Ctrl-C, so every message the tool prints goes
//! through [`say!`](crate::say) instead, which drops what cannot be written: a closed stderr has
//! nowhere else to go. [`one_line`] is how an error reads when it is kept as text.

use std::fmt;
use std::io::{self, Write};

/// Writes one line to stderr, ignoring any error.
pub fn line(message: fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = stderr
        .write_fmt(message)
        .and_then(|()| stderr.write_all(b"\n"));
}

/// Writes text to stderr as it is, ignoring any error.
pub fn text(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// An error and its causes on one line, each once: `cannot read users.csv: No such file or
/// directory (os error 2)`. The same form as `{:#}` of an `anyhow::Error`, for an error that is
/// kept as text (a message in the summary, a row's reason). Our errors name their cause by
/// returning it as their `source`, never also in their own message, so that nothing repeats.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

/// `eprintln!` that never panics: a line to stderr, dropped when stderr is closed.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::stderr::line(format_args!($($arg)*))
    };
}
