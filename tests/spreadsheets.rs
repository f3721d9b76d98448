//! What spreadsheets write, through the built binary against a simulator process: CSV in
//! Windows-1252 and in UTF-16, and workbooks as input.
//!
//! PINs are secrets even here: assertions compare them without printing them.

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

use crate::support::{
    assert_every_user_reset_with_current_pin, assert_no_reset_sent, directory_users, exits_with,
    lines_with_status, output_of, read_rows, run_command, run_offline, run_unthrottled,
    simulator_with_input, Workdir,
};

const TEAM: &str = "Ventes Montréal";

/// The users of `simulator_with_input`'s directory, with a `team` column holding `TEAM`, as
/// text with `delimiter` and CRLF line ends.
fn rotation_text(work: &Workdir, delimiter: &str) -> String {
    let mut text = ["account_id", "user_id", "team"].join(delimiter) + "\r\n";
    for user in directory_users(work) {
        text.push_str(&[&user[0], &user[1], TEAM].join(delimiter));
        text.push_str("\r\n");
    }
    text
}

#[test]
fn a_windows_1252_file_is_read_with_one_notice_and_its_accents_arrive_in_utf8() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 40, &[]);
    let text = rotation_text(&work, ",");
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the file is not UTF-8"
    );
    work.write("rotation.csv", &bytes);

    let text = exits_with(&run_unthrottled(&work, sim.endpoint(), "rotation.csv"), 0);
    assert_eq!(text.matches("--encoding").count(), 1, "one notice: {text}");
    assert!(text.contains("Windows-1252"), "{text}");
    let rows = read_rows(&work, "results.csv");
    assert_every_user_reset_with_current_pin(&rows, &sim.state(), 40);
    assert!(rows.iter().all(|row| row["team"] == TEAM));

    // Forced UTF-8: the rows are not UTF-8.
    let validate = run_offline(&work, &["validate", "rotation.csv", "--encoding", "utf-8"]);
    let text = exits_with(&validate, 1);
    assert!(text.contains("40 invalid"), "{text}");
}

#[test]
fn a_utf16le_tab_delimited_file_with_a_bom_resets_every_row() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 12, &[]);
    let bytes: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            rotation_text(&work, "\t")
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    work.write("unicode.txt", bytes);
    let text = exits_with(&run_unthrottled(&work, sim.endpoint(), "unicode.txt"), 0);
    assert!(!text.contains("notice"), "a BOM says the encoding: {text}");
    let rows = read_rows(&work, "results.csv");
    assert_every_user_reset_with_current_pin(&rows, &sim.state(), 12);
    assert!(rows.iter().all(|row| row["team"] == TEAM));
}

/// A workbook of the simulator's users on Sheet1, below a blank row (so the header is on
/// sheet row 2), and on sheet row 5 a user id typed as a number.
fn leavers_workbook(work: &Workdir) -> std::path::PathBuf {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (column, name) in [
        "Account ID",
        "User ID",
        "ticket",
        "left_on",
        "team",
        "total",
    ]
    .into_iter()
    .enumerate()
    {
        sheet.write_string(1, column as u16, name).unwrap();
    }
    for (index, user) in directory_users(work).iter().enumerate() {
        let row = 2 + index as u32;
        sheet.write_string(row, 0, user[0].to_uppercase()).unwrap();
        if row == 4 {
            sheet.write_number(row, 1, 12345.0).unwrap();
        } else {
            sheet.write_string(row, 1, &user[1]).unwrap();
        }
        sheet.write_number(row, 2, 1041.0 + index as f64).unwrap();
        let left_on = ExcelDateTime::from_ymd(2026, 3, 31).unwrap();
        sheet
            .write_datetime_with_format(row, 3, &left_on, &date)
            .unwrap();
        sheet.write_string(row, 4, TEAM).unwrap();
        sheet
            .write_formula(row, 5, Formula::new("=1+1").set_result("2"))
            .unwrap();
    }
    let path = work.path("users.xlsx");
    workbook.save(&path).unwrap();
    path
}

#[test]
fn a_workbook_names_a_bad_id_by_sheet_row_and_the_other_rows_are_reset() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 6, &[]);
    leavers_workbook(&work);

    let text = exits_with(&run_offline(&work, &["validate", "users.xlsx"]), 1);
    assert!(
        text.contains("users.xlsx:Sheet1:5: the user id cell holds the number 12345, not text"),
        "{text}"
    );
    assert!(text.contains("6 rows, 5 valid, 1 invalid"), "{text}");

    exits_with(&run_unthrottled(&work, sim.endpoint(), "users.xlsx"), 1);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(lines_with_status(&rows, "invalid"), vec!["5"]);
    let reset: Vec<_> = rows.iter().filter(|row| row["status"] == "reset").collect();
    assert_eq!(reset.len(), 5);
    for row in &reset {
        assert_eq!(row["account_id"], row["account_id"].to_lowercase());
        assert_eq!(row["left_on"], "2026-03-31");
        assert_eq!(row["team"], TEAM);
        assert_eq!(row["total"], "2", "a formula by its cached value");
        let line: u32 = row["line"].parse().unwrap();
        assert_eq!(row["ticket"], (1041 + line - 3).to_string(), "no .0");
    }

    let missing = run_offline(&work, &["validate", "users.xlsx", "--sheet", "Leavers"]);
    let text = exits_with(&missing, 2);
    assert!(
        text.contains("no sheet named \"Leavers\" (its sheets: Sheet1)"),
        "{text}"
    );
}

