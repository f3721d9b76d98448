//! What resume, report and verify believe comes from what each row records, never from the
//! flags of the command reading it (issue 23, items 5 to 8): a masked or omitted PIN still
//! records a reset, a dry run never makes a rotation look finished, a user reached by email is
//! done by user id, and an input that changes under a run stops it.

use std::process::Output;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{
    code, directory_users, finish, output_of, read_rows, report_offline, run_command,
    run_on_terminal_acting, simulator_users, simulator_with_input, spawn_run, stderr, stdout,
    verify_command, wait_for_rows, SimulatorProcess, Workdir,
};

/// ResetPersonalPIN requests the simulator answered 200.
fn resets_sent(sim: &SimulatorProcess) -> u64 {
    sim.state()["requests"]["ResetPersonalPIN"]["200"]
        .as_u64()
        .unwrap_or(0)
}

/// `run input.csv -o results.csv --rate 0 EXTRA` to its end.
fn run(work: &Workdir, sim: &SimulatorProcess, extra: &[&str]) -> Output {
    let mut cmd = run_command(work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0"]).args(extra);
    output_of(cmd)
}

/// 23.5: the resume judges each `reset` row by its own PIN cell, not by `--pins`.
#[test]
fn a_resume_without_the_runs_pins_flag_resets_nobody_again() {
    for pins in ["masked", "omit"] {
        let work = Workdir::new();
        let sim = simulator_with_input(&work, 10, &[]);
        let first = run(&work, &sim, &["--pins", pins]);
        assert_eq!(code(&first), 0, "{}", stderr(&first));
        assert_eq!(resets_sent(&sim), 10);

        let resumed = run(&work, &sim, &["--resume"]);
        assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));
        assert_eq!(resets_sent(&sim), 10, "--pins {pins}: nothing more is sent");
        assert_eq!(read_rows(&work, "results.csv").len(), 10);
    }
}

/// A run of 40 stopped after more than 12 rows by Ctrl-C.
fn stopped_run(work: &Workdir, sim: &SimulatorProcess) {
    let mut cmd = run_command(work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "20", "--concurrency", "2"]);
    let child = spawn_run(cmd);
    wait_for_rows(work, 12);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("signal the run");
    let (status, text) = finish(child);
    assert_eq!(status, 130, "{text}");
}

/// 23.6: a dry run writes a file of its own; appended to real resets it is refused.
#[test]
fn a_dry_run_never_appends_to_results_holding_real_resets() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 40, &["--latency-ms", "30"]);
    stopped_run(&work, &sim);
    let before = std::fs::read(work.path("results.csv")).unwrap();
    let dry = run(&work, &sim, &["--dry-run", "--resume"]);
    let text = stderr(&dry);
    assert_eq!(code(&dry), 2, "{text}");
    assert!(
        text.contains("a dry run writes a file of its own"),
        "{text}"
    );
    assert!(
        std::fs::read(work.path("results.csv")).unwrap() == before,
        "the results are untouched"
    );
}

/// 23.6: in results an older version let a dry run append to, a `would-reset` row never
/// stands for a real one, and the rotation is not finished until every user's final real row
/// is `reset`.
#[test]
fn would_reset_rows_appended_to_real_ones_never_make_a_rotation_look_finished() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 40, &["--latency-ms", "30"]);
    stopped_run(&work, &sim);
    let reset = read_rows(&work, "results.csv").len();
    // The dry run's rows of every user, appended as an older version did (and no plan: the
    // coverage cannot speak here, only the rows).
    let dry = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "dry.csv", "--rate", "0", "--dry-run"],
    ));
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    let dry_rows = work.read("dry.csv");
    let mut results = work.read("results.csv");
    results.push_str(dry_rows.split_once('\n').unwrap().1);
    work.write("results.csv", results);
    let _ = std::fs::remove_file(work.path("results.csv.plan.json"));

    let json = report_offline(&work, &["results.csv", "--json"]);
    assert_eq!(code(&json), 1, "not finished: {}", stdout(&json));
    let document: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(document["statuses"]["reset"], reset as u64, "{document}");
    assert_eq!(document["statuses"]["would-reset"], 40 - reset as u64);

    let verified = output_of(verify_command(
        &work,
        sim.endpoint(),
        &["results.csv", "-o", "verified.csv"],
    ));
    assert_eq!(code(&verified), 1, "{}", stderr(&verified));
}

