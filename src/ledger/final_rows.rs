//! Each user's final row: the last row wins, across appended runs and several files.
//!
//! It takes two streaming passes so that memory grows by about 24 bytes a row, never by the
//! rows themselves: the first pass keeps a fingerprint of each row's user and the row's place,
//! and works out which row is each user's last; the second reads the files again and yields
//! those rows in file order.
//!
//! Rows that were never sent (`invalid`, `duplicate`) say nothing of a user's PIN, and a
//! duplicate may be written after the reset it repeats: a user's final row is their last sent
//! row (`reset`, `failed`, `would-reset`), or their last row when none was sent. A row that
//! names no user (an email whose lookup failed leaves both the user id and the email empty) is
//! a user of its own.

use std::path::PathBuf;

use crate::dedup::{Fingerprints, UserKey};
use crate::outcome::RowStatus;

use super::{LedgerError, ResultRow, RowReader};

/// One user's final row and the file it is in (an index into the paths given).
#[derive(Clone, Debug)]
pub struct FinalRow {
    pub file: usize,
    pub row: ResultRow,
}

/// The place of every user's final row, from the first pass; [`FinalRows::iter`] is the second.
#[derive(Debug)]
pub struct FinalRows {
    paths: Vec<PathBuf>,
    /// The ordinals (counted across the files, from 0) of the final rows, ascending.
    finals: Vec<u32>,
    rows: u64,
    /// Lines that runs killed mid-write left unfinished, by file: they are not rows.
    cut_off: Vec<(String, u64)>,
}

/// A row's user and place, as the first pass keeps them.
#[derive(Clone, Copy)]
struct Sighting {
    user: [u64; 2],
    sent: bool,
    ordinal: u32,
}

/// Reads `paths` once and works out each user's final row.
pub fn final_rows(paths: &[PathBuf]) -> Result<FinalRows, LedgerError> {
    let mut sightings = Vec::new();
    let mut finals = Vec::new();
    let mut cut_off = Vec::new();
    let mut ordinal: u32 = 0;
    for path in paths {
        let mut reader = RowReader::open(path)?;
        for row in reader.by_ref() {
            let row = row?;
            match user_fingerprint(&row) {
                Some(user) => sightings.push(Sighting {
                    user,
                    sent: was_sent(row.status),
                    ordinal,
                }),
                None => finals.push(ordinal),
            }
            ordinal = ordinal.checked_add(1).ok_or_else(|| LedgerError::BadRow {
                file: path.display().to_string(),
                line: row.file_line,
                problem: "more than 4 billion rows".to_string(),
            })?;
        }
        if let Some(line) = reader.cut_off_line() {
            cut_off.push((reader.file_name().to_string(), line));
        }
    }
    // Each user's sightings together, the sent ones last, the latest last of all.
    sightings.sort_unstable_by_key(|s| (s.user, s.sent, s.ordinal));
    finals.extend(
        sightings
            .chunk_by(|a, b| a.user == b.user)
            .map(|same_user| same_user[same_user.len() - 1].ordinal),
    );
    drop(sightings);
    finals.sort_unstable();
    Ok(FinalRows {
        paths: paths.to_vec(),
        finals,
        rows: u64::from(ordinal),
        cut_off,
    })
}

fn was_sent(status: RowStatus) -> bool {
    matches!(
        status,
        RowStatus::Reset | RowStatus::Failed | RowStatus::WouldReset
    )
}

/// The row's (account, user) fingerprint: by user id, or by email when it has none; `None`
/// when it names neither.
fn user_fingerprint(row: &ResultRow) -> Option<[u64; 2]> {
    let user = if !row.user_id.is_empty() {
        UserKey::Id(&row.user_id)
    } else if !row.primary_email.is_empty() {
        UserKey::Email(&row.primary_email)
    } else {
        return None;
    };
    let key = Fingerprints::key(&row.account_id, &user);
    Some([(key >> 64) as u64, key as u64])
}

impl FinalRows {
    /// The number of users (final rows).
    pub fn users(&self) -> usize {
        self.finals.len()
    }

    /// The number of rows read, every file together.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Lines left unfinished by runs killed mid-write: (file, line).
    pub fn cut_off(&self) -> &[(String, u64)] {
        &self.cut_off
    }

    /// The second pass: each user's final row, in file order.
    pub fn iter(&self) -> impl Iterator<Item = Result<FinalRow, LedgerError>> + '_ {
        let mut wanted = self.finals.iter().copied().peekable();
        let mut ordinal: u32 = 0;
        self.paths
            .iter()
            .enumerate()
            .flat_map(|(file, path)| {
                let rows: Box<dyn Iterator<Item = Result<ResultRow, LedgerError>>> =
                    match RowReader::open(path) {
                        Ok(reader) => Box::new(reader),
                        Err(err) => Box::new(std::iter::once(Err(err))),
                    };
                rows.map(move |row| row.map(|row| FinalRow { file, row }))
            })
            .filter_map(move |row| {
                let Ok(found) = row else { return Some(row) };
                let this = ordinal;
                ordinal += 1;
                (wanted.next_if_eq(&this).is_some()).then_some(Ok(found))
            })
    }
}
