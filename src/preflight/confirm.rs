//! The question before the first reset, asked only when someone is there to answer: stderr is
//! a terminal, and so is stdin (or, when the rows come on stdin, the controlling terminal).
//! Scripts and cron jobs are never asked. Only `y` or `yes` goes on; anything else, the end of
//! input or Ctrl-C is a no.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};

/// Where the answer is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answerer {
    /// Stdin is the terminal.
    Stdin,
    /// The rows come on stdin: the answer comes from the controlling terminal (`/dev/tty`).
    ControllingTerminal,
}

impl Answerer {
    /// Who can answer a question now; `None` off a terminal, where nothing is asked.
    pub fn detect(rows_on_stdin: bool) -> Option<Answerer> {
        if !io::stderr().is_terminal() {
            return None;
        }
        if rows_on_stdin {
            File::open("/dev/tty")
                .is_ok()
                .then_some(Answerer::ControllingTerminal)
        } else {
            io::stdin().is_terminal().then_some(Answerer::Stdin)
        }
    }

    /// Reads one line of answer; `None` at the end of input or on an error.
    fn read_line(self) -> Option<String> {
        let source: Box<dyn Read> = match self {
            Answerer::Stdin => Box::new(io::stdin()),
            Answerer::ControllingTerminal => Box::new(File::open("/dev/tty").ok()?),
        };
        let mut line = String::new();
        match BufReader::new(source).read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        }
    }
}

/// Whether an answer means yes.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Asks `question` on stderr and waits for the answer: true only for yes. Ctrl-C while waiting
/// is a no. The line is read on a thread of its own, so the runtime keeps serving signals.
pub async fn ask(question: &str, answerer: Answerer) -> bool {
    // Listened for before the question is shown: a Ctrl-C typed the moment it appears would
    // otherwise find no handler and kill the process (exit by signal, not the documented 2).
    let interrupted = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    let mut stderr = io::stderr();
    let _ = stderr.write_all(question.as_bytes());
    let _ = stderr.flush();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // Not joined: on Ctrl-C it stays blocked in the read, and the process ends without it.
    std::thread::spawn(move || {
        let _ = tx.send(answerer.read_line());
    });
    tokio::select! {
        answer = rx => match answer {
            Ok(Some(line)) => is_yes(&line),
            _ => {
                let _ = writeln!(stderr);
                false
            }
        },
        () = ctrl_c(interrupted) => {
            let _ = writeln!(stderr);
            false
        }
    }
}

/// Completes at the first Ctrl-C; never, when SIGINT could not be listened for (the default
/// action then ends the process, which is still a no).
async fn ctrl_c(listener: io::Result<tokio::signal::unix::Signal>) {
    match listener {
        Ok(mut interrupt) => {
            interrupt.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_y_or_yes_goes_on() {
        for yes in ["y", "Y", "yes", " YES \n", "y\r\n"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "ye", "y y", "sure"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
