//! Login sessions, in memory (a restart logs everyone out): a random
//! token in an HttpOnly cookie, looked up by its SHA-256, with a CSRF
//! token of its own and an expiry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::users::Role;
use super::{AuthError, now_ms, random_hex, sha256_hex};

/// One logged-in user.
#[derive(Clone, Debug)]
pub struct Session {
    /// User name.
    pub user: String,
    /// Role at login (a changed or removed user loses the session).
    pub role: Role,
    /// Token the page sends in `X-CSRF-Token` on state-changing calls.
    pub csrf: String,
    /// Expiry, UNIX ms.
    pub expires_ms: u64,
    expires: Instant,
}

/// The sessions of a running server (at most `max`).
pub struct Sessions {
    ttl: Duration,
    max: usize,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Sessions lasting `ttl`, at most `max` at once (the oldest expiring
    /// first make room).
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max: max.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session of `user`; returns the cookie token and the session.
    pub fn create(&self, user: &str, role: Role) -> Result<(String, Session), AuthError> {
        let token = random_hex(32)?;
        let session = Session {
            user: user.to_owned(),
            role,
            csrf: random_hex(32)?,
            expires_ms: now_ms() + self.ttl.as_millis() as u64,
            expires: Instant::now() + self.ttl,
        };
        let mut map = self.map.lock();
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        while map.len() >= self.max {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(sha256_hex(token.as_bytes()), session.clone());
        Ok((token, session))
    }

    /// The live session of a cookie token.
    pub fn get(&self, token: &str) -> Option<Session> {
        let key = sha256_hex(token.as_bytes());
        let mut map = self.map.lock();
        match map.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn remove(&self, token: &str) {
        self.map.lock().remove(&sha256_hex(token.as_bytes()));
    }
}