/// 23.7: line 2 names U by id, line 3 by email; line 3's look-up failed. The resume must not
/// reset U again: done is keyed by user id, and a failed row never takes a user off the list.
#[test]
fn a_user_reached_by_email_after_a_failed_look_up_is_not_reset_again() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let users = directory_users(&work);
    let (account, user, email) = (&users[0][0], &users[0][1], &users[0][2]);
    work.write(
        "input.csv",
        format!(
            "account_id,user_id,email\n{account},{user},\n{account},,{email}\n{account},{},\n",
            &users[1][1]
        ),
    );
    let first = run(&work, &sim, &["--concurrency", "1"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    // Line 3 as a run writes it when its look-up fails after its retries.
    let text = work.read("results.csv");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let at = lines
        .iter()
        .position(|line| line.starts_with("3,"))
        .expect("line 3's row");
    let cells: Vec<&str> = lines[at].split(',').collect();
    // `finished_at`, `given_email` and `logout`, the row's last cells, as the run wrote them
    // (an earlier cell, a message, may hold a comma).
    let finished_at_and_after = cells[cells.len() - 3..].join(",");
    lines[at] = format!(
        "3,{account},,failed,,{email},,ServiceUnavailableException,Service unavailable,4,req-1,\
         {finished_at_and_after}"
    );
    work.write("results.csv", lines.join("\n") + "\n");
    let sent = resets_sent(&sim);

    let resumed = run(&work, &sim, &["--resume"]);
    assert!(code(&resumed) <= 1, "{}", stderr(&resumed));
    assert_eq!(resets_sent(&sim), sent, "U is not reset a second time");
    let state = sim.state();
    assert_eq!(
        simulator_users(&state)[&(account.to_string(), user.to_string())].1,
        1,
        "the PIN recorded on line 2 stays the live one"
    );
}

/// 23.8: an input that changes under the run (truncated while it is read) stops the run with
/// exit 3, and its summary never says complete.
#[test]
fn an_input_that_changes_while_the_run_reads_it_stops_the_run() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2500, &[]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "400"]);
    let child = spawn_run(cmd);
    wait_for_rows(&work, 10);
    // What `-o input.csv --force` did: the input cut short while the run reads it.
    let input = std::fs::OpenOptions::new()
        .write(true)
        .open(work.path("input.csv"))
        .unwrap();
    input.set_len(4096).unwrap();
    drop(input);
    let (status, text) = finish(child);
    assert_eq!(status, 3, "{text}");
    assert!(text.contains("changed after the plan read it"), "{text}");
    assert!(!text.contains("Run complete"), "{text}");
    assert!(read_rows(&work, "results.csv").len() < 2500);
}

/// 23.8: an input edited while the question before the first reset waits stops the run before
/// anything is sent, with exit 3.
#[test]
fn an_input_edited_while_the_question_waits_sends_nothing() {
    let work = Workdir::new();
    // More rows than the run reads ahead: its reader reaches the end only after most of them
    // were sent, so only a check before the first reset can send nothing.
    let sim = simulator_with_input(&work, 3000, &[]);
    let users = directory_users(&work);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0"]);
    let run = run_on_terminal_acting(cmd, &[("[y/N]", "y\n")], |_| {
        // One row more, appended in an editor while the plan was on the screen.
        let mut input = work.read("input.csv");
        input.push_str(&format!(
            "{},{},late\n",
            &users[0][0], "bbbbbbbb-0000-0000-0000-000000000000"
        ));
        work.write("input.csv", input);
    });
    assert_eq!(run.code, 3, "{}", run.screen);
    assert!(
        run.screen.contains("changed after the plan read it"),
        "{}",
        run.screen
    );
    assert_eq!(resets_sent(&sim), 0, "nothing was sent");
}
