//! `validate`, `export`, `reset` and `template` through the built binary; `export` and `reset`
//! against a simulator process, `reset` compared with the AWS CLI's output.
//!
//! PINs are secrets even here: assertions compare them without printing them.

use std::collections::HashSet;
use std::process::{Command, Output};

use crate::support::{
    assert_no_pin_in, aws_cli, aws_env, exits_with, output_of, read_rows, run_command,
    simulator_users, stderr, stdout, write_directory, SimulatorProcess, Workdir,
};

const EXPORT_HEADER: &str =
    "account_id,user_id,email,display_name,user_type,registration_status,license_type";
const ACCOUNT: &str = "11111111-2222-4333-8444-555555555555";
const USER: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const OTHER_USER: &str = "aaaaaaaa-bbbb-4ccc-8ddd-ffffffffffff";

/// A `chime-pin-reset` subcommand with dummy credentials against `endpoint`, in `work`.
fn command(work: &Workdir, subcommand: &str, endpoint: &str) -> Command {
    work.command(&[subcommand, "--endpoint-url", endpoint])
}

/// `validate` with no credentials, no configuration and an endpoint nobody listens on: it must
/// not need any of them.
fn validate(work: &Workdir, args: &[&str]) -> Output {
    let mut cmd = work.command(&["validate"]);
    cmd.args(args)
        .env_clear()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    output_of(cmd)
}

#[test]
fn validate_finds_every_planted_problem_with_its_line_offline() {
    let work = Workdir::new();
    work.write(
        "bad.csv",
        format!(
            "account_id,user_id,email,note\n\
             {ACCOUNT},{USER},,fine\n\
             not-an-account,{USER},,bad account\n\
             {ACCOUNT},not-a-user,,bad user\n\
             {},{},,the first user again in capitals\n\
             {ACCOUNT},,,neither user id nor email\n\
             {ACCOUNT},{OTHER_USER},,too,many\n\
             {ACCOUNT},,jane@example.com,by email\n",
            ACCOUNT.to_uppercase(),
            USER.to_uppercase()
        ),
    );
    let output = validate(&work, &["bad.csv"]);
    let text = exits_with(&output, 1);
    assert!(stdout(&output).is_empty(), "problems go to stderr");
    for (line, words) in [
        (3, "account id \"not-an-account\" is not a GUID"),
        (4, "user id \"not-a-user\" is not a GUID"),
        (5, "appear on an earlier line"),
        (6, "neither a user id nor an email"),
        (7, "the row has 5 fields but the header has 4"),
    ] {
        let wanted = format!("bad.csv:{line}: ");
        let found = text.lines().find(|l| l.starts_with(&wanted));
        assert!(
            found.is_some_and(|l| l.contains(words)),
            "line {line} ({words}): {text}"
        );
    }
    assert_eq!(
        text.lines().count(),
        6,
        "five problems and the summary: {text}"
    );
    assert!(
        text.contains("bad.csv: 7 rows, 2 valid, 4 invalid, 1 duplicate"),
        "{text}"
    );
}

#[test]
fn validate_accepts_a_clean_file_and_shares_runs_input_flags() {
    let work = Workdir::new();
    work.write(
        "clean.csv",
        format!("User Id;Email\n{USER};\n;jane@example.com\n"),
    );
    let output = validate(&work, &["clean.csv", "--account-id", ACCOUNT]);
    exits_with(&output, 0);
    assert!(stderr(&output).contains("2 rows, 2 valid, 0 invalid, 0 duplicates"));

    work.write("loose.csv", "account_id,user_id\nacct-1,user-1\n");
    // IDs are GUIDs by default.
    exits_with(&validate(&work, &["loose.csv"]), 1);
    let output = validate(&work, &["loose.csv", "--no-strict-ids", "--delimiter", ","]);
    exits_with(&output, 0);
}

#[test]
fn validate_names_the_header_found_and_the_names_accepted() {
    let work = Workdir::new();
    work.write("header.csv", format!("account_id,person\n{ACCOUNT},x\n"));
    let output = validate(&work, &["header.csv"]);
    // A header without a user column is a problem found.
    let text = exits_with(&output, 1);
    assert!(text.contains("header.csv:1:"), "{text}");
    assert!(text.contains("found: account_id, person"), "{text}");
    assert!(text.contains("user_id") && text.contains("email"), "{text}");

    let output = validate(&work, &["missing.csv"]);
    exits_with(&output, 2);
    assert!(stderr(&output).contains("missing.csv"));
}

