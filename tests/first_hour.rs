//! The first hour of a new administrator (issue 25): an error printed once, in one line; an
//! input with no rows refused before anything happens; `-q` that is quiet; counts in words and
//! with thousands grouped; Excel's `sep=` line; what the README promises about prerequisites
//! and `report --xlsx`; and the notice of a test skipped for want of the AWS CLI.

use std::fs::File;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::{
    aws_env, bin, code, directory_users, output_of, read_rows, run_command, simulator_with_input,
    stderr, stdout, verify_command, SimulatorProcess, Workdir, REQUIRE_AWS_CLI,
};

/// The tool with `args` in `work`, with the host's AWS configuration shut out.
fn tool(work: &Workdir, args: &[&str]) -> Output {
    let mut cmd = bin();
    aws_env(&mut cmd);
    cmd.current_dir(work.root()).args(args);
    output_of(cmd)
}

/// The README with every run of whitespace made one space, so that a phrase is found however
/// the paragraph around it is wrapped.
fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The API requests the simulator counted, by operation and status (its state page is not
/// one).
fn requests_sent(sim: &SimulatorProcess) -> serde_json::Value {
    sim.state()["requests"].clone()
}

#[test]
fn an_os_error_is_printed_once_in_one_line_by_every_command_that_reads_a_file() {
    let work = Workdir::new();
    std::fs::create_dir(work.path("adir")).expect("a directory");
    let missing = std::io::Error::from_raw_os_error(libc::ENOENT);
    let directory = std::io::Error::from_raw_os_error(libc::EISDIR);
    for (name, cause) in [("nosuch.csv", missing), ("adir", directory)] {
        for args in [
            vec!["validate", name],
            vec!["run", "--simulate", name, "-o", "results.csv"],
            vec!["run", "--dry-run", "--simulate", name, "-o", "preview.csv"],
            vec!["report", name],
            vec!["verify", name, "-o", "verified.csv"],
        ] {
            let output = tool(&work, &args);
            assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
            assert_eq!(
                stderr(&output),
                format!("chime-pin-reset: cannot read {name}: {cause}\n"),
                "{args:?}"
            );
        }
    }
    for written in ["results.csv", "preview.csv", "verified.csv"] {
        assert!(!work.path(written).exists(), "{written} was created");
    }

    // The simulator's directory file, written through the csv crate, whose errors name their
    // cause and return it as their source too.
    let output = tool(&work, &["simulate", "--write-directory", "nodir/users.csv"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        format!(
            "chime-pin-reset: cannot create directory file nodir/users.csv: {}\n",
            std::io::Error::from_raw_os_error(libc::ENOENT)
        )
    );
    work.write("latin.csv", b"account_id,us\xffer_id\n");
    let output = tool(&work, &["validate", "latin.csv", "--encoding", "utf-8"]);
    let text = stderr(&output);
    assert_eq!(code(&output), 2, "{text}");
    assert!(
        text.starts_with("chime-pin-reset: cannot read latin.csv: "),
        "{text}"
    );
    assert_eq!(text.matches("invalid UTF-8").count(), 1, "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn an_input_with_a_header_and_no_rows_is_refused_before_anything_is_sent() {
    let work = Workdir::new();
    let sim = SimulatorProcess::spawn(&[]);
    // Blank lines under the header are no rows either.
    let header_only = work.write("header.csv", "account_id,user_id,team\n\n \n");
    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = vec!["header.csv", "-o", "results.csv"];
        args.extend_from_slice(extra);
        let output = output_of(run_command(&work, sim.endpoint(), &args));
        assert_eq!(code(&output), 2, "{extra:?}: {}", stderr(&output));
        assert_eq!(
            stderr(&output),
            "chime-pin-reset: header.csv has no rows: there is nothing under its header\n",
            "{extra:?}"
        );
        assert!(!work.path("results.csv").exists(), "{extra:?}");
    }
    // Stdin is waited on for its first row before anything is sent or created.
    let mut cmd = run_command(&work, sim.endpoint(), &["-", "-o", "results.csv"]);
    cmd.stdin(File::open(&header_only).expect("the input"));
    let output = output_of(cmd);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "chime-pin-reset: <stdin> has no rows: there is nothing under its header\n"
    );
    assert!(!work.path("results.csv").exists());
    let requests = requests_sent(&sim);
    let by_operation = requests.as_object().expect("requests by operation");
    assert!(
        by_operation.values().all(|by_status| by_status
            .as_object()
            .is_some_and(|counts| counts.is_empty())),
        "nothing was sent: {requests}"
    );

    // `validate` finds it a problem, as it does a header without the needed columns.
    let output = tool(&work, &["validate", "header.csv"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("header.csv has no rows"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_plan_of_a_file_with_no_row_to_send_does_not_speak_of_stdin() {
    let work = Workdir::new();
    let sim = SimulatorProcess::spawn(&[]);
    work.write("invalid.csv", "account_id,user_id\nnot-a-guid,nor-this\n");
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["invalid.csv", "-o", "results.csv"],
    ));
    let text = stderr(&output);
    assert_eq!(code(&output), 1, "{text}");
    assert!(
        text.contains("accounts: none: no row can be sent"),
        "{text}"
    );
    assert!(!text.contains("stdin"), "{text}");
}

#[test]
fn quiet_runs_and_verifies_print_nothing_but_errors() {
    let work = Workdir::new();
    // A folder only its owner can list: the warning about a listable folder is another
    // question (issue 25, item 8).
    std::fs::set_permissions(work.root(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod the work directory");
    let sim = simulator_with_input(&work, 3, &[]);
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv", "-q"],
    ));
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stderr(&output), "", "a clean quiet run prints nothing");
    assert_eq!(read_rows(&work, "results.csv").len(), 3);

    let output = output_of(verify_command(
        &work,
        sim.endpoint(),
        &["results.csv", "-o", "verified.csv", "-q"],
    ));
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stderr(&output), "", "a clean quiet verify prints nothing");

    // Errors and the exit code still speak.
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["nosuch.csv", "-o", "other.csv", "-q"],
    ));
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).starts_with("chime-pin-reset: cannot read nosuch.csv: "),
        "{}",
        stderr(&output)
    );
}

