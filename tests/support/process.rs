//! Running the built tool: a `run` command against a simulator, its output checked for
//! anything shaped like a PIN, and runs in the background that a test stops on an event.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{assert_nothing_like_a_pin, aws_env, bin, Workdir};

/// A `run` command against `endpoint`, with dummy credentials, in `work`.
pub fn run_command(work: &Workdir, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = bin();
    aws_env(&mut cmd);
    cmd.current_dir(work.root())
        .arg("run")
        .args(args)
        .args(["--endpoint-url", endpoint]);
    cmd
}

/// `run INPUT -o results.csv --rate 0` against `endpoint` in `work`: a run at full speed into
/// the usual results file, its output checked as [`output_of`] does.
pub fn run_unthrottled(work: &Workdir, endpoint: &str, input: &str) -> Output {
    output_of(run_command(
        work,
        endpoint,
        &[input, "-o", "results.csv", "--rate", "0"],
    ))
}

/// The tool with `args` in `work`, for commands that call no AWS service (`validate`,
/// `report`, …), its output checked as [`output_of`] does.
pub fn run_offline(work: &Workdir, args: &[&str]) -> Output {
    let mut cmd = bin();
    cmd.current_dir(work.root()).args(args);
    output_of(cmd)
}

/// Asserts that the process exited with `expected` (showing its stderr if not) and returns its
/// stderr.
#[track_caller]
pub fn exits_with(output: &Output, expected: i32) -> String {
    let text = stderr(output);
    assert_eq!(code(output), expected, "{text}");
    text
}

/// Runs the command and returns its output, after checking that stderr holds nothing shaped
/// like a PIN.
pub fn output_of(mut cmd: Command) -> Output {
    let output = cmd.output().expect("run chime-pin-reset");
    assert_nothing_like_a_pin(&String::from_utf8_lossy(&output.stderr), "stderr");
    output
}

/// The exit code of a process that exited (not killed by a signal).
pub fn code(output: &Output) -> i32 {
    output.status.code().expect("the tool exits with a code")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts a run in the background with its stderr captured.
pub fn spawn_run(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the run")
}

/// Waits until `results.csv` in `work` holds more than `rows` rows (60 s at most).
pub fn wait_for_rows(work: &Workdir, rows: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(work.path("results.csv")).map_or(0, |t| t.lines().count()) <= rows
    {
        assert!(
            Instant::now() < deadline,
            "the run wrote fewer than {rows} rows in 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a run started by [`spawn_run`]: (exit code or -1 when killed, stderr), stderr
/// checked for anything shaped like a PIN.
pub fn finish(child: Child) -> (i32, String) {
    let output = child.wait_with_output().expect("the run ends");
    assert_nothing_like_a_pin(&stderr(&output), "stderr");
    (output.status.code().unwrap_or(-1), stderr(&output))
}

/// Runs `run ARGS` against `endpoint` in `work`, asserts it was refused as a usage error
/// (exit 2), and returns its stderr.
pub fn refused_run(work: &Workdir, endpoint: &str, args: &[&str]) -> String {
    let output = output_of(run_command(work, endpoint, args));
    let text = stderr(&output);
    assert_eq!(code(&output), 2, "{args:?}: {text}");
    text
}
