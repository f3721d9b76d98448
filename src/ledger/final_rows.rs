//! Each user's final row: the last row wins, across appended runs and several files.
//!
//! It takes two streaming passes so that memory grows by 20 bytes a row, never by the rows
//! themselves: the first pass keeps a fingerprint of each row's user and the row's place (in a
//! table sized up front from a count of the files' lines, so that it never holds an old and a
//! new copy while growing), and works out which row is each user's last; the second reads the
//! files again and yields those rows in file order.
//!
//! Rows that were never sent (`invalid`, `duplicate`) say nothing of a user's PIN, and a
//! duplicate may be written after the reset it repeats; a `would-reset` row of a dry run
//! changed nothing, so it never stands in for a real one. A user's final row is their last real
//! row (`reset`, `failed`), else their last `would-reset` row, else their last row. A row that
//! names no user (an email whose lookup failed leaves both the user id and the email empty) is
//! a user of its own.

use std::fs::File;
use std::io::Read;
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
    /// Whether any row was really sent (`reset`, `failed`): the files record a rotation, not
    /// only a dry run.
    real_rows: bool,
}

/// A row's user and place, as the first pass keeps them: 20 bytes.
#[derive(Clone, Copy)]
struct Sighting {
    /// The 128-bit fingerprint of (account, user), in 4-byte words so the struct packs tight.
    user: [u32; 4],
    /// The row's ordinal below [`RANK_SHIFT`], the row's [`rank`] above it.
    place: u32,
}

/// Where a row's rank starts in [`Sighting::place`]: the rank outranks the order of the rows.
const RANK_SHIFT: u32 = 30;
/// The most rows the files may hold together.
const MAX_ROWS: u32 = 1 << RANK_SHIFT;

/// Reads `paths` once and works out each user's final row.
pub fn final_rows(paths: &[PathBuf]) -> Result<FinalRows, LedgerError> {
    let mut sightings = Vec::with_capacity(count_lines(paths));
    let mut finals = Vec::new();
    let mut cut_off = Vec::new();
    let mut real_rows = false;
    let mut ordinal: u32 = 0;
    for path in paths {
        let mut reader = RowReader::open(path)?;
        for row in reader.by_ref() {
            let row = row?;
            real_rows |= rank(row.status) == REAL;
            match user_fingerprint(&row) {
                Some(user) => sightings.push(Sighting {
                    user,
                    place: rank(row.status) << RANK_SHIFT | ordinal,
                }),
                None => finals.push(ordinal),
            }
            ordinal += 1;
            if ordinal == MAX_ROWS {
                return Err(LedgerError::BadRow {
                    file: path.display().to_string(),
                    line: row.file_line,
                    problem: "more than a billion rows".to_string(),
                });
            }
        }
        if let Some(line) = reader.cut_off_line() {
            cut_off.push((reader.file_name().to_string(), line));
        }
    }
    // Each user's sightings together, the highest rank last, the latest of it last of all.
    sightings.sort_unstable_by_key(|s| (s.user, s.place));
    // Sized exactly, like the sightings: growing would hold two copies at the peak.
    finals.reserve_exact(sightings.chunk_by(|a, b| a.user == b.user).count());
    finals.extend(
        sightings
            .chunk_by(|a, b| a.user == b.user)
            .map(|same_user| same_user[same_user.len() - 1].place % MAX_ROWS),
    );
    drop(sightings);
    finals.sort_unstable();
    Ok(FinalRows {
        paths: paths.to_vec(),
        finals,
        rows: u64::from(ordinal),
        cut_off,
        real_rows,
    })
}

/// A row that changed or tried to change a PIN, or found its user gone.
const REAL: u32 = 2;

/// How much a row says of its user's PIN: a real row most, a dry run's look-up less, a row
/// never sent nothing.
fn rank(status: RowStatus) -> u32 {
    match status {
        RowStatus::Reset | RowStatus::Failed | RowStatus::Gone => REAL,
        RowStatus::WouldReset => 1,
        // `found` is verify's, never a results file's.
        RowStatus::Invalid | RowStatus::Duplicate | RowStatus::Found => 0,
    }
}

/// Whether a user whose final row has `status` is done. A rotation is finished only when every
/// user's final real row is `reset` (or `gone`, a user already removed, under `--missing-ok`);
/// `would-reset` is done only in files of dry runs alone.
pub fn is_done(status: RowStatus, real_rows: bool) -> bool {
    match status {
        RowStatus::Reset | RowStatus::Gone => true,
        RowStatus::WouldReset => !real_rows,
        RowStatus::Failed | RowStatus::Invalid | RowStatus::Duplicate | RowStatus::Found => false,
    }
}

/// The row's (account, user) fingerprint: by user id, or by email when it has none; `None`
/// when it names neither.
fn user_fingerprint(row: &ResultRow) -> Option<[u32; 4]> {
    let user = if !row.user_id.is_empty() {
        UserKey::Id(&row.user_id)
    } else if !row.primary_email.is_empty() {
        UserKey::Email(&row.primary_email)
    } else {
        return None;
    };
    let key = Fingerprints::key(&row.account_id, &user);
    Some([
        (key >> 96) as u32,
        (key >> 64) as u32,
        (key >> 32) as u32,
        key as u32,
    ])
}

/// The lines of the files (at least their rows): what the first pass reserves room for. A
/// file that cannot be read counts nothing here; the pass names it.
fn count_lines(paths: &[PathBuf]) -> usize {
    let mut lines = 0;
    let mut buffer = vec![0u8; 256 * 1024];
    for path in paths {
        let Ok(mut file) = File::open(path) else {
            continue;
        };
        while let Ok(read @ 1..) = file.read(&mut buffer) {
            lines += buffer[..read].iter().filter(|&&byte| byte == b'\n').count();
        }
    }
    lines
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

    /// Whether any row was really sent: the files record a rotation, not only a dry run.
    pub fn has_real_rows(&self) -> bool {
        self.real_rows
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
