//! Offboarding in one pass: `run --logout` (reset, then LogoutUser, through the same executor),
//! the check that a row's user id and email name one person, `--missing-ok` for users already
//! gone, and results written before the offboarding columns. The simulator serves LogoutUser,
//! proven with the AWS CLI and the SDK.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{
    self, assert_pins_current, aws_env, chime_client, code, directory_users, exits_with, last_rows,
    output_of, read_rows, remove_user, run_command, run_offline, simulator_users,
    simulator_with_input, stderr, verify_command, Workdir,
};

/// (account, user) → how often the simulator logged the user out.
fn logouts(state: &Value) -> HashMap<(String, String), u64> {
    state["users"]
        .as_array()
        .expect("users in the state")
        .iter()
        .map(|user| {
            let field = |name: &str| user[name].as_str().unwrap_or_default().to_string();
            let count = user["logout_count"].as_u64().expect("a logout count");
            ((field("account_id"), field("user_id")), count)
        })
        .collect()
}

/// The requests a run makes for its rows, by operation and status: what a resume that has
/// nothing to do must leave unchanged (the identity and account checks are made every time).
fn row_requests(state: &Value) -> Value {
    let requests = &state["requests"];
    serde_json::json!({
        "ResetPersonalPIN": requests["ResetPersonalPIN"],
        "GetUser": requests["GetUser"],
        "ListUsers": requests["ListUsers"],
        "LogoutUser": requests["LogoutUser"],
    })
}

/// Sets the share of LogoutUser requests the simulator fails with 500.
fn set_logout_fail_rate(endpoint: &str, rate: f64) {
    let url = format!("{endpoint}/__simulator/logout-faults");
    ureq::post(&url)
        .send(format!("{{\"fail_rate\": {rate}}}"))
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
}

/// `aws chime ARGS…` against the simulator, one attempt only (the CLI's own retries would
/// hide a fault).
fn aws_chime(aws_cli: &Path, endpoint: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(aws_cli);
    aws_env(&mut cmd);
    cmd.args(["chime", "--endpoint-url", endpoint, "--output", "json"])
        .args(args)
        .env("AWS_MAX_ATTEMPTS", "1");
    cmd.output().expect("run aws")
}

#[test]
fn the_aws_cli_logs_a_user_out_of_the_simulator_and_faults_apply_to_it() {
    let Some(aws_cli) =
        support::aws_cli("the_aws_cli_logs_a_user_out_of_the_simulator_and_faults_apply_to_it")
    else {
        return;
    };
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &[]);
    let users = directory_users(&work);
    let (account, user) = (users[0][0].to_string(), users[0][1].to_string());
    let logout = |user: &str| {
        aws_chime(
            &aws_cli,
            sim.endpoint(),
            &["logout-user", "--account-id", &account, "--user-id", user],
        )
    };

    let out = logout(&user);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "LogoutUser answers 204, no body");
    let state = sim.state();
    let counts = logouts(&state);
    assert_eq!(counts[&(account.clone(), user.clone())], 1);
    assert_eq!(counts[&(account.clone(), users[1][1].to_string())], 0);
    assert_eq!(
        state["requests"]["LogoutUser"],
        serde_json::json!({"204": 1})
    );

    let unknown = "00000000-0000-4000-8000-000000000000";
    let out = logout(unknown);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NotFoundException"));

    set_logout_fail_rate(sim.endpoint(), 1.0);
    let out = logout(&user);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ServiceFailureException"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        logouts(&sim.state())[&(account.clone(), user.clone())],
        1,
        "a failed logout changes nothing"
    );
}

