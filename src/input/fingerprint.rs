//! The fingerprint of an input file: its size, its modification time and a SHA-256 of its
//! bytes, taken as the reader reads them. The plan keeps the fingerprint of what the read-ahead
//! pass read, and the run's own reader compares the bytes it reads with it: an input that
//! changes between the plan and the run (edited, replaced, truncated by a careless `-o`) stops
//! the run rather than resetting users the plan never counted.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a reader read of an input file, once it reached the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFingerprint {
    /// Bytes read.
    pub size: u64,
    /// The file's modification time when it was opened (RFC 3339), kept for the record: the
    /// bytes decide whether the input changed, so a file merely touched still matches.
    pub modified: Option<String>,
    /// SHA-256 of the bytes read, in lowercase hex.
    pub sha256: String,
}

impl InputFingerprint {
    /// The same bytes.
    pub fn same_bytes(&self, other: &InputFingerprint) -> bool {
        self.size == other.size && self.sha256 == other.sha256
    }

    /// Whether the file at `path` still holds the bytes of `self`: `None` when it does, what
    /// it holds now when it does not. Same size and modification time pass at once; anything
    /// else is hashed again (a file merely touched still matches).
    pub fn check_file(&self, path: &Path) -> io::Result<Option<InputFingerprint>> {
        let file = File::open(path)?;
        let modified = file
            .metadata()?
            .modified()
            .ok()
            .map(crate::rules::rfc3339_millis);
        if file.metadata()?.len() == self.size && modified == self.modified {
            return Ok(None);
        }
        let now = InputFingerprint::of_file(file)?;
        Ok((!now.same_bytes(self)).then_some(now))
    }

    /// The change from `self` (what the plan read) to `read`, in words, naming the input.
    pub fn describe_change(&self, input: &str, read: &InputFingerprint) -> String {
        format!(
            "{input} changed after the plan read it: the plan read {} bytes (sha256 {}), this \
             run read {} bytes (sha256 {})",
            self.size,
            short_hash(&self.sha256),
            read.size,
            short_hash(&read.sha256)
        )
    }

    /// The fingerprint of a whole file, read now (a workbook, which its own library reads).
    pub fn of_file(file: File) -> io::Result<InputFingerprint> {
        let taken = Arc::new(OnceLock::new());
        let mut reader = Hashing::new(file, taken.clone());
        io::copy(&mut reader, &mut io::sink())?;
        Ok(taken
            .get()
            .cloned()
            .expect("a reader read to its end has its fingerprint"))
    }
}

/// A file read through a SHA-256: at its end, its fingerprint is set in `taken`.
pub struct Hashing {
    file: File,
    hasher: Sha256,
    size: u64,
    modified: Option<String>,
    taken: Arc<OnceLock<InputFingerprint>>,
}

impl Hashing {
    pub fn new(file: File, taken: Arc<OnceLock<InputFingerprint>>) -> Hashing {
        let modified = file
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .map(crate::rules::rfc3339_millis);
        Hashing {
            file,
            hasher: Sha256::new(),
            size: 0,
            modified,
            taken,
        }
    }
}

impl Read for Hashing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read(buf)?;
        if read == 0 && !buf.is_empty() {
            let _ = self.taken.set(InputFingerprint {
                size: self.size,
                modified: self.modified.clone(),
                sha256: hex::encode(self.hasher.clone().finalize()),
            });
        }
        self.hasher.update(&buf[..read]);
        self.size += read as u64;
        Ok(read)
    }
}

/// The first 12 hex digits of a hash, enough to tell two apart in a message.
fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