#[test]
fn counts_are_worded_and_grouped_alike_in_the_plan_and_the_summaries() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 1_000, &[]);
    let input = work.read("input.csv");
    let first_row = input.lines().nth(1).expect("a first row").to_string();
    work.write("input.csv", format!("{input}{first_row}\n"));
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv", "--rate", "0"],
    ));
    let text = stderr(&output);
    assert_eq!(code(&output), 0, "{text}");
    for expected in [
        "rows:     1,000 to reset, 0 invalid, 1 duplicate\n",
        "): 1,000 rows\n",
        "Run complete.\n",
        "rows:     1,001 (1 duplicate, 1,000 reset)\n",
        "0 throttled answers, 0 retries",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }

    work.write(
        "one.csv",
        format!("{}\n{first_row}\n", input.lines().next().unwrap()),
    );
    let output = tool(&work, &["validate", "one.csv"]);
    assert_eq!(
        stderr(&output),
        "one.csv: 1 row, 1 valid, 0 invalid, 0 duplicates\n"
    );
    work.write(
        "twice.csv",
        format!(
            "{}\n{first_row}\n{first_row}\n",
            input.lines().next().unwrap()
        ),
    );
    let output = tool(&work, &["validate", "twice.csv"]);
    assert!(
        stderr(&output).ends_with("twice.csv: 2 rows, 1 valid, 0 invalid, 1 duplicate\n"),
        "{}",
        stderr(&output)
    );

    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["one.csv", "-o", "one-results.csv"],
    ));
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let output = tool(&work, &["report", "one-results.csv"]);
    assert!(
        stdout(&output).starts_with("Final state of 1 user (1 row in one-results.csv;"),
        "{}",
        stdout(&output)
    );

    let account = &directory_users(&work)[0][0];
    let mut export = bin();
    aws_env(&mut export);
    export.current_dir(work.root()).args([
        "export",
        "--account-id",
        account,
        "-o",
        "users.csv",
        "--endpoint-url",
        sim.endpoint(),
    ]);
    let output = output_of(export);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "exported 1,000 users to users.csv (per account: {account}: 1,000)"
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_dry_run_says_it_writes_no_pin_and_names_itself_at_the_end() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &[]);
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "preview.csv", "--dry-run"],
    ));
    let text = stderr(&output);
    assert_eq!(code(&output), 0, "{text}");
    assert!(
        text.contains("pins:     none (a dry run changes no PIN); results written to preview.csv"),
        "{text}"
    );
    assert!(!text.contains("full, written to"), "{text}");
    assert!(
        text.contains("Dry run complete: no PIN was changed.\n"),
        "{text}"
    );
    assert!(!text.contains("Run complete"), "{text}");
}