#[tokio::test]
async fn the_simulator_throttles_and_drops_logouts_like_the_other_calls() {
    let work = Workdir::new();
    let sim = simulator_with_input(
        &work,
        1,
        &["--throttle-rps", "0.01", "--throttle-burst", "1"],
    );
    let users = directory_users(&work);
    let client = chime_client(sim.endpoint());
    let logout = || {
        client
            .logout_user()
            .account_id(&users[0][0])
            .user_id(&users[0][1])
            .send()
    };
    logout().await.expect("the bucket's one token");
    let throttled = logout().await.expect_err("the bucket is empty");
    let code = aws_sdk_chime::error::ProvideErrorMetadata::code(&throttled);
    assert_eq!(code, Some("ThrottledClientException"));
    drop(sim);

    let work = Workdir::new();
    let sim = simulator_with_input(&work, 1, &["--drop-rate", "1"]);
    let users = directory_users(&work);
    let client = chime_client(sim.endpoint());
    let dropped = client
        .logout_user()
        .account_id(&users[0][0])
        .user_id(&users[0][1])
        .send()
        .await;
    assert!(
        matches!(
            dropped,
            Err(aws_sdk_chime::error::SdkError::DispatchFailure(_))
                | Err(aws_sdk_chime::error::SdkError::ResponseError(_))
        ),
        "a dropped logout has no answer: {dropped:?}"
    );
    assert_eq!(logouts(&sim.state()).values().sum::<u64>(), 0);
}

#[test]
fn logout_resets_each_user_once_and_logs_each_out_once() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    let dry = output_of(run_command(
        &work,
        sim.endpoint(),
        &[
            "input.csv",
            "-o",
            "dry.csv",
            "--rate",
            "0",
            "--logout",
            "--dry-run",
        ],
    ));
    let text = exits_with(&dry, 0);
    assert!(text.contains("a run would reset and log out"), "{text}");
    let dry_rows = read_rows(&work, "dry.csv");
    assert!(dry_rows.iter().all(|row| row["status"] == "would-reset"
        && row["error_message"] == "would reset and log out"
        && row["logout"].is_empty()));
    assert!(
        logouts(&sim.state()).values().all(|&n| n == 0),
        "a dry run logs nobody out"
    );

    let mut run = run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv", "--rate", "0", "--logout"],
    );
    run.args(["--concurrency", "3"]);
    let output = output_of(run);
    let text = exits_with(&output, 0);
    assert!(text.contains("to reset and log out"), "{text}");
    assert!(
        text.contains("logout:"),
        "the plan has a line for it: {text}"
    );
    let state = sim.state();
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|row| row["status"] == "reset"));
    assert!(rows.iter().all(|row| row["logout"] == "done"));
    assert_pins_current(&rows, &state);
    assert!(simulator_users(&state)
        .values()
        .all(|(_, resets)| *resets == 1));
    assert!(logouts(&state).values().all(|&n| n == 1));

    // Without --logout, nobody is logged out and the column says so.
    let plain = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "plain.csv", "--rate", "0"],
    ));
    exits_with(&plain, 0);
    assert!(read_rows(&work, "plain.csv")
        .iter()
        .all(|row| row["logout"].is_empty()));
    assert!(logouts(&sim.state()).values().all(|&n| n == 1));
}