/// A directory CSV for the simulator: `n` users in `account`, mixed types, statuses and
/// domains, and one display name a spreadsheet would run.
fn directory_rows(account: u32, n: u32) -> Vec<[String; 7]> {
    (1..=n)
        .map(|i| {
            let user_type = if i % 10 == 0 {
                "SharedDevice"
            } else {
                "PrivateUser"
            };
            let status = match i % 13 {
                0 => "Suspended",
                6 => "Unregistered",
                _ => "Registered",
            };
            let domain = if i % 7 == 0 {
                "partner.example.org"
            } else {
                "corp.example.com"
            };
            let name = if i == 3 {
                "=SUM(A1:A9)".to_string()
            } else {
                format!("User, {i}")
            };
            [
                format!("{account:08x}-0000-4000-8000-000000000000"),
                format!("{account:08x}-0000-4000-8000-{i:012x}"),
                format!("user{i}@{domain}"),
                name,
                "Pro".to_string(),
                user_type.to_string(),
                status.to_string(),
            ]
        })
        .collect()
}

/// (account, user) of every row of an exported file.
fn exported_users(work: &Workdir, name: &str) -> Vec<(String, String)> {
    read_rows(work, name)
        .into_iter()
        .map(|row| (row["account_id"].clone(), row["user_id"].clone()))
        .collect()
}

#[test]
fn export_reads_every_page_filters_and_feeds_run_which_resets_each_user_once() {
    let work = Workdir::new();
    let mut rows = directory_rows(1, 250);
    rows.extend(directory_rows(2, 30));
    let directory = write_directory(&work, &rows);
    let sim = SimulatorProcess::spawn(&["--directory", directory.to_str().unwrap()]);
    let (a, b) = (&rows[0][0], &rows[250][0]);

    // Every user of both accounts, in the simulator's order.
    let output = command(&work, "export", sim.endpoint())
        .args(["--account-id", a, "--account-id", b, "-o", "all.csv"])
        .output()
        .expect("export");
    let text = exits_with(&output, 0);
    assert!(text.contains("exported 280 users to all.csv"), "{text}");
    assert!(
        text.contains(&format!("{a}: 250")) && text.contains(&format!("{b}: 30")),
        "{text}"
    );
    assert_eq!(work.read("all.csv").lines().next(), Some(EXPORT_HEADER));
    let expected: Vec<(String, String)> =
        rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(
        exported_users(&work, "all.csv"),
        expected,
        "every user once, pages in order"
    );
    let listed = &sim.state()["requests"]["ListUsers"];
    assert_eq!(
        listed["200"], 3,
        "two pages for 250 users, one for 30: {listed}"
    );
    let third = read_rows(&work, "all.csv")
        .into_iter()
        .nth(2)
        .expect("a third row");
    assert_eq!(
        third["display_name"], "'=SUM(A1:A9)",
        "formulas are neutralised"
    );
    assert_eq!(
        (third["email"].as_str(), third["user_type"].as_str()),
        ("user3@corp.example.com", "PrivateUser")
    );

    // An existing file is refused without --force.
    let refused = command(&work, "export", sim.endpoint())
        .args(["--account-id", a, "-o", "all.csv"])
        .output()
        .expect("export");
    exits_with(&refused, 2);
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));

    // Filters: one by Chime (type), two here (status, domain).
    let mut cmd = command(&work, "export", sim.endpoint());
    cmd.args(["--account-id", a, "-o", "rotation.csv"]);
    cmd.args([
        "--user-type",
        "PrivateUser",
        "--registration-status",
        "Registered",
    ]);
    cmd.args(["--email-domain", "corp.example.com"]);
    let output = cmd.output().expect("export");
    exits_with(&output, 0);
    let wanted: HashSet<(String, String)> = rows
        .iter()
        .filter(|r| r[0] == *a && r[5] == "PrivateUser" && r[6] == "Registered")
        .filter(|r| r[2].ends_with("@corp.example.com"))
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert!(
        wanted.len() > 100 && wanted.len() < 250,
        "{} users",
        wanted.len()
    );
    let exported = exported_users(&work, "rotation.csv");
    assert_eq!(exported.len(), wanted.len(), "no user twice");
    assert_eq!(exported.into_iter().collect::<HashSet<_>>(), wanted);

    // Straight into run.
    let mut run = run_command(
        &work,
        sim.endpoint(),
        &["rotation.csv", "-o", "results.csv"],
    );
    run.args(["--rate", "0", "--concurrency", "16"]);
    let output = run.output().expect("run");
    let state = sim.state();
    assert_no_pin_in(&stderr(&output), &state, "run's stderr");
    exits_with(&output, 0);
    let results = read_rows(&work, "results.csv");
    assert_eq!(results.len(), wanted.len());
    assert!(results.iter().all(|row| row["status"] == "reset"));
    for ((account, user), (_, resets)) in simulator_users(&state) {
        let expected = u64::from(wanted.contains(&(account.clone(), user.clone())));
        assert_eq!(resets, expected, "user {user} of account {account}");
    }
}

