//! Before the first reset: the identity, the accounts and the plan come first, credentials that
//! are missing or rejected and plain-http endpoints from the profile file stop the run with
//! nothing sent, a canary limits the damage, and on a terminal the run asks first.

use std::process::Command;

use crate::support::{
    arrivals, assert_no_reset_sent, exits_with, output_of, read_rows, request_log, run_command,
    run_on_terminal, simulator_with_input, LogLine, SimulatorProcess, Workdir,
};

const ACME: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const BETA: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const GHOST: &str = "cccccccc-0000-4000-8000-000000000003";
const ALICE: &str = "arn:aws:iam::210987654321:user/alice";

/// The id of user `n` of `account`.
fn user(account: &str, n: usize) -> String {
    format!("{}-0000-4000-8000-{n:012}", &account[..8])
}

/// Writes `directory.csv`: `users` users in each `(account, name, status)`, and returns the
/// path. The header is the simulator's own, with the account columns.
fn directory(work: &Workdir, accounts: &[(&str, &str, &str)], users: usize) -> String {
    let mut text = String::from(
        "account_id,user_id,email,display_name,license_type,user_type,registration_status,\
         account_name,account_status\n",
    );
    for (account, name, status) in accounts {
        for n in 1..=users {
            let id = user(account, n);
            text.push_str(&format!(
                "{account},{id},u{n}@{}.example.com,User {n},Pro,PrivateUser,Registered,{name},\
                 {status}\n",
                &account[..8]
            ));
        }
    }
    let path = work.write("directory.csv", text);
    path.to_str().expect("a UTF-8 temp path").to_string()
}

/// An input naming the first `users` users of each account.
fn input(work: &Workdir, accounts: &[&str], users: usize, extra_lines: &[String]) {
    let mut text = String::from("account_id,user_id\n");
    for account in accounts {
        for n in 1..=users {
            text.push_str(&format!("{account},{}\n", user(account, n)));
        }
    }
    for line in extra_lines {
        text.push_str(line);
        text.push('\n');
    }
    work.write("input.csv", text);
}

fn requests(work: &Workdir, sim: SimulatorProcess) -> Vec<LogLine> {
    sim.stop();
    request_log(&work.path("requests.log"))
}

/// The users of input lines `lines` (2 is the first row) of `input.csv`, sorted.
fn users_on_lines(work: &Workdir, lines: std::ops::Range<usize>) -> Vec<String> {
    let input = work.read("input.csv");
    let rows: Vec<&str> = input.lines().collect();
    let mut users: Vec<String> = rows[lines.start - 1..lines.end - 1]
        .iter()
        .map(|row| row.split(',').nth(1).expect("a user column").to_string())
        .collect();
    users.sort();
    users
}

/// The users the resets in `lines` were sent for, sorted.
fn users_reset(lines: &[LogLine]) -> Vec<String> {
    let mut users: Vec<String> = resets(lines)
        .iter()
        .map(|line| line.user_id.clone().expect("a reset names its user"))
        .collect();
    users.sort();
    users
}

fn resets(lines: &[LogLine]) -> Vec<&LogLine> {
    lines
        .iter()
        .filter(|line| line.operation == "ResetPersonalPIN")
        .collect()
}

/// `run input.csv -o results.csv` against `sim`, with `extra` flags.
fn run_input(work: &Workdir, sim: &SimulatorProcess, extra: &[&str]) -> Command {
    let mut cmd = run_command(work, sim.endpoint(), &["input.csv", "-o", "results.csv"]);
    cmd.args(extra);
    cmd
}

/// A run over 3 users against a simulator started with `faults` still resets all 3, and says
/// `notice` on stderr.
fn three_users_are_reset_despite(faults: &[&str], notice: &str) {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, faults);
    let text = exits_with(&output_of(run_input(&work, &sim, &[])), 0);
    assert!(text.contains(notice), "{text}");
    assert_eq!(read_rows(&work, "results.csv").len(), 3);
}

