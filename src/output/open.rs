//! Every file the tool writes is opened here, one way: the results and verified files, an
//! export, a workbook, the summary JSON.
//!
//! A command first names every file it reads and writes to one [`Files`], before anything is
//! sent. That is where outputs are refused, each with one plain reason: a path that is, by
//! device and inode rather than by spelling, an input or another output of the same command
//! (even with `--force`: `-o users.csv` over the input, a summary over the results); a symbolic
//! link (the tool never writes through one); a directory; a folder that does not exist; and an
//! existing file without `--force` (or `--resume`, for the files rows are appended to).
//!
//! Then each kind of output is opened as it needs:
//! - [`RowsOutput`], a file of rows written as they come (results, verified): created with mode
//!   0600 whatever the umask, locked (`flock`) for the whole command, and, when resumed, cut
//!   back to its last whole line. The lock of an existing file is taken when it is named, before
//!   the command reads it; it is released when the command's last handle on the file closes, a
//!   crash included.
//! - [`WholeOutput`], a file written whole or not at all (an export, a workbook, the summary):
//!   written to a private temporary file beside the target, then renamed into place, never
//!   through the target.

use std::ffi::OsString;
use std::fs::{File, Metadata, OpenOptions, TryLockError};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::{Destination, Existing, OutputError};

/// Every file one command reads and writes, by what it is on disk: no output may land on
/// another of them.
#[derive(Debug, Default)]
pub struct Files {
    named: Vec<Named>,
    /// Whether an output goes to stdout already.
    stdout: bool,
}

/// A file named to [`Files`], and what it is to the command ("the input", "the results file").
#[derive(Debug)]
struct Named {
    role: &'static str,
    name: String,
    identity: Identity,
}

/// What a path is on disk: a file that exists is its device and inode (whatever its spelling
/// or links); one that does not yet is its folder's device and inode and its own name.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    Existing {
        device: u64,
        inode: u64,
    },
    New {
        device: u64,
        inode: u64,
        name: OsString,
    },
}

impl Identity {
    fn of_metadata(metadata: &Metadata) -> Self {
        Identity::Existing {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

impl Files {
    /// A file this command reads, such as its input: nothing it writes may land on it. A path
    /// that cannot be read is left to its reader to report.
    pub fn reads(&mut self, path: &Path, role: &'static str) {
        if let Ok(metadata) = std::fs::metadata(path) {
            self.named.push(Named {
                role,
                name: path.display().to_string(),
                identity: Identity::of_metadata(&metadata),
            });
        }
    }

    /// A file of rows this command writes (`role` as in "the results file"): checked, and when
    /// it exists already, locked at once, before the command reads or sends anything.
    pub fn rows(
        &mut self,
        destination: &Destination,
        existing: Existing,
        role: &'static str,
    ) -> Result<RowsOutput, OutputError> {
        let exists_hint = "pass --resume to continue that run, or --force to overwrite it";
        let target = self.writes(destination, existing, role, exists_hint)?;
        let held = match &target {
            Some(Target { path, metadata }) if metadata.as_ref().is_some_and(Metadata::is_file) => {
                Some(hold(path)?)
            }
            _ => None,
        };
        Ok(RowsOutput {
            destination: destination.clone(),
            existing,
            held,
        })
    }

    /// A file this command writes whole at its end (`role` as in "the summary"): checked now,
    /// written later through [`WholeOutput::create`]. `Existing::Append` replaces it too: a
    /// resumed run writes a summary of its own.
    pub fn whole(
        &mut self,
        destination: &Destination,
        existing: Existing,
        role: &'static str,
    ) -> Result<WholeOutput, OutputError> {
        self.writes(destination, existing, role, "pass --force to overwrite it")?;
        Ok(WholeOutput {
            destination: destination.clone(),
            replace: existing != Existing::Refuse,
            mode: PRIVATE,
        })
    }

    /// The refusals every output shares; `None` for stdout.
    fn writes(
        &mut self,
        destination: &Destination,
        existing: Existing,
        role: &'static str,
        exists_hint: &'static str,
    ) -> Result<Option<Target>, OutputError> {
        let Destination::File(path) = destination else {
            if std::mem::replace(&mut self.stdout, true) {
                return Err(OutputError::StdoutTwice(role));
            }
            return Ok(None);
        };
        let name = path.display().to_string();
        let (identity, metadata) = identify(path, &name)?;
        if let Some(other) = self.named.iter().find(|named| named.identity == identity) {
            return Err(OutputError::SameFile {
                file: name,
                role,
                other: other.name.clone(),
                other_role: other.role,
            });
        }
        let regular = metadata.as_ref().is_some_and(Metadata::is_file);
        if regular && existing == Existing::Refuse {
            return Err(OutputError::Exists {
                file: name,
                hint: exists_hint,
            });
        }
        warn_if_folder_is_open_to_others(path);
        self.named.push(Named {
            role,
            name,
            identity,
        });
        Ok(Some(Target {
            path: path.clone(),
            metadata,
        }))
    }
}

/// An output path that passed the refusals, and what is there now (`None`: nothing yet).
struct Target {
    path: PathBuf,
    metadata: Option<Metadata>,
}

/// What `path` is on disk, refusing what no output may be: a symbolic link, a directory, a path
/// whose folder does not exist.
fn identify(path: &Path, name: &str) -> Result<(Identity, Option<Metadata>), OutputError> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => match std::fs::metadata(path) {
            // A link to a device or a pipe (`/dev/stdout`) is how those are named: writing
            // to it changes no file.
            Ok(target) if !target.is_file() && !target.is_dir() => {
                Ok((Identity::of_metadata(&target), Some(target)))
            }
            _ => Err(OutputError::Symlink(name.to_string())),
        },
        Ok(metadata) if metadata.is_dir() => Err(OutputError::Directory(name.to_string())),
        Ok(metadata) => Ok((Identity::of_metadata(&metadata), Some(metadata))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let folder = folder_of(path);
            let missing = || OutputError::NoFolder {
                file: name.to_string(),
                folder: folder.display().to_string(),
            };
            let folder_metadata = std::fs::metadata(folder).map_err(|_| missing())?;
            if !folder_metadata.is_dir() {
                return Err(missing());
            }
            let identity = Identity::New {
                device: folder_metadata.dev(),
                inode: folder_metadata.ino(),
                name: path.file_name().unwrap_or_default().to_os_string(),
            };
            Ok((identity, None))
        }
        Err(source) => Err(OutputError::Unwritable {
            file: name.to_string(),
            source,
        }),
    }
}

/// The folder a file is in: its parent, or `.` for a bare name.
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A file of rows (results, verified) that passed the refusals: locked already when it
/// existed, created and locked by [`RowsOutput::open`] otherwise.
#[derive(Debug)]
pub struct RowsOutput {
    destination: Destination,
    existing: Existing,
    held: Option<HeldFile>,
}

/// A file of rows open for writing, and how many bytes of whole rows it holds already.
pub struct Opened {
    pub file: File,
    pub length: u64,
}

impl RowsOutput {
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The file as it was when it was named, when there was one (locked since): the file a
    /// resume reads.
    pub fn existing_file(&self) -> Option<&Path> {
        self.held.as_ref().map(|held| held.path.as_path())
    }

