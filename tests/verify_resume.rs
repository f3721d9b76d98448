//! `verify --resume` trusts a verified file only for the results file it checked: each row
//! names that file by a fingerprint of its contents, through the built binary.

use crate::support::{
    code, output_of, run_command, simulator_with_input, stderr, verify_command, Workdir,
};

/// `run input.csv -o RESULTS --rate 0`, to the end.
fn run_into(work: &Workdir, endpoint: &str, results: &str, extra: &[&str]) {
    let mut cmd = run_command(work, endpoint, &["input.csv", "-o", results, "--rate", "0"]);
    cmd.args(extra);
    let output = output_of(cmd);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

/// `verify ARGS`: the exit code and stderr.
fn verify(work: &Workdir, endpoint: &str, args: &[&str]) -> (i32, String) {
    let output = output_of(verify_command(work, endpoint, args));
    (code(&output), stderr(&output))
}

#[test]
fn a_verified_file_of_another_results_file_is_refused_on_resume() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    run_into(&work, sim.endpoint(), "first.csv", &[]);
    run_into(&work, sim.endpoint(), "second.csv", &[]);
    let (exit, text) = verify(&work, sim.endpoint(), &["second.csv", "-o", "verified.csv"]);
    assert_eq!(exit, 0, "{text}");
    let verified = work.read("verified.csv");
    assert!(verified
        .lines()
        .next()
        .unwrap()
        .contains("results_fingerprint"));

    let (exit, text) = verify(
        &work,
        sim.endpoint(),
        &["first.csv", "-o", "verified.csv", "--resume"],
    );
    assert_eq!(exit, 2, "{text}");
    assert!(
        text.contains("checked another results file than first.csv"),
        "{text}"
    );
    assert_eq!(work.read("verified.csv"), verified, "left as it was");
}

#[test]
fn a_verified_file_resumes_over_its_results_file_appended_to_since() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    run_into(&work, sim.endpoint(), "results.csv", &[]);
    let (exit, text) = verify(
        &work,
        sim.endpoint(),
        &["results.csv", "-o", "verified.csv"],
    );
    assert_eq!(exit, 0, "{text}");
    // Rows appended to the results since (as a resume or --update-results appends them) keep
    // the start the verified file checked.
    let mut results = work.read("results.csv");
    let first_row = results.lines().nth(1).expect("a row").to_string();
    results.push_str(&first_row);
    results.push('\n');
    work.write("results.csv", results);
    let (exit, text) = verify(
        &work,
        sim.endpoint(),
        &["results.csv", "-o", "verified.csv", "--resume"],
    );
    assert_eq!(exit, 0, "accepted, and the row appended is checked: {text}");
    assert_eq!(work.read("verified.csv").lines().count(), 5, "one more row");
}

#[test]
fn carried_cells_are_neutralised_in_the_verified_file_whatever_the_results_rule() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 2, &[]);
    let input = work.read("input.csv");
    let mut lines = input.lines();
    let mut rewritten = format!("{},ticket\n", lines.next().expect("a header"));
    for line in lines {
        rewritten.push_str(&format!("{line},\"=HYPERLINK(\"\"http://x\"\")\"\n"));
    }
    work.write("input.csv", rewritten);
    run_into(&work, sim.endpoint(), "results.csv", &["--raw-cells"]);
    let raw = crate::support::read_rows(&work, "results.csv");
    assert_eq!(raw[0]["ticket"], "=HYPERLINK(\"http://x\")", "kept raw");
    for (verified, flags, expected) in [
        ("safe.csv", &[][..], "'=HYPERLINK(\"http://x\")"),
        ("raw.csv", &["--raw-cells"][..], "=HYPERLINK(\"http://x\")"),
    ] {
        let (exit, text) = verify(
            &work,
            sim.endpoint(),
            &[&["results.csv", "-o", verified][..], flags].concat(),
        );
        assert_eq!(exit, 0, "{text}");
        for row in crate::support::read_rows(&work, verified) {
            assert_eq!(row["ticket"], expected, "{verified}");
        }
    }
}

/// Issue 24.2: the verified file is read through its record, strictly. A row whose status is
/// not one of `verify`'s (an edit gone wrong) is an error naming its line, not a user quietly
/// checked again.
#[test]
fn a_verified_row_whose_status_is_not_verifys_is_refused_on_resume_with_its_line() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    run_into(&work, sim.endpoint(), "results.csv", &[]);
    let (exit, text) = verify(
        &work,
        sim.endpoint(),
        &["results.csv", "-o", "verified.csv"],
    );
    assert_eq!(exit, 0, "{text}");
    let verified = work.read("verified.csv");
    let edited = verified.replacen(",current,", ",maybe,", 1);
    assert_ne!(edited, verified, "a current row to edit");
    work.write("verified.csv", &edited);

    let (exit, text) = verify(
        &work,
        sim.endpoint(),
        &["results.csv", "-o", "verified.csv", "--resume"],
    );
    assert_eq!(exit, 2, "{text}");
    assert!(
        text.contains("verified.csv, line 2: \"maybe\" is not a status of the verified file"),
        "{text}"
    );
    assert_eq!(work.read("verified.csv"), edited, "left as it was");
}
