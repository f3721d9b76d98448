//! The simulated user directory: which accounts and users exist, with the profile fields Chime
//! returns. It holds no PINs (the running simulator assigns those), so it can be printed and
//! saved freely.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context as _};
use rand::{Rng, SeedableRng};

use crate::rules::is_guid;

/// Columns of a directory CSV, in the order [`Directory::write_csv`] writes them. The first four
/// are required when reading.
pub const CSV_COLUMNS: [&str; 7] = [
    "account_id",
    "user_id",
    "email",
    "display_name",
    "license_type",
    "user_type",
    "registration_status",
];

/// `License` in the model.
pub const LICENSE_TYPES: [&str; 4] = ["Basic", "Plus", "Pro", "ProTrial"];
/// `UserType` in the model.
pub const USER_TYPES: [&str; 2] = ["PrivateUser", "SharedDevice"];
/// `RegistrationStatus` in the model.
pub const REGISTRATION_STATUSES: [&str; 3] = ["Unregistered", "Registered", "Suspended"];

/// One user of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub account_id: String,
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    /// One of [`LICENSE_TYPES`].
    pub license_type: String,
    /// One of [`USER_TYPES`].
    pub user_type: String,
    /// One of [`REGISTRATION_STATUSES`].
    pub registration_status: String,
}

/// The accounts and users the simulator knows, in insertion order.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    users: Vec<DirectoryUser>,
    /// (account_id, user_id) → position in `users`.
    index: HashMap<(String, String), usize>,
}

const FIRST_NAMES: [&str; 16] = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "John",
    "Katherine",
    "Leslie",
    "Margaret",
    "Niklaus",
    "Radia",
    "Tony",
];
const LAST_NAMES: [&str; 16] = [
    "Allen", "Backus", "Dijkstra", "Hamilton", "Hoare", "Hopper", "Johnson", "Knuth", "Lamarr",
    "Liskov", "Lovelace", "McCarthy", "Perlman", "Shannon", "Turing", "Wirth",
];

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// `accounts` accounts of `users_per_account` users each, identical for the same `seed`.
    /// Every seventh user is still `Unregistered`; the rest are `Registered` Pro users.
    pub fn generate(accounts: usize, users_per_account: usize, seed: u64) -> Self {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed ^ 0x6469_7265_6374_6f72);
        let mut directory = Directory::new();
        let mut seen = HashSet::new();
        let mut guid = |rng: &mut rand::rngs::SmallRng| loop {
            let id = format_guid(rng.random());
            if seen.insert(id.clone()) {
                break id;
            }
        };
        for a in 0..accounts {
            let account_id = guid(&mut rng);
            for u in 0..users_per_account {
                let user_id = guid(&mut rng);
                let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
                let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
                let n = u + 1;
                let registration = if n % 7 == 0 {
                    "Unregistered"
                } else {
                    "Registered"
                };
                directory.push(DirectoryUser {
                    email: format!(
                        "{}.{}.{n}@account{}.example.com",
                        first.to_ascii_lowercase(),
                        last.to_ascii_lowercase(),
                        a + 1
                    ),
                    display_name: format!("{first} {last}"),
                    account_id: account_id.clone(),
                    user_id,
                    license_type: "Pro".into(),
                    user_type: "PrivateUser".into(),
                    registration_status: registration.into(),
                });
            }
        }
        directory
    }

    /// Reads a directory CSV with the header `account_id,user_id,email,display_name` and
    /// optionally `license_type,user_type,registration_status` (in any order).
    pub fn from_csv_path(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open directory file {}", path.display()))?;
        Self::from_csv_reader(file, &path.display().to_string())
    }

    fn from_csv_reader(reader: impl std::io::Read, name: &str) -> anyhow::Result<Self> {
        let mut csv = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers = csv
            .headers()
            .with_context(|| format!("{name}:1: cannot read the CSV header"))?
            .clone();
        let column = |wanted: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(wanted));
        let mut positions = [None; 7];
        for (slot, wanted) in positions.iter_mut().zip(CSV_COLUMNS) {
            *slot = column(wanted);
        }
        let missing: Vec<&str> = CSV_COLUMNS[..4]
            .iter()
            .zip(positions)
            .filter(|(_, p)| p.is_none())
            .map(|(c, _)| *c)
            .collect();
        if !missing.is_empty() {
            bail!(
                "{name}:1: the header lacks column(s) {}; expected {}",
                missing.join(", "),
                CSV_COLUMNS.join(",")
            );
        }
        let mut directory = Directory::new();
        for record in csv.records() {
            let record = record.with_context(|| format!("{name}: malformed CSV"))?;
            let line = record.position().map_or(0, |p| p.line());
            let field = |i: usize, default: &str| -> String {
                positions[i]
                    .and_then(|p| record.get(p))
                    .filter(|v| !v.is_empty())
                    .unwrap_or(default)
                    .to_string()
            };
            let user = DirectoryUser {
                account_id: field(0, ""),
                user_id: field(1, ""),
                email: field(2, ""),
                display_name: field(3, ""),
                license_type: field(4, "Pro"),
                user_type: field(5, "PrivateUser"),
                registration_status: field(6, "Registered"),
            };
            for (what, value) in [("account_id", &user.account_id), ("user_id", &user.user_id)] {
                if !is_guid(value) {
                    bail!("{name}:{line}: {what} {value:?} is not a GUID (8-4-4-4-12 hex digits)");
                }
            }
            for (what, value, allowed) in [
                ("license_type", &user.license_type, &LICENSE_TYPES[..]),
                ("user_type", &user.user_type, &USER_TYPES[..]),
                (
                    "registration_status",
                    &user.registration_status,
                    &REGISTRATION_STATUSES[..],
                ),
            ] {
                if !allowed.contains(&value.as_str()) {
                    bail!(
                        "{name}:{line}: {what} {value:?} is not one of {}",
                        allowed.join(", ")
                    );
                }
            }
            if directory.contains(&user.account_id, &user.user_id) {
                bail!(
                    "{name}:{line}: user {} of account {} appears twice",
                    user.user_id,
                    user.account_id
                );
            }
            directory.push(user);
        }
        Ok(directory)
    }

    /// Writes the directory as CSV with all [`CSV_COLUMNS`].
    pub fn write_csv(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = csv::Writer::from_path(path)
            .with_context(|| format!("cannot create directory file {}", path.display()))?;
        out.write_record(CSV_COLUMNS)?;
        for u in &self.users {
            out.write_record([
                &u.account_id,
                &u.user_id,
                &u.email,
                &u.display_name,
                &u.license_type,
                &u.user_type,
                &u.registration_status,
            ])?;
        }
        out.flush()
            .with_context(|| format!("cannot write directory file {}", path.display()))?;
        Ok(())
    }

    /// Adds `user_id` to `account_id` with a made-up email and name, unless it is there already.
    pub fn ensure_user(&mut self, account_id: &str, user_id: &str) {
        if self.contains(account_id, user_id) {
            return;
        }
        let short: String = user_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect();
        self.push(DirectoryUser {
            account_id: account_id.to_string(),
            user_id: user_id.to_string(),
            email: format!("{}@example.com", user_id.to_ascii_lowercase()),
            display_name: format!("User {short}"),
            license_type: "Pro".into(),
            user_type: "PrivateUser".into(),
            registration_status: "Registered".into(),
        });
    }

    /// Adds a user, replacing one with the same account and user ID.
    pub fn push(&mut self, user: DirectoryUser) {
        let key = (user.account_id.clone(), user.user_id.clone());
        match self.index.get(&key) {
            Some(&i) => self.users[i] = user,
            None => {
                self.index.insert(key, self.users.len());
                self.users.push(user);
            }
        }
    }

    /// Whether the directory holds this user.
    pub fn contains(&self, account_id: &str, user_id: &str) -> bool {
        // The tuple key needs owned strings; this is not on a hot path.
        self.index
            .contains_key(&(account_id.to_string(), user_id.to_string()))
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The users in insertion order.
    pub fn users(&self) -> &[DirectoryUser] {
        &self.users
    }

    /// The distinct account IDs in order of first appearance.
    pub fn accounts(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.users
            .iter()
            .map(|u| u.account_id.as_str())
            .filter(|a| seen.insert(*a))
            .collect()
    }
}

