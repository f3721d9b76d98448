//! README promises that no other test proved through the binary: SIGTERM, the question at a
//! terminal answered by the end of input or Ctrl-C, the input on stdin with the answer from the
//! terminal, the canary with `--yes`, `--summary-json` against what the run did, `report` on a
//! dry run, a cut-off line and several files, `verify --force`, an interrupted verify, one whose
//! credentials are refused and a check the service throttled, and `run`'s `--account-id`,
//! `--encoding` and `--delimiter`.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{
    assert_every_user_reset_with_current_pin, assert_no_reset_sent, directory_users, exits_with,
    finished_with, output_of, read_rows, report_offline, run_command, run_on_terminal,
    run_on_terminal_with_stdin, set_credentials_expired, set_throttle, simulator_users,
    simulator_with_directory, simulator_with_input, spawn_run, stdout, verify_command,
    wait_for_rows, SimulatorProcess, Workdir,
};

/// The question `run input.csv` asks on a terminal for 3 users of the simulator's account.
const QUESTION: &str = "Reset the PINs of 3 users in 1 account as \
                        arn:aws:iam::123456789012:user/simulator? [y/N] ";

fn run_input(work: &Workdir, sim: &SimulatorProcess, extra: &[&str]) -> std::process::Command {
    let mut cmd = run_command(work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(extra);
    cmd
}

fn signal(child: &std::process::Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).expect("signal the run");
}

#[test]
fn sigterm_stops_the_run_with_130_and_the_resume_resets_nobody_twice() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 200, &["--latency-ms", "30"]);
    let child = spawn_run(run_input(
        &work,
        &sim,
        &["--rate", "100", "--concurrency", "4"],
    ));
    wait_for_rows(&work, 20);
    signal(&child, Signal::SIGTERM);
    let text = finished_with(child, 130);
    assert!(text.contains("--resume"), "{text}");
    let written = read_rows(&work, "results.csv");
    assert!(written.len() < 200, "the run stopped early");
    // Every reset the server answered before the stop has its row: the rows in flight were
    // written, not dropped.
    let reset_on_server = simulator_users(&sim.state())
        .values()
        .filter(|(_, resets)| *resets > 0)
        .count();
    assert_eq!(
        written.len(),
        reset_on_server,
        "every reset sent is written"
    );

    exits_with(
        &output_of(run_input(&work, &sim, &["--rate", "0", "--resume"])),
        0,
    );
    let state = sim.state();
    assert_every_user_reset_with_current_pin(&read_rows(&work, "results.csv"), &state, 200);
    assert!(
        simulator_users(&state).values().all(|(_, n)| *n == 1),
        "nobody reset twice"
    );
}

/// Runs over 3 users on a terminal, typing `keys` at the question: exit 2, nothing sent, no
/// results file.
fn the_question_answered_with(keys: &str) {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let run = run_on_terminal(run_input(&work, &sim, &[]), &[(QUESTION, keys)]);
    assert_eq!(run.code, 2, "{}", run.screen);
    assert!(!work.path("results.csv").exists(), "no results file");
    assert_no_reset_sent(&sim.state());
}

#[test]
fn the_end_of_input_at_the_question_exits_2_with_nothing_sent() {
    the_question_answered_with("\x04");
}

#[test]
fn ctrl_c_at_the_question_exits_2_with_nothing_sent() {
    the_question_answered_with("\x03");
}

#[test]
fn with_the_input_on_stdin_the_answer_comes_from_the_terminal() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let input = std::fs::File::open(work.path("input.csv")).expect("the input");
    let cmd = run_command(&work, sim.endpoint(), &["-", "-o", "results.csv"]);
    let question = "Reset the PINs of the users read from stdin as \
                    arn:aws:iam::123456789012:user/simulator? [y/N] ";
    let run = run_on_terminal_with_stdin(cmd, input, &[(question, "y\n")]);
    assert_eq!(run.code, 0, "{}", run.screen);
    assert_eq!(read_rows(&work, "results.csv").len(), 3);
}

