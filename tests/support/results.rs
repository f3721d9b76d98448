//! Results files and the simulator's users: reading rows, and the checks that every PIN in the
//! results is the user's current one and that no PIN reaches a terminal or a log.
//!
//! PINs are secrets even here: assertions compare them without printing them.

use std::collections::HashMap;

use super::Workdir;

pub const RESULTS_HEADER: &str = "line,account_id,user_id,status,personal_pin,primary_email,\
display_name,error_code,error_message,attempts,request_id,finished_at,given_email,logout";

/// One row of a results file, by column name.
pub type Row = HashMap<String, String>;

/// The rows of a results CSV.
pub fn read_rows(work: &Workdir, name: &str) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(work.path(name)).expect("the results file exists");
    let headers = reader.headers().expect("a header").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("a whole row");
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The `line` of every row with `status`, in file order.
pub fn lines_with_status<'a>(rows: &'a [Row], status: &str) -> Vec<&'a str> {
    rows.iter()
        .filter(|row| row["status"] == status)
        .map(|row| row["line"].as_str())
        .collect()
}

/// The last row of each (account, user) in a results file.
pub fn last_rows(rows: &[Row]) -> HashMap<(String, String), Row> {
    rows.iter()
        .map(|row| {
            (
                (row["account_id"].clone(), row["user_id"].clone()),
                row.clone(),
            )
        })
        .collect()
}

/// The simulator's users: (account, user) → (current PIN, reset count).
pub fn simulator_users(state: &serde_json::Value) -> HashMap<(String, String), (String, u64)> {
    state["users"]
        .as_array()
        .expect("users in the state")
        .iter()
        .map(|user| {
            let field = |name: &str| user[name].as_str().unwrap_or_default().to_string();
            (
                (field("account_id"), field("user_id")),
                (
                    field("personal_pin"),
                    user["reset_count"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

/// Each `reset` row's PIN must be the user's current PIN in the simulator, ten digits.
pub fn assert_pins_current(rows: &[Row], state: &serde_json::Value) {
    let users = simulator_users(state);
    for row in rows.iter().filter(|row| row["status"] == "reset") {
        let key = (row["account_id"].clone(), row["user_id"].clone());
        let (pin, _) = users.get(&key).expect("a reset user is in the simulator");
        assert!(
            &row["personal_pin"] == pin,
            "line {}: the PIN in the results is not the user's current PIN",
            row["line"]
        );
        assert_eq!(
            row["personal_pin"].len(),
            10,
            "line {}: a 10-digit PIN",
            row["line"]
        );
    }
}

/// Every one of the `users` users has a last row, `reset` with the user's current PIN.
pub fn assert_every_user_reset_with_current_pin(
    rows: &[Row],
    state: &serde_json::Value,
    users: usize,
) {
    let last = last_rows(rows);
    assert_eq!(last.len(), users, "every user has a row");
    let current = simulator_users(state);
    for (key, row) in &last {
        assert_eq!(
            row["status"], "reset",
            "user {}: {:?}",
            key.1, row["error_code"]
        );
        assert!(
            current[key].0 == row["personal_pin"],
            "user {}: the PIN is not current",
            key.1
        );
    }
}

/// Asserts that no PIN the simulator holds appears in `text` (stderr, stdout, a log).
pub fn assert_no_pin_in(text: &str, state: &serde_json::Value, what: &str) {
    for ((account, user), (pin, _)) in simulator_users(state) {
        assert!(
            pin.is_empty() || !text.contains(&pin),
            "{what} holds the PIN of user {user} in account {account}"
        );
    }
}

/// PINs are ten digits: no run of ten or more digits may reach the terminal, except the
/// twelve digits of an AWS account id (the identity line names the caller's account). Digits
/// within a word of letters and digits are not a PIN: a user id's last group (`7e3966525463`)
/// holds ten digits in a row by chance.
pub fn assert_nothing_like_a_pin(text: &str, what: &str) {
    const AWS_ACCOUNT_ID_DIGITS: usize = 12;
    let longest = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| word.bytes().all(|b| b.is_ascii_digit()))
        .map(str::len)
        .filter(|&digits| digits != AWS_ACCOUNT_ID_DIGITS)
        .max()
        .unwrap_or(0);
    assert!(
        longest < 10,
        "{what} holds a run of {longest} digits, shaped like a PIN"
    );
}

/// The simulator was asked for no reset at all (a refused run sends nothing).
pub fn assert_no_reset_sent(state: &serde_json::Value) {
    assert_eq!(
        state["requests"]["ResetPersonalPIN"],
        serde_json::json!({}),
        "no ResetPersonalPIN request"
    );
}
