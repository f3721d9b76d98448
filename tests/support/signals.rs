//! Runs under signals, pipes that do not drain and closed terminals: waiting for a run to
//! block on a full pipe, and for a run to end within a deadline.

use std::os::fd::AsRawFd;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Bytes written into the pipe `end` holds and not read yet (FIONREAD).
pub fn unread_bytes(end: &impl AsRawFd) -> usize {
    let mut unread: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid for the call.
    let done = unsafe { libc::ioctl(end.as_raw_fd(), libc::FIONREAD, &mut unread) };
    assert_eq!(done, 0, "FIONREAD on a pipe");
    usize::try_from(unread).expect("a count")
}

/// Waits until the run `pid` is blocked writing its results to the pipe `end` (60 s at most):
/// most of the pipe's 64 KiB hold unread rows, and one of the run's threads is in `write` on
/// stdout (Linux's /proc/PID/task/TID/syscall: number 1, first argument fd 1).
pub fn wait_until_blocked_on_the_pipe(pid: u32, end: &impl AsRawFd) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while unread_bytes(end) < 48 * 1024 || !writing_stdout(pid) {
        assert!(
            Instant::now() < deadline,
            "the run was not blocked on its results pipe after 60 s ({} bytes unread)",
            unread_bytes(end)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether one of `pid`'s threads is in a `write` to fd 1.
fn writing_stdout(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("syscall"))
            .is_ok_and(|syscall| syscall.starts_with("1 0x1 "))
    })
}

/// Waits for `child` to exit within `limit`; kills it and panics with `what` otherwise.
pub fn exit_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the run") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: the run was still going {limit:?} later");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a terminal shows of `output`, line by line: escape sequences dropped, every carriage
/// return or newline starting a new line.
pub fn screen_lines(output: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    let mut chars = output.chars();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters, then a final letter.
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' | '\n' => lines.push(String::new()),
            c => lines.last_mut().expect("one line at least").push(c),
        }
    }
    lines.retain(|line| !line.trim().is_empty());
    lines
}
