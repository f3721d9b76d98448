//! `chime-pin-reset run` through the built binary against a simulator process.
//!
//! PINs are secrets even here: assertions compare them without printing them.

use std::time::{Duration, Instant};

use crate::support::{
    assert_no_pin_in, assert_no_reset_sent, assert_pins_current, bin, directory_users, exits_with,
    input_from_directory, output_of, read_rows, refused_run, request_log, run_command,
    run_on_terminal, simulator_users, simulator_with_directory, simulator_with_input, stderr,
    stdout, SimulatorProcess, Workdir, RESULTS_HEADER,
};

#[test]
fn a_rotation_over_two_accounts_resets_every_user_exactly_once() {
    let work = Workdir::new();
    let sim = simulator_with_directory(&work, 2, 150, &["--seed", "7"]);
    work.write(
        "input.csv",
        input_from_directory(&work, "directory.csv", 300),
    );
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args([
        "--rate",
        "0",
        "--concurrency",
        "16",
        "--summary-json",
        "summary.json",
    ]);
    let output = output_of(cmd);
    let state = sim.state();
    assert_no_pin_in(&stderr(&output), &state, "stderr");
    assert_no_pin_in(&String::from_utf8_lossy(&output.stdout), &state, "stdout");
    exits_with(&output, 0);

    let results = work.read("results.csv");
    assert_eq!(
        results.lines().next(),
        Some(&*format!("{RESULTS_HEADER},input_display_name"))
    );
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().all(|row| row["status"] == "reset"));
    assert_pins_current(&rows, &state);
    let resets: Vec<u64> = simulator_users(&state).values().map(|(_, n)| *n).collect();
    assert_eq!(resets.len(), 300);
    assert!(
        resets.iter().all(|n| *n == 1),
        "every user reset exactly once"
    );
    let lines: std::collections::HashSet<&str> = rows.iter().map(|r| r["line"].as_str()).collect();
    assert_eq!(lines.len(), 300, "every input line accounted for once");

    let summary: serde_json::Value =
        serde_json::from_str(&work.read("summary.json")).expect("the summary is JSON");
    assert_eq!(summary["statuses"]["reset"], 300);
    assert_eq!(summary["outcome"], "completed");
}

#[test]
fn not_found_forbidden_and_bad_request_fail_their_rows_and_the_run_goes_on() {
    let work = Workdir::new();
    let good = "11111111-1111-1111-1111-111111111111";
    let forbidden = "22222222-2222-2222-2222-222222222222";
    let users = [
        (good, "aaaaaaaa-0000-0000-0000-000000000001"),
        (good, "aaaaaaaa-0000-0000-0000-000000000002"),
        (forbidden, "bbbbbbbb-0000-0000-0000-000000000001"),
    ];
    let mut directory = String::from("account_id,user_id,email,display_name\n");
    for (i, (account, user)) in users.iter().enumerate() {
        directory.push_str(&format!("{account},{user},user{i}@example.com,User {i}\n"));
    }
    let directory = work.write("directory.csv", directory);
    let sim = SimulatorProcess::spawn(&[
        "--directory",
        directory.to_str().unwrap(),
        "--forbidden-account",
        forbidden,
    ]);
    let missing = "00000000-0000-0000-0000-000000000000";
    let (reachable, behind_403) = (users[1].1, users[2].1);
    work.write(
        "input.csv",
        format!(
            "account_id,user_id\n{good},{missing}\n{forbidden},{behind_403}\n\
             {good},not-a-guid\n{good},{reachable}\n"
        ),
    );
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--no-strict-ids"]);
    let output = output_of(cmd);
    exits_with(&output, 1);
    let rows = read_rows(&work, "results.csv");
    let by_line = |line: &str| rows.iter().find(|r| r["line"] == line).expect("each line");
    assert_eq!(by_line("2")["error_code"], "NotFoundException");
    assert_eq!(by_line("3")["error_code"], "ForbiddenException");
    assert_eq!(by_line("4")["error_code"], "BadRequestException");
    for line in ["2", "3", "4"] {
        assert_eq!(by_line(line)["status"], "failed");
        assert_eq!(
            by_line(line)["attempts"],
            "1",
            "final errors are not retried"
        );
        assert!(
            !by_line(line)["request_id"].is_empty(),
            "the AWS request id is kept"
        );
        assert!(by_line(line)["personal_pin"].is_empty());
    }
    assert_eq!(
        by_line("5")["status"],
        "reset",
        "the run goes on after failures"
    );
    let text = stderr(&output);
    assert!(text.contains("1 NotFoundException"), "{text}");
}

