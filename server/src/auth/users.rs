//! Local users of the viewer and the query API: `osprey user
//! add|remove|list` manage `<data>/auth/users.json`, which keeps an
//! argon2id hash (PHC string) of each password and the user's role.

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

use super::files::{self, Watched};
use super::{AuthError, now_ms, random_bytes};

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything (every GET).
    Viewer,
    /// Also change state (state-changing `/api` calls).
    Admin,
}

impl Role {
    /// `viewer` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

/// A role name that is neither `viewer` nor `admin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl std::fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown role {:?} (viewer or admin)", self.0)
    }
}

impl std::error::Error for UnknownRole {}

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole(s.to_owned())),
        }
    }
}

/// One user as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserEntry {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string of the password.
    pub hash: String,
    /// When the user was added, UNIX ms.
    #[serde(default)]
    pub created_ms: u64,
}

/// `users.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UserFile {
    /// The users.
    pub users: Vec<UserEntry>,
}

fn path(data: &Path) -> std::path::PathBuf {
    files::auth_dir(data).join("users.json")
}

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// Letters, digits and `._@-`, 1 to 64 of them.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
}

/// The argon2id hash of `password` (about 19 MiB and tens of ms: call
/// from a blocking thread).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| AuthError::Invalid(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Invalid(format!("cannot hash the password: {e}")))
}

fn verify_hash(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Adds a user (an existing name is an error: remove it first).
pub fn add(data: &Path, name: &str, role: Role, password: &str) -> Result<(), AuthError> {
    if !valid_name(name) {
        return Err(AuthError::Invalid(format!(
            "invalid user name {name:?} (1 to 64 of letters, digits, . _ @ -)"
        )));
    }
    if password.chars().count() < MIN_PASSWORD {
        return Err(AuthError::Invalid(format!(
            "the password is shorter than {MIN_PASSWORD} characters"
        )));
    }
    let p = path(data);
    let mut file: UserFile = files::load(&p)?;
    if file.users.iter().any(|u| u.name == name) {
        return Err(AuthError::Invalid(format!(
            "user {name:?} exists (remove it first to change it)"
        )));
    }
    file.users.push(UserEntry {
        name: name.to_owned(),
        role,
        hash: hash_password(password)?,
        created_ms: now_ms(),
    });
    files::save(&p, &file)?;
    Ok(())
}

/// Removes a user; whether it existed. Its sessions end at once.
pub fn remove(data: &Path, name: &str) -> Result<bool, AuthError> {
    let p = path(data);
    let mut file: UserFile = files::load(&p)?;
    let before = file.users.len();
    file.users.retain(|u| u.name != name);
    if file.users.len() == before {
        return Ok(false);
    }
    files::save(&p, &file)?;
    Ok(true)
}

/// The stored users.
pub fn list(data: &Path) -> Result<Vec<UserEntry>, AuthError> {
    Ok(files::load::<UserFile>(&path(data))?.users)
}

/// The users of a running server, re-read when the file changes.
pub struct Users {
    file: Watched<UserFile>,
}

impl Users {
    /// Reads `<data>/auth/users.json`.
    pub fn open(data: &Path) -> io::Result<Self> {
        Ok(Self {
            file: Watched::open(path(data))?,
        })
    }

    /// How many users exist now.
    pub fn len(&self) -> usize {
        self.file.get().users.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The role of `name`, if the user exists now.
    pub fn role(&self, name: &str) -> Option<Role> {
        self.file
            .get()
            .users
            .iter()
            .find(|u| u.name == name)
            .map(|u| u.role)
    }

    /// The role when `password` is right. Slow by design (argon2): call
    /// from a blocking thread. An unknown name costs the same as a known
    /// one, so timing does not tell which names exist.
    pub fn verify(&self, name: &str, password: &str) -> Option<Role> {
        let file: Arc<UserFile> = self.file.get();
        match file.users.iter().find(|u| u.name == name) {
            Some(u) => verify_hash(&u.hash, password).then_some(u.role),
            None => {
                static DUMMY: OnceLock<String> = OnceLock::new();
                let dummy = DUMMY
                    .get_or_init(|| hash_password("not a password of anyone").unwrap_or_default());
                let _ = verify_hash(dummy, password);
                None
            }
        }
    }
}
