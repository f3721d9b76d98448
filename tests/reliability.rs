//! Never lose a PIN: faults absorbed, throttling adapted to, clean stops, resumes, and a
//! guarded results file — each through the built binary against a simulator process.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::run::{
    assert_no_pin_in, assert_nothing_like_a_pin, code, input_from_directory, output_of, read_rows,
    run_command, simulator_users, simulator_with_directory, stderr, Row,
};
use crate::support::{aws_env, bin_path, SimulatorProcess, Workdir};

/// A simulator over `users` generated users in one account (its directory in
/// `directory.csv`), and an input over all of them in `input.csv`.
fn simulator_with_input(work: &Workdir, users: usize, extra: &[&str]) -> SimulatorProcess {
    let sim = simulator_with_directory(work, 1, users, extra);
    work.write(
        "input.csv",
        input_from_directory(work, "directory.csv", users),
    );
    sim
}

/// The last row of each user in a results file.
fn last_rows(rows: &[Row]) -> HashMap<(String, String), Row> {
    rows.iter()
        .map(|row| {
            (
                (row["account_id"].clone(), row["user_id"].clone()),
                row.clone(),
            )
        })
        .collect()
}

/// Every user's last row is `reset` with the user's current PIN.
fn assert_every_user_reset_with_current_pin(rows: &[Row], state: &serde_json::Value, users: usize) {
    let last = last_rows(rows);
    assert_eq!(last.len(), users, "every user has a row");
    let current = simulator_users(state);
    for (key, row) in &last {
        assert_eq!(
            row["status"], "reset",
            "user {}: {:?}",
            key.1, row["error_code"]
        );
        assert!(
            current[key].0 == row["personal_pin"],
            "user {}: the PIN is not current",
            key.1
        );
    }
}

#[test]
fn faults_and_throttling_are_absorbed_and_every_row_is_reset() {
    let work = Workdir::new();
    let sim = simulator_with_input(
        &work,
        300,
        &[
            "--fail-rate",
            "0.05",
            "--drop-rate",
            "0.02",
            "--reset-then-drop-rate",
            "0.02",
            "--garbage-rate",
            "0.02",
            "--throttle-rps",
            "50",
            "--seed",
            "11",
        ],
    );
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "200", "--concurrency", "8"]);
    let output = output_of(cmd);
    let state = sim.state();
    assert_no_pin_in(&stderr(&output), &state, "stderr");
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 300, "one row per user");
    assert_every_user_reset_with_current_pin(&rows, &state, 300);
    let retried = rows.iter().filter(|row| row["attempts"] != "1").count();
    assert!(
        retried > 0,
        "faults at these rates must have caused retries"
    );
}

/// (requests, throttled requests, first and last arrival in seconds) from a simulator log.
fn log_figures(log: &str) -> (usize, usize, f64, f64) {
    let mut figures = (0, 0, f64::MAX, f64::MIN);
    for line in log.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        let at = entry["at_unix_ms"].as_f64().expect("an arrival time") / 1000.0;
        figures.0 += 1;
        figures.1 += usize::from(entry["status"] == 429);
        figures.2 = figures.2.min(at);
        figures.3 = figures.3.max(at);
    }
    figures
}

#[test]
fn the_rate_adapts_to_throttling() {
    let work = Workdir::new();
    let log = work.path("requests.log");
    let sim = simulator_with_input(
        &work,
        600,
        &["--throttle-rps", "50", "--log", log.to_str().unwrap()],
    );
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "200", "--burst", "20", "--concurrency", "8"]);
    let output = output_of(cmd);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let rows = read_rows(&work, "results.csv");
    assert!(rows.iter().all(|row| row["status"] == "reset"));
    sim.stop();
    let (requests, throttled, first, last) = log_figures(&std::fs::read_to_string(&log).unwrap());
    let share = throttled as f64 / requests as f64;
    assert!(
        share <= 0.10,
        "{throttled} of {requests} requests were throttled"
    );
    let sustained = 600.0 / (last - first);
    assert!(
        sustained >= 40.0,
        "sustained only {sustained:.1} rows/s against a 50/s limit"
    );
}

