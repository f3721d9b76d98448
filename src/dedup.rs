//! Duplicate detection, with one owner. A reset voids the PIN before it, so a user must be
//! sent once per run: [`Dedup`] remembers every (account, user) pair the run has met, whether
//! a row named the user by id or by an email that resolved to them, and the pairs a resumed
//! run finds already reset. The reader and the executor ask it; neither holds its lock.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

/// How a row names its user, borrowed for a look-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserKey<'a> {
    Id(&'a str),
    Email(&'a str),
}

/// What [`Dedup::admit`] says of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The first row to name this user: send it.
    First,
    /// An earlier row named this user.
    Duplicate,
    /// The results being resumed hold this user's reset already.
    AlreadyReset,
}

/// The run's memory of the users it has met.
#[derive(Debug, Default)]
pub struct Dedup {
    seen: Mutex<Fingerprints>,
    already_reset: Arc<Fingerprints>,
}

impl Dedup {
    /// Room for `expected_rows` up front: growing the set later would hold its old and new
    /// tables in memory together, the run's peak. `already_reset` comes from the results
    /// being resumed.
    pub fn new(expected_rows: Option<u64>, already_reset: Arc<Fingerprints>) -> Self {
        let mut seen = Fingerprints::default();
        if let Some(rows) = expected_rows {
            seen.reserve(usize::try_from(rows).unwrap_or(0));
        }
        Dedup {
            seen: Mutex::new(seen),
            already_reset,
        }
    }

    /// Judges a row of the input as it is read.
    pub fn admit(&self, account_id: &str, user: UserKey<'_>) -> Admission {
        let key = Fingerprints::key(account_id, &user);
        if self.already_reset.contains(key) {
            Admission::AlreadyReset
        } else if self.lock().insert(key) {
            Admission::First
        } else {
            Admission::Duplicate
        }
    }

    /// Claims the user an email resolved to; false when another row names the same user
    /// already (by id, or by another email), or when the results being resumed hold their
    /// reset (what is done is keyed by user id). Rows read later that name it are duplicates.
    pub fn claim_resolved(&self, account_id: &str, user_id: &str) -> bool {
        let key = Fingerprints::key(account_id, &UserKey::Id(user_id));
        !self.already_reset.contains(key) && self.lock().insert(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Fingerprints> {
        self.seen
            .lock()
            .expect("the set of pairs is never poisoned")
    }
}

/// A set of (account, user) pairs kept as 128-bit fingerprints, so that memory grows by about
/// 17 bytes a row rather than by the IDs' length. Two different pairs share a fingerprint with
/// a probability below 10^-26 in a million rows.
#[derive(Clone, Debug, Default)]
pub struct Fingerprints {
    set: HashSet<u128, BuildHasherDefault<AlreadyHashed>>,
}

impl Fingerprints {
    /// The fingerprint of a pair, case-insensitive: two SipHash passes with different salts
    /// over the lowercased IDs.
    pub fn key(account_id: &str, user: &UserKey) -> u128 {
        let (kind, value) = match user {
            UserKey::Id(user) => (0u8, *user),
            UserKey::Email(email) => (1u8, *email),
        };
        // IDs are short: lowercase them on the stack and hash one slice.
        let mut buffer = [0u8; 256];
        let length = account_id.len() + value.len() + 2;
        let mut heap = Vec::new();
        let bytes: &mut [u8] = if length <= buffer.len() {
            &mut buffer[..length]
        } else {
            heap.resize(length, 0);
            &mut heap
        };
        bytes[0] = kind;
        bytes[1..=account_id.len()].copy_from_slice(account_id.as_bytes());
        bytes[account_id.len() + 1] = 0xff;
        bytes[account_id.len() + 2..].copy_from_slice(value.as_bytes());
        bytes.make_ascii_lowercase();
        let half = |salt: u64| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            hasher.write_u64(salt);
            hasher.write(bytes);
            hasher.finish()
        };
        (u128::from(half(1)) << 64) | u128::from(half(2))
    }

    pub fn reserve(&mut self, additional: usize) {
        self.set.reserve(additional);
    }

    /// Adds a key; false when it was already there.
    pub fn insert(&mut self, key: u128) -> bool {
        self.set.insert(key)
    }

    pub fn remove(&mut self, key: u128) {
        self.set.remove(&key);
    }

    pub fn contains(&self, key: u128) -> bool {
        self.set.contains(&key)
    }
}

/// The hasher of [`Fingerprints`]' set: its keys are hashes already, so their low bits serve.
#[derive(Default)]
pub struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is ever called; fold anything else in all the same.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }
}
