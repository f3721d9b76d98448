//! Input as administrators really hand it over, through the built binary against a simulator
//! process: quotes left open, IDs in upper case.
//!
//! PINs are secrets even here: assertions compare them without printing them.

use std::process::Stdio;

use crate::support::{
    assert_every_user_reset_with_current_pin, assert_no_reset_sent, bin, code, directory_users,
    output_of, read_rows, run_command, simulator_users, simulator_with_input, stderr, Workdir,
};

/// The input of `simulator_with_input` with the carried cell of its third data row (line 4)
/// opened with a quote that is never closed, as `"VIP Sales`.
fn with_open_quote(work: &Workdir) -> String {
    let input = work.read("input.csv");
    let mut lines: Vec<String> = input.lines().map(str::to_string).collect();
    let (keep, _) = lines[3].rsplit_once(',').expect("a carried cell");
    lines[3] = format!("{keep},\"VIP Sales");
    lines.join("\n") + "\n"
}

/// The users on the input's lines `from..` (1-based, the header is line 1).
fn users_from_line(work: &Workdir, from: usize) -> Vec<(String, String)> {
    directory_users(work)
        .iter()
        .skip(from - 2)
        .map(|user| (user[0].to_string(), user[1].to_string()))
        .collect()
}

#[test]
fn validate_names_the_line_where_a_quote_opened_and_never_closed() {
    let work = Workdir::new();
    let _sim = simulator_with_input(&work, 40, &[]);
    work.write("open.csv", with_open_quote(&work));
    let output = output_of({
        let mut cmd = bin();
        cmd.current_dir(work.root()).args(["validate", "open.csv"]);
        cmd
    });
    let text = stderr(&output);
    assert_eq!(code(&output), 1, "{text}");
    assert!(
        text.contains("open.csv:4: a quote opens on this line and is never closed"),
        "{text}"
    );
}

#[test]
fn a_run_over_a_file_with_an_open_quote_sends_nothing_and_names_the_line() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 40, &[]);
    work.write("open.csv", with_open_quote(&work));
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["open.csv", "-o", "results.csv", "--rate", "0"],
    ));
    let text = stderr(&output);
    // The read-ahead pass before the first call finds the open quote: nothing is sent at all.
    assert_eq!(code(&output), 2, "{text}");
    assert!(text.contains("open.csv line 4: a quote opens"), "{text}");
    assert!(!work.path("results.csv").exists(), "no results file");
    assert_no_reset_sent(&sim.state());
}

#[test]
fn stdin_with_an_open_quote_stops_the_run_naming_the_line() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 40, &[]);
    let open = work.write("open.csv", with_open_quote(&work));
    let mut cmd = run_command(
        &work,
        sim.endpoint(),
        &["-", "-o", "results.csv", "--rate", "0"],
    );
    cmd.stdin(Stdio::from(std::fs::File::open(open).expect("the input")));
    let output = output_of(cmd);
    let text = stderr(&output);
    assert_eq!(code(&output), 3, "{text}");
    assert!(text.contains("<stdin> line 4: a quote opens"), "{text}");
    let users = simulator_users(&sim.state());
    for key in users_from_line(&work, 4) {
        assert_eq!(users[&key].1, 0, "user {} was reset", key.1);
    }
}

#[test]
fn a_cell_over_64_kib_makes_its_row_invalid_and_only_its_row() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 5, &[]);
    let input = work.read("input.csv");
    let mut lines: Vec<String> = input.lines().map(str::to_string).collect();
    let (keep, _) = lines[2].rsplit_once(',').expect("a carried cell");
    // A quote opened in the cell and closed only far below: the lines between are one cell.
    let swallowed = "x,y,z\n".repeat(12_000);
    lines[2] = format!("{keep},\"VIP Sales\n{swallowed}\"");
    work.write("long.csv", lines.join("\n") + "\n");

    let validate = output_of({
        let mut cmd = bin();
        cmd.current_dir(work.root()).args(["validate", "long.csv"]);
        cmd
    });
    let text = stderr(&validate);
    assert_eq!(code(&validate), 1, "{text}");
    assert!(text.contains("long.csv:3: cell 3 holds"), "{text}");
    assert!(text.contains("5 rows, 4 valid, 1 invalid"), "{text}");

    let run = output_of(run_command(
        &work,
        sim.endpoint(),
        &["long.csv", "-o", "results.csv", "--rate", "0"],
    ));
    assert_eq!(code(&run), 1, "{}", stderr(&run));
    let rows = read_rows(&work, "results.csv");
    let invalid: Vec<&str> = rows
        .iter()
        .filter(|row| row["status"] == "invalid")
        .map(|row| row["line"].as_str())
        .collect();
    assert_eq!(invalid, vec!["3"]);
    assert_eq!(
        rows.iter().filter(|row| row["status"] == "reset").count(),
        4
    );
}

#[test]
fn guids_typed_in_upper_case_are_sent_and_written_in_lower_case() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    let upper: String = work
        .read("input.csv")
        .lines()
        .enumerate()
        .map(|(i, line)| match i {
            0 => format!("{line}\n"),
            _ => {
                let (ids, name) = line.rsplit_once(',').expect("three columns");
                format!("{},{name}\n", ids.to_uppercase())
            }
        })
        .collect();
    work.write("upper.csv", upper);
    let output = output_of(run_command(
        &work,
        sim.endpoint(),
        &["upper.csv", "-o", "results.csv", "--rate", "0"],
    ));
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let rows = read_rows(&work, "results.csv");
    for row in &rows {
        assert_eq!(row["account_id"], row["account_id"].to_lowercase());
        assert_eq!(row["user_id"], row["user_id"].to_lowercase());
    }
    assert_every_user_reset_with_current_pin(&rows, &sim.state(), 6);
}