#[test]
fn refused_credentials_stop_the_run_and_resume_completes_it() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 120, &["--unauthorized-key", "AKIDEXPIRED"]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--concurrency", "4"]);
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDEXPIRED");
    let output = output_of(cmd);
    let text = stderr(&output);
    assert_eq!(code(&output), 3, "stderr: {text}");
    assert!(text.contains("credentials were refused"), "{text}");
    assert!(text.contains("UnauthorizedClientException"), "{text}");
    assert!(
        text.contains("--resume"),
        "the summary gives the resume command: {text}"
    );
    let sent: u64 = sim.state()["requests"]["ResetPersonalPIN"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert!(
        sent <= 4,
        "{sent} requests sent after the first refusal; the in-flight window is 4"
    );

    resume_to_the_end(&work, &sim);
    let state = sim.state();
    assert_every_user_reset_with_current_pin(&read_rows(&work, "results.csv"), &state, 120);
    assert!(simulator_users(&state).values().all(|(_, n)| *n == 1));
}

/// Resumes the run of `input.csv` into `results.csv`, which must then finish cleanly.
fn resume_to_the_end(work: &Workdir, sim: &SimulatorProcess) -> std::process::Output {
    let mut resume = run_command(work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    resume.args(["--rate", "0", "--concurrency", "4", "--resume"]);
    let output = output_of(resume);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    output
}

/// Starts a run in the background with its stderr captured.
fn spawn_run(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the run")
}

/// Waits until the results file holds at least `rows` rows.
fn wait_for_rows(work: &Workdir, rows: usize) {
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

fn finish(child: Child) -> (i32, String) {
    let output = child.wait_with_output().expect("the run ends");
    assert_nothing_like_a_pin(&stderr(&output), "stderr");
    (output.status.code().unwrap_or(-1), stderr(&output))
}

#[test]
fn an_interrupted_run_resumes_without_resetting_anyone_twice() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 200, &["--latency-ms", "30"]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "100", "--concurrency", "4"]);
    let child = spawn_run(cmd);
    wait_for_rows(&work, 20);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let (status, text) = finish(child);
    assert_eq!(status, 130, "stderr: {text}");
    assert!(text.contains("interrupted"), "{text}");
    assert!(text.contains("--resume"), "{text}");
    let written = read_rows(&work, "results.csv").len();
    assert!(written < 200, "the run stopped early ({written} rows)");

    let output = resume_to_the_end(&work, &sim);
    assert!(stderr(&output).contains(&format!("skipped:  {written} already reset")));
    let state = sim.state();
    assert_no_pin_in(&(text + &stderr(&output)), &state, "stderr");
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 200, "one row per user: nobody written twice");
    assert_every_user_reset_with_current_pin(&rows, &state, 200);
    assert!(
        simulator_users(&state).values().all(|(_, n)| *n == 1),
        "nobody reset twice"
    );
}

#[test]
fn a_killed_run_leaves_whole_rows_and_resumes() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 200, &["--latency-ms", "30"]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "100", "--concurrency", "4"]);
    let child = spawn_run(cmd);
    wait_for_rows(&work, 20);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    let _ = finish(child);
    let current = simulator_users(&sim.state());
    let mut reader = csv::Reader::from_path(work.path("results.csv")).unwrap();
    let width = reader.headers().unwrap().len();
    for record in reader.records() {
        let record = record.expect("a readable row");
        assert_eq!(record.len(), width, "line {}: a whole row", &record[0]);
        assert!(
            record[11].ends_with('Z'),
            "line {}: ends with its timestamp",
            &record[0]
        );
    }
    for row in read_rows(&work, "results.csv") {
        let key = (row["account_id"].clone(), row["user_id"].clone());
        assert!(
            current[&key].0 == row["personal_pin"],
            "line {}: the PIN is current",
            row["line"]
        );
    }

    resume_to_the_end(&work, &sim);
    let state = sim.state();
    assert_every_user_reset_with_current_pin(&read_rows(&work, "results.csv"), &state, 200);
    let twice = simulator_users(&state)
        .values()
        .filter(|(_, n)| *n == 2)
        .count();
    assert!(simulator_users(&state)
        .values()
        .all(|(_, n)| (1..=2).contains(n)));
    assert!(
        twice <= 4,
        "{twice} users reset twice; only the 4 in flight at the kill may be"
    );
}

