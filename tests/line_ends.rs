//! Classic Mac line ends (a `\r` alone), as some exports still write them, through the built
//! binary: each `\r` ends a row, so `validate` counts them and `run` resets them.

use crate::support::{
    assert_every_user_reset_with_current_pin, exits_with, read_rows, run_offline, run_unthrottled,
    simulator_with_input, Workdir,
};

#[test]
fn a_file_whose_lines_end_in_a_lone_carriage_return_is_read_row_by_row() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 5, &[]);
    let mac = work.read("input.csv").replace('\n', "\r");
    work.write("mac.csv", &mac);
    let text = exits_with(&run_offline(&work, &["validate", "mac.csv"]), 0);
    assert!(text.contains("5 valid"), "{text}");

    exits_with(&run_unthrottled(&work, sim.endpoint(), "mac.csv"), 0);
    let rows = read_rows(&work, "results.csv");
    assert_every_user_reset_with_current_pin(&rows, &sim.state(), 5);
    let lines: Vec<&str> = rows.iter().map(|row| row["line"].as_str()).collect();
    for line in ["2", "3", "4", "5", "6"] {
        assert!(lines.contains(&line), "line {line} of the file: {lines:?}");
    }
}