#[test]
fn spreadsheet_input_is_tolerated_and_extra_columns_are_carried_in_order() {
    let work = Workdir::new();
    let sim = simulator_with_directory(&work, 1, 3, &[]);
    let users = directory_users(&work);
    let (account, u1, u2, u3) = (&users[0][0], &users[0][1], &users[1][1], &users[2][1]);
    let input = format!(
        "\u{feff}Cost Center;Account ID;note;User Id\r\n\
         7; {account} ;\"Smith; Jane, (ext. 4)\"; {u1} \r\n\
         \r\n\
         8;{account};=HYPERLINK(\"http://x\");{u2}\r\n\
         9;{account};dup;{}\r\n\
         10;not-an-account;bad;{u3}\r\n",
        u1.to_uppercase()
    );
    work.write("input.csv", input);
    let cmd = run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv", "--rate", "0"],
    );
    let output = output_of(cmd);
    // An invalid row makes the exit code 1.
    exits_with(&output, 1);
    let results = work.read("results.csv");
    assert_eq!(
        results.lines().next(),
        Some(&*format!("{RESULTS_HEADER},Cost Center,note"))
    );
    let rows = read_rows(&work, "results.csv");
    let by_line = |line: &str| rows.iter().find(|r| r["line"] == line).expect("each line");
    assert_eq!(
        by_line("2")["status"],
        "reset",
        "{:?}",
        by_line("2")["error_message"]
    );
    assert_eq!(
        by_line("2")["note"],
        "Smith; Jane, (ext. 4)",
        "quoted delimiters survive"
    );
    assert_eq!(by_line("2")["Cost Center"], "7");
    assert_eq!(
        by_line("4")["note"],
        "'=HYPERLINK(\"http://x\")",
        "formulas are neutralised"
    );
    assert_eq!(by_line("5")["status"], "duplicate");
    assert_eq!(by_line("5")["error_code"], "DuplicateRow");
    assert_eq!(by_line("6")["status"], "invalid");
    assert_eq!(by_line("6")["error_code"], "InvalidInput");
    assert!(
        by_line("6")["error_message"].contains("line 6"),
        "{:?}",
        by_line("6")
    );
    assert_eq!(rows.len(), 4, "the blank line is not a row");
    let state = sim.state();
    assert_eq!(
        simulator_users(&state)
            .values()
            .map(|(_, n)| n)
            .sum::<u64>(),
        2
    );
}

#[test]
fn a_header_without_a_user_column_is_refused_before_anything_is_sent() {
    let work = Workdir::new();
    let sim = SimulatorProcess::spawn(&["--accounts", "1", "--users-per-account", "1"]);
    work.write("input.csv", "account_id,person\nx,y\n");
    let text = refused_run(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    assert!(text.contains("input.csv"), "names the file: {text}");
    assert!(
        text.contains("found: account_id, person"),
        "names the header found: {text}"
    );
    assert!(text.contains("user_id"), "names the accepted names: {text}");
    assert_eq!(
        text.matches("chime-pin-reset:").count(),
        1,
        "said once: {text}"
    );
    assert!(
        !work.path("results.csv").exists(),
        "no results file for a refused input"
    );
    assert_no_reset_sent(&sim.state());
}

#[test]
fn the_rate_and_the_concurrency_are_enforced() {
    let work = Workdir::new();
    let log = work.path("requests.log");
    let sim = simulator_with_input(
        &work,
        70,
        &["--latency-ms", "40", "--log", log.to_str().unwrap()],
    );
    let (rate, burst, rows) = (25.0, 5.0, 70.0);
    let started = Instant::now();
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "25", "--burst", "5", "--concurrency", "3"]);
    let output = output_of(cmd);
    let elapsed = started.elapsed();
    exits_with(&output, 0);
    let state = sim.state();
    let max_in_flight = state["max_in_flight"].as_u64().expect("max_in_flight");
    assert!(
        max_in_flight <= 3,
        "the simulator saw {max_in_flight} requests in flight"
    );
    sim.stop();
    // The identity and account checks come first, one request each, outside the run's pace.
    let requests: Vec<_> = request_log(&log)
        .into_iter()
        .filter(|line| line.operation == "ResetPersonalPIN")
        .collect();
    assert_eq!(requests.len(), 70, "every row sent once");
    // A busy machine only slows a run down, so this bound cannot flake: 70 sends at 25/s after
    // a burst of 5 take 2.6 s at least. How close the run keeps to the rate, second by second,
    // is the benchmark's to measure (tests/bench, section 3).
    let minimum = Duration::from_secs_f64((rows - burst) / rate);
    assert!(elapsed >= minimum, "70 rows at 25/s took only {elapsed:?}");
}