#[test]
fn a_second_interrupt_stops_at_once() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 50, &["--latency-ms", "20000"]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args([
        "--rate",
        "0",
        "--concurrency",
        "4",
        "--grace-period",
        "120",
        "--timeout",
        "120",
    ]);
    let mut child = spawn_run(cmd);
    let pid = Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.state()["max_in_flight"].as_u64().unwrap_or(0) < 4 {
        assert!(
            Instant::now() < deadline,
            "the run never filled its four slots"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(pid, Signal::SIGINT).unwrap();
    // Signals sent together may be delivered as one: wait until the first is acknowledged.
    let mut stderr_lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let acknowledged = stderr_lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("press Ctrl-C again"));
    assert!(
        acknowledged,
        "the first interrupt was acknowledged on stderr"
    );
    kill(pid, Signal::SIGINT).unwrap();
    let started = Instant::now();
    let text: Vec<String> = stderr_lines.map_while(Result::ok).collect();
    let text = text.join("\n");
    assert_nothing_like_a_pin(&text, "stderr");
    let status = child.wait().unwrap().code().unwrap_or(-1);
    assert_eq!(status, 130, "stderr: {text}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "it waited for the 20 s answers"
    );
    assert_eq!(
        read_rows(&work, "results.csv").len(),
        0,
        "dropped rows are not written"
    );
    assert!(
        text.contains("DROPPED IN FLIGHT"),
        "the dropped rows are named: {text}"
    );
    assert_eq!(text.matches("(in flight)").count(), 4, "{text}");
}

#[test]
fn max_failures_stops_the_run() {
    let work = Workdir::new();
    let sim = SimulatorProcess::spawn(&["--accounts", "1", "--users-per-account", "1"]);
    let mut input = String::from("account_id,user_id\n");
    for i in 0..30 {
        input.push_str(&format!(
            "11111111-1111-1111-1111-111111111111,00000000-0000-0000-0000-{i:012}\n"
        ));
    }
    work.write("input.csv", input);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--concurrency", "1", "--max-failures", "3"]);
    let output = output_of(cmd);
    let text = stderr(&output);
    assert_eq!(code(&output), 3, "{text}");
    assert!(text.contains("3 rows failed (--max-failures 3)"), "{text}");
    let rows = read_rows(&work, "results.csv").len();
    assert!(
        (3..=4).contains(&rows),
        "{rows} rows written; the run goes no further than one in flight past the limit"
    );
}

#[test]
fn an_existing_results_file_is_never_overwritten_by_accident() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    work.write("results.csv", "precious\n");
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv"],
    ));
    assert_eq!(code(&output), 2);
    let text = stderr(&output);
    assert!(
        text.contains("--resume") && text.contains("--force"),
        "{text}"
    );
    assert_eq!(work.read("results.csv"), "precious\n");
    assert_eq!(
        sim.state()["requests"]["ResetPersonalPIN"],
        serde_json::json!({})
    );
}

#[test]
fn the_results_file_is_private_whatever_the_umask() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    work.write("old.csv", "old\n");
    std::fs::set_permissions(work.path("old.csv"), std::fs::Permissions::from_mode(0o644)).unwrap();
    for (results, force) in [("new.csv", false), ("old.csv", true)] {
        let mut shell = Command::new("sh");
        aws_env(&mut shell);
        shell
            .current_dir(work.root())
            .args(["-c", "umask 000; exec \"$@\"", "sh"])
            .arg(bin_path())
            .args(["run", "input.csv", "-o", results, "--rate", "0"])
            .args(["--endpoint-url", sim.endpoint()]);
        if force {
            shell.arg("--force");
        }
        let output = output_of(shell);
        assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
        let mode = std::fs::metadata(work.path(results))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{results} has mode {mode:o}");
    }
}

#[test]
fn results_can_be_piped_to_stdout() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 5, &[]);
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "-", "--rate", "0"],
    ));
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert!(stdout.starts_with("line,account_id,user_id,status,personal_pin"));
    assert_eq!(stdout.lines().count(), 6);
    assert_no_pin_in(&stderr(&output), &sim.state(), "stderr");
}

#[test]
fn cells_from_the_service_are_neutralised_against_formulas() {
    let work = Workdir::new();
    let account = "11111111-1111-1111-1111-111111111111";
    let user = "aaaaaaaa-0000-0000-0000-000000000001";
    let directory = work.write(
        "directory.csv",
        format!("account_id,user_id,email,display_name\n{account},{user},x@example.com,\"=cmd|' /C calc'!A0\"\n"),
    );
    let sim = SimulatorProcess::spawn(&["--directory", directory.to_str().unwrap()]);
    work.write(
        "input.csv",
        format!("account_id,user_id\n{account},{user}\n"),
    );
    for (results, raw) in [("safe.csv", false), ("raw.csv", true)] {
        let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", results]);
        if raw {
            cmd.arg("--raw-cells");
        }
        let output = output_of(cmd);
        assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
        let expected = if raw {
            "=cmd|' /C calc'!A0"
        } else {
            "'=cmd|' /C calc'!A0"
        };
        assert_eq!(read_rows(&work, results)[0]["display_name"], expected);
    }
}

