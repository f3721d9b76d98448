//! The simulated user directory: which accounts and users exist, with the profile fields Chime
//! returns for each (an account's name and status, a user's email, name, license, type and
//! registration). It holds no PINs (the running simulator assigns those), so it can be printed
//! and saved freely.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context as _};
use rand::{Rng, SeedableRng};

use crate::rules::is_guid;

/// The user columns of a directory CSV, in the order [`Directory::write_csv`] writes them
/// (followed by [`ACCOUNT_COLUMNS`]). The first four are required when reading.
pub const CSV_COLUMNS: [&str; 7] = [
    "account_id",
    "user_id",
    "email",
    "display_name",
    "license_type",
    "user_type",
    "registration_status",
];

/// The optional account columns of a directory CSV, written after [`CSV_COLUMNS`]. Every row of
/// an account that gives a value must give the same one; blank cells take the defaults (a name
/// `Example Corp N`, N counting accounts in order of appearance, and `Active`).
pub const ACCOUNT_COLUMNS: [&str; 2] = ["account_name", "account_status"];

/// `AccountStatus` in the model.
pub const ACCOUNT_STATUSES: [&str; 2] = ["Active", "Suspended"];
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

/// One account of the directory: what GetAccount shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryAccount {
    pub account_id: String,
    pub name: String,
    /// One of [`ACCOUNT_STATUSES`].
    pub status: String,
}