#[test]
fn the_canary_with_yes_asks_nothing_and_goes_on_once_its_rows_are_reset() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let run = run_on_terminal(run_input(&work, &sim, &["--canary", "1", "--yes"]), &[]);
    assert_eq!(run.code, 0, "{}", run.screen);
    assert!(!run.screen.contains("[y/N]"), "{}", run.screen);
    assert!(
        run.screen
            .contains("canary: 1 of 1 reset; going on with the other 2"),
        "{}",
        run.screen
    );
    assert_eq!(read_rows(&work, "results.csv").len(), 3);
}

#[test]
fn the_summary_json_counts_what_the_run_did_and_says_how_to_resume() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 30, &["--latency-ms", "20"]);
    let account = directory_users(&work)[0][0].to_string();
    let mut input = work.read("input.csv");
    input.push_str(&format!(
        "{account},00000000-0000-4000-8000-00000000dead,Gone\n"
    ));
    work.write("input.csv", input);
    let started = Instant::now();
    let child = spawn_run(run_input(
        &work,
        &sim,
        &[
            "--rate",
            "20",
            "--concurrency",
            "2",
            "--summary-json",
            "summary.json",
        ],
    ));
    wait_for_rows(&work, 6);
    signal(&child, Signal::SIGINT);
    finished_with(child, 130);
    let wall = started.elapsed().as_secs_f64();
    let summary: serde_json::Value =
        serde_json::from_str(&work.read("summary.json")).expect("the summary is JSON");
    let rows = read_rows(&work, "results.csv");
    let reset = rows.iter().filter(|row| row["status"] == "reset").count() as u64;
    let failed = rows.iter().filter(|row| row["status"] == "failed").count() as u64;
    assert_eq!(summary["outcome"], "interrupted", "{summary}");
    assert_eq!(summary["rows"], rows.len() as u64, "{summary}");
    assert_eq!(summary["statuses"]["reset"].as_u64().unwrap_or(0), reset);
    assert_eq!(summary["statuses"]["failed"].as_u64().unwrap_or(0), failed);
    assert_eq!(
        summary["errors"]["NotFoundException"].as_u64().unwrap_or(0),
        failed,
        "the failed row's error is counted: {summary}"
    );
    let elapsed = summary["elapsed_seconds"]
        .as_f64()
        .expect("elapsed_seconds");
    assert!(
        elapsed > 0.0 && elapsed <= wall,
        "elapsed {elapsed} s within the {wall:.2} s the test saw"
    );
    let rate = summary["rows_per_second"]
        .as_f64()
        .expect("rows_per_second");
    let expected = rows.len() as f64 / elapsed;
    assert!(
        (rate - expected).abs() <= expected * 0.01 + 0.01,
        "rows_per_second {rate} is the rows over the elapsed time ({expected:.3})"
    );
    let resume = summary["resume_command"]
        .as_str()
        .expect("a resume command");
    assert!(
        resume.contains("input.csv")
            && resume.contains("-o results.csv")
            && resume.contains("--resume"),
        "{resume}"
    );
}

#[test]
fn report_exits_0_on_a_dry_run_where_every_user_would_be_reset() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 4, &[]);
    exits_with(
        &output_of(run_command(
            &work,
            sim.endpoint(),
            &["input.csv", "-o", "preview.csv", "--dry-run"],
        )),
        0,
    );
    let output = report_offline(&work, &["preview.csv", "--json"]);
    exits_with(&output, 0);
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(document["statuses"]["would-reset"], 4, "{document}");
}

#[test]
fn report_warns_about_a_cut_off_last_line_and_does_not_count_it() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    exits_with(&output_of(run_input(&work, &sim, &["--rate", "0"])), 0);
    let mut results = work.read("results.csv");
    results.push_str("5,cut-off");
    work.write("results.csv", results);
    let output = report_offline(&work, &["results.csv", "--json"]);
    let text = exits_with(&output, 0);
    assert!(
        text.contains(
            "warning: results.csv, line 5: a row a run never finished writing (no newline)"
        ),
        "{text}"
    );
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(document["users"], 3, "{document}");
}