    /// Opens the file to write: the one held already (appended to, its unfinished last line
    /// cut off, or emptied for `--force`), or a new one, created and locked. `None` for stdout.
    pub fn open(self) -> Result<Option<Opened>, OutputError> {
        let Destination::File(path) = &self.destination else {
            return Ok(None);
        };
        let name = path.display().to_string();
        let Some(HeldFile { mut file, .. }) = self.held else {
            return open_unheld(path, self.existing, &name).map(Some);
        };
        let unwritable = |source| OutputError::Unwritable {
            file: name.clone(),
            source,
        };
        // The mode given at creation is reduced by the umask and ignored for an existing file.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(unwritable)?;
        let length = match self.existing {
            Existing::Append => whole_length(&mut file).map_err(unwritable)?,
            Existing::Overwrite | Existing::Refuse => 0,
        };
        file.set_len(length).map_err(unwritable)?;
        Ok(Some(Opened { file, length }))
    }
}

/// An existing file of rows, opened and locked: it stays this command's until the command ends.
#[derive(Debug)]
struct HeldFile {
    file: File,
    path: PathBuf,
}

/// Takes the lock of an existing file of rows, without following a link put there since it was
/// checked.
fn hold(path: &Path) -> Result<HeldFile, OutputError> {
    let name = path.display().to_string();
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|source| OutputError::Unwritable {
            file: name.clone(),
            source,
        })?;
    lock(&file, &name)?;
    Ok(HeldFile {
        file,
        path: path.to_path_buf(),
    })
}

/// A file that did not exist when it was named (created now, exclusively: one that appeared
/// meanwhile belongs to someone else), or one that is not a regular file (a device, a pipe).
fn open_unheld(path: &Path, existing: Existing, name: &str) -> Result<Opened, OutputError> {
    let unwritable = |source| OutputError::Unwritable {
        file: name.to_string(),
        source,
    };
    // Only a device or a pipe (`-o /dev/stdout`, a FIFO) may be opened as it is: a regular file
    // here appeared after the command started, and truncating or appending to it before
    // holding its lock could wipe or double another run's rows.
    let appeared = || match existing {
        Existing::Refuse => OutputError::Exists {
            file: name.to_string(),
            hint: "pass --resume to continue that run, or --force to overwrite it",
        },
        Existing::Append | Existing::Overwrite => OutputError::Appeared(name.to_string()),
    };
    if path.exists() {
        let device = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(unwritable)?;
        // Checked on what was opened, not on the path, which may have changed since.
        if device.metadata().map_err(unwritable)?.is_file() {
            return Err(appeared());
        }
        return Ok(Opened {
            file: device,
            length: 0,
        });
    }
    // O_EXCL: never over a file, nor through a link, that appeared since the path was checked.
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => appeared(),
            _ => unwritable(source),
        })?;
    // The mode given at creation is reduced by the umask.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(unwritable)?;
    lock(&file, name)?;
    Ok(Opened { file, length: 0 })
}

