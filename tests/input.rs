//! Input as administrators really hand it over, through the built binary against a simulator
//! process: quotes left open, IDs in upper case.
//!
//! PINs are secrets even here: assertions compare them without printing them.

use std::process::Stdio;

use crate::support::{
    assert_every_user_reset_with_current_pin, assert_no_reset_sent, directory_users, exits_with,
    lines_with_status, output_of, read_rows, run_command, run_offline, run_unthrottled,
    simulator_users, simulator_with_input, Workdir,
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
    let text = exits_with(&run_offline(&work, &["validate", "open.csv"]), 1);
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
    let output = run_unthrottled(&work, sim.endpoint(), "open.csv");
    // The read-ahead pass before the first call finds the open quote: nothing is sent at all.
    let text = exits_with(&output, 2);
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
    let text = exits_with(&output_of(cmd), 3);
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

    let text = exits_with(&run_offline(&work, &["validate", "long.csv"]), 1);
    assert!(text.contains("long.csv:3: cell 3 holds"), "{text}");
    assert!(text.contains("5 rows, 4 valid, 1 invalid"), "{text}");

    exits_with(&run_unthrottled(&work, sim.endpoint(), "long.csv"), 1);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(lines_with_status(&rows, "invalid"), vec!["3"]);
    assert_eq!(lines_with_status(&rows, "reset").len(), 4);
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
    exits_with(&run_unthrottled(&work, sim.endpoint(), "upper.csv"), 0);
    let rows = read_rows(&work, "results.csv");
    for row in &rows {
        assert_eq!(row["account_id"], row["account_id"].to_lowercase());
        assert_eq!(row["user_id"], row["user_id"].to_lowercase());
    }
    assert_every_user_reset_with_current_pin(&rows, &sim.state(), 6);
}