#[test]
fn report_takes_each_users_last_row_across_files_in_the_order_given() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &["--latency-ms", "1"]);
    let users = directory_users(&work);
    let (account, first) = (&users[0][0], &users[0][1]);
    exits_with(
        &output_of(run_input(&work, &sim, &["--rate", "0", "--pins", "omit"])),
        0,
    );
    // A later file where the first user failed: given last, its row wins; given first, the
    // reset in results.csv does.
    let header = work.read("results.csv").lines().next().unwrap().to_string();
    work.write(
        "later.csv",
        format!(
            "{header}\n2,{account},{first},failed,,,,ForbiddenException,no,1,r,\
             2020-01-01T00:00:00Z,,,x\n"
        ),
    );
    let statuses = |files: &[&str]| {
        let mut args = files.to_vec();
        args.push("--json");
        let output = report_offline(&work, &args);
        let document: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
        (output.status.code(), document["statuses"].clone())
    };
    assert_eq!(
        statuses(&["results.csv", "later.csv"]),
        (Some(1), serde_json::json!({"failed": 1, "reset": 1}))
    );
    assert_eq!(
        statuses(&["later.csv", "results.csv"]),
        (Some(0), serde_json::json!({"reset": 2}))
    );
}

#[test]
fn verify_refuses_an_existing_verified_file_unless_forced_then_replaces_it() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    exits_with(&output_of(run_input(&work, &sim, &["--rate", "0"])), 0);
    work.write("verified.csv", "precious\n");
    let verify = |extra: &[&str]| {
        let mut cmd = verify_command(
            &work,
            sim.endpoint(),
            &["results.csv", "-o", "verified.csv"],
        );
        cmd.args(extra);
        output_of(cmd)
    };
    let text = exits_with(&verify(&[]), 2);
    assert!(text.contains("--force"), "{text}");
    assert_eq!(work.read("verified.csv"), "precious\n", "left untouched");
    assert_eq!(
        sim.state()["requests"]["GetUser"],
        serde_json::json!({}),
        "nothing sent"
    );
    exits_with(&verify(&["--force"]), 0);
    let rows = read_rows(&work, "verified.csv");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|row| row["status"] == "current"));
}

#[test]
fn an_interrupted_verify_exits_130_and_its_resume_checks_the_rest() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 60, &[]);
    exits_with(&output_of(run_input(&work, &sim, &["--rate", "0"])), 0);
    let mut child = spawn_run(work.command(&[
        "verify",
        "results.csv",
        "-o",
        "verified.csv",
        "--endpoint-url",
        sim.endpoint(),
        "--rate",
        "20",
        "--concurrency",
        "2",
    ]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(work.path("verified.csv")).map_or(0, |t| t.lines().count()) <= 5 {
        if child.try_wait().expect("wait for verify").is_some() {
            panic!("verify ended early: {}", finished_with(child, 130));
        }
        assert!(Instant::now() < deadline, "verify wrote no rows in 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, Signal::SIGINT);
    let text = finished_with(child, 130);
    assert!(text.contains("--resume"), "{text}");
    let checked = read_rows(&work, "verified.csv").len();
    assert!(checked < 60, "verify stopped early ({checked} rows)");

    let mut resume = verify_command(
        &work,
        sim.endpoint(),
        &["results.csv", "-o", "verified.csv"],
    );
    resume.arg("--resume");
    exits_with(&output_of(resume), 0);
    let rows = read_rows(&work, "verified.csv");
    assert_eq!(rows.len(), 60, "each user checked once");
    assert!(rows.iter().all(|row| row["status"] == "current"));
}

#[test]
fn account_id_gives_the_account_of_a_file_without_one() {
    let work = Workdir::new();
    let sim = simulator_with_directory(&work, 1, 3, &[]);
    let users = directory_users(&work);
    let account = users[0][0].to_string();
    let mut input = String::from("user_id,ticket\n");
    for user in &users {
        input.push_str(&format!("{},HR-{}\n", &user[1], &user[2]));
    }
    work.write("leavers.csv", input);
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["leavers.csv", "-o", "results.csv", "--account-id", &account],
    ));
    exits_with(&output, 0);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|row| row["status"] == "reset" && row["account_id"] == account));
    assert!(
        simulator_users(&sim.state()).values().all(|(_, n)| *n == 1),
        "each user reset once"
    );
}

