//! `verify`: a results file checked against the simulator after changes made behind the tool's
//! back and resets that landed late, with no PIN in any output; `--update-results` records the live PINs; the files are
//! locked as `run` locks them.

use std::collections::BTreeMap;
use std::fs::File;

use crate::support::{
    assert_nothing_like_a_pin, code, directory_users, exits_with, output_of, read_rows,
    remove_user, run_command, set_pin, simulator_users, simulator_with_input, stderr, stdout,
    verify_command, wait_for_late_resets, Row, SimulatorProcess, Workdir,
};

/// Runs `input.csv` into `results.csv` (with `extra` flags) to the end, exit 0.
fn run_all(work: &Workdir, sim: &SimulatorProcess, extra: &[&str]) -> Vec<Row> {
    let mut cmd = run_command(work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0"]).args(extra);
    let output = output_of(cmd);
    exits_with(&output, 0);
    read_rows(work, "results.csv")
}

/// Runs `verify results.csv -o NAME ARGS`; returns the exit code and stdout + stderr, checked
/// for anything shaped like a PIN.
fn verify(work: &Workdir, sim: &SimulatorProcess, name: &str, args: &[&str]) -> (i32, String) {
    let mut cmd = verify_command(work, sim.endpoint(), &["results.csv", "-o", name]);
    cmd.args(args);
    let output = output_of(cmd);
    let text = stdout(&output) + &stderr(&output);
    assert_nothing_like_a_pin(&text, "verify's output");
    (code(&output), text)
}

/// The verified file's users by status: status → user ids.
fn statuses(work: &Workdir, name: &str) -> BTreeMap<String, Vec<String>> {
    let mut by_status: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in read_rows(work, name) {
        by_status
            .entry(row["status"].clone())
            .or_default()
            .push(row["user_id"].clone());
    }
    for users in by_status.values_mut() {
        users.sort();
    }
    by_status
}

fn sorted(users: &[&str]) -> Vec<String> {
    let mut users: Vec<String> = users.iter().map(|user| user.to_string()).collect();
    users.sort();
    users
}

/// No PIN of the results, nor any the simulator holds now, is in the verified file `name` or
/// in verify's `output`.
fn assert_no_pin_recorded_or_live_in(
    work: &Workdir,
    sim: &SimulatorProcess,
    results: &[Row],
    name: &str,
    output: &str,
) {
    let verified = work.read(name);
    let mut pins: Vec<String> = results
        .iter()
        .map(|row| row["personal_pin"].clone())
        .collect();
    pins.extend(
        simulator_users(&sim.state())
            .into_values()
            .map(|(pin, _)| pin),
    );
    assert!(
        pins.iter()
            .all(|pin| !verified.contains(pin.as_str()) && !output.contains(pin.as_str())),
        "no PIN, recorded or live, in the verified file or the output"
    );
}

#[test]
fn verify_finds_exactly_the_users_changed_or_removed_behind_the_tools_back() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 20, &[]);
    let results = run_all(&work, &sim, &[]);
    let users = directory_users(&work);
    let account = &users[0][0];
    let ids: Vec<&str> = users.iter().map(|user| &user[1]).collect();
    for user in &ids[..3] {
        set_pin(sim.endpoint(), account, user, None);
    }
    for user in &ids[3..5] {
        remove_user(sim.endpoint(), account, user);
    }

    let (status, text) = verify(&work, &sim, "verified.csv", &[]);
    assert_eq!(status, 1, "{text}");
    assert!(
        text.contains("--update-results"),
        "the summary says what to do: {text}"
    );
    let found = statuses(&work, "verified.csv");
    assert_eq!(found["changed"], sorted(&ids[..3]));
    assert_eq!(found["not-found"], sorted(&ids[3..5]));
    assert_eq!(found["current"].len(), 15);
    assert_eq!(found.len(), 3, "{found:?}");
    // `line` is the line of the user's row in the results file (the header is line 1).
    for row in read_rows(&work, "verified.csv") {
        let line: usize = row["line"].parse().unwrap();
        assert_eq!(results[line - 2]["user_id"], row["user_id"]);
    }
    assert_no_pin_recorded_or_live_in(&work, &sim, &results, "verified.csv", &text);

    let (status, text) = verify(&work, &sim, "updated.csv", &["--update-results"]);
    assert_eq!(status, 1, "{text}");
    let state = simulator_users(&sim.state());
    let appended: Vec<Row> = read_rows(&work, "results.csv").split_off(20);
    assert_eq!(appended.len(), 3, "one row per changed user");
    for row in &appended {
        assert_eq!(
            (row["status"].as_str(), row["error_message"].as_str()),
            ("reset", "recorded by verify")
        );
        let live = &state[&(account.to_string(), row["user_id"].clone())].0;
        assert!(&row["personal_pin"] == live, "the row holds the live PIN");
    }

    let (status, text) = verify(&work, &sim, "again.csv", &[]);
    assert_eq!(status, 1, "the removed users are still gone: {text}");
    let found = statuses(&work, "again.csv");
    assert_eq!(found["current"].len(), 18, "{found:?}");
    assert_eq!(found["not-found"], sorted(&ids[3..5]));
    assert!(!found.contains_key("changed"));
}