#[test]
fn export_retries_throttles_and_failures_and_writes_nothing_when_an_account_fails() {
    let work = Workdir::new();
    let rows = directory_rows(1, 450);
    let directory = write_directory(&work, &rows);
    let sim = SimulatorProcess::spawn(&[
        "--directory",
        directory.to_str().unwrap(),
        "--fail-rate",
        "0.2",
        "--throttle-rps",
        "10",
        "--throttle-burst",
        "1",
        "--seed",
        "3",
    ]);
    let output = command(&work, "export", sim.endpoint())
        .args(["--account-id", &rows[0][0], "-o", "users.csv"])
        .output()
        .expect("export");
    exits_with(&output, 0);
    assert_eq!(
        exported_users(&work, "users.csv").len(),
        450,
        "every page, once"
    );
    let listed = &sim.state()["requests"]["ListUsers"];
    assert_eq!(listed["200"], 3, "{listed}");
    let refused: u64 = ["429", "500", "503"]
        .iter()
        .map(|status| listed[status].as_u64().unwrap_or(0))
        .sum();
    assert!(
        refused > 0,
        "the simulator refused some pages, and they were asked again: {listed}"
    );

    let unknown = "99999999-0000-4000-8000-000000000000";
    let output = command(&work, "export", sim.endpoint())
        .args([
            "--account-id",
            &rows[0][0],
            "--account-id",
            unknown,
            "-o",
            "partial.csv",
        ])
        .output()
        .expect("export");
    let text = exits_with(&output, 1);
    assert!(text.contains("NotFoundException"), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(work.root())
        .expect("the work directory")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("partial"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no partial list is left: {leftovers:?}"
    );
}

/// The text with the value of `"PersonalPIN"` replaced, and that value.
fn without_pin(text: &str) -> (String, String) {
    let key = "\"PersonalPIN\": \"";
    let start = text.find(key).expect("a PersonalPIN member") + key.len();
    let end = start + text[start..].find('"').expect("the end of the PIN");
    let mut redacted = text.to_string();
    redacted.replace_range(start..end, "<PIN>");
    (redacted, text[start..end].to_string())
}

#[test]
fn reset_prints_what_the_aws_cli_prints() {
    let Some(aws) = aws_cli("other_commands::reset_prints_what_the_aws_cli_prints") else {
        return;
    };
    let work = Workdir::new();
    // A registered user; one still Unregistered (no RegisteredOn, the invitation pending); one
    // whose name needs escaping and is not ASCII.
    let mut rows = directory_rows(1, 6);
    rows[1][3] = "Zoë \"Q\" Ångström\\".to_string();
    let directory = write_directory(&work, &rows);
    let sim = SimulatorProcess::spawn(&["--directory", directory.to_str().unwrap()]);
    let users: Vec<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(rows[5][6], "Unregistered");
    for (account, user) in [&users[0], &users[1], &users[5]] {
        let mut cli = Command::new(&aws);
        aws_env(&mut cli);
        let theirs = cli
            .args(["chime", "reset-personal-pin", "--output", "json"])
            .args(["--endpoint-url", sim.endpoint(), "--region", "us-east-1"])
            .args(["--account-id", account, "--user-id", user])
            .output()
            .expect("run aws");
        exits_with(&theirs, 0);
        let ours = command(&work, "reset", sim.endpoint())
            .args(["--account-id", account, "--user-id", user])
            .output()
            .expect("reset");
        let state = sim.state();
        assert_no_pin_in(&stderr(&ours), &state, "reset's stderr");
        exits_with(&ours, 0);
        let (theirs, _) = without_pin(&stdout(&theirs));
        let (ours, pin) = without_pin(&stdout(&ours));
        assert_eq!(ours, theirs, "the same document, member for member");
        let (current, resets) = &simulator_users(&state)[&(account.clone(), user.clone())];
        assert!(pin == *current, "the PIN printed is the user's current PIN");
        assert_eq!(*resets, 2, "one reset by aws, one by us");
    }
    let (account, user) = &users[1];
    for (policy, resets_before) in [("masked", 2), ("omit", 3)] {
        let output = command(&work, "reset", sim.endpoint())
            .args(["--account-id", account, "--user-id", user])
            .args(["--pins", policy])
            .output()
            .expect("reset");
        exits_with(&output, 0);
        let (current, resets) = &simulator_users(&sim.state())[&(account.clone(), user.clone())];
        assert_eq!(
            *resets,
            resets_before + 1,
            "{policy}: the PIN was reset on the server"
        );
        if policy == "omit" {
            assert!(
                !stdout(&output).contains("PersonalPIN"),
                "no PIN member with --pins omit"
            );
        } else {
            let (_, shown) = without_pin(&stdout(&output));
            assert!(
                shown.starts_with("********") && shown.len() == 10,
                "eight stars, two digits"
            );
            assert!(
                shown[8..] == current[8..],
                "the two digits shown are the new PIN's last two"
            );
        }
    }
}

#[test]
fn reset_errors_are_one_line_with_the_exception_name() {
    let work = Workdir::new();
    let sim = SimulatorProcess::spawn(&["--accounts", "1", "--users-per-account", "1"]);
    let output = command(&work, "reset", sim.endpoint())
        .args(["--account-id", ACCOUNT, "--user-id", USER])
        .output()
        .expect("reset");
    let text = exits_with(&output, 1);
    assert!(stdout(&output).is_empty());
    let mut lines = text.lines();
    let identity = lines.next().unwrap_or_default();
    assert!(
        identity.starts_with("chime-pin-reset: as arn:aws:iam::"),
        "the identity line comes first: {text}"
    );
    assert_eq!(lines.count(), 1, "then the error on one line: {text}");
    assert!(text.contains("NotFoundException"), "{text}");

    let output = command(&work, "reset", sim.endpoint())
        .args(["--account-id", ACCOUNT, "--user-id", "not-a-user"])
        .output()
        .expect("reset");
    exits_with(&output, 2);
    let counts = &sim.state()["requests"]["ResetPersonalPIN"];
    assert_eq!(counts["404"], 1, "a usage error sends nothing: {counts}");
}

#[test]
fn a_filled_in_template_is_accepted_by_validate() {
    let work = Workdir::new();
    let output = output_of(work.command(&["template"]));
    exits_with(&output, 0);
    let comments = stderr(&output);
    for column in ["account_id", "user_id", "email", "note"] {
        assert!(
            comments.contains(&format!("# {column} ")),
            "{column}: {comments}"
        );
    }
    work.write("template.csv", &output.stdout);
    // The placeholders are refused until replaced.
    exits_with(&validate(&work, &["template.csv"]), 1);
    // What a user does by hand: the account column gets the account, the user column the user.
    let filled: String = stdout(&output)
        .lines()
        .map(|line| {
            let line = line.replacen("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", ACCOUNT, 1);
            line.replacen("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", USER, 1) + "\n"
        })
        .collect();
    work.write("input.csv", filled);
    let output = validate(&work, &["input.csv"]);
    exits_with(&output, 0);
}

#[test]
fn reset_sends_a_guid_typed_in_upper_case_as_chime_issued_it() {
    let work = Workdir::new();
    let sim = SimulatorProcess::spawn(&["--accounts", "1", "--users-per-account", "1"]);
    let state = sim.state();
    let user = &state["users"][0];
    let (account, user_id) = (
        user["account_id"].as_str().expect("an account"),
        user["user_id"].as_str().expect("a user"),
    );
    let output = command(&work, "reset", sim.endpoint())
        .args(["--account-id", &account.to_uppercase()])
        .args(["--user-id", &user_id.to_uppercase()])
        .args(["--pins", "omit"])
        .output()
        .expect("reset");
    exits_with(&output, 0);
    assert_eq!(sim.state()["users"][0]["reset_count"], 1);
}
