//! Running the tool on a pseudo-terminal, as an administrator at a shell would: stdin and
//! stderr are the terminal, which is also the process's controlling terminal, and the test
//! types answers when a question appears.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a run on a terminal showed and how it ended.
pub struct TerminalRun {
    /// Everything written to the terminal (stderr), as the administrator saw it.
    pub screen: String,
    pub code: i32,
}

/// How long a run on a terminal may take, answers included, before the test fails saying what
/// the screen showed.
const TERMINAL_DEADLINE: Duration = Duration::from_secs(30);

/// A new pseudo-terminal `columns` wide and 24 rows high: (the side the test reads and types
/// on, the side the tool is given). The one place the tests open a terminal.
pub fn open_terminal(columns: u16) -> (OwnedFd, OwnedFd) {
    let size = nix::pty::Winsize {
        ws_row: 24,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("open a pseudo-terminal");
    (pty.master, pty.slave)
}

/// Runs `cmd` on a new 80-column pseudo-terminal. Each time the screen shows the next text of
/// `answers`' pairs (`(wait_for, type)`), types the answer (`"\x03"` is Ctrl-C, `"\x04"`
/// Ctrl-D). Panics after 30 s.
pub fn run_on_terminal(cmd: Command, answers: &[(&str, &str)]) -> TerminalRun {
    run_on_terminal_sized(cmd, 80, answers)
}

/// [`run_on_terminal`] on a terminal `columns` wide.
pub fn run_on_terminal_sized(cmd: Command, columns: u16, answers: &[(&str, &str)]) -> TerminalRun {
    run_on(cmd, columns, None, answers, |_| {})
}

/// [`run_on_terminal`], calling `act(i)` once the screen shows the `i`th text, before its
/// answer is typed: for a change made while the tool waits on a question.
pub fn run_on_terminal_acting(
    cmd: Command,
    answers: &[(&str, &str)],
    act: impl FnMut(usize),
) -> TerminalRun {
    run_on(cmd, 80, None, answers, act)
}

/// [`run_on_terminal`] with `input` on stdin instead of the terminal, which stays the
/// process's controlling terminal and its stderr (`run - < input.csv` at a shell).
pub fn run_on_terminal_with_stdin(
    cmd: Command,
    input: File,
    answers: &[(&str, &str)],
) -> TerminalRun {
    run_on(cmd, 80, Some(input), answers, |_| {})
}

fn run_on(
    mut cmd: Command,
    columns: u16,
    input: Option<File>,
    answers: &[(&str, &str)],
    mut act: impl FnMut(usize),
) -> TerminalRun {
    let (master, slave) = open_terminal(columns);
    let slave_fd = slave.as_raw_fd();
    let stdin = match input {
        Some(file) => Stdio::from(file),
        None => Stdio::from(clone(&slave)),
    };
    cmd.stdin(stdin)
        .stderr(Stdio::from(clone(&slave)))
        .stdout(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec: a new session whose
    // controlling terminal is the pseudo-terminal, as a login shell's would be.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("start the tool on the terminal");
    // Only the tool keeps the terminal open now: the screen's reader ends when it exits.
    drop(cmd);
    drop(slave);
    let screen = Arc::new(Mutex::new(String::new()));
    let mut reader = File::from(clone(&master));
    let reading = {
        let screen = screen.clone();
        // The screen is read on its own thread, so the tool never blocks on a full terminal.
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // Reading fails with EIO once the tool and every copy of the terminal are gone.
            while let Ok(read) = reader.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                screen
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        })
    };
    let mut keyboard = File::from(master);
    let deadline = Instant::now() + TERMINAL_DEADLINE;
    let mut seen = 0;
    for (index, (wait_for, answer)) in answers.iter().enumerate() {
        loop {
            let shown = screen.lock().unwrap().clone();
            if let Some(at) = shown[seen..].find(wait_for) {
                seen += at + wait_for.len();
                break;
            }
            if Instant::now() > deadline || child.try_wait().expect("wait").is_some() {
                let _ = child.kill();
                panic!("the terminal never showed {wait_for:?}; it showed:\n{shown}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        act(index);
        keyboard
            .write_all(answer.as_bytes())
            .expect("type on the terminal");
    }
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the tool did not end within {TERMINAL_DEADLINE:?}; the terminal showed:\n{}",
                screen.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(keyboard);
    let _ = reading.join();
    let screen = screen.lock().unwrap().clone();
    super::assert_nothing_like_a_pin(&screen, "the terminal");
    TerminalRun {
        screen,
        code: status.code().unwrap_or(-1),
    }
}

fn clone(fd: &OwnedFd) -> OwnedFd {
    fd.try_clone().expect("duplicate a terminal descriptor")
}
