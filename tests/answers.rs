//! Answers that are not what they seem, and endpoints that do not answer at all: a reset whose
//! answer lacks the PIN, a reset whose earlier attempt lands late, the budget of calls per row,
//! and the circuit breaker that stops a run when nothing is listening.

use std::os::fd::{FromRawFd, OwnedFd};

use crate::support::*;

/// A port on 127.0.0.1 that nothing listens on, held for as long as the returned socket lives:
/// bound and never listened on, so a connection to it is refused and no other process can
/// take the port meanwhile.
fn closed_port() -> (OwnedFd, u16) {
    // SAFETY: socket() returns a new descriptor or -1; the descriptor is owned by nobody else.
    let socket = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(
        socket >= 0,
        "a TCP socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: just opened above, and closed only through this OwnedFd.
    let socket = unsafe { OwnedFd::from_raw_fd(socket) };
    let mut address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    // SAFETY: `address` and `length` are valid for the calls, which read and write them only.
    let bound = unsafe {
        libc::bind(fd, std::ptr::addr_of!(address).cast(), length) == 0
            && libc::getsockname(fd, std::ptr::addr_of_mut!(address).cast(), &mut length) == 0
    };
    assert!(
        bound,
        "bind 127.0.0.1:0: {}",
        std::io::Error::last_os_error()
    );
    (socket, u16::from_be(address.sin_port))
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
    let mut input = String::from("account_id,user_id\n");
    for n in 0..2000 {
        input.push_str(&format!(
            "11111111-1111-4111-8111-111111111111,00000000-0000-4000-8000-{n:012}\n"
        ));
    }
    work.write("input.csv", input);
    let (_held, port) = closed_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let output = output_of(run_command(
        &work,
        &endpoint,
        &["input.csv", "-o", "results.csv", "--rate", "50"],
    ));
    let text = exits_with(&output, 3);
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
    let state = sim.state();
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 30);
    let failed = rows.iter().filter(|row| row["status"] == "failed").count();
    assert!(
        failed > 0,
        "at a 50% failure rate some rows must run out of attempts for this test to mean anything"
    );
    exits_with(&output, 1);
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
    exits_with(&run_unpaced(&work, sim.endpoint(), &[]), 0);
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
    exits_with(
        &run_unpaced(&work, sim.endpoint(), &["--timeout", "0.3"]),
        0,
    );
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

/// What the rows' notes say the read-backs after lost answers found: (unchanged, changed,
/// not confirmed).
fn read_backs_in(rows: &[Row]) -> (u64, u64, u64) {
    let mut counts = (0, 0, 0);
    for row in rows {
        let note = row["error_message"].as_str();
        if note.ends_with("unknown outcome: unchanged") {
            counts.0 += 1;
        } else if note.contains("applied after the answer") {
            counts.1 += 1;
        } else if note.contains("read back") || note.contains("GetUser returned no PIN") {
            counts.2 += 1;
        }
    }
    counts
}

/// The summary's read-back counts: (unchanged, changed, not confirmed).
fn summary_read_backs(work: &Workdir) -> (u64, u64, u64) {
    let summary: serde_json::Value =
        serde_json::from_str(&work.read("summary.json")).expect("the summary is JSON");
    let count = |name: &str| summary["read_backs"][name].as_u64().expect(name);
    (count("unchanged"), count("changed"), count("not_confirmed"))
}

/// The late-apply run of the test above, with the summary counting the read-backs as the rows
/// record them; then `--confirm-wait 0`, which reads each PIN back at once: before the late
/// attempts land, so no read-back finds a PIN changed, and the PINs they void stay recorded.
#[test]
fn the_summary_counts_the_read_backs_and_confirm_wait_sets_their_wait() {
    let late_sim = |work: &Workdir| {
        let faults = ["--late-apply-rate", "0.2", "--late-apply-ms", "600"];
        simulator_with_input(work, 60, &[&faults[..], &["--seed", "3"]].concat())
    };
    let work = Workdir::new();
    let sim = late_sim(&work);
    let flags = ["--timeout", "0.3", "--summary-json", "summary.json"];
    let run = exits_with(&run_unpaced(&work, sim.endpoint(), &flags), 0);
    let rows = read_rows(&work, "results.csv");
    let found = read_backs_in(&rows);
    assert!(
        found.1 > 0,
        "some late attempts replaced an answered PIN: {found:?}"
    );
    assert_eq!(summary_read_backs(&work), found, "as the rows record them");
    assert!(run.contains("read back: "), "the summary on stderr: {run}");
    assert_every_user_reset_with_current_pin(&rows, &wait_for_late_resets(sim.endpoint()), 60);

    let work = Workdir::new();
    let sim = late_sim(&work);
    let at_once = [&flags[..], &["--confirm-wait", "0"]].concat();
    exits_with(&run_unpaced(&work, sim.endpoint(), &at_once), 0);
    let rows = read_rows(&work, "results.csv");
    let found = read_backs_in(&rows);
    assert_eq!(summary_read_backs(&work), found, "as the rows record them");
    assert!(
        found.0 > 0,
        "read back at once, before the late attempts: {found:?}"
    );
    assert_eq!(found.1, 0, "no late attempt had landed yet: {found:?}");
    let current = simulator_users(&wait_for_late_resets(sim.endpoint()));
    let stale = rows
        .iter()
        .filter(|row| {
            let user = (row["account_id"].clone(), row["user_id"].clone());
            current[&user].0 != row["personal_pin"]
        })
        .count();
    assert!(
        stale > 0,
        "the late attempts voided PINs read back too soon"
    );
}
