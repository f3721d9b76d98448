//! The results file on disk: private (mode 0600 whatever the umask), never overwritten without
//! `--force`, locked for the whole run, and cut back to its last whole line before a resumed
//! run appends to it.
//!
//! The lock is an exclusive advisory lock (`flock`) taken on an existing file before the run
//! reads it to resume, and on a new file as it is created: a second run on the same file (a
//! cron overlap, a second terminal) is refused at once, before it reads or sends anything. It
//! is released when the run's last handle on the file closes, a crash included.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Destination, Existing, OutputError};

/// A results file that existed when the run started, opened and locked: it stays this run's
/// until the run ends.
#[derive(Debug)]
pub struct HeldFile {
    file: File,
    path: PathBuf,
}

/// A results file open for writing, and how many bytes of whole rows it holds already.
pub struct Opened {
    pub file: File,
    pub length: u64,
}

/// Takes the lock of the results file when it exists already, before anything else is done:
/// `None` when there is no file yet (it is created and locked by [`open`]) or when it is not a
/// regular file (a device, a pipe). A file that exists when neither `--resume` nor `--force` is
/// given is refused here, before any request.
pub fn hold(
    destination: &Destination,
    existing: Existing,
) -> Result<Option<HeldFile>, OutputError> {
    let Destination::File(path) = destination else {
        return Ok(None);
    };
    let regular = std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file());
    if !regular {
        return Ok(None);
    }
    let name = destination.name();
    if existing == Existing::Refuse {
        return Err(OutputError::Exists(name));
    }
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
        .map_err(|source| OutputError::Unwritable {
            file: name.clone(),
            source,
        })?;
    lock(&file, &name)?;
    Ok(Some(HeldFile {
        file,
        path: path.clone(),
    }))
}

impl HeldFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Opens the file the run writes: the one held already (appended to, its unfinished last line
/// cut off, or emptied for `--force`), or a new one, created and locked.
pub fn open(
    path: &Path,
    existing: Existing,
    held: Option<HeldFile>,
) -> Result<Opened, OutputError> {
    let name = path.display().to_string();
    let unwritable = |source| OutputError::Unwritable {
        file: name.clone(),
        source,
    };
    warn_if_directory_is_readable(path);
    let Some(HeldFile { mut file, .. }) = held else {
        return open_unheld(path, existing, &name);
    };
    // The mode given at creation is reduced by the umask and ignored for an existing file.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(unwritable)?;
    let length = match existing {
        Existing::Append => whole_length(&mut file).map_err(unwritable)?,
        Existing::Overwrite | Existing::Refuse => 0,
    };
    file.set_len(length).map_err(unwritable)?;
    Ok(Opened { file, length })
}

/// A file that did not exist when the run started (created now, exclusively: one that appeared
/// meanwhile belongs to someone else), or one that is not a regular file.
fn open_unheld(path: &Path, existing: Existing, name: &str) -> Result<Opened, OutputError> {
    let unwritable = |source| OutputError::Unwritable {
        file: name.to_string(),
        source,
    };
    let mut options = OpenOptions::new();
    options.mode(0o600);
    let exists = path.exists();
    // Only a device or a pipe (`-o /dev/stdout`, a FIFO) may be opened as it is: a regular file
    // here appeared after the run started, and truncating or appending to it before holding
    // its lock could wipe or double another run's rows.
    if exists && std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file()) {
        return Err(match existing {
            Existing::Refuse => OutputError::Exists(name.to_string()),
            Existing::Append | Existing::Overwrite => OutputError::Appeared(name.to_string()),
        });
    }
    match (existing, exists) {
        (Existing::Overwrite, true) => options.write(true).truncate(true),
        (Existing::Append, true) => options.append(true),
        _ => options.write(true).create_new(true),
    };
    let file = options.open(path).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists if existing == Existing::Refuse => {
            OutputError::Exists(name.to_string())
        }
        io::ErrorKind::AlreadyExists => OutputError::Appeared(name.to_string()),
        _ => unwritable(source),
    })?;
    let metadata = file.metadata().map_err(unwritable)?;
    if metadata.is_file() {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(unwritable)?;
        lock(&file, name)?;
    }
    Ok(Opened { file, length: 0 })
}

/// Takes the file's exclusive lock without waiting. A file system that cannot lock at all gets
/// a warning rather than a refusal: the run is still safe alone.
fn lock(file: &File, name: &str) -> Result<(), OutputError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(OutputError::Locked(name.to_string())),
        Err(TryLockError::Error(err)) => {
            crate::say!(
                "chime-pin-reset: warning: cannot lock {name} ({err}): make sure no other run \
                 writes to it"
            );
            Ok(())
        }
    }
}

/// Where the whole lines of a file end: just past its last newline (0 when it has none). What
/// follows is the start of a row that a killed run never finished.
pub fn whole_length(file: &mut File) -> io::Result<u64> {
    let mut end = file.seek(SeekFrom::End(0))?;
    let mut chunk = vec![0u8; 8192];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let piece = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(piece)?;
        if let Some(at) = piece.iter().rposition(|&byte| byte == b'\n') {
            return Ok(start + at as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The file is private, but a directory anyone can list still shows that it exists.
fn warn_if_directory_is_readable(path: &Path) {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Ok(metadata) = std::fs::metadata(directory) else {
        return;
    };
    if metadata.is_dir() && metadata.permissions().mode() & 0o004 != 0 {
        crate::say!(
            "chime-pin-reset: warning: every user of this machine can list {}; the results \
             file itself is private (mode 0600)",
            directory.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_appeared_after_the_run_started_is_left_alone() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("results.csv");
        std::fs::write(&path, "another run's rows\n").expect("write");
        for existing in [Existing::Append, Existing::Overwrite] {
            let opened = open_unheld(&path, existing, "results.csv");
            assert!(
                matches!(opened, Err(OutputError::Appeared(_))),
                "{existing:?}"
            );
        }
        assert!(matches!(
            open_unheld(&path, Existing::Refuse, "results.csv"),
            Err(OutputError::Exists(_))
        ));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "another run's rows\n",
            "neither truncated nor appended to"
        );
    }
}
