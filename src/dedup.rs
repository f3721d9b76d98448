//! Duplicate detection, with one owner. A reset voids the PIN before it, so a user must be
//! sent once per run: [`Dedup`] remembers every (account, user) pair the run has met, whether
//! a row named the user by id or by an email that resolved to them, and the pairs a resumed
//! run finds already reset. The reader and the executor ask it; neither holds its lock.

use std::hash::Hasher;
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
    /// Sized for `expected_rows` as it fills (see [`Fingerprints::reserve`]). `already_reset`
    /// comes from the results being resumed.
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

/// A set of (account, user) pairs kept as fingerprints, so that memory grows by about 14 bytes
/// a pair rather than by the IDs' length. A set keeps 112 bits of each 128-bit key: two
/// different pairs among two million share them with a probability below 10^-21.
///
/// The fingerprints are spread by their top 16 bits over [`SHARDS`] sorted vectors of a few
/// dozen each, which keep the next 96 bits (12 bytes) and grow an eighth at a time. A hash
/// table took twice the room: its slots are a power of two (a million pairs took 2,097,152
/// slots of 17 bytes), and while growing it held its old table beside the new one. A shard
/// grows alone, so no moment holds two copies of the set.
#[derive(Clone, Default)]
pub struct Fingerprints {
    /// Empty until the first insert; then [`SHARDS`] vectors, each sorted.
    shards: Vec<Vec<Rest>>,
    /// The room a shard takes at its first insert: the pairs expected in it.
    first_room: usize,
    len: usize,
}

/// How many shards: enough that a million pairs make shards of about 15, so that an insert
/// moves a few hundred bytes.
const SHARDS: usize = 1 << SHARD_BITS;
const SHARD_BITS: u32 = 16;

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

    /// Expects about `additional` pairs: each shard's first room is a little under its share
    /// (some get fewer; the rest grow in small steps), taken as the shard is first used, so an
    /// input whose rows are all skipped takes none.
    pub fn reserve(&mut self, additional: usize) {
        self.first_room = self.first_room.max(additional / SHARDS * 7 / 8);
    }

    /// Adds a key; false when it was already there.
    pub fn insert(&mut self, key: u128) -> bool {
        if self.shards.is_empty() {
            self.shards = vec![Vec::new(); SHARDS];
        }
        let first_room = self.first_room;
        let (shard, rest) = split(key);
        let shard = &mut self.shards[shard];
        let Err(place) = shard.binary_search(&rest) else {
            return false;
        };
        if shard.len() == shard.capacity() {
            // An eighth more: a doubling would leave half of the room unused at some counts.
            let more = if shard.is_empty() {
                first_room
            } else {
                shard.len() / 8
            };
            shard.reserve_exact(more.max(2));
        }
        shard.insert(place, rest);
        self.len += 1;
        true
    }

    pub fn remove(&mut self, key: u128) {
        let (shard, rest) = split(key);
        let Some(shard) = self.shards.get_mut(shard) else {
            return;
        };
        if let Ok(place) = shard.binary_search(&rest) {
            shard.remove(place);
            self.len -= 1;
        }
    }

    pub fn contains(&self, key: u128) -> bool {
        let (shard, rest) = split(key);
        self.shards
            .get(shard)
            .is_some_and(|shard| shard.binary_search(&rest).is_ok())
    }

    /// How many pairs the set holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for Fingerprints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fingerprints")
            .field("len", &self.len)
            .finish()
    }
}

/// What a shard keeps of a key: the 96 bits after the shard's, in words of 4 bytes so that
/// they pack tight.
type Rest = [u32; 3];

/// A key's shard (its top bits, as even as the hash that made it) and the rest of it.
fn split(key: u128) -> (usize, Rest) {
    let shard = (key >> (128 - SHARD_BITS)) as usize;
    let rest = key >> (128 - SHARD_BITS - 96);
    (
        shard,
        [(rest >> 64) as u32, (rest >> 32) as u32, rest as u32],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(n: u32) -> u128 {
        Fingerprints::key(
            &format!("account-{}", n % 7),
            &UserKey::Id(&format!("user-{n}")),
        )
    }

    #[test]
    fn a_set_holds_what_was_inserted_and_forgets_what_was_removed() {
        let mut set = Fingerprints::default();
        assert!(!set.contains(pair(1)));
        set.remove(pair(1));
        for n in 0..10_000 {
            assert!(set.insert(pair(n)), "pair {n} is new");
        }
        assert!(!set.insert(pair(42)), "a second insert finds it");
        assert_eq!(set.len(), 10_000);
        for n in (0..10_000).step_by(2) {
            set.remove(pair(n));
        }
        assert_eq!(set.len(), 5_000);
        assert!((0..10_000).all(|n| set.contains(pair(n)) == (n % 2 == 1)));
        assert!(set.contains(Fingerprints::key("ACCOUNT-3", &UserKey::Id("USER-3"))));
    }

    #[test]
    fn a_set_takes_little_more_room_than_its_fingerprints() {
        const PAIRS: usize = 1_000_000;
        let mut grown = Fingerprints::default();
        let mut reserved = Fingerprints::default();
        reserved.reserve(PAIRS);
        for n in 0..PAIRS as u32 {
            grown.insert(pair(n));
            reserved.insert(pair(n));
        }
        for set in [&grown, &reserved] {
            let slots: usize = set.shards.iter().map(Vec::capacity).sum();
            let per_pair = (slots * 12 + SHARDS * 24) as f64 / PAIRS as f64;
            assert!(per_pair < 16.0, "{per_pair:.1} bytes a pair");
        }
    }
}