/// Lowercase 8-4-4-4-12 hex with the version-4 and variant bits set, as a random GUID has.
pub(crate) fn format_guid(bits: u128) -> String {
    let v = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_directory_is_deterministic_and_well_formed() {
        let a = Directory::generate(2, 5, 7);
        let b = Directory::generate(2, 5, 7);
        let c = Directory::generate(2, 5, 8);
        assert_eq!(a.users(), b.users());
        assert_ne!(a.users(), c.users());
        assert_eq!(a.len(), 10);
        assert_eq!(a.accounts().len(), 2);
        assert!(a
            .users()
            .iter()
            .all(|u| is_guid(&u.user_id) && is_guid(&u.account_id)));
        assert!(a
            .users()
            .iter()
            .all(|u| u.user_id == u.user_id.to_ascii_lowercase()));
        let emails: HashSet<_> = a.users().iter().map(|u| &u.email).collect();
        assert_eq!(emails.len(), 10);
    }

    #[test]
    fn guid_check() {
        assert!(is_guid("12345678-90ab-cdef-ABCD-1234567890ab"));
        assert!(!is_guid("12345678-90ab-cdef-ABCD-1234567890a"));
        assert!(!is_guid("12345678x90ab-cdef-ABCD-1234567890ab"));
        assert!(!is_guid("g2345678-90ab-cdef-ABCD-1234567890ab"));
        assert!(is_guid(&format_guid(u128::MAX)));
    }

    #[test]
    fn csv_errors_name_the_line() {
        let text = "account_id,user_id,email,display_name\n\
                    12345678-90ab-cdef-abcd-1234567890ab,12345678-90ab-cdef-abcd-1234567890ac,a@b.c,A\n\
                    12345678-90ab-cdef-abcd-1234567890ab,nope,a@b.c,A\n";
        let err = Directory::from_csv_reader(text.as_bytes(), "dir.csv").unwrap_err();
        assert!(
            format!("{err:#}").starts_with("dir.csv:3: user_id \"nope\""),
            "{err:#}"
        );
        let err = Directory::from_csv_reader("account_id,email\n".as_bytes(), "d.csv").unwrap_err();
        assert!(
            format!("{err:#}").contains("user_id, display_name"),
            "{err:#}"
        );
    }

    #[test]
    fn ensure_user_adds_once() {
        let mut d = Directory::new();
        d.ensure_user(
            "12345678-90ab-cdef-abcd-1234567890ab",
            "12345678-90ab-cdef-abcd-1234567890ac",
        );
        d.ensure_user(
            "12345678-90ab-cdef-abcd-1234567890ab",
            "12345678-90ab-cdef-abcd-1234567890ac",
        );
        assert_eq!(d.len(), 1);
    }
}