#[test]
fn the_plan_names_who_where_and_what_and_comes_before_the_first_reset() {
    let work = Workdir::new();
    let log = work.path("requests.log");
    let dir = directory(
        &work,
        &[(ACME, "Acme Sales", "Active"), (BETA, "Beta Ops", "Active")],
        4,
    );
    let sim = SimulatorProcess::spawn(&[
        "--directory",
        &dir,
        "--caller-arn",
        ALICE,
        "--log",
        log.to_str().unwrap(),
    ]);
    let duplicate = format!("{ACME},{}", user(ACME, 1));
    input(
        &work,
        &[ACME, BETA],
        4,
        &[duplicate, format!("{ACME},not-a-guid")],
    );
    let cmd = run_input(
        &work,
        &sim,
        &["--rate", "50", "--summary-json", "summary.json"],
    );
    let output = output_of(cmd);
    let text = exits_with(&output, 1);
    for expected in [
        format!("as {ALICE} (account 210987654321, keys from the environment, us-east-1)"),
        format!("endpoint: {}", sim.endpoint()),
        format!("Acme Sales ({ACME}): 4 rows"),
        format!("Beta Ops ({BETA}): 4 rows"),
        "8 to reset, 1 invalid, 1 duplicate".to_string(),
        "full, written to results.csv".to_string(),
        "50 requests/s, 8 in flight at most: about 1 s".to_string(),
    ] {
        assert!(text.contains(&expected), "{expected:?} missing:\n{text}");
    }
    let plan = text
        .find("Plan (nothing has changed yet)")
        .expect("a plan is shown");
    let summary = text.find("Run complete").expect("a summary is shown");
    assert!(plan < summary, "the plan comes before the summary:\n{text}");
    let summary: serde_json::Value =
        serde_json::from_str(&work.read("summary.json")).expect("the summary is JSON");
    let plan = &summary["plan"];
    assert_eq!(plan["identity"]["arn"], ALICE);
    assert_eq!(plan["rows"]["valid"], 8);
    assert_eq!(plan["accounts"][1]["name"], "Beta Ops");

    let lines = requests(&work, sim);
    assert_eq!(
        lines[0].operation, "GetCallerIdentity",
        "the identity first"
    );
    let first_reset = lines
        .iter()
        .position(|line| line.operation == "ResetPersonalPIN")
        .expect("resets were sent");
    let checks: Vec<&str> = lines[..first_reset]
        .iter()
        .map(|line| line.operation.as_str())
        .collect();
    assert_eq!(checks, ["GetCallerIdentity", "GetAccount", "GetAccount"]);
    assert!(lines[first_reset..]
        .iter()
        .all(|line| line.operation == "ResetPersonalPIN"));
    assert_eq!(resets(&lines).len(), 8);
}

#[test]
fn a_dry_run_shows_the_plan_too() {
    let work = Workdir::new();
    let dir = directory(&work, &[(ACME, "Acme Sales", "Active")], 3);
    let sim = SimulatorProcess::spawn(&["--directory", &dir]);
    input(&work, &[ACME], 3, &[]);
    let cmd = run_input(&work, &sim, &["--dry-run"]);
    let text = exits_with(&output_of(cmd), 0);
    assert!(text.contains("3 to look up"), "{text}");
    assert!(
        text.contains(&format!("Acme Sales ({ACME}): 3 rows")),
        "{text}"
    );
    assert_no_reset_sent(&sim.state());
}

#[test]
fn accounts_not_active_or_not_found_stop_the_run_before_any_reset() {
    let work = Workdir::new();
    let dir = directory(
        &work,
        &[
            (ACME, "Acme Sales", "Active"),
            (BETA, "Beta Ops", "Suspended"),
        ],
        2,
    );
    let sim = SimulatorProcess::spawn(&["--directory", &dir]);
    input(&work, &[ACME, BETA, GHOST], 2, &[]);
    let text = exits_with(&output_of(run_input(&work, &sim, &[])), 2);
    assert!(
        text.contains(&format!("Beta Ops ({BETA}) is Suspended")),
        "{text}"
    );
    assert!(text.contains(&format!("{GHOST} was not found")), "{text}");
    assert!(!text.contains(&format!("Acme Sales ({ACME}) is")), "{text}");
    assert!(!work.path("results.csv").exists(), "no results file");
    assert_no_reset_sent(&sim.state());
}

#[test]
fn a_role_that_may_not_read_accounts_shows_their_ids_and_goes_on() {
    three_users_are_reset_despite(
        &["--get-account-forbidden"],
        ": 3 rows (GetAccount not allowed)",
    );
}