#[test]
fn utf16be_with_a_semicolon_delimiter_is_read_when_named_on_the_command_line() {
    let work = Workdir::new();
    let sim = simulator_with_directory(&work, 1, 3, &[]);
    let users = directory_users(&work);
    let mut text = String::from("account_id;user_id;team\n");
    for user in &users {
        text.push_str(&format!("{};{};Équipe, Québec\n", &user[0], &user[1]));
    }
    // No BOM: only --encoding says what the bytes are.
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    work.write("input.csv", bytes);
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &[
            "input.csv",
            "-o",
            "results.csv",
            "--encoding",
            "utf-16be",
            "--delimiter",
            ";",
        ],
    ));
    exits_with(&output, 0);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|row| row["status"] == "reset" && row["team"] == "Équipe, Québec"));
}

#[test]
fn credentials_refused_during_a_verify_stop_it_with_3_and_the_resume_finishes_it() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 60, &[]);
    exits_with(&output_of(run_input(&work, &sim, &["--rate", "0"])), 0);
    let mut child = spawn_run(work.command(&[
        "verify",
        "results.csv",
        "-o",
        "verified.csv",
        "--endpoint-url",
        sim.endpoint(),
        "--rate",
        "20",
        "--concurrency",
        "2",
    ]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(work.path("verified.csv")).map_or(0, |t| t.lines().count()) <= 5 {
        if child.try_wait().expect("wait for verify").is_some() {
            panic!("verify ended early: {}", finished_with(child, 3));
        }
        assert!(Instant::now() < deadline, "verify wrote no rows in 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    set_credentials_expired(sim.endpoint(), true);
    let text = finished_with(child, 3);
    assert!(text.contains("--resume"), "{text}");
    let checked = read_rows(&work, "verified.csv");
    assert!(checked.len() < 60, "verify stopped early");

    set_credentials_expired(sim.endpoint(), false);
    let mut resume = verify_command(
        &work,
        sim.endpoint(),
        &["results.csv", "-o", "verified.csv"],
    );
    resume.arg("--resume");
    exits_with(&output_of(resume), 0);
    let rows = read_rows(&work, "verified.csv");
    let current: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|row| row["status"] == "current")
        .map(|row| row["user_id"].as_str())
        .collect();
    assert_eq!(
        current.len(),
        60,
        "every user checked and current in the end"
    );
}

/// A check the service refused (throttled, on the only attempt allowed) is `failed`, exit 1;
/// once the service answers again, `--resume` checks only those users and settles them.
#[test]
fn a_check_the_service_refused_is_failed_and_the_resume_checks_it_again() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    exits_with(&output_of(run_input(&work, &sim, &["--rate", "0"])), 0);
    // One request in ten seconds and a bucket of one: the first check goes through, the others
    // sent at once are throttled.
    set_throttle(sim.endpoint(), 0.1, 1);
    let verify = |extra: &[&str]| {
        let mut cmd = verify_command(
            &work,
            sim.endpoint(),
            &["results.csv", "-o", "verified.csv"],
        );
        cmd.args(["--max-attempts", "1", "--concurrency", "6"])
            .args(extra);
        output_of(cmd)
    };
    let text = exits_with(&verify(&[]), 1);
    let rows = read_rows(&work, "verified.csv");
    let failed: Vec<&str> = rows
        .iter()
        .filter(|row| row["status"] == "failed")
        .map(|row| row["user_id"].as_str())
        .collect();
    assert!(!failed.is_empty(), "some checks were throttled: {text}");
    assert!(
        rows.iter()
            .filter(|row| row["status"] == "failed")
            .all(|row| row["error_code"] == "ThrottledClientException"),
        "{text}"
    );
    let gets = |sim: &SimulatorProcess| {
        let answered = &sim.state()["requests"]["GetUser"];
        answered["200"].as_u64().unwrap_or(0) + answered["429"].as_u64().unwrap_or(0)
    };
    let before = gets(&sim);

    set_throttle(sim.endpoint(), 0.0, 0);
    exits_with(&verify(&["--resume"]), 0);
    assert_eq!(
        gets(&sim),
        before + failed.len() as u64,
        "only the users whose check failed are checked again"
    );
    let rows = read_rows(&work, "verified.csv");
    let current: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|row| row["status"] == "current")
        .map(|row| row["user_id"].as_str())
        .collect();
    assert_eq!(current.len(), 6, "every user current in the end");
}
