//! Signals, pipes and terminals: a results pipe nobody reads, a stderr that is closed, an ssh
//! hang-up and stdout redirected to a file, each through the built binary against a simulator
//! process.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{
    assert_every_user_reset_with_current_pin, assert_no_pin_in, exit_within, exits_with, finish,
    output_of, read_rows, run_command, run_on_terminal_sized, screen_lines, simulator_users,
    simulator_with_input, spawn_run, stderr, wait_for_rows, wait_until_blocked_on_the_pipe,
    Workdir,
};

fn interrupt(child: &std::process::Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).expect("signal the run");
}

/// Starts `cmd` with its stdout piped and never read, waits until it is blocked writing to
/// it, sends Ctrl-C, and waits (failing after `grace_s` + 20 s) for it to exit. Returns how it
/// exited, how long after Ctrl-C, its stderr (read as it comes, as a terminal would: a summary
/// may name many rows) and the pipe, to read what reached it.
fn ctrl_c_with_its_pipe_full(
    mut cmd: std::process::Command,
    grace_s: u64,
    what: &str,
) -> (
    std::process::ExitStatus,
    Duration,
    String,
    std::process::ChildStdout,
) {
    cmd.args(["--grace-period", &grace_s.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the tool");
    let pipe = child.stdout.take().expect("stdout is piped");
    let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
    let stderr_text = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    wait_until_blocked_on_the_pipe(child.id(), &pipe);
    interrupt(&child, Signal::SIGINT);
    let interrupted = Instant::now();
    let status = exit_within(&mut child, Duration::from_secs(grace_s + 20), what);
    let stopped_in = interrupted.elapsed();
    (
        status,
        stopped_in,
        stderr_text.join().expect("stderr is read"),
        pipe,
    )
}

/// `-o - | age -p`: the reader waits for a passphrase and the pipe fills. Ctrl-C must still
/// stop the run within its grace period, name the rows it could not write, and reset nobody
/// twice (before, the run stalled on the write, Ctrl-C included).
#[test]
fn ctrl_c_stops_a_run_whose_results_pipe_is_not_read() {
    const USERS: usize = 2000;
    const GRACE_S: u64 = 3;
    let work = Workdir::new();
    let sim = simulator_with_input(&work, USERS, &[]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "-"]);
    cmd.args(["--rate", "0", "--concurrency", "8"]);
    let (status, stopped_in, text, mut results) =
        ctrl_c_with_its_pipe_full(cmd, GRACE_S, "Ctrl-C with the results pipe full");
    // Not `assert_nothing_like_a_pin`: among a thousand user ids named, some have a group of
    // twelve hex digits that are all decimal.
    assert_no_pin_in(&text, &sim.state(), "stderr");
    assert_eq!(status.code(), Some(130), "stderr: {text}");
    assert!(
        stopped_in < Duration::from_secs(GRACE_S + 10),
        "stopped {stopped_in:?} after Ctrl-C"
    );
    assert!(text.contains("NOT RECORDED"), "{text}");

    let mut written = Vec::new();
    results.read_to_end(&mut written).expect("read the pipe");
    let written = String::from_utf8_lossy(&written);
    // What reached the pipe in whole lines; a write cut short by the exit may end it.
    let whole_lines = &written[..written.rfind('\n').map_or(0, |end| end + 1)];
    let users = simulator_users(&sim.state());
    assert!(
        users.values().all(|(_, resets)| *resets <= 1),
        "nobody is reset twice"
    );
    let reset: Vec<&String> = users
        .iter()
        .filter(|(_, (_, resets))| *resets == 1)
        .map(|((_, user), _)| user)
        .collect();
    assert!(
        reset.len() < USERS,
        "the full pipe held the run back: {} of {USERS} reset",
        reset.len()
    );
    for user in reset {
        assert!(
            whole_lines.contains(user.as_str()) || text.contains(user.as_str()),
            "user {user} was reset, and is neither in the results nor named"
        );
    }
}

/// `run … 2>&1 | tee log` with tee killed by the same Ctrl-C: stderr is closed. The run must
/// still end its grace period, drop the rows in flight and leave whole results (before, the
/// message on stderr panicked and took the grace period with it).
#[test]
fn a_closed_stderr_does_not_take_the_grace_period_with_it() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 50, &["--latency-ms", "20000"]);
    let mut cmd = run_command(
        &work,
        sim.endpoint(),
        &[
            "input.csv",
            "-o",
            "results.csv",
            "--summary-json",
            "summary.json",
        ],
    );
    cmd.args(["--rate", "0", "--concurrency", "4", "--timeout", "120"])
        .args(["--grace-period", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the run");
    drop(child.stderr.take());
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.state()["max_in_flight"].as_u64().unwrap_or(0) < 4 {
        if let Some(status) = child.try_wait().expect("wait for the run") {
            panic!("the run ended ({status}) before its rows were in flight");
        }
        assert!(Instant::now() < deadline, "the run never filled its slots");
        thread::sleep(Duration::from_millis(20));
    }
    interrupt(&child, Signal::SIGINT);
    let status = exit_within(
        &mut child,
        Duration::from_secs(15),
        "Ctrl-C with stderr closed, answers 20 s away and a 2 s grace period",
    );
    assert_eq!(status.code(), Some(130));
    assert_eq!(read_rows(&work, "results.csv").len(), 0, "whole and empty");
    let summary: serde_json::Value =
        serde_json::from_str(&work.read("summary.json")).expect("the summary is JSON");
    assert_eq!(summary["outcome"], "interrupted");
    assert_eq!(
        summary["dropped_in_flight"].as_array().map(Vec::len),
        Some(4),
        "the rows in flight are named: {summary}"
    );
}

/// An ssh session that closes sends SIGHUP: the run stops as on Ctrl-C, writes what was in
/// flight, and a resume resets the others once (before, SIGHUP killed it without a summary).
#[test]
fn a_hang_up_stops_the_run_like_ctrl_c_and_it_resumes() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 200, &["--latency-ms", "30"]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "100", "--concurrency", "4"]);
    let child = spawn_run(cmd);
    wait_for_rows(&work, 20);
    interrupt(&child, Signal::SIGHUP);
    let (status, text) = finish(child);
    assert_eq!(status, 130, "stderr: {text}");
    assert!(text.contains("Run interrupted"), "{text}");
    assert!(text.contains("--resume"), "{text}");
    let written = read_rows(&work, "results.csv").len();
    assert!(written < 200, "the run stopped early ({written} rows)");

    let mut resume = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    resume.args(["--rate", "0", "--resume"]);
    let output = output_of(resume);
    exits_with(&output, 0);
    let state = sim.state();
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 200, "one row per user");
    assert_every_user_reset_with_current_pin(&rows, &state, 200);
    assert!(
        simulator_users(&state).values().all(|(_, n)| *n == 1),
        "nobody reset twice"
    );
}