/// The accounts and users the simulator knows, in insertion order.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    users: Vec<DirectoryUser>,
    /// (account_id, user_id) → position in `users`.
    index: HashMap<(String, String), usize>,
    /// Every account that has (or had) a user, in order of first appearance.
    accounts: Vec<DirectoryAccount>,
    /// account_id → position in `accounts`.
    account_index: HashMap<String, usize>,
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
    /// optionally `license_type,user_type,registration_status,account_name,account_status` (in
    /// any order).
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
        let mut positions = [None; CSV_COLUMNS.len() + ACCOUNT_COLUMNS.len()];
        for (slot, wanted) in positions
            .iter_mut()
            .zip(CSV_COLUMNS.iter().chain(&ACCOUNT_COLUMNS))
        {
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
        // account_id → (name, status) as rows give them, with the line that gave each.
        let mut given: HashMap<String, [Option<(String, u64)>; 2]> = HashMap::new();
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
            let account_status = field(8, "");
            if !account_status.is_empty() && !ACCOUNT_STATUSES.contains(&account_status.as_str()) {
                bail!(
                    "{name}:{line}: account_status {account_status:?} is not one of {}",
                    ACCOUNT_STATUSES.join(", ")
                );
            }
            let slots = given.entry(user.account_id.clone()).or_default();
            for ((slot, value), column) in slots
                .iter_mut()
                .zip([field(7, ""), account_status])
                .zip(ACCOUNT_COLUMNS)
            {
                if value.is_empty() {
                    continue;
                }
                match slot {
                    Some((earlier, at)) if *earlier != value => bail!(
                        "{name}:{line}: {column} {value:?} of account {} differs from {earlier:?} \
                         on line {at}",
                        user.account_id
                    ),
                    Some(_) => {}
                    None => *slot = Some((value, line)),
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
        for (account_id, [name, status]) in given {
            let default = directory
                .account(&account_id)
                .expect("every account given has a user")
                .clone();
            directory.set_account(DirectoryAccount {
                name: name.map_or(default.name, |(name, _)| name),
                status: status.map_or(default.status, |(status, _)| status),
                account_id,
            });
        }
        Ok(directory)
    }

    /// Writes the directory as CSV with all [`CSV_COLUMNS`] and [`ACCOUNT_COLUMNS`].
    pub fn write_csv(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = csv::Writer::from_path(path)
            .with_context(|| format!("cannot create directory file {}", path.display()))?;
        out.write_record(CSV_COLUMNS.iter().chain(&ACCOUNT_COLUMNS))?;
        for u in &self.users {
            let account = self
                .account(&u.account_id)
                .expect("every user's account is known");
            out.write_record([
                &u.account_id,
                &u.user_id,
                &u.email,
                &u.display_name,
                &u.license_type,
                &u.user_type,
                &u.registration_status,
                &account.name,
                &account.status,
            ])?;
        }
        out.flush()
            .with_context(|| format!("cannot write directory file {}", path.display()))?;
        Ok(())
    }

    /// Adds `user_id` to `account_id` with a made-up email and name, unless it is there already.
    pub fn ensure_user(&mut self, account_id: &str, user_id: &str) {
        self.ensure_user_with_email(account_id, user_id, None);
    }

    /// [`ensure_user`](Self::ensure_user), with the email the input gave for the user (a
    /// rehearsal's rows that give an id and an email must name one person).
    pub fn ensure_user_with_email(&mut self, account_id: &str, user_id: &str, email: Option<&str>) {
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
            email: email.map_or_else(
                || format!("{}@example.com", user_id.to_ascii_lowercase()),
                str::to_string,
            ),
            display_name: format!("User {short}"),
            license_type: "Pro".into(),
            user_type: "PrivateUser".into(),
            registration_status: "Registered".into(),
        });
    }

    /// Adds a user, replacing one with the same account and user ID. A new account is named
    /// `Example Corp N` (its position, from 1) and `Active`, until [`set_account`](Self::set_account).
    pub fn push(&mut self, user: DirectoryUser) {
        if !self.account_index.contains_key(&user.account_id) {
            self.set_account(DirectoryAccount {
                account_id: user.account_id.clone(),
                name: format!("Example Corp {}", self.accounts.len() + 1),
                status: "Active".into(),
            });
        }
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
        self.accounts
            .iter()
            .map(|a| a.account_id.as_str())
            .collect()
    }

    /// The account's name and status, if it has a user.
    pub fn account(&self, account_id: &str) -> Option<&DirectoryAccount> {
        self.account_index
            .get(account_id)
            .map(|&i| &self.accounts[i])
    }

    /// Adds an account or replaces the one with the same ID (an account without users is not
    /// served, but keeps its details for when one is pushed).
    pub fn set_account(&mut self, account: DirectoryAccount) {
        match self.account_index.get(&account.account_id) {
            Some(&i) => self.accounts[i] = account,
            None => {
                self.account_index
                    .insert(account.account_id.clone(), self.accounts.len());
                self.accounts.push(account);
            }
        }
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
    fn accounts_take_names_and_statuses_from_the_csv() {
        let a = "12345678-90ab-cdef-abcd-1234567890aa";
        let b = "12345678-90ab-cdef-abcd-1234567890bb";
        let user = |n: u8| format!("12345678-90ab-cdef-abcd-1234567890{n:02}");
        let text = format!(
            "account_id,user_id,email,display_name,account_status,account_name\n\
             {a},{},a@b.c,A,,\n\
             {a},{},a@b.c,A,Suspended,Acme\n\
             {b},{},a@b.c,A,,\n",
            user(1),
            user(2),
            user(3)
        );
        let d = Directory::from_csv_reader(text.as_bytes(), "dir.csv").unwrap();
        let details = |id| {
            let account = d.account(id).unwrap();
            (account.name.as_str(), account.status.as_str())
        };
        assert_eq!(details(a), ("Acme", "Suspended"));
        assert_eq!(details(b), ("Example Corp 2", "Active"));

        let text = format!(
            "account_id,user_id,email,display_name,account_name\n\
             {a},{},a@b.c,A,Acme\n\
             {a},{},a@b.c,A,Other\n",
            user(1),
            user(2)
        );
        let err = Directory::from_csv_reader(text.as_bytes(), "dir.csv").unwrap_err();
        assert!(
            format!("{err:#}").starts_with("dir.csv:3: account_name \"Other\""),
            "{err:#}"
        );
        let text = format!(
            "account_id,user_id,email,display_name,account_status\n{a},{},a@b.c,A,Closed\n",
            user(1)
        );
        let err = Directory::from_csv_reader(text.as_bytes(), "dir.csv").unwrap_err();
        assert!(format!("{err:#}").contains("account_status"), "{err:#}");
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