#[test]
fn a_failed_logout_leaves_the_row_reset_and_a_resume_logs_out_only_those_users() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 12, &["--logout-fail-rate", "0.5", "--seed", "7"]);
    // One call for the reset and one for the logout: a failed logout is not retried.
    let args = [
        "input.csv",
        "-o",
        "results.csv",
        "--rate",
        "0",
        "--logout",
        "--concurrency",
        "1",
        "--max-attempts",
        "2",
    ];
    let first = output_of(run_command(&work, sim.endpoint(), &args));
    let text = exits_with(&first, 1);
    assert!(
        text.contains("resume with --logout"),
        "the summary says so: {text}"
    );
    let state = sim.state();
    let rows = read_rows(&work, "results.csv");
    assert!(
        rows.iter().all(|row| row["status"] == "reset"),
        "every reset stands"
    );
    assert_pins_current(&rows, &state);
    let failed: Vec<&support::Row> = rows
        .iter()
        .filter(|row| row["logout"] == "failed")
        .collect();
    let done = rows.iter().filter(|row| row["logout"] == "done").count();
    assert!(
        !failed.is_empty() && done > 0,
        "{} failed, {done} done",
        failed.len()
    );
    assert_eq!(failed.len() + done, 12);
    for row in &failed {
        assert_eq!(row["error_code"], "ServiceFailureException");
        assert!(row["error_message"].contains("the logout failed"));
    }
    let report = run_offline(&work, &["report", "results.csv"]);
    let text = crate::support::stdout(&report) + &stderr(&report);
    assert_eq!(code(&report), 1, "a failed logout is still to do: {text}");
    let counts = logouts(&state);
    for row in &rows {
        let logged_out = counts[&(row["account_id"].clone(), row["user_id"].clone())];
        assert_eq!(logged_out, u64::from(row["logout"] == "done"));
    }

    set_logout_fail_rate(sim.endpoint(), 0.0);
    let mut resume = run_command(&work, sim.endpoint(), &args);
    resume.arg("--resume");
    let resumed = output_of(resume);
    exits_with(&resumed, 0);
    let state = sim.state();
    assert!(
        simulator_users(&state)
            .values()
            .all(|(_, resets)| *resets == 1),
        "nobody was reset again"
    );
    assert!(
        logouts(&state).values().all(|&n| n == 1),
        "each logged out once"
    );
    let rows = read_rows(&work, "results.csv");
    assert_eq!(
        rows.len(),
        12 + failed.len(),
        "a row for each user logged out now"
    );
    let last = last_rows(&rows);
    assert!(last
        .values()
        .all(|row| row["status"] == "reset" && row["logout"] == "done"));
    assert_pins_current(&last.into_values().collect::<Vec<_>>(), &state);
    exits_with(&run_offline(&work, &["report", "results.csv"]), 0);

    // A resume of a finished run sends nothing.
    let before = row_requests(&sim.state());
    let mut again = run_command(&work, sim.endpoint(), &args);
    again.arg("--resume");
    exits_with(&output_of(again), 0);
    assert_eq!(row_requests(&sim.state()), before);
}

/// The input `account_id,user_id,email` over the first three users of the directory, the
/// second row giving the third user's email.
fn input_with_a_mismatch(work: &Workdir) -> (Vec<csv::StringRecord>, String) {
    let users = directory_users(work);
    let row =
        |user: &csv::StringRecord, email: &str| format!("{},{},{email}\n", &user[0], &user[1]);
    let input = format!(
        "account_id,user_id,email\n{}{}{}",
        row(&users[0], &users[0][2].to_uppercase()),
        row(&users[1], &users[2][2]),
        row(&users[2], &users[2][2]),
    );
    (users, input)
}

#[test]
fn a_row_whose_id_and_email_name_two_people_resets_nobody_and_its_neighbours_are_reset() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let (users, input) = input_with_a_mismatch(&work);
    work.write("hr.csv", input);

    let dry = output_of(run_command(
        &work,
        sim.endpoint(),
        &["hr.csv", "-o", "dry.csv", "--dry-run", "--rate", "0"],
    ));
    let text = exits_with(&dry, 1);
    assert!(
        text.contains("3 rows give a user id and an email"),
        "{text}"
    );
    let dry_rows = read_rows(&work, "dry.csv");
    assert_eq!(dry_rows[1]["status"], "failed");
    assert_eq!(dry_rows[1]["error_code"], "EmailMismatch");
    assert!(simulator_users(&sim.state()).values().all(|(_, n)| *n == 0));

    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["hr.csv", "-o", "results.csv", "--rate", "0"],
    ));
    exits_with(&output, 1);
    let rows = read_rows(&work, "results.csv");
    let by_user: HashMap<&str, &support::Row> = rows
        .iter()
        .map(|row| (row["user_id"].as_str(), row))
        .collect();
    let mismatch = by_user[&users[1][1]];
    assert_eq!(mismatch["status"], "failed");
    assert_eq!(mismatch["error_code"], "EmailMismatch");
    assert!(mismatch["personal_pin"].is_empty());
    assert_eq!(mismatch["given_email"], &users[2][2]);
    assert_eq!(mismatch["primary_email"], &users[1][2]);
    let message = &mismatch["error_message"];
    assert!(
        message.contains(&users[1][2]) && message.contains(&users[2][2]),
        "{message}"
    );
    for user in [&users[0], &users[2]] {
        assert_eq!(
            by_user[&user[1]]["status"], "reset",
            "the rows beside it are reset"
        );
    }
    let resets = simulator_users(&sim.state());
    let reset_count =
        |user: &csv::StringRecord| resets[&(user[0].to_string(), user[1].to_string())].1;
    assert_eq!(reset_count(&users[1]), 0, "the mismatched row reset nobody");
    assert_eq!(reset_count(&users[0]), 1);
    assert_eq!(reset_count(&users[2]), 1);
}