/// Resets held past the client's patience land 2.5 s after they were sent, after the run read
/// the PIN back (three 0.3 s timeouts after the doubtful attempt), so the PIN it recorded is
/// stale: `verify` must find those users, besides the ones changed and removed by hand.
#[test]
fn verify_finds_the_pins_that_resets_landing_late_made_stale() {
    let work = Workdir::new();
    let late = [
        "--late-apply-rate",
        "0.2",
        "--late-apply-ms",
        "2500",
        "--seed",
        "3",
    ];
    let sim = simulator_with_input(&work, 30, &late);
    let results = run_all(&work, &sim, &["--timeout", "0.3"]);
    let landed = wait_for_late_resets(sim.endpoint());
    let live = simulator_users(&landed);
    let stale: Vec<&Row> = results
        .iter()
        .filter(|row| {
            let key = (row["account_id"].clone(), row["user_id"].clone());
            live[&key].0 != row["personal_pin"]
        })
        .collect();
    assert!(
        !stale.is_empty(),
        "some resets landed after the read-back ({} late): {}",
        landed["late_applied"],
        landed["requests"]
    );
    for row in &stale {
        let key = (row["account_id"].clone(), row["user_id"].clone());
        assert!(
            live[&key].1 >= 2,
            "user {}: a stale PIN comes from a reset landing late",
            row["user_id"]
        );
    }
    let stale_ids: Vec<&str> = stale.iter().map(|row| row["user_id"].as_str()).collect();
    let others: Vec<&Row> = results
        .iter()
        .filter(|row| !stale_ids.contains(&row["user_id"].as_str()))
        .collect();
    for row in &others[..3] {
        set_pin(sim.endpoint(), &row["account_id"], &row["user_id"], None);
    }
    for row in &others[3..5] {
        remove_user(sim.endpoint(), &row["account_id"], &row["user_id"]);
    }

    let (status, text) = verify(&work, &sim, "verified.csv", &[]);
    assert_eq!(status, 1, "{text}");
    let found = statuses(&work, "verified.csv");
    let changed: Vec<&str> = others[..3]
        .iter()
        .map(|row| row["user_id"].as_str())
        .chain(stale_ids.iter().copied())
        .collect();
    let removed: Vec<&str> = others[3..5]
        .iter()
        .map(|row| row["user_id"].as_str())
        .collect();
    assert_eq!(found["changed"], sorted(&changed));
    assert_eq!(found["not-found"], sorted(&removed));
    assert_eq!(found["current"].len(), 30 - changed.len() - removed.len());
    assert_eq!(found.len(), 3, "{found:?}");
    assert_no_pin_recorded_or_live_in(&work, &sim, &results, "verified.csv", &text);
}

/// A run over `users` users, then the PINs of the first two changed behind the tool's back.
fn run_then_change_two_pins(users: usize) -> (Workdir, SimulatorProcess) {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, users, &[]);
    run_all(&work, &sim, &[]);
    let users = directory_users(&work);
    set_pin(sim.endpoint(), &users[0][0], &users[0][1], None);
    set_pin(sim.endpoint(), &users[1][0], &users[1][1], None);
    (work, sim)
}

#[test]
fn update_results_makes_every_user_current_again() {
    let (work, sim) = run_then_change_two_pins(6);
    let (status, text) = verify(&work, &sim, "first.csv", &["--update-results"]);
    assert_eq!(status, 1, "{text}");
    let (status, text) = verify(&work, &sim, "second.csv", &[]);
    assert_eq!(status, 0, "{text}");
    assert_eq!(statuses(&work, "second.csv")["current"].len(), 6);
    // Resuming the first verified file: the users whose final rows the update appended are
    // checked anew, and the rows it settled as `changed` no longer count.
    let (status, text) = verify(&work, &sim, "first.csv", &["--resume"]);
    assert_eq!(status, 0, "{text}");
    assert!(!text.contains("changed"), "{text}");
}