#[test]
fn concurrency_is_used_up_to_its_bound() {
    let work = Workdir::new();
    // Each answer takes 600 ms: all six slots are taken long before the first is freed, on
    // however busy a machine.
    let sim = simulator_with_input(&work, 6, &["--latency-ms", "600"]);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--rate", "0", "--concurrency", "6"]);
    exits_with(&output_of(cmd), 0);
    let max_in_flight = sim.state()["max_in_flight"].as_u64().unwrap();
    assert_eq!(
        max_in_flight, 6,
        "requests in flight at most with --concurrency 6"
    );
}

#[test]
fn pins_can_be_masked_or_omitted() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 4, &[]);
    for policy in ["masked", "omit"] {
        let results = format!("{policy}.csv");
        let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", &results]);
        cmd.args(["--rate", "0", "--pins", policy]);
        let output = output_of(cmd);
        exits_with(&output, 0);
        let users = simulator_users(&sim.state());
        for row in read_rows(&work, &results) {
            let (pin, _) = &users[&(row["account_id"].clone(), row["user_id"].clone())];
            let shown = &row["personal_pin"];
            match policy {
                "masked" => {
                    assert!(
                        shown.starts_with("********"),
                        "eight stars, then two digits"
                    );
                    assert_eq!(shown.len(), 10);
                    assert_eq!(&shown[8..], &pin[8..], "the last two digits are the PIN's");
                }
                _ => assert!(shown.is_empty(), "no PIN with --pins omit"),
            }
        }
    }
}

/// The README's first command, as a new user runs it; with an endpoint configured for real
/// runs in the environment, which a rehearsal must ignore (it would be refused as insecure).
/// The README's first command, typed at a terminal: a rehearsal changes no real PIN, so it
/// shows the plan and goes on without a question.
#[test]
fn the_readme_first_command_asks_nothing_on_a_terminal() {
    let work = Workdir::new();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/rotation.csv");
    let mut cmd = work.command(&["run", "--simulate"]);
    cmd.arg(&sample).args(["-o", "rotation-results.csv"]);
    let run = run_on_terminal(cmd, &[]);
    assert_eq!(run.code, 0, "{}", run.screen);
    assert!(!run.screen.contains("[y/N]"), "{}", run.screen);
    assert!(run.screen.contains("Run complete."), "{}", run.screen);
}

#[test]
fn the_readme_first_command_works_and_ignores_configured_endpoints() {
    let work = Workdir::new();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/rotation.csv");
    let mut cmd = work.command(&["run", "--simulate"]);
    cmd.env("AWS_ENDPOINT_URL", "http://192.0.2.10:8080")
        .arg(&sample)
        .args(["-o", "rotation-results.csv"]);
    let output = output_of(cmd);
    // The simulator's endpoint wins.
    exits_with(&output, 0);
    let rows = read_rows(&work, "rotation-results.csv");
    let input_rows = std::fs::read_to_string(&sample).unwrap().lines().count() - 1;
    assert_eq!(rows.len(), input_rows);
    assert!(rows
        .iter()
        .all(|row| row["status"] == "reset" && row["personal_pin"].len() == 10));
    let text = stderr(&output);
    assert!(text.contains("Run complete."), "{text}");
    for row in &rows {
        assert!(
            !text.contains(&row["personal_pin"]),
            "stderr holds a PIN of line {}",
            row["line"]
        );
    }
}

