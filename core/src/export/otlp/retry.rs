//! When to retry an OTLP request and how long to wait first, as the OTLP
//! specification asks: only throttling and unavailability (429, 502, 503,
//! 504) and failed connections are retried, with exponential backoff and
//! jitter, honouring `Retry-After`.

use std::time::Duration;

/// Wait before the first retry, before jitter.
pub(crate) const BASE_DELAY: Duration = Duration::from_millis(100);

/// Longest computed wait between two attempts (`Retry-After` may ask more).
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(5);

/// True for the statuses the OTLP specification calls retryable.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Exponential backoff with jitter; owns its random source.
#[derive(Debug)]
pub(crate) struct Backoff {
    state: u64,
}

impl Backoff {
    /// A backoff seeded from the operating system.
    pub fn from_os() -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Self::with_seed(u64::from_le_bytes(seed))
    }

    /// A backoff with a fixed seed (tests).
    pub fn with_seed(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Wait before retry number `retry` (0 for the first retry). A server's
    /// `Retry-After` takes precedence, floored at [`BASE_DELAY`] so a
    /// `Retry-After: 0` cannot make a busy loop; otherwise the ceiling
    /// `BASE_DELAY * 2^retry` (capped at [`MAX_DELAY`]) is jittered into
    /// `[ceiling / 2, ceiling]`.
    pub fn delay(&mut self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.max(BASE_DELAY);
        }
        let ceiling = BASE_DELAY
            .saturating_mul(1u32 << retry.min(16))
            .min(MAX_DELAY);
        let half = ceiling / 2;
        half + half.mul_f64(self.unit())
    }

    /// A uniform value in `[0, 1)` (splitmix64).
    fn unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttling_and_unavailable_statuses_retry() {
        for status in [429, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 204, 400, 401, 403, 404, 413, 500, 501, 505] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    #[test]
    fn retry_after_takes_precedence_over_backoff() {
        let mut b = Backoff::with_seed(1);
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            b.delay(9, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(b.delay(0, Some(Duration::ZERO)), BASE_DELAY);
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds_and_is_capped() {
        let mut b = Backoff::with_seed(42);
        for retry in 0..40 {
            let ceiling = BASE_DELAY
                .saturating_mul(1u32 << retry.min(16))
                .min(MAX_DELAY);
            for _ in 0..50 {
                let d = b.delay(retry, None);
                assert!(d >= ceiling / 2 && d <= ceiling, "retry {retry}: {d:?}");
            }
        }
        assert!(b.delay(u32::MAX, None) <= MAX_DELAY);
    }

    #[test]
    fn jitter_varies_the_delay() {
        let mut b = Backoff::with_seed(7);
        let delays: Vec<_> = (0..20).map(|_| b.delay(3, None)).collect();
        assert!(delays.iter().any(|d| *d != delays[0]));
    }
}