#[test]
fn report_xlsx_writes_pins_as_text_with_their_leading_zeros() {
    use calamine::{Data, Reader};
    use std::os::unix::fs::PermissionsExt as _;

    let work = Workdir::new();
    let sim = simulator_with_input(&work, 60, &[]);
    exits_with(&run_unthrottled(&work, sim.endpoint(), "input.csv"), 0);
    let rows = read_rows(&work, "results.csv");
    assert!(
        rows.iter().any(|row| row["personal_pin"].starts_with('0')),
        "the simulator's seed gives some PIN a leading zero"
    );

    let report = run_offline(&work, &["report", "results.csv", "--xlsx", "results.xlsx"]);
    exits_with(&report, 0);
    // An existing workbook is replaced only with --force, and a results file never.
    let again = run_offline(&work, &["report", "results.csv", "--xlsx", "results.xlsx"]);
    assert!(exits_with(&again, 2).contains("--force"));
    let onto_results = run_offline(
        &work,
        &["report", "results.csv", "--xlsx", "results.csv", "--force"],
    );
    exits_with(&onto_results, 2);
    assert_eq!(read_rows(&work, "results.csv").len(), rows.len());
    let forced = run_offline(
        &work,
        &["report", "results.csv", "--xlsx", "results.xlsx", "--force"],
    );
    exits_with(&forced, 0);
    let mode = std::fs::metadata(work.path("results.xlsx"))
        .expect("the workbook")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let mut workbook = calamine::open_workbook_auto(work.path("results.xlsx")).expect("readable");
    let sheet = workbook
        .worksheet_range("Results")
        .expect("the Results sheet");
    let mut sheet_rows = sheet.rows();
    let header: Vec<String> = sheet_rows
        .next()
        .expect("a header")
        .iter()
        .map(ToString::to_string)
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (user, pin) = (column("user_id"), column("personal_pin"));
    let csv_pins: std::collections::HashMap<&str, &str> = rows
        .iter()
        .map(|row| (row["user_id"].as_str(), row["personal_pin"].as_str()))
        .collect();
    let mut compared = 0;
    for cells in sheet_rows {
        let Data::String(user_id) = &cells[user] else {
            panic!("a user id cell is text")
        };
        match &cells[pin] {
            Data::String(text) => assert!(
                text.as_str() == csv_pins[user_id.as_str()],
                "user {user_id}: the workbook's PIN is not the CSV's"
            ),
            _ => panic!("user {user_id}: the PIN cell is not text"),
        }
        compared += 1;
    }
    assert_eq!(compared, 60);
}

/// A macro-enabled workbook whose users are on its second sheet, `Leavers`, with a TRUE/FALSE
/// column and a lookup that failed (`#N/A`): `--sheet Leavers` reads them, a dry run changes
/// nothing, and the run resets every user, the cells carried as Excel shows them.
#[test]
fn an_xlsm_workbook_on_a_named_sheet_rehearses_then_resets_with_its_cells_as_shown() {
    let work = Workdir::new();
    let sim = simulator_with_input(&work, 3, &[]);
    let mut workbook = Workbook::new();
    let notes = workbook.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write_string(0, 0, "not the users").unwrap();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Leavers").unwrap();
    for (column, name) in ["account_id", "user_id", "badge_returned", "manager"]
        .into_iter()
        .enumerate()
    {
        sheet.write_string(0, column as u16, name).unwrap();
    }
    for (index, user) in directory_users(&work).iter().enumerate() {
        let row = 1 + index as u32;
        sheet.write_string(row, 0, &user[0]).unwrap();
        sheet.write_string(row, 1, &user[1]).unwrap();
        sheet.write_boolean(row, 2, index % 2 == 0).unwrap();
        sheet
            .write_formula(row, 3, Formula::new("=NA()").set_result("#N/A"))
            .unwrap();
    }
    workbook.save(work.path("leavers.xlsm")).unwrap();

    let mut rehearsal = run_command(
        &work,
        sim.endpoint(),
        &["leavers.xlsm", "-o", "preview.csv", "--sheet", "Leavers"],
    );
    rehearsal.args(["--dry-run", "--rate", "0"]);
    exits_with(&output_of(rehearsal), 0);
    assert_eq!(
        lines_with_status(&read_rows(&work, "preview.csv"), "would-reset"),
        ["2", "3", "4"]
    );
    assert_no_reset_sent(&sim.state());

    let mut run = run_command(
        &work,
        sim.endpoint(),
        &["leavers.xlsm", "-o", "results.csv", "--sheet", "Leavers"],
    );
    run.args(["--rate", "0"]);
    exits_with(&output_of(run), 0);
    let rows = read_rows(&work, "results.csv");
    assert_every_user_reset_with_current_pin(&rows, &sim.state(), 3);
    let mut carried: Vec<(&str, &str)> = rows
        .iter()
        .map(|row| (row["badge_returned"].as_str(), row["manager"].as_str()))
        .collect();
    carried.sort();
    assert_eq!(
        carried,
        [("FALSE", "#N/A"), ("TRUE", "#N/A"), ("TRUE", "#N/A")]
    );
}
