//! The binary workbooks, `.xls` (BIFF8, Excel 97-2003) and `.xlsb` (BIFF12), as input through
//! the built binary against a simulator process: the first visible sheet, `--sheet NAME`, a
//! dry run, `validate`, and a user id typed as a number.
//!
//! The other workbook tests write their files with rust_xlsxwriter, which writes `.xlsx` and
//! `.xlsm` only; these two formats are committed fixtures, `tests/fixtures/users.xls` and
//! `users.xlsb`, written once from `tests/fixtures/users.json` by the generators beside them
//! (how, and why those writers: `tests/fixtures/README.md`). Both hold the same sheets. What the
//! tests expect is written here again as literals, so it comes neither from the fixtures'
//! description nor from the code under test:
//!
//! - `Archive`, hidden, the first sheet: one user, [`ARCHIVED`].
//! - `Staff`, the first visible sheet: row 1 blank, the header on row 2, then [`STAFF`], a
//!   `badge_returned` TRUE/FALSE column and a `ticket` number column; row 5 is hidden, which
//!   these formats do not tell, so it is read like any other row (as the README says).
//! - `Leavers`: the header on row 1, [`LEAVERS`] with a `left_on` date, and on row 4 the user
//!   id typed as the number 12345.
//!
//! PINs are secrets even here: assertions compare them without printing them.

use std::path::Path;

use crate::support::{
    assert_every_user_reset_with_current_pin, assert_no_reset_sent, exits_with, lines_with_status,
    output_of, read_rows, run_command, run_offline, simulator_users, write_directory, Row,
    SimulatorProcess, Workdir,
};

/// The one account of every row of the fixtures (written in upper case on `Staff` row 4).
const ACCOUNT: &str = "6c1f2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

/// `Staff`'s rows: (sheet row, user id as Chime issued it, the `employee_no` text cell with its
/// leading zeros, `badge_returned`, `ticket`). The id on row 3 begins with zeros; the account
/// and user ids on row 4 are typed in upper case; row 5 is hidden.
const STAFF: [(&str, &str, &str, &str, &str); 4] = [
    (
        "3",
        "00000042-7d1e-4c3a-9b5f-0e6a2c8d1f01",
        "007",
        "TRUE",
        "1041",
    ),
    (
        "4",
        "5f3e9a10-2b4c-4d6e-8f01-23456789ab02",
        "0815",
        "FALSE",
        "1042",
    ),
    (
        "5",
        "e0d1c2b3-a4f5-4e6d-8c7b-6a5f4e3d2c04",
        "1200",
        "TRUE",
        "1043",
    ),
    (
        "6",
        "9c8b7a65-4321-4fed-bcba-98765432cd03",
        "0099",
        "TRUE",
        "1044",
    ),
];

/// `Leavers`' rows with a user id in text: (sheet row, user id), both left on 2026-03-31.
const LEAVERS: [(&str, &str); 2] = [
    ("2", "1a2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c05"),
    ("3", "7b6a5948-3726-4150-a9b8-c7d6e5f4a306"),
];

/// The user on the hidden sheet `Archive`.
const ARCHIVED: &str = "f0e1d2c3-b4a5-4968-8776-655443322107";

/// Copies the fixture `name` into `work` under its own name, so messages name it as a user's
/// file: `users.xls:Staff:…`.
fn fixture(work: &Workdir, name: &str) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::copy(&source, work.path(name))
        .unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
}

/// A simulator whose directory holds every user of the fixtures, each in [`ACCOUNT`].
fn simulator_of_the_fixtures(work: &Workdir) -> SimulatorProcess {
    let users = STAFF
        .iter()
        .map(|(_, user, ..)| *user)
        .chain(LEAVERS.iter().map(|(_, user)| *user))
        .chain([ARCHIVED]);
    let rows: Vec<[String; 7]> = users
        .enumerate()
        .map(|(index, user)| {
            [
                ACCOUNT,
                user,
                &format!("user{index}@example.com"),
                &format!("User {index}"),
                "Pro",
                "PrivateUser",
                "Registered",
            ]
            .map(str::to_string)
        })
        .collect();
    let directory = write_directory(work, &rows);
    SimulatorProcess::spawn(&["--directory", directory.to_str().expect("a UTF-8 path")])
}

/// How many times the simulator reset each of `users` (in [`ACCOUNT`]).
fn resets_of(state: &serde_json::Value, users: &[&str]) -> Vec<u64> {
    let known = simulator_users(state);
    users
        .iter()
        .map(|user| known[&(ACCOUNT.to_string(), user.to_string())].1)
        .collect()
}

/// The line of `text` that starts with `prefix` (validate's summary line of a sheet).
fn line_starting<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"))
}

/// The row of the results at sheet row `line`.
fn at_line<'a>(rows: &'a [Row], line: &str) -> &'a Row {
    rows.iter()
        .find(|row| row["line"] == line)
        .unwrap_or_else(|| panic!("no results row for sheet row {line}"))
}

