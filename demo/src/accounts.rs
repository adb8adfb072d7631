//! The demo's accounts: names, roles and argon2id password hashes, kept in
//! memory (the demo is about sessions, not about storing users).

use std::collections::BTreeMap;
use std::sync::RwLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::AppError;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An ordinary account: its own devices.
    User,
    /// May see every account and end all of its sessions.
    Admin,
}

/// The argon2id cost of new hashes. Always argon2id; only the cost varies,
/// so that debug-build tests need not spend seconds per login.
#[derive(Debug, Clone)]
pub struct PasswordCost(Params);

impl PasswordCost {
    /// The argon2 crate's recommended defaults (19 MiB, 2 passes), for
    /// real use.
    pub fn recommended() -> Self {
        PasswordCost(Params::DEFAULT)
    }

    /// The cheapest argon2id parameters (8 KiB, 1 pass): for tests only.
    pub fn cheapest_for_tests() -> Self {
        PasswordCost(
            Params::new(Params::MIN_M_COST, Params::MIN_T_COST, 1, None)
                .expect("the minimum argon2 parameters are valid"),
        )
    }

    fn hasher(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.0.clone())
    }
}

/// One account.
#[derive(Debug)]
pub struct Account {
    /// Its name, also the owner of its sessions in the store.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The password hash, and how many times the password was changed:
    /// a sign-in compares the count before and after making its session,
    /// so that one whose check raced a change does not outlive it.
    hash: RwLock<(String, u64)>,
}

/// A demo account's name, role and password, to print at startup.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Account name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its password, in the clear: shown once, never logged.
    pub password: String,
}

/// Every account, by name.
#[derive(Debug)]
pub struct Accounts {
    by_name: BTreeMap<String, Account>,
    cost: PasswordCost,
    /// A hash of no one's password, checked when the name is unknown so
    /// that a wrong name takes as long as a wrong password.
    decoy: String,
}

impl Accounts {
    /// Accounts with the given names, roles and passwords.
    ///
    /// # Errors
    /// [`AppError::Internal`] if hashing fails.
    pub fn new(cost: PasswordCost, accounts: &[(&str, Role, &str)]) -> Result<Self, AppError> {
        let decoy = hash(&cost, &random_password())?;
        let mut by_name = BTreeMap::new();
        for (name, role, password) in accounts {
            let account = Account {
                name: (*name).to_owned(),
                role: *role,
                hash: RwLock::new((hash(&cost, password)?, 0)),
            };
            by_name.insert(account.name.clone(), account);
        }
        Ok(Accounts {
            by_name,
            cost,
            decoy,
        })
    }

    /// The demo's three accounts (alice, bob, admin) with fresh random
    /// passwords, returned so that they can be printed once at startup.
    ///
    /// # Errors
    /// [`AppError::Internal`] if hashing fails.
    pub fn demo(cost: PasswordCost) -> Result<(Self, Vec<Credential>), AppError> {
        let people = [
            ("alice", Role::User),
            ("bob", Role::User),
            ("admin", Role::Admin),
        ];
        let credentials: Vec<Credential> = people
            .iter()
            .map(|(name, role)| Credential {
                name: (*name).to_owned(),
                role: *role,
                password: random_password(),
            })
            .collect();
        let borrowed: Vec<(&str, Role, &str)> = credentials
            .iter()
            .map(|c| (c.name.as_str(), c.role, c.password.as_str()))
            .collect();
        Ok((Accounts::new(cost, &borrowed)?, credentials))
    }

    /// The account with this name.
    pub fn get(&self, name: &str) -> Option<&Account> {
        self.by_name.get(name)
    }

    /// Every account, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Account> {
        self.by_name.values()
    }

    /// The account and its password generation if the password is its
    /// own. Slow on purpose (argon2id): call it off the async threads. An
    /// unknown name costs the same as a wrong password.
    pub fn verify(&self, name: &str, password: &str) -> Option<(&Account, u64)> {
        let hasher = self.cost.hasher();
        match self.by_name.get(name) {
            Some(account) => {
                let (hash, generation) = account.hash.read().expect("hash lock").clone();
                hasher
                    .verify_password(password.as_bytes(), hash.as_str())
                    .ok()
                    .map(|()| (account, generation))
            }
            None => {
                let _ = hasher.verify_password(password.as_bytes(), self.decoy.as_str());
                None
            }
        }
    }

    /// Gives the account a new password.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown account, [`AppError::Internal`]
    /// if hashing fails.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), AppError> {
        let account = self.get(name).ok_or(AppError::NotFound("account"))?;
        let new_hash = hash(&self.cost, password)?;
        let mut held = account.hash.write().expect("hash lock");
        *held = (new_hash, held.1 + 1);
        Ok(())
    }

    /// How many times the account's password has changed (0 for an
    /// unknown account).
    pub fn generation(&self, name: &str) -> u64 {
        self.get(name)
            .map_or(0, |account| account.hash.read().expect("hash lock").1)
    }
}

fn hash(cost: &PasswordCost, password: &str) -> Result<String, AppError> {
    let salt = random_bytes::<16>();
    cost.hasher()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| AppError::Internal(format!("hashing a password: {err}")))
}

/// A password of 16 URL-safe characters (96 random bits), easy to copy.
fn random_password() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<12>())
}

/// Bytes from the operating system's CSPRNG. Panics without one, since no
/// secret may come from anywhere else.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS CSPRNG is unavailable");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let accounts = Accounts::new(
            PasswordCost::cheapest_for_tests(),
            &[("ann", Role::User, "pw1")],
        )
        .unwrap();
        let hash = accounts.get("ann").unwrap().hash.read().unwrap().0.clone();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(accounts.verify("ann", "pw1").is_some());
        assert!(accounts.verify("ann", "pw2").is_none());
        assert!(accounts.verify("nobody", "pw1").is_none());
        assert_eq!(accounts.generation("ann"), 0);
        accounts.set_password("ann", "pw2").unwrap();
        assert!(accounts.verify("ann", "pw1").is_none());
        assert_eq!(accounts.verify("ann", "pw2").map(|(_, g)| g), Some(1));
        assert_eq!(accounts.generation("ann"), 1);
    }

    #[test]
    fn demo_passwords_are_random() {
        let (_, first) = Accounts::demo(PasswordCost::cheapest_for_tests()).unwrap();
        let (_, second) = Accounts::demo(PasswordCost::cheapest_for_tests()).unwrap();
        assert_eq!(first.len(), 3);
        assert_ne!(first[0].password, second[0].password);
        assert_eq!(first[0].password.len(), 16);
    }
}