#[test]
fn masked_and_omitted_pins_are_judged_by_what_was_kept() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    run_all(&work, &sim, &["--pins", "masked"]);
    let users = directory_users(&work);
    let state = simulator_users(&sim.state());
    let pin_of = |index: usize| {
        state[&(users[index][0].to_string(), users[index][1].to_string())]
            .0
            .clone()
    };
    // User 0: other last digits (provably changed); user 1: another first digit only.
    let last_changed = format!(
        "{}{}",
        &pin_of(0)[..8],
        if &pin_of(0)[8..] == "00" { "11" } else { "00" }
    );
    let first_changed = format!(
        "{}{}",
        if pin_of(1).starts_with('9') { '1' } else { '9' },
        &pin_of(1)[1..]
    );
    set_pin(
        sim.endpoint(),
        &users[0][0],
        &users[0][1],
        Some(&last_changed),
    );
    set_pin(
        sim.endpoint(),
        &users[1][0],
        &users[1][1],
        Some(&first_changed),
    );
    let (status, text) = verify(&work, &sim, "masked.csv", &[]);
    assert_eq!(status, 1, "{text}");
    let found = statuses(&work, "masked.csv");
    assert_eq!(found["changed"], vec![users[0][1].to_string()]);
    assert_eq!(found["unverifiable"], sorted(&[&users[1][1], &users[2][1]]));

    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    run_all(&work, &sim, &["--pins", "omit"]);
    let (status, text) = verify(&work, &sim, "omitted.csv", &[]);
    assert_eq!(status, 1, "{text}");
    assert_eq!(statuses(&work, "omitted.csv")["unverifiable"].len(), 3);
}

#[test]
fn verify_is_refused_while_another_run_holds_the_results() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    run_all(&work, &sim, &[]);
    let held = File::open(work.path("results.csv")).unwrap();
    held.try_lock().expect("the test takes the lock");
    let (status, text) = verify(&work, &sim, "verified.csv", &[]);
    assert_eq!(status, 2, "{text}");
    assert!(text.contains("another run holds"), "{text}");
    assert!(!work.path("verified.csv").exists(), "nothing written");
    assert_eq!(
        sim.state()["requests"]["GetUser"],
        serde_json::json!({}),
        "nothing sent"
    );
}

#[test]
fn a_resumed_verify_checks_only_the_users_not_settled_and_counts_the_rest() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    run_all(&work, &sim, &[]);
    let users = directory_users(&work);
    set_pin(sim.endpoint(), &users[0][0], &users[0][1], None);
    let (status, text) = verify(&work, &sim, "verified.csv", &[]);
    assert_eq!(status, 1, "{text}");
    // One check failed (as a throttled or lost answer leaves it), and the last line was cut off.
    let verified = work.read("verified.csv");
    let failed_user = &users[3][1];
    let edited: String = verified
        .lines()
        .map(|line| match line.contains(failed_user) {
            true => line.replace(",current,", ",failed,") + "\n",
            false => line.to_string() + "\n",
        })
        .collect::<String>()
        + "9,cut-off";
    work.write("verified.csv", edited);
    let gets = |sim: &SimulatorProcess| sim.state()["requests"]["GetUser"]["200"].as_u64().unwrap();
    let before = gets(&sim);

    let (status, text) = verify(&work, &sim, "verified.csv", &["--resume"]);
    assert_eq!(
        status, 1,
        "the changed user settled before still counts: {text}"
    );
    assert_eq!(
        gets(&sim),
        before + 1,
        "only the failed user is checked again"
    );
    assert!(text.contains("5 settled already"), "{text}");
    let rows = read_rows(&work, "verified.csv");
    assert_eq!(rows.len(), 7, "the cut-off line is gone, one row appended");
    assert_eq!(rows[6]["user_id"], *failed_user);
    assert_eq!(rows[6]["status"], "current");
}

#[test]
fn a_resume_with_update_results_records_the_users_a_first_verify_found_changed() {
    let (work, sim) = run_then_change_two_pins(5);
    let (status, text) = verify(&work, &sim, "verified.csv", &[]);
    assert_eq!(status, 1, "{text}");
    let (status, text) = verify(
        &work,
        &sim,
        "verified.csv",
        &["--resume", "--update-results"],
    );
    assert_eq!(
        status, 1,
        "the changed users settled before still count: {text}"
    );
    let recorded = read_rows(&work, "results.csv")
        .iter()
        .filter(|row| row["error_message"] == "recorded by verify")
        .count();
    assert_eq!(
        recorded, 2,
        "the changed users' live PINs are recorded: {text}"
    );
    let (status, text) = verify(&work, &sim, "again.csv", &[]);
    assert_eq!(status, 0, "{text}");
}