#[test]
fn an_excel_sep_line_sets_the_delimiter_and_line_numbers_stay_the_files() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &[]);
    let users = directory_users(&work);
    let (account, first, second) = (&users[0][0], &users[0][1], &users[1][1]);
    work.write(
        "excel.csv",
        format!(
            "sep=;\r\naccount_id;user_id;team\r\n{account};{first};\"Sales, North\"\r\n\
             {account};not-a-guid;x\r\n{account};{second};Support\r\n"
        ),
    );
    let output = tool(&work, &["validate", "excel.csv"]);
    let text = stderr(&output);
    assert_eq!(code(&output), 1, "{text}");
    assert!(text.contains("excel.csv:4: "), "{text}");
    assert!(
        text.ends_with("excel.csv: 3 rows, 2 valid, 1 invalid, 0 duplicates\n"),
        "{text}"
    );
    // A header without the needed columns is named by its own line, after the `sep=` line.
    work.write("no-user.csv", "sep=;\naccount_id;team\nx;y\n");
    let output = tool(&work, &["validate", "no-user.csv"]);
    let text = stderr(&output);
    assert_eq!(code(&output), 1, "{text}");
    assert!(
        text.starts_with("no-user.csv:2: the header has no user column"),
        "{text}"
    );

    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["excel.csv", "-o", "results.csv"],
    ));
    assert_eq!(code(&output), 1, "the invalid row: {}", stderr(&output));
    let mut rows: Vec<(String, String, String)> = read_rows(&work, "results.csv")
        .iter()
        .map(|row| {
            (
                row["line"].clone(),
                row["status"].clone(),
                row["team"].clone(),
            )
        })
        .collect();
    rows.sort();
    let expected = [
        ("3", "reset", "Sales, North"),
        ("4", "invalid", "x"),
        ("5", "reset", "Support"),
    ]
    .map(|(line, status, team)| (line.to_string(), status.to_string(), team.to_string()));
    assert_eq!(rows, expected);
}

#[test]
fn cargo_toml_declares_the_rust_it_needs_and_the_readme_names_it() {
    let needed = env!("CARGO_PKG_RUST_VERSION");
    assert!(!needed.is_empty(), "Cargo.toml has no rust-version");
    let readme = readme();
    assert!(
        readme.contains(&format!("Rust {needed} or newer")),
        "the README's prerequisites name Rust {needed}"
    );
    // The SDK sets the floor: the locked aws-sdk-chime's own rust-version, where its source is
    // in the local registry (it is after any build that did not vendor it).
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"))
        .expect("Cargo.lock");
    let sdk_version = lock
        .split("name = \"aws-sdk-chime\"\nversion = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("aws-sdk-chime is locked");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let registries = std::fs::read_dir(cargo_home.join("registry/src"))
        .into_iter()
        .flatten();
    let sdk_needs: Vec<String> = registries
        .flatten()
        .filter_map(|registry| {
            let manifest = registry
                .path()
                .join(format!("aws-sdk-chime-{sdk_version}/Cargo.toml"));
            let text = std::fs::read_to_string(manifest).ok()?;
            let line = text.lines().find(|line| line.starts_with("rust-version"))?;
            Some(line.split('"').nth(1)?.to_string())
        })
        .collect();
    let parse = |version: &str| -> Vec<u32> {
        version.split('.').map(|n| n.parse().unwrap_or(0)).collect()
    };
    for sdk_needs in &sdk_needs {
        assert!(
            parse(needed) >= parse(sdk_needs),
            "aws-sdk-chime {sdk_version} needs Rust {sdk_needs}; Cargo.toml says {needed}"
        );
    }
}

#[test]
fn report_refuses_to_replace_a_workbook_without_force_as_the_readme_says() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &[]);
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "results.csv"],
    ));
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report = ["report", "results.csv", "--xlsx", "results.xlsx"];
    assert_eq!(code(&tool(&work, &report)), 0);
    let again = tool(&work, &report);
    assert_eq!(code(&again), 2, "{}", stderr(&again));
    assert!(
        stderr(&again).contains("results.xlsx exists already: pass --force to overwrite it"),
        "{}",
        stderr(&again)
    );
    let forced = tool(&work, &[&report[..], &["--force"]].concat());
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));

    let readme = readme();
    assert!(
        !readme.contains("(an existing file of that name is replaced)"),
        "the README still says an existing workbook is replaced"
    );
    assert!(
        readme.contains("An existing workbook is refused (exit 2) unless `--force` is given"),
        "the README says what the tool does"
    );
}

/// The test that the notice is checked on: it needs the AWS CLI, and skips without it.
const NEEDS_THE_AWS_CLI: &str = "other_commands::reset_prints_what_the_aws_cli_prints";

#[test]
fn a_test_skipped_for_want_of_the_aws_cli_says_so_in_plain_cargo_test_output() {
    // This very test binary, running that one test as `cargo test` does (output captured), on
    // a PATH where no `aws` can be found.
    let no_aws = Workdir::new();
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([NEEDS_THE_AWS_CLI, "--exact", "--test-threads", "1"])
        .env("PATH", no_aws.root())
        .env_remove(REQUIRE_AWS_CLI)
        .output()
        .expect("run the test binary");
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "{all}");
    assert!(all.contains("1 passed"), "the one test ran: {all}");
    assert!(
        all.contains(&format!(
            "notice: {NEEDS_THE_AWS_CLI} skipped: the AWS CLI (`aws`) is not on PATH"
        )),
        "the skip is visible without --nocapture: {all}"
    );
}