/// `-o - > results.csv` gives the file the shell's mode, not 0600: the run says so and points
/// to `-o FILE`. A pipe gets no such warning.
#[test]
fn results_redirected_to_a_file_others_can_read_are_warned_about() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let redirected = std::fs::File::create(work.path("results.csv")).expect("a file");
    redirected
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "-"]);
    cmd.stdout(redirected);
    let output = output_of(cmd);
    let text = exits_with(&output, 0);
    assert!(
        text.contains("warning: stdout is a file with mode 0644"),
        "{text}"
    );
    assert!(text.contains("-o FILE"), "{text}");
    assert_eq!(read_rows(&work, "results.csv").len(), 3, "the results");

    let mut piped = run_command(&work, sim.endpoint(), &["input.csv", "-o", "-"]);
    piped.arg("--rate").arg("0").stdout(Stdio::piped());
    let output = output_of(piped);
    let lines = BufReader::new(&output.stdout[..]).lines().count();
    assert_eq!(lines, 4, "header and three rows");
    assert!(
        !stderr(&output).contains("warning: stdout"),
        "a pipe is fine"
    );
}

/// On an 80-column terminal the progress line fits and keeps the rows done and the failures
/// whole (before, it ran past the edge and was cut off in "… 0 faile").
#[test]
fn the_progress_line_fits_an_80_column_terminal() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 60, &["--latency-ms", "20"]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "20", "--concurrency", "2", "--yes"]);
    let run = run_on_terminal_sized(cmd, 80, &[]);
    let shown = run.screen;
    assert_eq!(run.code, 0, "{shown}");
    let progress: Vec<String> = screen_lines(&shown)
        .into_iter()
        .filter(|line| line.contains("/60"))
        .collect();
    assert!(!progress.is_empty(), "a progress line was drawn: {shown}");
    for line in &progress {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
        assert!(line.contains(" failed"), "the failures are whole: {line}");
    }
}

/// `verify results.csv -o - | age -p`: the verified rows go to a pipe nobody reads. As for
/// `run`, Ctrl-C stops it within its grace period (before, its writes on the runtime's thread
/// stalled the signal too, for about 25 s), and what it could not write is said.
#[test]
fn ctrl_c_stops_a_verify_whose_verified_pipe_is_not_read() {
    const USERS: usize = 2000;
    const GRACE_S: u64 = 3;
    let work = Workdir::new();
    let sim = simulator_with_input(&work, USERS, &[]);
    let mut run = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    run.args(["--rate", "0", "--concurrency", "16"]);
    exits_with(&output_of(run), 0);

    let mut cmd =
        crate::support::verify_command(&work, sim.endpoint(), &["results.csv", "-o", "-"]);
    cmd.args(["--concurrency", "8"]);
    let (status, stopped_in, text, _verified) =
        ctrl_c_with_its_pipe_full(cmd, GRACE_S, "Ctrl-C with the verified pipe full");
    assert_no_pin_in(&text, &sim.state(), "stderr");
    assert_eq!(status.code(), Some(130), "stderr: {text}");
    assert!(
        stopped_in < Duration::from_secs(GRACE_S + 10),
        "stopped {stopped_in:?} after Ctrl-C"
    );
    assert!(text.contains("not written:"), "{text}");
}