#[test]
fn plain_http_to_another_machine_is_refused() {
    let work = Workdir::new();
    work.write("input.csv", "account_id,user_id\n");
    let output = output_of(run_command(
        &work,
        "http://192.0.2.10:8080",
        &["input.csv", "-o", "results.csv"],
    ));
    assert_eq!(code(&output), 2);
    let text = stderr(&output);
    assert!(text.contains("--allow-insecure-endpoint"), "{text}");
    assert!(!work.path("results.csv").exists());

    // The same endpoint through the environment, which the SDK would follow.
    let mut cmd = crate::support::bin();
    aws_env(&mut cmd);
    cmd.current_dir(work.root())
        .args(["run", "input.csv", "-o", "results.csv"])
        .env("AWS_ENDPOINT_URL_CHIME", "http://192.0.2.10:8080");
    let output = output_of(cmd);
    assert_eq!(code(&output), 2);
    let text = stderr(&output);
    assert!(
        text.contains("AWS_ENDPOINT_URL_CHIME"),
        "names where it came from: {text}"
    );
    assert!(!work.path("results.csv").exists());
}

#[test]
fn limits_that_mean_nothing_are_refused() {
    let work = Workdir::new();
    work.write("input.csv", "account_id,user_id\n");
    for flags in [
        ["--max-failures", "0"],
        ["--burst", "0"],
        ["--concurrency", "0"],
    ] {
        let mut cmd = run_command(
            &work,
            "http://127.0.0.1:9",
            &["input.csv", "-o", "results.csv"],
        );
        cmd.args(flags);
        let output = output_of(cmd);
        assert_eq!(code(&output), 2, "{flags:?}: {}", stderr(&output));
        assert!(!work.path("results.csv").exists());
    }
}

#[test]
fn an_unwritable_results_file_stops_before_anything_is_sent() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "/dev/full", "--force"],
    ));
    assert_eq!(code(&output), 2, "stderr: {}", stderr(&output));
    assert!(stderr(&output).contains("/dev/full"), "{}", stderr(&output));
    assert_eq!(
        sim.state()["requests"]["ResetPersonalPIN"],
        serde_json::json!({})
    );
}

#[test]
fn a_closed_results_pipe_stops_the_run_and_names_every_unrecorded_user() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 100, &["--latency-ms", "50"]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "-"]);
    cmd.args(["--rate", "0", "--concurrency", "4"]);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut results = BufReader::new(child.stdout.take().unwrap());
    let mut header = String::new();
    results.read_line(&mut header).unwrap();
    assert!(
        header.starts_with("line,account_id"),
        "the header comes first"
    );
    drop(results);
    let (status, text) = finish(child);
    assert_eq!(status, 3, "stderr: {text}");
    assert!(
        text.contains("the results file could not be written"),
        "{text}"
    );
    let reset_users: Vec<String> = simulator_users(&sim.state())
        .into_iter()
        .filter(|(_, (_, resets))| *resets > 0)
        .map(|((_, user), _)| user)
        .collect();
    assert!(
        !reset_users.is_empty(),
        "some rows were in flight when the pipe closed"
    );
    assert!(
        reset_users.len() <= 8,
        "dispatching stopped at once: {} resets",
        reset_users.len()
    );
    for user in &reset_users {
        assert!(
            text.contains(user.as_str()),
            "user {user} was reset but not named: {text}"
        );
    }
}

#[test]
fn a_duplicate_written_after_its_reset_does_not_undo_it_on_resume() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let users = crate::run::directory_users(&work);
    let (account, user) = (&users[0][0], &users[0][1]);
    // A results file whose reset row for the user came back before its duplicate's row.
    let first = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv"],
    ));
    assert_eq!(code(&first), 0, "stderr: {}", stderr(&first));
    let mut results = work.read("results.csv");
    results.push_str(&format!(
        "9,{account},{user},duplicate,,,,DuplicateRow,line 9: repeated,0,,2026-01-01T00:00:00Z,x\n"
    ));
    work.write("results.csv", results);
    resume_to_the_end(&work, &sim);
    let resets = simulator_users(&sim.state());
    assert!(
        resets.values().all(|(_, n)| *n == 1),
        "nobody reset twice by the resume"
    );
}
