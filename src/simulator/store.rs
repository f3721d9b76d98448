//! The live store: every account and user of the directory, with each user's current PIN and
//! reset and logout counts and whether the admin endpoint removed it, indexed by account and user ID. Each
//! user's mutable part sits behind its own short lock, so requests for different users never
//! wait for each other.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::directory::{Directory, DirectoryAccount, DirectoryUser};

/// A user's PIN, how often it was reset, how often the user was logged out, and whether the
/// user was removed. Its `Debug` never shows the PIN.
pub(crate) struct PinRecord {
    pub pin: [u8; 10],
    pub reset_count: u64,
    /// LogoutUser calls carried out for the user.
    pub logout_count: u64,
    /// Removed by `DELETE /__simulator/users/…`: the API no longer finds the user.
    pub removed: bool,
}

impl std::fmt::Debug for PinRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinRecord")
            .field("pin", &"<redacted>")
            .field("reset_count", &self.reset_count)
            .field("logout_count", &self.logout_count)
            .field("removed", &self.removed)
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

/// One account: its details and its users.
pub(crate) struct StoredAccount {
    pub details: DirectoryAccount,
    /// The position among the accounts, which the simulated creation date derives from.
    pub index: u32,
    /// Indexes into `UserStore::users`, in directory order.
    users: Vec<u32>,
    by_id: HashMap<Box<str>, u32>,
}

/// Every account and user, by ID.
pub(crate) struct UserStore {
    users: Vec<StoredUser>,
    accounts: HashMap<Box<str>, StoredAccount>,
}

impl UserStore {
    /// The directory's users, each with the PIN `initial_pin` gives, in directory order.
    pub fn new(directory: &Directory, mut initial_pin: impl FnMut() -> [u8; 10]) -> Self {
        let mut users = Vec::with_capacity(directory.len());
        let mut accounts: HashMap<Box<str>, StoredAccount> = HashMap::new();
        for info in directory.users() {
            let index = u32::try_from(users.len()).expect("fewer than 4 billion users");
            let next_account = u32::try_from(accounts.len()).expect("fewer accounts than users");
            let account = accounts
                .entry(info.account_id.as_str().into())
                .or_insert_with(|| StoredAccount {
                    details: directory
                        .account(&info.account_id)
                        .expect("the directory knows every user's account")
                        .clone(),
                    index: next_account,
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
                    logout_count: 0,
                    removed: false,
                }),
            });
        }
        UserStore { users, accounts }
    }

    /// The account, if the directory has it.
    pub fn account(&self, account_id: &str) -> Option<&StoredAccount> {
        self.accounts.get(account_id)
    }

    /// The user with its PIN record locked, unless the account does not hold it or it was
    /// removed. Never hold the lock across an await.
    pub fn live_user(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Option<(&StoredUser, MutexGuard<'_, PinRecord>)> {
        let index = *self.accounts.get(account_id)?.by_id.get(user_id)?;
        let user = &self.users[index as usize];
        let record = user.pin();
        (!record.removed).then_some((user, record))
    }

    /// The users of an account in directory order, removed ones included.
    pub fn account_users<'a>(
        &'a self,
        account: &'a StoredAccount,
    ) -> impl Iterator<Item = &'a StoredUser> {
        account.users.iter().map(|&i| &self.users[i as usize])
    }

    /// Every user in directory order, removed ones included.
    pub fn users(&self) -> &[StoredUser] {
        &self.users
    }
}
