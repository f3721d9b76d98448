//! Every file a command writes is opened one way: through the built binary, an output that is
//! an input or another output of the same command (by inode, whatever its spelling), a link, a
//! directory or a missing folder is refused before anything is sent, even with `--force`, and
//! whole files (the summary, a workbook, an export) are renamed into place.

use std::os::unix::fs::PermissionsExt;

use crate::support::{
    assert_no_reset_sent, exits_with, output_of, read_rows, refused_run, run_command,
    simulator_with_input, verify_command, SimulatorProcess, Workdir,
};

/// Runs `input.csv` into `results` at full speed, to a clean end.
fn run_into(work: &Workdir, sim: &SimulatorProcess, results: &str) {
    let run = run_command(
        work,
        sim.endpoint(),
        &["input.csv", "-o", results, "--rate", "0"],
    );
    exits_with(&output_of(run), 0);
}

/// Asserts that the simulator was not even asked who the caller is: the refusal came first.
fn assert_nothing_sent(sim: &SimulatorProcess) {
    let state = sim.state();
    assert_no_reset_sent(&state);
    assert_eq!(
        state["requests"]["GetCallerIdentity"],
        serde_json::json!({}),
        "no identity call"
    );
}

#[test]
fn a_summary_on_the_results_file_is_refused_before_anything_is_sent() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let text = refused_run(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "out.csv", "--summary-json", "./out.csv"],
    );
    assert!(
        text.contains("./out.csv is the results file (out.csv)"),
        "{text}"
    );
    assert!(!work.path("out.csv").exists(), "no results file: {text}");
    assert_nothing_sent(&sim);
}

#[test]
fn the_summary_is_written_whole_privately_and_never_over_a_file_without_force() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    work.write("summary.json", "kept\n");
    let args = [
        "input.csv",
        "-o",
        "out.csv",
        "--rate",
        "0",
        "--summary-json",
        "summary.json",
    ];
    let text = refused_run(&work, sim.endpoint(), &args);
    assert!(
        text.contains("summary.json exists already: pass --force"),
        "{text}"
    );
    assert_eq!(work.read("summary.json"), "kept\n");
    assert_nothing_sent(&sim);

    let forced = run_command(&work, sim.endpoint(), &[&args[..], &["--force"]].concat());
    exits_with(&output_of(forced), 0);
    let summary: serde_json::Value =
        serde_json::from_str(&work.read("summary.json")).expect("the summary is JSON");
    assert_eq!(summary["statuses"]["reset"], 3, "{summary}");
    let mode = std::fs::metadata(work.path("summary.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        read_rows(&work, "out.csv").len(),
        3,
        "the results are intact"
    );
}

#[test]
fn results_on_the_input_are_refused_even_with_force_whatever_the_path() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let input = work.read("input.csv");
    std::fs::hard_link(work.path("input.csv"), work.path("hard.csv")).unwrap();
    for output in ["input.csv", "./input.csv", "hard.csv"] {
        let text = refused_run(
            &work,
            sim.endpoint(),
            &["input.csv", "-o", output, "--force"],
        );
        assert!(
            text.contains("is the input (input.csv)"),
            "{output}: {text}"
        );
        assert!(
            text.contains("--force does not change this"),
            "never advises --force: {text}"
        );
        assert_eq!(
            work.read("input.csv"),
            input,
            "{output}: the input is intact"
        );
    }
    assert_nothing_sent(&sim);
}

#[test]
fn an_output_that_is_a_symbolic_link_is_refused_and_its_target_untouched() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let target = work.write("elsewhere.csv", "someone else's file\n");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&target, work.path("link.csv")).unwrap();
    for flag in ["--force", "--resume"] {
        let text = refused_run(
            &work,
            sim.endpoint(),
            &["input.csv", "-o", "link.csv", flag],
        );
        assert!(text.contains("link.csv is a symbolic link"), "{text}");
    }
    // The input through a link is the same refusal by inode: a link to it is a link first.
    std::os::unix::fs::symlink(work.path("input.csv"), work.path("to-input.csv")).unwrap();
    let text = refused_run(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "to-input.csv", "--force"],
    );
    assert!(text.contains("to-input.csv is a symbolic link"), "{text}");
    assert_eq!(work.read("elsewhere.csv"), "someone else's file\n");
    let mode = std::fs::metadata(&target).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "the link's target keeps its mode");
    assert_nothing_sent(&sim);
}