#[test]
fn rejected_or_missing_credentials_stop_before_anything_is_sent() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &["--expired-key", "AKIDEXPIRED"]);
    let mut expired = run_input(&work, &sim, &[]);
    expired.env("AWS_ACCESS_KEY_ID", "AKIDEXPIRED");
    let text = exits_with(&output_of(expired), 2);
    assert!(
        text.contains("credentials were rejected (ExpiredToken"),
        "{text}"
    );
    assert!(text.contains("aws sso login --profile default"), "{text}");
    assert!(!work.path("results.csv").exists(), "no results file");

    let mut nothing = run_input(&work, &sim, &[]);
    nothing.env_remove("AWS_ACCESS_KEY_ID");
    nothing.env_remove("AWS_SECRET_ACCESS_KEY");
    let text = exits_with(&output_of(nothing), 2);
    for expected in [
        "no usable AWS credentials",
        "AWS_ACCESS_KEY_ID",
        "profile default in /dev/null",
        "aws configure",
        "aws sso login --profile default",
        "--profile",
    ] {
        assert!(text.contains(expected), "{expected:?} missing: {text}");
    }
    assert!(!work.path("results.csv").exists(), "no results file");
    let state = sim.state();
    assert_no_reset_sent(&state);
    assert_eq!(state["requests"]["GetAccount"], serde_json::json!({}));
}

#[test]
fn an_endpoint_without_sts_leaves_the_identity_unknown_and_the_run_goes_on() {
    three_users_are_reset_despite(&["--no-sts"], "identity: unknown (");
}

#[test]
fn run_simulate_shows_the_simulators_identity() {
    let work = Workdir::new();
    input(&work, &[ACME], 2, &[]);
    let cmd = work.command(&["run", "input.csv", "-o", "results.csv", "--simulate"]);
    let text = exits_with(&output_of(cmd), 0);
    assert!(
        text.contains("as arn:aws:iam::123456789012:user/simulator (account 123456789012"),
        "{text}"
    );
}

/// `run` with the endpoint only in the profile file at `config`, as profile `x`.
fn run_with_profile_file(work: &Workdir, config: &str) -> std::process::Output {
    let path = work.write("aws-config", config);
    let mut cmd = work.command(&[]);
    cmd.env("AWS_CONFIG_FILE", path).args([
        "run",
        "input.csv",
        "-o",
        "results.csv",
        "--profile",
        "x",
    ]);
    output_of(cmd)
}

#[test]
fn plain_http_endpoints_from_the_profile_file_are_refused_before_any_call() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let in_profile =
        run_with_profile_file(&work, "[profile x]\nendpoint_url = http://10.0.0.5:8080\n");
    let in_services = run_with_profile_file(
        &work,
        &format!(
            "[profile x]\nservices = x-services\n\n[services x-services]\nchime =\n  \
             endpoint_url = http://10.0.0.5:8080\nsts =\n  endpoint_url = {}\n",
            sim.endpoint()
        ),
    );
    for output in [in_profile, in_services] {
        let text = exits_with(&output, 2);
        assert!(
            text.contains("http://10.0.0.5:8080: it is plain http to another machine"),
            "{text}"
        );
        assert!(!work.path("results.csv").exists(), "no results file");
    }
    assert_eq!(
        sim.state()["requests"]["GetCallerIdentity"],
        serde_json::json!({}),
        "refused before even the identity call"
    );
}

#[test]
fn a_failing_canary_sends_exactly_its_rows_and_says_how_to_resume() {
    let work = Workdir::new();
    let log = work.path("requests.log");
    let sim = simulator_with_input(&work, 20, &["--log", log.to_str().unwrap()]);
    // The third row names a user the account does not have: NotFoundException.
    let mut lines: Vec<String> = work.read("input.csv").lines().map(String::from).collect();
    let account = lines[1].split(',').next().unwrap().to_string();
    lines[3] = format!("{account},{},Nobody", user(GHOST, 1));
    work.write("input.csv", lines.join("\n") + "\n");
    let cmd = run_input(
        &work,
        &sim,
        &["--canary", "5", "--rate", "0", "--concurrency", "8"],
    );
    let text = exits_with(&output_of(cmd), 3);
    assert!(text.contains("1 of the 5 canary rows failed"), "{text}");
    assert!(text.contains("--resume"), "{text}");
    assert_eq!(read_rows(&work, "results.csv").len(), 5);
    assert_eq!(
        users_reset(&requests(&work, sim)),
        users_on_lines(&work, 2..7),
        "exactly the canary's rows, the first five, were sent"
    );
}

