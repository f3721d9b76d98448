//! Simulators over a directory of users written to the test's directory, and inputs made from
//! that directory.

use std::path::PathBuf;

use super::{SimulatorProcess, Workdir};

/// A simulator over `accounts` × `users` generated users, with `extra` flags, its directory
/// saved as `directory.csv` in `work`.
pub fn simulator_with_directory(
    work: &Workdir,
    accounts: usize,
    users: usize,
    extra: &[&str],
) -> SimulatorProcess {
    let (accounts, users) = (accounts.to_string(), users.to_string());
    let directory = work.path("directory.csv");
    let mut args = vec!["--accounts", &accounts, "--users-per-account", &users];
    args.extend([
        "--write-directory",
        directory.to_str().expect("a UTF-8 temp path"),
    ]);
    args.extend_from_slice(extra);
    SimulatorProcess::spawn(&args)
}

/// A simulator over `users` generated users in one account (its directory in
/// `directory.csv`), and an input over all of them in `input.csv`.
pub fn simulator_with_input(work: &Workdir, users: usize, extra: &[&str]) -> SimulatorProcess {
    let sim = simulator_with_directory(work, 1, users, extra);
    work.write(
        "input.csv",
        input_from_directory(work, "directory.csv", users),
    );
    sim
}

/// An input CSV (`account_id,user_id,display_name`) over the first `n` users of a directory
/// the simulator wrote.
pub fn input_from_directory(work: &Workdir, directory: &str, n: usize) -> String {
    let mut reader = csv::Reader::from_path(work.path(directory)).expect("the directory exists");
    let mut input = String::from("account_id,user_id,display_name\n");
    for record in reader.records().take(n) {
        let record = record.expect("a directory row");
        input.push_str(&format!("{},{},{}\n", &record[0], &record[1], &record[3]));
    }
    input
}

/// The rows of the `directory.csv` a simulator wrote: account_id, user_id, email, display_name….
pub fn directory_users(work: &Workdir) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_path(work.path("directory.csv")).expect("the directory");
    reader
        .records()
        .map(|record| record.expect("a directory row"))
        .collect()
}

/// The header of the directory `simulate --write-directory` writes and `--directory` reads,
/// as the README gives it (without the optional account columns).
pub const DIRECTORY_HEADER: [&str; 7] = [
    "account_id",
    "user_id",
    "email",
    "display_name",
    "license_type",
    "user_type",
    "registration_status",
];

/// Writes `directory.csv` in `work` for `simulate --directory`: the README's header, then
/// `rows` (account_id, user_id, email, display_name, license_type, user_type,
/// registration_status).
pub fn write_directory(work: &Workdir, rows: &[[String; 7]]) -> PathBuf {
    let path = work.path("directory.csv");
    let mut out = csv::Writer::from_path(&path).expect("a directory file");
    out.write_record(DIRECTORY_HEADER).expect("write");
    for row in rows {
        out.write_record(row).expect("write");
    }
    out.flush().expect("flush");
    path
}