#[test]
fn a_workbook_on_a_results_file_is_refused_by_inode_even_with_force() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    run_into(&work, &sim, "out.csv");
    let results = work.read("out.csv");
    let report = work.command(&["report", "out.csv", "--xlsx", "./out.csv", "--force"]);
    let text = exits_with(&output_of(report), 2);
    assert!(
        text.contains("./out.csv is a results file (out.csv)"),
        "{text}"
    );
    assert_eq!(work.read("out.csv"), results, "the results are intact");
}

#[test]
fn a_verified_file_on_its_results_file_is_refused() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &[]);
    run_into(&work, &sim, "out.csv");
    let results = work.read("out.csv");
    let verify = verify_command(
        &work,
        sim.endpoint(),
        &["out.csv", "-o", "./out.csv", "--force"],
    );
    let text = exits_with(&output_of(verify), 2);
    assert!(text.contains("is the results file (out.csv)"), "{text}");
    assert_eq!(work.read("out.csv"), results);
}

#[test]
fn a_missing_folder_is_named_before_the_identity_call() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &[]);
    let text = refused_run(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "nodir/sub/out.csv"],
    );
    assert!(
        text.contains("the folder nodir/sub does not exist") && text.contains("mkdir -p nodir/sub"),
        "{text}"
    );
    assert_eq!(
        text.matches("does not exist").count(),
        1,
        "said once: {text}"
    );
    assert_nothing_sent(&sim);
}

#[test]
fn a_directory_as_the_output_is_called_a_directory() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &[]);
    std::fs::create_dir(work.path("adir")).unwrap();
    for flags in [&[][..], &["--force"], &["--resume"]] {
        let text = refused_run(
            &work,
            sim.endpoint(),
            &[&["input.csv", "-o", "adir"][..], flags].concat(),
        );
        assert!(text.contains("adir is a directory"), "{flags:?}: {text}");
        assert!(!text.contains("exists already"), "{text}");
    }
    assert_nothing_sent(&sim);
}

#[test]
fn a_folder_others_may_list_gets_no_warning_but_one_they_may_write_into_does() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &[]);
    for (folder, mode, warned) in [("listable", 0o755, false), ("open", 0o777, true)] {
        std::fs::create_dir(work.path(folder)).unwrap();
        std::fs::set_permissions(work.path(folder), std::fs::Permissions::from_mode(mode)).unwrap();
        let results = format!("{folder}/out.csv");
        let run = run_command(
            &work,
            sim.endpoint(),
            &["input.csv", "-o", &results, "--rate", "0"],
        );
        let text = exits_with(&output_of(run), 0);
        assert!(!text.contains("can list"), "{text}");
        assert_eq!(text.contains("can write into"), warned, "{folder}: {text}");
    }
}

#[test]
fn an_export_is_never_written_through_a_link() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &[]);
    let target = work.write("elsewhere.csv", "kept\n");
    std::os::unix::fs::symlink(&target, work.path("users.csv")).unwrap();
    let account = csv::Reader::from_path(work.path("input.csv"))
        .unwrap()
        .records()
        .next()
        .expect("a user")
        .unwrap()[0]
        .to_string();
    let export = work.command(&[
        "export",
        "--account-id",
        &account,
        "-o",
        "users.csv",
        "--force",
        "--endpoint-url",
        sim.endpoint(),
    ]);
    let text = exits_with(&output_of(export), 2);
    assert!(text.contains("users.csv is a symbolic link"), "{text}");
    assert_eq!(work.read("elsewhere.csv"), "kept\n");
    assert_nothing_sent(&sim);
}