#[test]
fn a_passing_canary_goes_on_off_a_terminal_once_its_rows_are_done() {
    let work = Workdir::new();
    let log = work.path("requests.log");
    let sim = simulator_with_input(
        &work,
        20,
        &["--latency-ms", "150", "--log", log.to_str().unwrap()],
    );
    let cmd = run_input(
        &work,
        &sim,
        &["--canary", "5", "--rate", "0", "--concurrency", "8"],
    );
    let text = exits_with(&output_of(cmd), 0);
    assert!(
        text.contains("canary: 5 of 5 reset; going on with the other 15"),
        "{text}"
    );
    let lines = requests(&work, sim);
    let resets: Vec<LogLine> = resets(&lines).into_iter().cloned().collect();
    assert_eq!(
        users_reset(&resets),
        users_on_lines(&work, 2..22),
        "everyone once"
    );
    assert_eq!(
        users_reset(&resets[..5]),
        users_on_lines(&work, 2..7),
        "the first five sent are the canary's rows"
    );
    let times = arrivals(&resets);
    // The sixth reset waited for the answers to the five before it (150 ms each).
    assert!(
        times[5] - times[4] >= 0.14,
        "the sixth reset left {:.3} s after the fifth",
        times[5] - times[4]
    );
}

#[test]
fn on_resume_the_canary_counts_only_rows_not_reset_yet() {
    let work = Workdir::new();
    let log = work.path("requests.log");
    let sim = simulator_with_input(&work, 10, &["--log", log.to_str().unwrap()]);
    let full = work.read("input.csv");
    let first_four: Vec<&str> = full.lines().take(5).collect();
    work.write("first.csv", first_four.join("\n") + "\n");
    let mut first = run_command(&work, sim.endpoint(), &["first.csv", "-o", "results.csv"]);
    first.args(["--rate", "0"]);
    exits_with(&output_of(first), 0);
    let resume = run_input(&work, &sim, &["--resume", "--canary", "3", "--rate", "0"]);
    let text = exits_with(&output_of(resume), 0);
    assert!(text.contains("4 already reset (skipped)"), "{text}");
    assert!(
        text.contains("canary: 3 of 3 reset; going on with the other 3"),
        "{text}"
    );
    let sent = requests(&work, sim);
    assert_eq!(
        users_reset(&sent),
        users_on_lines(&work, 2..12),
        "everyone once, nobody twice"
    );
    // The resume's first three resets were the canary: the three users after the four done.
    let mut canary: Vec<String> = resets(&sent)[4..7]
        .iter()
        .map(|line| line.user_id.clone().expect("a reset names its user"))
        .collect();
    canary.sort();
    assert_eq!(
        canary,
        users_on_lines(&work, 6..9),
        "the canary is the next three rows"
    );
}

const QUESTION: &str = "Reset the PINs of 3 users in 1 account as \
                        arn:aws:iam::123456789012:user/simulator? [y/N] ";

#[test]
fn on_a_terminal_declining_sends_nothing_and_writes_nothing() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let run = run_on_terminal(run_input(&work, &sim, &[]), &[(QUESTION, "n\n")]);
    assert_eq!(run.code, 2, "{}", run.screen);
    assert!(run.screen.contains("not confirmed"), "{}", run.screen);
    assert!(!work.path("results.csv").exists(), "no results file");
    assert_no_reset_sent(&sim.state());
}

#[test]
fn on_a_terminal_accepting_goes_on_and_yes_asks_nothing() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let run = run_on_terminal(run_input(&work, &sim, &[]), &[(QUESTION, "y\n")]);
    assert_eq!(run.code, 0, "{}", run.screen);
    assert_eq!(read_rows(&work, "results.csv").len(), 3);

    let again = Workdir::new();
    let sim = simulator_with_input(&again, 3, &[]);
    let run = run_on_terminal(run_input(&again, &sim, &["--yes"]), &[]);
    assert_eq!(run.code, 0, "{}", run.screen);
    assert!(!run.screen.contains("[y/N]"), "{}", run.screen);
    assert_eq!(read_rows(&again, "results.csv").len(), 3);
}

#[test]
fn on_a_terminal_a_passing_canary_asks_before_the_rest() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let run = run_on_terminal(
        run_input(&work, &sim, &["--canary", "1"]),
        &[
            (QUESTION, "yes\n"),
            ("1 of 1 reset. Continue with the other 2? [y/N] ", "n\n"),
        ],
    );
    assert_eq!(run.code, 3, "{}", run.screen);
    assert_eq!(read_rows(&work, "results.csv").len(), 1);
    let resets_sent = sim.state()["requests"]["ResetPersonalPIN"].clone();
    assert_eq!(
        resets_sent,
        serde_json::json!({"200": 1}),
        "the canary's one row and nothing after the no"
    );
}