/// `validate` and `run` on the workbook `name` without `--sheet` read `Staff`, its first
/// visible sheet: four rows, the hidden one among them; the run resets each of its users, with
/// ids read as typed (leading zeros kept, upper case sent in lower case) and its cells as Excel
/// shows them, and nobody on the other sheets.
fn the_first_visible_sheet_resets_every_user_with_its_ids_as_typed(name: &str) {
    let work = Workdir::new();
    let sim = simulator_of_the_fixtures(&work);
    fixture(&work, name);

    let text = exits_with(&run_offline(&work, &["validate", name]), 0);
    assert_eq!(
        line_starting(&text, &format!("{name}:")),
        format!("{name}:Staff: 4 rows, 4 valid, 0 invalid, 0 duplicates"),
        "Staff, the first visible sheet, its hidden row read and not counted as skipped"
    );

    let mut run = run_command(&work, sim.endpoint(), &[name, "-o", "results.csv"]);
    run.args(["--rate", "0"]);
    exits_with(&output_of(run), 0);
    let rows = read_rows(&work, "results.csv");
    assert_every_user_reset_with_current_pin(&rows, &sim.state(), STAFF.len());
    for (line, user, employee_no, badge_returned, ticket) in STAFF {
        let row = at_line(&rows, line);
        assert_eq!(row["account_id"], ACCOUNT, "sheet row {line}");
        assert_eq!(row["user_id"], user, "sheet row {line}");
        assert_eq!(row["employee_no"], employee_no, "sheet row {line}: text");
        assert_eq!(row["badge_returned"], badge_returned, "sheet row {line}");
        assert_eq!(row["ticket"], ticket, "sheet row {line}: no .0");
    }
    let others = [LEAVERS[0].1, LEAVERS[1].1, ARCHIVED];
    assert_eq!(resets_of(&sim.state(), &others), [0, 0, 0]);
}

/// `--sheet Leavers` names a sheet that is not the first: `validate` counts its rows and names
/// the user id typed as a number by file, sheet and row; a dry run sends nothing; the run
/// resets its two users and writes the third row `invalid`. `--sheet Archive` reads the
/// hidden sheet, as named.
fn a_named_sheet_is_validated_rehearsed_and_reset_and_a_numeric_user_id_refused(name: &str) {
    let work = Workdir::new();
    let sim = simulator_of_the_fixtures(&work);
    fixture(&work, name);

    let validate = run_offline(&work, &["validate", name, "--sheet", "Leavers"]);
    let text = exits_with(&validate, 1);
    assert_eq!(
        line_starting(&text, &format!("{name}:Leavers:4:")),
        format!(
            "{name}:Leavers:4: the user id cell holds the number 12345, not text: format the \
             column as Text and type the ID again"
        )
    );
    assert_eq!(
        line_starting(&text, &format!("{name}:Leavers: ")),
        format!("{name}:Leavers: 3 rows, 2 valid, 1 invalid, 0 duplicates")
    );
    let archive = run_offline(&work, &["validate", name, "--sheet", "Archive"]);
    assert_eq!(
        line_starting(&exits_with(&archive, 0), &format!("{name}:")),
        format!("{name}:Archive: 1 row, 1 valid, 0 invalid, 0 duplicates")
    );

    let mut rehearsal = run_command(
        &work,
        sim.endpoint(),
        &[name, "-o", "preview.csv", "--sheet", "Leavers"],
    );
    rehearsal.args(["--dry-run", "--rate", "0"]);
    exits_with(&output_of(rehearsal), 1);
    let preview = read_rows(&work, "preview.csv");
    assert_eq!(lines_with_status(&preview, "would-reset"), ["2", "3"]);
    assert_eq!(lines_with_status(&preview, "invalid"), ["4"]);
    assert_no_reset_sent(&sim.state());

    let mut run = run_command(
        &work,
        sim.endpoint(),
        &[name, "-o", "results.csv", "--sheet", "Leavers"],
    );
    run.args(["--rate", "0"]);
    exits_with(&output_of(run), 1);
    let rows = read_rows(&work, "results.csv");
    assert_eq!(lines_with_status(&rows, "reset"), ["2", "3"]);
    assert_eq!(lines_with_status(&rows, "invalid"), ["4"]);
    for (line, user) in LEAVERS {
        let row = at_line(&rows, line);
        assert_eq!(
            (row["account_id"].as_str(), row["user_id"].as_str()),
            (ACCOUNT, user),
            "sheet row {line}"
        );
        assert_eq!(row["left_on"], "2026-03-31", "sheet row {line}: a date");
    }
    assert!(
        at_line(&rows, "4")["error_message"].contains("the number 12345, not text"),
        "the invalid row says why"
    );
    let state = sim.state();
    assert_eq!(resets_of(&state, &[LEAVERS[0].1, LEAVERS[1].1]), [1, 1]);
    let staff: Vec<&str> = STAFF.iter().map(|(_, user, ..)| *user).collect();
    assert_eq!(resets_of(&state, &staff), [0; 4]);
    assert_eq!(resets_of(&state, &[ARCHIVED]), [0]);
}

#[test]
fn an_xls_workbook_resets_every_user_of_its_first_visible_sheet_with_its_ids_as_typed() {
    the_first_visible_sheet_resets_every_user_with_its_ids_as_typed("users.xls");
}

#[test]
fn an_xls_workbook_on_a_named_sheet_is_validated_rehearsed_and_reset_refusing_a_numeric_id() {
    a_named_sheet_is_validated_rehearsed_and_reset_and_a_numeric_user_id_refused("users.xls");
}

#[test]
fn an_xlsb_workbook_resets_every_user_of_its_first_visible_sheet_with_its_ids_as_typed() {
    the_first_visible_sheet_resets_every_user_with_its_ids_as_typed("users.xlsb");
}

#[test]
fn an_xlsb_workbook_on_a_named_sheet_is_validated_rehearsed_and_reset_refusing_a_numeric_id() {
    a_named_sheet_is_validated_rehearsed_and_reset_and_a_numeric_user_id_refused("users.xlsb");
}
