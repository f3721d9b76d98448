//! Rows and sheets a workbook hides are what the administrator chose not to act on: skipped
//! by default and counted in `validate`, the plan and the summary; `--include-hidden` reads
//! the rows; a hidden sheet is never the default sheet, and is read when named.

use rust_xlsxwriter::{FilterCondition, Workbook, Worksheet};

use crate::support::{
    assert_no_reset_sent, directory_users, exits_with, lines_with_status, output_of, read_rows,
    run_command, run_offline, simulator_users, simulator_with_input, Workdir,
};

/// Writes `users` (account, user) under a header `account_id,user_id,team` on `sheet`; the
/// rows at the indexes in `hidden` are hidden.
fn write_users(sheet: &mut Worksheet, users: &[csv::StringRecord], hidden: &[usize]) {
    for (column, name) in ["account_id", "user_id", "team"].into_iter().enumerate() {
        sheet.write_string(0, column as u16, name).unwrap();
    }
    for (index, user) in users.iter().enumerate() {
        let row = 1 + index as u32;
        let team = if hidden.contains(&index) {
            "Stays"
        } else {
            "Leavers"
        };
        sheet.write_string(row, 0, &user[0]).unwrap();
        sheet.write_string(row, 1, &user[1]).unwrap();
        sheet.write_string(row, 2, team).unwrap();
        if hidden.contains(&index) {
            sheet.set_row_hidden(row).unwrap();
        }
    }
}

/// `leavers.xlsx` over the simulator's six users: the second hidden by hand, the fifth
/// filtered out by the autofilter on `team` (which Excel writes as a hidden row too).
fn filtered_workbook(work: &Workdir) -> Vec<csv::StringRecord> {
    let users = directory_users(work);
    assert_eq!(users.len(), 6);
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    write_users(sheet, &users, &[1, 4]);
    sheet.autofilter(0, 0, users.len() as u32, 2).unwrap();
    let leavers = FilterCondition::new().add_list_filter("Leavers");
    sheet.filter_column(2, &leavers).unwrap();
    workbook.save(work.path("leavers.xlsx")).unwrap();
    users
}

/// How many times the simulator reset each user, in the order of `users`.
fn resets(state: &serde_json::Value, users: &[csv::StringRecord]) -> Vec<u64> {
    let known = simulator_users(state);
    users
        .iter()
        .map(|user| known[&(user[0].to_string(), user[1].to_string())].1)
        .collect()
}

#[test]
fn hidden_and_filtered_out_rows_are_skipped_and_counted_in_validate_the_plan_and_the_summary() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    let users = filtered_workbook(&work);

    let text = exits_with(&run_offline(&work, &["validate", "leavers.xlsx"]), 0);
    assert!(
        text.contains(
            "leavers.xlsx:Sheet1: 4 rows, 4 valid, 0 invalid, 0 duplicates, 2 hidden rows skipped"
        ),
        "{text}"
    );

    let mut run = run_command(
        &work,
        sim.endpoint(),
        &["leavers.xlsx", "-o", "results.csv"],
    );
    run.args(["--rate", "0", "--summary-json", "summary.json"]);
    let text = exits_with(&output_of(run), 0);
    assert!(
        text.contains("4 to reset, 0 invalid, 0 duplicates, 2 hidden rows skipped"),
        "the plan counts them: {text}"
    );
    assert!(
        text.contains("hidden:   2 hidden rows skipped: --include-hidden reads them"),
        "the summary counts them: {text}"
    );
    let summary: serde_json::Value = serde_json::from_str(&work.read("summary.json")).unwrap();
    assert_eq!(summary["skipped_hidden"], 2);
    assert_eq!(summary["plan"]["rows"]["hidden"], 2);

    assert_eq!(resets(&sim.state(), &users), [1, 0, 1, 1, 0, 1]);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(lines_with_status(&rows, "reset"), ["2", "4", "5", "7"]);
}

#[test]
fn include_hidden_reads_the_hidden_rows_in_validate_a_dry_run_and_a_run() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    let users = filtered_workbook(&work);

    let validate = run_offline(&work, &["validate", "leavers.xlsx", "--include-hidden"]);
    let text = exits_with(&validate, 0);
    assert!(text.contains("6 rows, 6 valid"), "{text}");
    assert!(!text.contains("hidden"), "{text}");

    let mut dry_run = run_command(
        &work,
        sim.endpoint(),
        &["leavers.xlsx", "-o", "preview.csv"],
    );
    dry_run.args(["--dry-run", "--include-hidden", "--rate", "0"]);
    let text = exits_with(&output_of(dry_run), 0);
    assert!(text.contains("6 to look up"), "{text}");
    assert_eq!(
        lines_with_status(&read_rows(&work, "preview.csv"), "would-reset"),
        ["2", "3", "4", "5", "6", "7"]
    );
    assert_no_reset_sent(&sim.state());

    let mut run = run_command(
        &work,
        sim.endpoint(),
        &["leavers.xlsx", "-o", "results.csv"],
    );
    run.args(["--include-hidden", "--rate", "0"]);
    let text = exits_with(&output_of(run), 0);
    assert!(!text.contains("hidden rows skipped"), "{text}");
    assert_eq!(resets(&sim.state(), &users), [1; 6]);
}

#[test]
fn a_hidden_first_sheet_is_never_the_default_and_is_read_when_named() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    let users = directory_users(&work);
    let mut workbook = Workbook::new();
    let old = workbook.add_worksheet();
    old.set_name("Old").unwrap();
    write_users(old, &users[..3], &[]);
    old.set_hidden(true);
    let current = workbook.add_worksheet();
    current.set_name("Current").unwrap();
    write_users(current, &users[3..], &[2]);
    current.set_active(true);
    workbook.save(work.path("leavers.xlsx")).unwrap();

    let text = exits_with(&run_offline(&work, &["validate", "leavers.xlsx"]), 0);
    assert!(
        text.contains(
            "leavers.xlsx:Current: 2 rows, 2 valid, 0 invalid, 0 duplicates, 1 hidden row skipped"
        ),
        "{text}"
    );
    let named = run_offline(&work, &["validate", "leavers.xlsx", "--sheet", "Old"]);
    let text = exits_with(&named, 0);
    assert!(text.contains("leavers.xlsx:Old: 3 rows, 3 valid"), "{text}");
    let missing = run_offline(&work, &["validate", "leavers.xlsx", "--sheet", "New"]);
    let text = exits_with(&missing, 2);
    assert!(
        text.contains("(its sheets: Old (hidden), Current)"),
        "{text}"
    );

    let mut run = run_command(
        &work,
        sim.endpoint(),
        &["leavers.xlsx", "-o", "results.csv"],
    );
    run.args(["--rate", "0"]);
    let text = exits_with(&output_of(run), 0);
    assert!(text.contains("hidden:   1 hidden row skipped"), "{text}");
    assert_eq!(resets(&sim.state(), &users), [0, 0, 0, 1, 1, 0]);
}
