//! Authentication and authorisation of the server (see the "Security"
//! section of `server/README.md`):
//!
//! - OTLP ingest: API keys ([`keys`]); [`Auth::check_key`] is the one
//!   check of a request's headers that every ingest protocol calls;
//! - the viewer and the query API: local users ([`users`]) logging in to
//!   cookie sessions ([`sessions`]) with a CSRF token, logins rate-limited
//!   ([`limit`]); the HTTP side is in [`http`].
//!
//! Auth is on when the data directory has users or keys at start, or
//! when forced ([`AuthConfig::force`]); once on it stays on until restart.
//! Off, everything is open as in the loopback demo.

pub mod files;
pub mod http;
pub mod keys;
pub mod limit;
pub mod sessions;
pub mod users;

use std::fmt::Write;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, header};
use sha2::{Digest, Sha256};

pub use keys::{Grant, KeyError, KeyRing};
pub use sessions::{Session, Sessions};
pub use users::{Role, Users};

/// Errors of the auth files and secrets.
#[derive(Debug)]
pub enum AuthError {
    /// Reading or writing a file, or the system's random source.
    Io(io::Error),
    /// Bad input (name, password, role).
    Invalid(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Io(e) => write!(f, "{e}"),
            AuthError::Invalid(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for AuthError {}

impl From<io::Error> for AuthError {
    fn from(e: io::Error) -> Self {
        AuthError::Io(e)
    }
}

/// How auth is configured.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Auth on even when the data directory has no users and no keys
    /// (`--auth`).
    pub force: bool,
    /// Header that carries API keys (default `authorization`, as `Bearer <key>`).
    pub key_header: HeaderName,
    /// How long a login lasts (default 12 h).
    pub session_ttl: Duration,
    /// Most sessions at once (default 10 000).
    pub max_sessions: usize,
    /// Failed logins allowed per client IP and per user name in
    /// [`Self::login_window`] (default 5).
    pub login_failures: usize,
    /// The window of [`Self::login_failures`] (default 1 min).
    pub login_window: Duration,
    /// Cookies get `Secure` (set when serving TLS).
    pub secure_cookies: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            force: false,
            key_header: header::AUTHORIZATION,
            session_ttl: Duration::from_secs(12 * 3600),
            max_sessions: 10_000,
            login_failures: 5,
            login_window: Duration::from_secs(60),
            secure_cookies: false,
        }
    }
}

/// Whether `data` has users or keys (auth would be on at start).
pub fn configured(data: &Path) -> Result<bool, AuthError> {
    Ok(!keys::list(data)?.is_empty() || !users::list(data)?.is_empty())
}

/// The auth state of a running server.
pub struct Auth {
    enabled: bool,
    config: AuthConfig,
    /// API keys.
    pub keys: KeyRing,
    /// Users.
    pub users: Users,
    /// Sessions.
    pub sessions: Sessions,
    /// Login failures.
    pub limiter: limit::LoginLimiter,
    /// Password checks at once (argon2 takes about 19 MiB each).
    pub verify_slots: tokio::sync::Semaphore,
    data: PathBuf,
}

impl Auth {
    /// Reads the auth files of `data`; on when they hold users or keys or
    /// when `config.force`.
    pub fn open(data: &Path, config: AuthConfig) -> io::Result<Self> {
        let keys = KeyRing::open(data, config.key_header.clone())?;
        let users = Users::open(data)?;
        let enabled = config.force || !keys.is_empty() || !users.is_empty();
        Ok(Self {
            enabled,
            sessions: Sessions::new(config.session_ttl, config.max_sessions),
            limiter: limit::LoginLimiter::new(config.login_failures, config.login_window),
            verify_slots: tokio::sync::Semaphore::new(Self::VERIFY_SLOTS),
            keys,
            users,
            config,
            data: data.to_owned(),
        })
    }

    /// Password checks run at once; more logins wait.
    pub const VERIFY_SLOTS: usize = 2;

    /// Whether requests are checked.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The API-key check of one ingest request (any protocol): the grant
    /// of its key, or why it is refused. Always granted when auth is off.
    pub fn check_key(&self, headers: &HeaderMap) -> Result<Grant, KeyError> {
        if !self.enabled {
            return Ok(Grant::open());
        }
        self.keys.check(headers)
    }
}

/// Now, UNIX ms.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| AuthError::Io(io::Error::other(format!("no random source: {e}"))))?;
    Ok(b)
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `n` random bytes as hex.
pub fn random_hex(n: usize) -> Result<String, AuthError> {
    let b = random_bytes::<32>()?;
    let mut out = hex(&b[..n.min(32)]);
    if n > 32 {
        out.push_str(&random_hex(n - 32)?);
    }
    Ok(out)
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}