#[test]
fn a_dry_run_changes_nothing_writes_no_pin_and_fails_missing_users() {
    let work = Workdir::new();
    let sim = simulator_with_directory(&work, 2, 5, &[]);
    let mut input = input_from_directory(&work, "directory.csv", 10);
    let account = input
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    input.push_str(&format!(
        "{account},00000000-0000-0000-0000-00000000abcd,Gone Person\n"
    ));
    input.push_str(&format!("{account},not-a-guid,Typo\n"));
    work.write("input.csv", input);
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "preview.csv"]);
    cmd.args(["--dry-run", "--rate", "0"]);
    let output = output_of(cmd);
    // A missing user and a bad id.
    exits_with(&output, 1);
    let state = sim.state();
    assert_no_pin_in(&work.read("preview.csv"), &state, "the dry run's results");
    assert!(simulator_users(&state)
        .values()
        .all(|(_, resets)| *resets == 0));
    assert_no_reset_sent(&state);
    let rows = read_rows(&work, "preview.csv");
    let count = |status: &str| rows.iter().filter(|row| row["status"] == status).count();
    assert_eq!(
        (count("would-reset"), count("failed"), count("invalid")),
        (10, 1, 1)
    );
    for row in rows.iter().filter(|row| row["status"] == "would-reset") {
        assert!(row["personal_pin"].is_empty());
        assert!(
            row["primary_email"].contains('@'),
            "the user's email is filled in"
        );
        assert!(
            !row["display_name"].is_empty(),
            "the user's name is filled in"
        );
    }
    let missing = rows.iter().find(|row| row["status"] == "failed").unwrap();
    assert_eq!(missing["error_code"], "NotFoundException");
}

#[test]
fn rows_by_email_are_resolved_and_an_unknown_email_fails_cleanly() {
    let work = Workdir::new();
    let sim = simulator_with_directory(&work, 1, 3, &[]);
    let users = directory_users(&work);
    let account = &users[0][0];
    work.write(
        "input.csv",
        format!(
            "account_id,email,ticket\n{account},{},HR-1\n{account},{},HR-2\n{account},nobody@example.com,HR-3\n",
            &users[0][2],
            users[1][2].to_uppercase()
        ),
    );
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv"],
    ));
    exits_with(&output, 1);
    let state = sim.state();
    let rows = read_rows(&work, "results.csv");
    let by_line = |line: &str| rows.iter().find(|r| r["line"] == line).expect("each line");
    for (line, user) in [("2", &users[0]), ("3", &users[1])] {
        assert_eq!(by_line(line)["status"], "reset");
        assert_eq!(
            by_line(line)["user_id"],
            &user[1],
            "the resolved user id is shown"
        );
        assert_eq!(
            by_line(line)["attempts"],
            "2",
            "one ListUsers and one reset"
        );
    }
    assert_pins_current(&rows, &state);
    let unknown = by_line("4");
    assert_eq!(unknown["status"], "failed");
    assert_eq!(unknown["error_code"], "NotFoundException");
    assert_eq!(
        unknown["primary_email"], "nobody@example.com",
        "the email the row gave names its user in the results"
    );
    assert!(
        unknown["error_message"].contains("nobody@example.com"),
        "{:?}",
        unknown["error_message"]
    );
    assert_eq!(unknown["ticket"], "HR-3");
}

#[test]
fn the_offboarding_sample_rehearses_with_its_planted_problems() {
    let work = Workdir::new();
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut cmd = work.command(&[
        "run",
        "--simulate",
        "--pins",
        "omit",
        "--rate",
        "0",
        "--simulate-directory",
    ]);
    cmd.arg(samples.join("directory.csv"))
        .arg(samples.join("offboarding.csv"))
        .args(["-o", "offboarding-results.csv"]);
    let output = output_of(cmd);
    exits_with(&output, 1);
    let rows = read_rows(&work, "offboarding-results.csv");
    let count = |status: &str| rows.iter().filter(|row| row["status"] == status).count();
    assert_eq!(
        (
            count("reset"),
            count("failed"),
            count("invalid"),
            count("duplicate")
        ),
        (5, 1, 2, 1)
    );
    assert!(
        rows.iter().all(|row| row["personal_pin"].is_empty()),
        "--pins omit"
    );
}