#[test]
fn missing_ok_makes_a_deleted_user_gone_not_failed() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let users = directory_users(&work);
    remove_user(sim.endpoint(), &users[1][0], &users[1][1]);

    let plain = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "plain.csv", "--rate", "0"],
    ));
    exits_with(&plain, 1);
    let rows = read_rows(&work, "plain.csv");
    assert_eq!(rows[1]["status"], "failed");
    assert_eq!(rows[1]["error_code"], "NotFoundException");

    let args = [
        "input.csv",
        "-o",
        "results.csv",
        "--rate",
        "0",
        "--missing-ok",
    ];
    let output = output_of(run_command(&work, sim.endpoint(), &args));
    exits_with(&output, 0);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows[1]["status"], "gone");
    assert_eq!(rows[0]["status"], "reset");
    let report = run_offline(&work, &["report", "results.csv"]);
    exits_with(&report, 0);

    // Gone counts as done for a resume: nothing is sent again.
    let before = row_requests(&sim.state());
    let mut resume = run_command(&work, sim.endpoint(), &args);
    resume.arg("--resume");
    exits_with(&output_of(resume), 0);
    assert_eq!(row_requests(&sim.state()), before);
}

/// Results as written before the offboarding columns: the same file without `given_email`
/// and `logout`.
fn without_offboarding_columns(work: &Workdir, from: &str, to: &str) {
    let mut reader = csv::Reader::from_path(work.path(from)).expect("results");
    let mut writer = csv::Writer::from_path(work.path(to)).expect("a file");
    let header = reader.headers().expect("a header").clone();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !["given_email", "logout"].contains(&&header[i]))
        .collect();
    let pick = |record: &csv::StringRecord| {
        keep.iter()
            .map(|&i| record[i].to_string())
            .collect::<Vec<_>>()
    };
    writer.write_record(pick(&header)).expect("write");
    for record in reader.records() {
        writer
            .write_record(pick(&record.expect("a row")))
            .expect("write");
    }
    writer.flush().expect("flush");
    std::fs::set_permissions(
        work.path(to),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
}

#[test]
fn results_written_before_the_offboarding_columns_are_still_read() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let input = work.read("input.csv");
    // A first run over the first two users only, as an older version wrote it.
    let two: String = input
        .lines()
        .take(3)
        .map(|line| format!("{line}\n"))
        .collect();
    work.write("two.csv", two);
    let first = output_of(run_command(
        &work,
        sim.endpoint(),
        &["two.csv", "-o", "new.csv", "--rate", "0"],
    ));
    exits_with(&first, 0);
    without_offboarding_columns(&work, "new.csv", "old.csv");

    let mut logout = run_command(
        &work,
        sim.endpoint(),
        &[
            "input.csv",
            "-o",
            "old.csv",
            "--rate",
            "0",
            "--resume",
            "--logout",
        ],
    );
    logout.arg("--yes");
    let refused = output_of(logout);
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("without the logout column"));

    let resume = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "old.csv", "--rate", "0", "--resume"],
    ));
    exits_with(&resume, 0);
    let state = sim.state();
    assert!(
        simulator_users(&state).values().all(|(_, n)| *n == 1),
        "the users of the old file were not reset again; the third was reset once"
    );
    let text = work.read("old.csv");
    let header = text.lines().next().unwrap();
    assert!(
        !header.contains("logout"),
        "appended in the file's own layout"
    );
    let widths: Vec<usize> = text.lines().map(|line| line.split(',').count()).collect();
    assert!(
        widths.iter().all(|&w| w == widths[0]),
        "every row as wide as the header"
    );

    exits_with(&run_offline(&work, &["report", "old.csv"]), 0);
    let verify = verify_command(&work, sim.endpoint(), &["old.csv", "-o", "verified.csv"]);
    exits_with(&output_of(verify), 0);
}
