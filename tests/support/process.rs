//! Running the built tool: a `run` command against a simulator, its output checked for
//! anything shaped like a PIN, and runs in the background that a test stops on an event.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{assert_nothing_like_a_pin, Workdir};

/// A `run` command against `endpoint`, with dummy credentials, in `work`.
pub fn run_command(work: &Workdir, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = work.command(&["run"]);
    cmd.args(args).args(["--endpoint-url", endpoint]);
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
    output_of(work.command(args))
}

/// `report ARGS` in `work` with no environment at all: no credentials, no network, as the
/// README promises `report` needs none.
pub fn report_offline(work: &Workdir, args: &[&str]) -> Output {
    let mut cmd = work.command(&["report"]);
    cmd.args(args).env_clear();
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

/// How long [`output_of`] lets a command run: the longest test run takes a few seconds, so a
/// run still going after this is hung, and the test fails saying so instead of waiting forever.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// Runs the command and returns its output, after checking that stderr holds nothing shaped
/// like a PIN. A command still running after [`COMMAND_DEADLINE`] is killed and the test fails
/// with what it printed so far.
pub fn output_of(mut cmd: Command) -> Output {
    let program = format!("{:?}", cmd.get_args().collect::<Vec<_>>());
    // As `Command::output` does: stdin empty and stdout and stderr captured, unless the test
    // chose otherwise. Command has no getters for them; its alternate Debug form shows the
    // ones that were set. (An inherited stdin would let a run wait on the test's terminal.)
    let chosen = format!("{cmd:#?}");
    if !chosen.contains("stdin:") {
        cmd.stdin(Stdio::null());
    }
    if !chosen.contains("stdout:") {
        cmd.stdout(Stdio::piped());
    }
    if !chosen.contains("stderr:") {
        cmd.stderr(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("run chime-pin-reset");
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    // Each pipe is drained on its own thread, so the tool never blocks on a full one.
    let stdout = std::thread::spawn(move || read_all(stdout));
    let stderr = std::thread::spawn(move || read_all(stderr));
    let status = wait_or_kill(&mut child, COMMAND_DEADLINE);
    // Killed or not, the tool's ends of the pipes are closed now.
    let output = Output {
        status: status.unwrap_or_default(),
        stdout: stdout.join().expect("stdout is read"),
        stderr: stderr.join().expect("stderr is read"),
    };
    if status.is_none() {
        let text = String::from_utf8_lossy(&output.stderr);
        assert_nothing_like_a_pin(&text, "stderr");
        panic!("{program} was still running after {COMMAND_DEADLINE:?}; stderr:\n{text}");
    }
    assert_nothing_like_a_pin(&String::from_utf8_lossy(&output.stderr), "stderr");
    output
}

/// Everything `pipe` holds until its writer closes it (nothing when the test redirected it).
fn read_all(pipe: Option<impl std::io::Read>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes);
    }
    bytes
}

/// Waits for `child` up to `limit`; kills it and returns `None` if it is still running then.
fn wait_or_kill(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the tool") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
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

/// Waits for a run started by [`spawn_run`], asserts it exited with `expected` (showing its
/// stderr if not), and returns its stderr, checked for anything shaped like a PIN.
#[track_caller]
pub fn finished_with(child: Child, expected: i32) -> String {
    let (status, text) = finish(child);
    assert_eq!(status, expected, "{text}");
    text
}

/// Runs `run ARGS` against `endpoint` in `work`, asserts it was refused as a usage error
/// (exit 2), and returns its stderr.
pub fn refused_run(work: &Workdir, endpoint: &str, args: &[&str]) -> String {
    exits_with(&output_of(run_command(work, endpoint, args)), 2)
}

/// What the tool printed, made the same from one run to the next for a snapshot: the test's
/// directory becomes `[WORKDIR]` and a port on 127.0.0.1 `[PORT]`. (Only messages without
/// times are snapshotted.)
pub fn normalised(text: &str, work: &Workdir) -> String {
    let text = text.replace(&work.root().display().to_string(), "[WORKDIR]");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("127.0.0.1:") {
        let (before, after) = rest.split_at(at + "127.0.0.1:".len());
        out.push_str(before);
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        out.push_str(if digits > 0 { "[PORT]" } else { "" });
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}
