//! Answers that are not what they seem, and endpoints that do not answer at all: a reset whose
//! answer lacks the PIN, a reset whose earlier attempt lands late, the budget of calls per row,
//! and the circuit breaker that stops a run when nothing is listening.

use std::net::TcpListener;

use crate::support::*;

/// A port on 127.0.0.1 that nothing listens on: bound, then closed again.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("a local address").port()
}

/// Runs `input.csv` into `results.csv` at full speed (`--rate 0`) with `extra` flags.
fn run_unpaced(work: &Workdir, endpoint: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["input.csv", "-o", "results.csv", "--rate", "0"];
    args.extend_from_slice(extra);
    output_of(run_command(work, endpoint, &args))
}

#[test]
fn a_run_against_a_closed_port_stops_at_once_and_names_the_endpoint() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2000, &[]);
    drop(sim);
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let output = output_of(run_command(
        &work,
        &endpoint,
        &["input.csv", "-o", "results.csv", "--rate", "50"],
    ));
    let text = stderr(&output);
    assert_eq!(code(&output), 3, "{text}");
    assert!(text.contains("nothing answers at"), "{text}");
    assert!(text.contains(&endpoint), "{text}");
    assert!(
        text.contains("--resume"),
        "the summary says how to resume: {text}"
    );
    let rows = read_rows(&work, "results.csv");
    assert!(
        rows.len() < 100,
        "only rows that were sent are written, not all 2000: {}",
        rows.len()
    );
    assert!(rows
        .iter()
        .all(|row| row["error_code"] == "ConnectionError"));
}

#[test]
fn a_row_given_by_email_makes_at_most_max_attempts_calls_in_all() {
    let work = Workdir::new();
    let sim = simulator_with_directory(&work, 1, 30, &["--fail-rate", "0.5", "--seed", "7"]);
    let mut input = String::from("account_id,email\n");
    for user in directory_users(&work) {
        input.push_str(&format!("{},{}\n", &user[0], &user[2]));
    }
    work.write("input.csv", input);
    let output = run_unpaced(&work, sim.endpoint(), &["--max-attempts", "3"]);
    assert!(matches!(code(&output), 0 | 1), "{}", stderr(&output));
    let state = sim.state();
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 30);
    let attempts: Vec<u64> = rows
        .iter()
        .map(|row| row["attempts"].parse().expect("a count"))
        .collect();
    assert!(
        attempts.iter().all(|&calls| calls <= 3),
        "a lookup and a reset share one budget: {attempts:?}"
    );
    let sent: u64 = ["ListUsers", "ResetPersonalPIN"]
        .iter()
        .flat_map(|operation| {
            state["requests"][operation]
                .as_object()
                .into_iter()
                .flat_map(|counts| counts.values().filter_map(|count| count.as_u64()))
        })
        .sum();
    assert_eq!(
        sent,
        attempts.iter().sum::<u64>(),
        "the attempts column counts every call the rows made"
    );
}

#[test]
fn a_reset_answered_without_its_pin_is_retried_and_never_recorded_empty() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 40, &["--no-pin-rate", "0.3", "--seed", "5"]);
    let output = run_unpaced(&work, sim.endpoint(), &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let state = sim.state();
    assert!(
        state["no_pin"].as_u64().unwrap_or(0) > 0,
        "the fault must have fired for this test to mean anything"
    );
    let rows = read_rows(&work, "results.csv");
    assert!(rows.iter().all(|row| !row["personal_pin"].is_empty()));
    assert_every_user_reset_with_current_pin(&rows, &state, 40);
}

/// Resets whose first attempt is held past the client's timeout and applied late: with the
/// read-back, the PIN recorded is the one in force; the notes count the rows whose answer's
/// PIN the late attempt voided, which is what a run without the read-back would have left
/// stale.
#[test]
fn a_reset_applied_late_is_caught_by_reading_the_pin_back() {
    let work = Workdir::new();
    let sim = simulator_with_input(
        &work,
        60,
        &[
            "--late-apply-rate",
            "0.2",
            "--late-apply-ms",
            "600",
            "--seed",
            "3",
        ],
    );
    let output = run_unpaced(&work, sim.endpoint(), &["--timeout", "0.3"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let state = sim.state();
    let late = state["late_applied"].as_u64().unwrap_or(0);
    assert!(late > 0, "the fault must have fired");
    let rows = read_rows(&work, "results.csv");
    let voided = rows
        .iter()
        .filter(|row| row["error_message"].contains("applied after the answer"))
        .count();
    assert!(
        voided > 0,
        "some late attempts landed after the answer that succeeded ({late} late)"
    );
    assert_every_user_reset_with_current_pin(&rows, &state, 60);
    eprintln!(
        "stale PINs: {voided} of 60 rows without the read-back, 0 with it ({late} late applies)"
    );
}
