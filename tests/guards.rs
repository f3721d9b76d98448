//! What a run guards and refuses, through the built binary against a simulator process: an
//! existing or unwritable results file, the file's mode, stdout as the results file and a
//! reader that goes away, cells a spreadsheet would run, insecure endpoints, meaningless limits.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::support::{
    assert_no_pin_in, assert_no_reset_sent, aws_env, bin_path, exits_with, finished_with,
    normalised, output_of, read_rows, refused_run, run_command, simulator_users,
    simulator_with_input, stderr, SimulatorProcess, Workdir,
};

#[test]
fn an_existing_results_file_is_never_overwritten_by_accident() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    work.write("results.csv", "precious\n");
    let text = refused_run(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    insta::assert_snapshot!(normalised(&text, &work));
    assert_eq!(work.read("results.csv"), "precious\n");
    assert_no_reset_sent(&sim.state());
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
        exits_with(&output_of(shell), 0);
        let rows = read_rows(&work, results);
        assert_eq!(rows.len(), 3, "{results} holds the run's rows");
        assert!(
            !work.read(results).contains("old"),
            "{results}: the old contents were replaced"
        );
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
    exits_with(&output, 0);
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
        exits_with(&output_of(cmd), 0);
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
    work.write(
        "input.csv",
        "account_id,user_id\n\
         11111111-2222-3333-4444-555555555555,aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n",
    );
    let text = refused_run(
        &work,
        "http://192.0.2.10:8080",
        &["input.csv", "-o", "results.csv"],
    );
    assert!(text.contains("--allow-insecure-endpoint"), "{text}");
    assert!(!work.path("results.csv").exists());

    // The same endpoint through the environment, which the SDK would follow.
    let mut cmd = work.command(&["run", "input.csv", "-o", "results.csv"]);
    cmd.env("AWS_ENDPOINT_URL_CHIME", "http://192.0.2.10:8080");
    let text = exits_with(&output_of(cmd), 2);
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
        let mut args = vec!["input.csv", "-o", "results.csv"];
        args.extend(flags);
        let text = refused_run(&work, "http://127.0.0.1:9", &args);
        // A misspelled flag exits 2 as well: the message shows the value was what was refused.
        assert!(
            text.contains(&format!("invalid value '0' for '{}", flags[0])),
            "{flags:?}: {text}"
        );
        assert!(!work.path("results.csv").exists(), "{flags:?}");
    }
}

#[test]
fn an_unwritable_results_file_stops_before_anything_is_sent() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let text = refused_run(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "/dev/full", "--force"],
    );
    assert!(text.contains("/dev/full"), "{text}");
    assert_no_reset_sent(&sim.state());
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
    let text = finished_with(child, 3);
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
