//! The progress line on a real terminal (a pseudo-terminal 80 columns wide): how often it is
//! drawn, and what it keeps at that width.

use std::fs::File;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{assert_nothing_like_a_pin, run_command, simulator_with_input, Workdir};

/// The most frames a second the tool may draw, after indicatif's first burst.
const FRAMES_PER_SECOND: f64 = 20.0;
/// indicatif lets a draw target start with a burst of this many frames.
const FIRST_BURST: f64 = 20.0;
/// Draws forced whatever the rate (the first, the last, clearing the line).
const FORCED: f64 = 5.0;

/// What a command wrote to a terminal of `columns` columns, and how long it ran.
fn on_a_terminal(mut cmd: std::process::Command, columns: u16) -> (String, Duration, i32) {
    let size = nix::pty::Winsize {
        ws_row: 24,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("open a pseudo-terminal");
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(pty.slave))
        .spawn()
        .expect("start the tool");
    // Only the tool holds the terminal now (the Command's copy goes with it), so reading ends
    // when it exits.
    drop(cmd);
    let mut master = File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut screen = Vec::new();
        let mut buffer = [0u8; 65536];
        // Fails with EIO once the tool has exited and the terminal is closed.
        while let Ok(read) = master.read(&mut buffer) {
            if read == 0 {
                break;
            }
            screen.extend_from_slice(&buffer[..read]);
        }
        screen
    });
    let deadline = started + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run did not end within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let screen = String::from_utf8_lossy(&reader.join().expect("the reader")).into_owned();
    assert_nothing_like_a_pin(&screen, "the terminal");
    (screen, elapsed, status.code().unwrap_or(-1))
}

/// Every frame of the progress line: the text drawn after each clearing of the line.
fn frames(screen: &str) -> Vec<&str> {
    screen
        .split("\x1b[2K")
        .skip(1)
        .map(|frame| frame.split(['\r', '\n', '\x1b']).next().unwrap_or(""))
        .filter(|frame| frame.contains(" failed"))
        .collect()
}

#[test]
fn on_a_terminal_the_progress_line_is_drawn_at_most_twenty_times_a_second() {
    let work = Workdir::new();
    // About 1,500 outcomes over 5 s, each of which changes the line: drawn at every change,
    // that is some 300 frames a second.
    let sim = simulator_with_input(&work, 1500, &[]);
    let cmd = run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv", "--rate", "300", "--yes"],
    );
    let (screen, elapsed, code) = on_a_terminal(cmd, 80);
    assert_eq!(code, 0, "{screen}");
    let drawn = frames(&screen);
    let bound = FIRST_BURST + elapsed.as_secs_f64() * FRAMES_PER_SECOND + FORCED;
    assert!(
        drawn.len() as f64 <= bound,
        "{} frames in {:.1} s, more than {bound:.0} ({FRAMES_PER_SECOND} a second)",
        drawn.len(),
        elapsed.as_secs_f64()
    );
    assert!(drawn.len() >= 2, "the line was drawn: {screen}");
    // At 80 columns the line keeps, on purpose: the bar, rows done of all, the time elapsed,
    // the ETA, the failures and the rate in force.
    let last = drawn.last().expect("a frame");
    assert!(last.chars().count() <= 80, "{last:?}");
    for field in ["[", "/1500", "00:0", " failed", "limit 300/s"] {
        assert!(last.contains(field), "80 columns keep {field:?}: {last:?}");
    }
}

/// The last minute of a run under lost answers: while resets wait to read their PIN back, the
/// terminal says so (rather than nothing for up to three --timeouts); Ctrl-C then stops the wait,
/// and the summary counts those PINs as not confirmed, as the rows record them.
#[test]
fn on_a_terminal_the_wait_to_confirm_pins_is_shown_and_ctrl_c_leaves_them_not_confirmed() {
    let work = Workdir::new();
    let faults = [
        "--late-apply-rate",
        "0.2",
        "--late-apply-ms",
        "600",
        "--seed",
        "3",
    ];
    let sim = simulator_with_input(&work, 60, &faults);
    let mut cmd = run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv", "--rate", "0", "--yes"],
    );
    cmd.args(["--timeout", "0.3", "--confirm-wait", "60"]);
    cmd.args(["--summary-json", "summary.json"]);
    let run = crate::support::run_on_terminal(cmd, &[("after lost answers: ", "\x03")]);
    let screen = run.screen;
    assert_eq!(run.code, 130, "{screen}");
    let waits: Vec<&str> = frames(&screen)
        .into_iter()
        .filter(|frame| frame.contains("after lost answers: "))
        .collect();
    let wait = waits.first().expect("a frame with the wait");
    assert!(wait.contains("confirming "), "{wait}");
    let summary: serde_json::Value =
        serde_json::from_str(&work.read("summary.json")).expect("the summary is JSON");
    let not_confirmed = summary["read_backs"]["not_confirmed"].as_u64().unwrap();
    let stopped = crate::support::read_rows(&work, "results.csv")
        .iter()
        .filter(|row| row["error_message"].contains("the run stopped before this PIN"))
        .count() as u64;
    assert!(stopped > 0, "some read-backs were waiting at Ctrl-C");
    assert_eq!(not_confirmed, stopped, "as the rows record them");
}