#[test]
fn a_refused_simulation_leaves_no_results_file_behind() {
    let work = Workdir::new();
    let input = work.write(
        "input.csv",
        "account_id,user_id\n\
         11111111-2222-3333-4444-555555555555,aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n",
    );
    let mut cmd = work.command(&["run", "--simulate", "-", "-o", "results.csv"]);
    cmd.stdin(std::fs::File::open(input).unwrap());
    let output = output_of(cmd);
    exits_with(&output, 2);
    assert!(
        stderr(&output).contains("--simulate-directory"),
        "{}",
        stderr(&output)
    );
    assert!(
        !work.path("results.csv").exists(),
        "a second try must not be refused"
    );
}

/// The README's exit-code table (`## Exit codes`): each code with the first words of its
/// meaning. The README is the contract; the tests compare the tool with it.
fn readme_exit_codes() -> Vec<(i32, String)> {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("the README");
    let section = readme
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("the README has an exit-code section");
    let codes: Vec<(i32, String)> = section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let code = cells.next()?.parse().ok()?;
            Some((code, cells.next()?.to_string()))
        })
        .collect();
    assert!(codes.len() >= 5, "the README's exit-code table: {codes:?}");
    codes
}

#[test]
fn help_and_the_exit_constants_match_the_readmes_exit_codes() {
    let documented = readme_exit_codes();
    let help = output_of(bin_command(&["run", "--help"]));
    exits_with(&help, 0);
    let text = stdout(&help);
    let listed: Vec<i32> = text
        .split("\nExit codes:\n")
        .nth(1)
        .expect("run --help lists the exit codes")
        .lines()
        .filter_map(|line| line.strip_prefix("  ")?.split(' ').next()?.parse().ok())
        .collect();
    let in_readme: Vec<i32> = documented.iter().map(|(code, _)| *code).collect();
    assert_eq!(
        listed, in_readme,
        "run --help lists the README's codes:\n{text}"
    );
    let usage = documented
        .iter()
        .find(|(_, meaning)| meaning.starts_with("usage error"))
        .expect("the README names the usage-error code")
        .0;
    assert_eq!(usage, 2);
    use chime_pin_reset::exit;
    let constants = [
        exit::SUCCESS,
        exit::ROWS_FAILED,
        exit::USAGE,
        exit::STOPPED_EARLY,
        exit::INTERRUPTED,
    ]
    .map(|code| code as i32);
    assert_eq!(
        constants.to_vec(),
        in_readme,
        "src/exit.rs keeps the README's codes"
    );

    let misuse = exits_with(&output_of(bin_command(&["run", "--no-such-flag"])), usage);
    assert!(
        misuse.contains("unexpected argument '--no-such-flag'"),
        "{misuse}"
    );
}

/// The built binary with `args` and nothing else: no directory, no AWS environment.
fn bin_command(args: &[&str]) -> std::process::Command {
    let mut cmd = bin();
    cmd.args(args);
    cmd
}

#[test]
fn a_user_named_by_id_and_by_email_is_reset_once() {
    let work = Workdir::new();
    let sim = simulator_with_directory(&work, 1, 3, &[]);
    let users = directory_users(&work);
    let (account, first, second) = (&users[0][0], &users[0], &users[1]);
    // The first user by id, then by email; the second by email, then by id.
    work.write(
        "input.csv",
        format!(
            "account_id,user_id,email\n{account},{},\n{account},,{}\n{account},,{}\n{account},{},\n",
            &first[1], &first[2], &second[2], &second[1]
        ),
    );
    let mut cmd = run_command(&work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(["--concurrency", "1", "--rate", "0"]);
    let output = output_of(cmd);
    // Duplicates are not failures.
    exits_with(&output, 0);
    let state = sim.state();
    let resets = simulator_users(&state);
    for user in [first, second] {
        let (_, count) = &resets[&(account.to_string(), user[1].to_string())];
        assert_eq!(*count, 1, "user {} reset once", &user[1]);
    }
    let rows = read_rows(&work, "results.csv");
    let status_of = |line: &str| {
        let row = rows
            .iter()
            .find(|row| row["line"] == line)
            .expect("each line");
        row["status"].as_str()
    };
    assert_eq!((status_of("2"), status_of("3")), ("reset", "duplicate"));
    // Which of lines 4 and 5 goes first depends on how far the reader is ahead of the email's
    // lookup; either way one is reset and the other is its duplicate.
    let mut second_pair = [status_of("4"), status_of("5")];
    second_pair.sort();
    assert_eq!(second_pair, ["duplicate", "reset"]);
    assert_pins_current(&rows, &state);
}
