//! `/proc/meminfo`: memory and swap in bytes.

/// The machine's memory, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub total: u64,
    /// `MemFree`.
    pub free: u64,
    /// `MemAvailable` (what can be allocated without swapping).
    pub available: u64,
    /// `Buffers`.
    pub buffers: u64,
    /// `Cached`.
    pub cached: u64,
    /// `SwapTotal`.
    pub swap_total: u64,
    /// `SwapFree`.
    pub swap_free: u64,
}

impl MemInfo {
    /// In use: total less free, buffers and page cache (as `free(1)` counts).
    pub fn used(&self) -> u64 {
        self.total
            .saturating_sub(self.free)
            .saturating_sub(self.buffers)
            .saturating_sub(self.cached)
    }

    /// Swap in use.
    pub fn swap_used(&self) -> u64 {
        self.swap_total.saturating_sub(self.swap_free)
    }
}

/// Parses a `/proc/meminfo` text (values in kB); `None` without `MemTotal`.
pub fn parse(text: &str) -> Option<MemInfo> {
    let mut m = MemInfo::default();
    let mut seen_total = false;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let Some(kb) = rest
            .split_ascii_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let bytes = kb.saturating_mul(1024);
        match key {
            "MemTotal" => {
                m.total = bytes;
                seen_total = true;
            }
            "MemFree" => m.free = bytes,
            "MemAvailable" => m.available = bytes,
            "Buffers" => m.buffers = bytes,
            "Cached" => m.cached = bytes,
            "SwapTotal" => m.swap_total = bytes,
            "SwapFree" => m.swap_free = bytes,
            _ => {}
        }
    }
    seen_total.then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_in_bytes() {
        let text = "MemTotal:  1000 kB\nMemFree:  100 kB\nMemAvailable: 600 kB\n\
                    Buffers: 50 kB\nCached: 250 kB\nSwapCached: 0 kB\nSwapTotal: 400 kB\nSwapFree: 300 kB\n";
        let m = parse(text).unwrap();
        assert_eq!(m.total, 1_024_000);
        assert_eq!(m.available, 600 * 1024);
        assert_eq!(m.used(), 600 * 1024);
        assert_eq!(m.swap_used(), 100 * 1024);
        assert!(parse("MemFree: 1 kB\n").is_none());
    }
}
