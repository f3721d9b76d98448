//! Resume trusts only whole rows, and one run at a time holds a results file: a last row cut
//! off mid-write is redone, an unreadable row or other carried columns stop the run before
//! anything is sent, and a second run on a locked file is refused at once.

use std::fs::File;

use crate::support::{
    directory_users, exits_with, finished_with, normalised, output_of, read_rows, run_command,
    simulator_users, simulator_with_input, spawn_run, stderr, wait_for_rows, SimulatorProcess,
    Workdir,
};

/// Runs `input.csv` into `results.csv` to the end (`--resume` when `resume`), exit 0.
fn run_to_the_end(work: &Workdir, sim: &SimulatorProcess, resume: bool) -> String {
    let mut cmd = run_command(work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0"]);
    if resume {
        cmd.arg("--resume");
    }
    let output = output_of(cmd);
    exits_with(&output, 0);
    stderr(&output)
}

/// ResetPersonalPIN requests the simulator answered 200.
fn resets_sent(sim: &SimulatorProcess) -> u64 {
    sim.state()["requests"]["ResetPersonalPIN"]["200"]
        .as_u64()
        .unwrap_or(0)
}

/// Runs `--resume` and expects a refusal: exit 2, nothing sent, the file untouched.
fn refused_resume(work: &Workdir, sim: &SimulatorProcess) -> String {
    let before = std::fs::read(work.path("results.csv")).unwrap();
    let sent = resets_sent(sim);
    let mut cmd = run_command(work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.arg("--resume");
    let output = output_of(cmd);
    let text = exits_with(&output, 2);
    assert_eq!(resets_sent(sim), sent, "nothing sent");
    assert!(
        std::fs::read(work.path("results.csv")).unwrap() == before,
        "the results file is untouched"
    );
    text
}

/// Cuts `results.csv` just after the first `keep` bytes of its last row's `marker`.
fn cut_last_row_inside(work: &Workdir, marker: &str, keep: usize) {
    let text = work.read("results.csv");
    let at = text.rfind(marker).expect("the marker is in the last row") + keep;
    work.write("results.csv", &text.as_bytes()[..at]);
}

#[test]
fn a_last_row_cut_off_mid_pin_is_redone_on_resume() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 5, &[]);
    run_to_the_end(&work, &sim, false);
    let last = read_rows(&work, "results.csv").pop().unwrap();
    // The file now ends `…,reset,0588`: four digits of the PIN and no newline.
    cut_last_row_inside(&work, &format!(",reset,{}", last["personal_pin"]), 11);

    run_to_the_end(&work, &sim, true);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(
        rows.len(),
        5,
        "the cut-off row is gone, its user written again"
    );
    let state = sim.state();
    let users = simulator_users(&state);
    let key = (last["account_id"].clone(), last["user_id"].clone());
    assert_eq!(
        users[&key].1, 2,
        "the user whose row was cut off is reset again"
    );
    assert!(users.values().filter(|(_, n)| *n == 1).count() == 4);
    let redone = rows.last().unwrap();
    assert!(redone["user_id"] == key.1 && redone["personal_pin"] == users[&key].0);
}

#[test]
fn a_quoted_cell_cut_off_does_not_swallow_the_rows_appended_after_it() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 4, &[]);
    let users = directory_users(&work);
    let mut input = String::from("account_id,user_id,team\n");
    for user in &users {
        input.push_str(&format!("{},{},\"VIP, Sales\"\n", &user[0], &user[1]));
    }
    work.write("input.csv", input);
    run_to_the_end(&work, &sim, false);
    // The file now ends inside the last row's quoted cell: `…,"VIP, Sa`.
    cut_last_row_inside(&work, "\"VIP, Sales\"", 8);

    run_to_the_end(&work, &sim, true);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 4, "every row whole, none swallowed");
    assert!(rows
        .iter()
        .all(|row| row["team"] == "VIP, Sales" && row["status"] == "reset"));
}

#[test]
fn an_unreadable_row_stops_the_resume_before_anything_is_sent() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    run_to_the_end(&work, &sim, false);
    let whole = work.read("results.csv");
    let lines: Vec<&str> = whole.lines().collect();

    // Not UTF-8 on line 3 (a display name mangled by an editor).
    let mut bytes = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        bytes.extend_from_slice(line.as_bytes());
        if index == 2 {
            bytes.extend_from_slice(b"\xff");
        }
        bytes.push(b'\n');
    }
    work.write("results.csv", &bytes);
    let text = refused_resume(&work, &sim);
    assert!(
        text.contains("results.csv, line 3") && text.contains("UTF-8"),
        "{text}"
    );

    // Broken CSV on line 4: a row with fields missing.
    let mut broken = lines.clone();
    let short = broken[3].rsplitn(4, ',').last().unwrap().to_string();
    broken[3] = &short;
    work.write("results.csv", broken.join("\n") + "\n");
    let text = refused_resume(&work, &sim);
    assert!(
        text.contains("results.csv, line 4") && text.contains("fields"),
        "{text}"
    );
}

#[test]
fn other_carried_columns_stop_the_resume_before_anything_is_sent() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    run_to_the_end(&work, &sim, false);
    let input = work.read("input.csv").replacen("display_name", "office", 1);
    work.write("input.csv", input);
    let text = refused_resume(&work, &sim);
    assert!(
        text.contains("display_name") && text.contains("office"),
        "names both sets of columns: {text}"
    );
}

#[test]
fn a_second_run_on_a_results_file_in_use_is_refused_at_once() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 200, &["--latency-ms", "30"]);
    let mut first = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    first.args(["--rate", "20", "--concurrency", "2"]);
    let first = spawn_run(first);
    wait_for_rows(&work, 3);

    for flag in ["--resume", "--force"] {
        let started = std::time::Instant::now();
        let mut second = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
        second.arg(flag);
        let text = exits_with(&output_of(second), 2);
        insta::assert_snapshot!(
            format!("a_second_run_with{}_is_refused", flag.replace('-', "_")),
            normalised(&text, &work)
        );
        assert!(started.elapsed().as_secs() < 10, "{flag}: refused at once");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("interrupt the first run");
    finished_with(first, 130);
    let written = read_rows(&work, "results.csv");
    assert!(!written.is_empty(), "the first run's rows are all there");
    assert!(
        simulator_users(&sim.state()).values().all(|(_, n)| *n <= 1),
        "nobody reset twice"
    );
    assert_eq!(
        written.len() as u64,
        resets_sent(&sim),
        "every reset sent is written once"
    );
}

#[test]
fn a_locked_results_file_is_left_untouched() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    run_to_the_end(&work, &sim, false);
    let held = File::open(work.path("results.csv")).unwrap();
    held.try_lock().expect("the test takes the lock");
    let text = refused_resume(&work, &sim);
    assert!(text.contains("another run holds"), "{text}");
}
