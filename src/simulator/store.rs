//! The live user store: every user of the directory with its current PIN and reset count,
//! indexed by account and user ID. Each user's mutable part sits behind its own short lock, so
//! requests for different users never wait for each other.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::directory::{Directory, DirectoryUser};

/// A user's PIN and how often it was reset. Its `Debug` never shows the PIN.
pub(crate) struct PinRecord {
    pub pin: [u8; 10],
    pub reset_count: u64,
}

impl std::fmt::Debug for PinRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinRecord")
            .field("pin", &"<redacted>")
            .field("reset_count", &self.reset_count)
            .finish()
    }
}

/// One user: the directory's profile and the live PIN.
#[derive(Debug)]
pub(crate) struct StoredUser {
    pub info: DirectoryUser,
    /// The position in the directory, which the simulated dates derive from.
    pub index: u32,
    pin: Mutex<PinRecord>,
}

impl StoredUser {
    /// The user's PIN record, locked. Never hold it across an await.
    pub fn pin(&self) -> MutexGuard<'_, PinRecord> {
        self.pin.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One account's users.
struct AccountUsers {
    /// Indexes into `UserStore::users`, in directory order.
    users: Vec<u32>,
    by_id: HashMap<Box<str>, u32>,
}

/// Every user, by account and user ID.
pub(crate) struct UserStore {
    users: Vec<StoredUser>,
    accounts: HashMap<Box<str>, AccountUsers>,
}

impl UserStore {
    /// The directory's users, each with the PIN `initial_pin` gives, in directory order.
    pub fn new(directory: &Directory, mut initial_pin: impl FnMut() -> [u8; 10]) -> Self {
        let mut users = Vec::with_capacity(directory.len());
        let mut accounts: HashMap<Box<str>, AccountUsers> = HashMap::new();
        for info in directory.users() {
            let index = u32::try_from(users.len()).expect("fewer than 4 billion users");
            let account = accounts
                .entry(info.account_id.as_str().into())
                .or_insert_with(|| AccountUsers {
                    users: Vec::new(),
                    by_id: HashMap::new(),
                });
            account.users.push(index);
            account.by_id.insert(info.user_id.as_str().into(), index);
            users.push(StoredUser {
                info: info.clone(),
                index,
                pin: Mutex::new(PinRecord {
                    pin: initial_pin(),
                    reset_count: 0,
                }),
            });
        }
        UserStore { users, accounts }
    }

    /// Whether the account exists.
    pub fn has_account(&self, account_id: &str) -> bool {
        self.accounts.contains_key(account_id)
    }

    /// The user, if the account holds it.
    pub fn user(&self, account_id: &str, user_id: &str) -> Option<&StoredUser> {
        let index = *self.accounts.get(account_id)?.by_id.get(user_id)?;
        Some(&self.users[index as usize])
    }

    /// The users of an account in directory order, `None` for an unknown account.
    pub fn account_users(&self, account_id: &str) -> Option<impl Iterator<Item = &StoredUser>> {
        let account = self.accounts.get(account_id)?;
        Some(account.users.iter().map(|&i| &self.users[i as usize]))
    }

    /// Every user in directory order.
    pub fn users(&self) -> &[StoredUser] {
        &self.users
    }
}