/// Takes the file's exclusive lock without waiting. A file system that cannot lock at all gets
/// a warning rather than a refusal: the command is still safe alone.
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

/// The results are private whatever the folder, but in a folder that others may write into
/// (without the sticky bit) they could rename or replace the file under the run.
fn warn_if_folder_is_open_to_others(path: &Path) {
    let folder = folder_of(path);
    let Ok(metadata) = std::fs::metadata(folder) else {
        return;
    };
    let mode = metadata.permissions().mode();
    if metadata.is_dir() && mode & 0o002 != 0 && mode & 0o1000 == 0 {
        crate::say!(
            "chime-pin-reset: warning: every user of this machine can write into {} (mode \
             {:04o}, no sticky bit) and so replace {}; prefer a folder of your own",
            folder.display(),
            mode & 0o7777,
            path.display()
        );
    }
}

/// A file written whole at the end of a command (an export, a workbook, the summary) that
/// passed the refusals.
#[derive(Debug)]
pub struct WholeOutput {
    destination: Destination,
    /// Whether a file there may be replaced (`--force`, or a resumed run's summary).
    replace: bool,
    /// The file's mode once in place.
    mode: u32,
}

/// The mode of every file the tool writes unless it says otherwise: anything may hold a PIN or
/// the names and emails of users.
const PRIVATE: u32 = 0o600;

impl WholeOutput {
    /// For a file that holds nothing private and that others must read (a manual page).
    pub fn readable_by_all(mut self) -> Self {
        self.mode = 0o644;
        self
    }

    pub fn name(&self) -> String {
        self.destination.name()
    }

    /// Starts writing: to stdout, or to a private temporary file beside the target (mode 0600,
    /// on the same file system so that the rename is atomic), removed if dropped before
    /// [`WholeFile::commit`].
    pub fn create(&self) -> Result<WholeFile, OutputError> {
        let path = match &self.destination {
            Destination::Stdout => return Ok(WholeFile::Stdout(BufWriter::new(io::stdout()))),
            Destination::File(path) => path,
        };
        let temporary = tempfile::Builder::new()
            .prefix(".chime-pin-reset-")
            .tempfile_in(folder_of(path))
            .map_err(|source| OutputError::Unwritable {
                file: path.display().to_string(),
                source,
            })?;
        if self.mode != PRIVATE {
            let readable = std::fs::Permissions::from_mode(self.mode);
            temporary
                .as_file()
                .set_permissions(readable)
                .map_err(|source| OutputError::Unwritable {
                    file: path.display().to_string(),
                    source,
                })?;
        }
        Ok(WholeFile::File {
            path: path.clone(),
            replace: self.replace,
            file: BufWriter::with_capacity(64 * 1024, temporary),
        })
    }

    /// Writes `bytes` as the whole file.
    pub fn write_all(&self, bytes: &[u8]) -> Result<(), OutputError> {
        let mut file = self.create()?;
        file.write_all(bytes)
            .map_err(|source| OutputError::Unwritable {
                file: self.name(),
                source,
            })?;
        file.commit()
    }
}

/// A whole file being written; nothing is in place until [`WholeFile::commit`].
pub enum WholeFile {
    Stdout(BufWriter<io::Stdout>),
    File {
        path: PathBuf,
        replace: bool,
        file: BufWriter<NamedTempFile>,
    },
}

impl Write for WholeFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            WholeFile::Stdout(out) => out.write(bytes),
            WholeFile::File { file, .. } => file.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            WholeFile::Stdout(out) => out.flush(),
            WholeFile::File { file, .. } => file.flush(),
        }
    }
}

impl WholeFile {
    /// Makes the file durable and renames it into place. Without leave to replace, a file that
    /// appeared there meanwhile is still not overwritten; a link put there is replaced, never
    /// followed.
    pub fn commit(self) -> Result<(), OutputError> {
        let (path, replace, file) = match self {
            WholeFile::Stdout(mut out) => {
                return out.flush().map_err(|source| OutputError::Unwritable {
                    file: Destination::Stdout.name(),
                    source,
                })
            }
            WholeFile::File {
                path,
                replace,
                file,
            } => (path, replace, file),
        };
        let unwritable = |source| OutputError::Unwritable {
            file: path.display().to_string(),
            source,
        };
        let temporary = file
            .into_inner()
            .map_err(|err| unwritable(err.into_error()))?;
        temporary.as_file().sync_all().map_err(unwritable)?;
        let persisted = if replace {
            temporary.persist(&path)
        } else {
            temporary.persist_noclobber(&path)
        };
        persisted.map_err(|err| match err.error.kind() {
            io::ErrorKind::AlreadyExists => OutputError::Appeared(path.display().to_string()),
            _ => unwritable(err.error),
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
