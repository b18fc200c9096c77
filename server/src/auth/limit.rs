//! Login rate limiting: failed logins are counted per client IP and per
//! user name over a sliding window; past the limit, logins are refused
//! with 429 and `Retry-After` until the oldest failure leaves the window.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Most distinct IPs and names tracked (memory bound).
const MAX_TRACKED: usize = 100_000;

/// Failure counters.
pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// At most `max_failures` failed logins per `window` for one IP and
    /// for one user name.
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long to wait when any of `keys` is over the limit.
    pub fn blocked(&self, keys: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock();
        let mut wait = None;
        for k in keys {
            if let Some(q) = map.get_mut(k) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    q.pop_front();
                }
                if q.len() >= self.max_failures
                    && let Some(first) = q.front()
                {
                    let w = self.window.saturating_sub(now.duration_since(*first));
                    wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
                }
            }
        }
        wait
    }

    /// Counts a failed login for each of `keys`.
    pub fn failed(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.failures.lock();
        if map.len() + keys.len() > MAX_TRACKED {
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
            if map.len() + keys.len() > MAX_TRACKED {
                // Still full of fresh entries: forget the lot rather than grow.
                map.clear();
            }
        }
        for k in keys {
            let q = map.entry(k.clone()).or_default();
            q.push_back(now);
            while q.len() > self.max_failures {
                q.pop_front();
            }
        }
    }

    /// Takes back the failure counted for each of `keys` by the latest
    /// [`Self::failed`] (the login succeeded).
    pub fn forgive(&self, keys: &[String]) {
        let mut map = self.failures.lock();
        for k in keys {
            if let Some(q) = map.get_mut(k) {
                q.pop_back();
                if q.is_empty() {
                    map.remove(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_blocks_after_max_failures_per_key() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        let ip = vec!["ip:1".to_owned()];
        let both = vec!["ip:1".to_owned(), "user:a".to_owned()];
        for _ in 0..2 {
            l.failed(&both);
        }
        assert!(l.blocked(&both).is_none());
        l.failed(&ip);
        let wait = l.blocked(&ip).expect("blocked");
        assert!(wait <= Duration::from_secs(60) && wait > Duration::ZERO);
        assert!(l.blocked(&["user:a".to_owned()]).is_none());
        l.forgive(&ip);
        assert!(l.blocked(&ip).is_none());
    }
}