#[test]
fn a_pin_cell_that_is_not_ascii_is_masked_by_character_and_never_printed() {
    let work = Workdir::new();
    let pin = "12345678é9";
    work.write(
        "results.csv",
        format!(
            "line,account_id,user_id,status,personal_pin,primary_email,display_name,error_code,\
             error_message,attempts,request_id,finished_at\n\
             2,11111111-1111-1111-1111-111111111111,aaaaaaaa-0000-0000-0000-000000000001,reset,\
             {pin},,,,,1,r-1,2026-03-02T17:01:12.345Z\n"
        ),
    );
    let mut report = work.command(&[
        "report",
        "results.csv",
        "--xlsx",
        "results.xlsx",
        "--pins",
        "masked",
    ]);
    // Not through `output_of`: its check for PIN-like text would print the PIN on a failure.
    let output = report.output().expect("run report");
    let text = String::from_utf8_lossy(&output.stderr) + String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("8é9"), "no part of the PIN is printed");
    let code = output.status.code();
    assert_eq!(code, Some(0), "no panic: {}", text.replace(pin, "<pin>"));
    assert!(work.path("results.xlsx").exists());
}

#[test]
fn a_results_file_that_stops_growing_mid_run_stops_the_run_with_every_row_accounted_for() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 300, &[]);
    // A file size limit (20 KiB) stands in for a full disk: writes past it fail (EFBIG) as
    // they would with ENOSPC, and SIGXFSZ is ignored so that the write error reaches the tool.
    let mut shell = std::process::Command::new("sh");
    crate::support::aws_env(&mut shell);
    shell
        .current_dir(work.root())
        .args(["-c", "ulimit -f 40; trap '' XFSZ; exec \"$@\"", "sh"])
        .arg(crate::support::bin_path())
        .args(["run", "input.csv", "-o", "results.csv", "--rate", "0"])
        .args(["--endpoint-url", sim.endpoint()]);
    let text = exits_with(&output_of(shell), 3);
    let bytes = std::fs::read(work.path("results.csv")).expect("the results");
    assert!(bytes.ends_with(b"\n"), "only whole rows are left");
    let written = read_rows(&work, "results.csv");
    assert!(
        !written.is_empty() && written.len() < 300,
        "{}",
        written.len()
    );
    let (_, named) = text
        .split_once("NOT RECORDED")
        .unwrap_or_else(|| panic!("the rows not written are named: {text}"));
    let named: Vec<&str> = named
        .lines()
        .skip(1)
        .take_while(|line| line.trim_start().starts_with("line "))
        .collect();
    // Every reset sent is either in the file or named, never both, never neither.
    let resets: u64 = crate::support::simulator_users(&sim.state())
        .values()
        .map(|(_, count)| count)
        .sum();
    let written_resets = written
        .iter()
        .filter(|row| row["status"] == "reset")
        .count();
    assert_eq!(resets as usize, written_resets + named.len(), "{text}");
    let mut lines: Vec<&str> = written.iter().map(|row| row["line"].as_str()).collect();
    for row in &named {
        let line = row
            .trim_start()
            .trim_start_matches("line ")
            .split(' ')
            .next()
            .unwrap();
        assert!(
            !lines.contains(&line),
            "line {line} is both written and named"
        );
        lines.push(line);
    }
    assert!(
        text.contains("--resume"),
        "the summary says how to resume: {text}"
    );
}

#[test]
fn manual_pages_are_written_whole_readable_by_all_and_never_through_a_link() {
    let work = Workdir::new();
    exits_with(&output_of(work.command(&["man", "--dir", "pages"])), 0);
    let page = work.path("pages/chime-pin-reset-run.1");
    let mode = std::fs::metadata(&page).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "a page holds nothing private");
    // Written again over the pages of an earlier version; a link among them is refused.
    let target = work.write("elsewhere.txt", "kept\n");
    std::fs::remove_file(&page).unwrap();
    std::os::unix::fs::symlink(&target, &page).unwrap();
    let text = exits_with(&output_of(work.command(&["man", "--dir", "pages"])), 2);
    assert!(
        text.contains("chime-pin-reset-run.1 is a symbolic link"),
        "{text}"
    );
    assert_eq!(work.read("elsewhere.txt"), "kept\n");
}

#[test]
fn a_link_to_a_device_such_as_dev_stdout_is_written_to_as_the_device() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    // `/dev/stdout` is a link to the process's stdout, here a pipe: no file is changed.
    let run = run_command(
        &work,
        sim.endpoint(),
        &["input.csv", "-o", "/dev/stdout", "--rate", "0"],
    );
    let output = output_of(run);
    exits_with(&output, 0);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("line,account_id,user_id,status"),
        "the results' header"
    );
    assert_eq!(stdout.lines().count(), 4, "the header and three rows");
}
