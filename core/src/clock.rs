//! The recording clock: raw ticks on the hot path, nanoseconds and UNIX time
//! on the collector thread.
//!
//! On x86-64 with an invariant TSC (and a kernel that trusts it as its
//! clocksource) a tick is one `rdtsc` read, about 11 ns here; elsewhere it is
//! `CLOCK_MONOTONIC` in nanoseconds. Nothing is calibrated at load: the first
//! [`anchor`] call records one (ticks, monotonic, UNIX) triple, and
//! [`Calibration`] derives the tick rate later from elapsed monotonic time —
//! on the collector thread, sleeping (never spinning) if asked too early.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const UNKNOWN: u8 = 0;
const TSC: u8 = 1;
const MONOTONIC: u8 = 2;

static SOURCE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// The shortest monotonic interval from which the TSC rate is derived;
/// gives a rate error below 1e-6 with tens of nanoseconds of read jitter.
const MIN_CALIBRATION_SPAN: Duration = Duration::from_millis(50);

/// Reads the clock: TSC ticks or monotonic nanoseconds. No syscall with the
/// TSC; with the fallback a vDSO call.
#[inline(always)]
pub fn now() -> u64 {
    match SOURCE.load(Ordering::Relaxed) {
        TSC => read_tsc(),
        MONOTONIC => monotonic_ns(),
        _ => now_slow(),
    }
}

#[cold]
fn now_slow() -> u64 {
    detect();
    now()
}

/// True when ticks are TSC cycles rather than nanoseconds.
pub fn uses_tsc() -> bool {
    detect() == TSC
}

fn detect() -> u8 {
    let current = SOURCE.load(Ordering::Relaxed);
    if current != UNKNOWN {
        return current;
    }
    let chosen = if tsc_is_trustworthy() { TSC } else { MONOTONIC };
    SOURCE.store(chosen, Ordering::Relaxed);
    chosen
}

#[cfg(target_arch = "x86_64")]
fn tsc_is_trustworthy() -> bool {
    if std::env::var_os("OSPREY_CLOCK").is_some_and(|v| v == "monotonic") {
        return false;
    }
    // CPUID.80000007H:EDX[8] = invariant TSC.
    // SAFETY: cpuid is available on every x86-64 CPU.
    let max_ext = std::arch::x86_64::__cpuid(0x8000_0000).eax;
    if max_ext < 0x8000_0007 {
        return false;
    }
    let invariant = std::arch::x86_64::__cpuid(0x8000_0007).edx & (1 << 8) != 0;
    // The kernel may have found the TSC unstable (e.g. on some VMs) even so.
    let kernel_agrees =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .map(|s| s.trim() == "tsc")
            .unwrap_or(true);
    invariant && kernel_agrees
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc_is_trustworthy() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn read_tsc() -> u64 {
    // SAFETY: rdtsc has no preconditions; only called when detected.
    unsafe { std::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn read_tsc() -> u64 {
    monotonic_ns()
}

/// `CLOCK_MONOTONIC` in nanoseconds.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One simultaneous reading of ticks, monotonic and UNIX time.
#[derive(Clone, Copy, Debug)]
pub struct Anchor {
    /// Clock ticks.
    pub ticks: u64,
    /// Monotonic nanoseconds.
    pub mono_ns: u64,
    /// UNIX nanoseconds.
    pub unix_ns: u64,
}

impl Anchor {
    fn read() -> Self {
        let ticks = now();
        let mono_ns = monotonic_ns();
        let unix_ns = unix_ns();
        Self {
            ticks,
            mono_ns,
            unix_ns,
        }
    }
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

/// The process-wide anchor, read on first call (`osprey::init` calls it).
pub fn anchor() -> Anchor {
    *ANCHOR.get_or_init(Anchor::read)
}

/// The tick reading `ns` nanoseconds before the reading `now`: for work
/// whose duration is reported after it ended (a library's "statement took
/// 3 ms" event). With the TSC the rate is derived from the anchor and the
/// monotonic clock read now, so it is as exact as the collector's once the
/// process has run for a while.
pub fn ticks_before(now: u64, ns: u64) -> u64 {
    if !uses_tsc() {
        return now.saturating_sub(ns);
    }
    let anchor = anchor();
    let dticks = now.wrapping_sub(anchor.ticks);
    let dns = monotonic_ns().saturating_sub(anchor.mono_ns);
    if dns == 0 || dticks == 0 {
        return now.saturating_sub(ns);
    }
    let ticks = u128::from(ns) * u128::from(dticks) / u128::from(dns);
    now.saturating_sub(u64::try_from(ticks).unwrap_or(u64::MAX))
}

/// Converts ticks to nanoseconds and UNIX time. Owned by the collector
/// thread; refreshes at most once a second. Ticks map to monotonic time by
/// a 32.32 fixed-point rate (a 64×64→128-bit multiply); monotonic time maps
/// to UNIX time by an offset re-read at each refresh, so a wall clock that
/// NTP steps after start-up is followed.
#[derive(Debug)]
pub struct Calibration {
    anchor: Anchor,
    /// Nanoseconds per tick × 2³²; 0 until first derived.
    rate_q32: u64,
    /// UNIX minus monotonic nanoseconds, as last read.
    unix_offset_ns: i128,
    refreshed_mono_ns: u64,
}

impl Default for Calibration {
    fn default() -> Self {
        Self::new()
    }
}

impl Calibration {
    /// A calibration from the process anchor; the rate is derived on first use.
    pub fn new() -> Self {
        let anchor = anchor();
        Self {
            anchor,
            rate_q32: if uses_tsc() { 0 } else { 1 << 32 },
            unix_offset_ns: i128::from(anchor.unix_ns) - i128::from(anchor.mono_ns),
            refreshed_mono_ns: 0,
        }
    }

    /// Re-reads the wall-clock offset and (with the TSC) the rate when the
    /// last refresh is a second old. May sleep (up to 50 ms, once, right
    /// after start-up) to derive the first TSC rate.
    pub fn refresh(&mut self) {
        let mono = monotonic_ns();
        if self.rate_q32 != 0 && mono.saturating_sub(self.refreshed_mono_ns) < 1_000_000_000 {
            return;
        }
        self.unix_offset_ns = i128::from(unix_ns()) - i128::from(monotonic_ns());
        self.refreshed_mono_ns = mono;
        if !uses_tsc() {
            return;
        }
        let since = Duration::from_nanos(mono.saturating_sub(self.anchor.mono_ns));
        if since < MIN_CALIBRATION_SPAN {
            std::thread::sleep(MIN_CALIBRATION_SPAN - since);
        }
        let ticks = now();
        let mono = monotonic_ns();
        let dt = ticks.wrapping_sub(self.anchor.ticks);
        let dns = mono.saturating_sub(self.anchor.mono_ns);
        if dt > 0 {
            self.rate_q32 =
                ((u128::from(dns) << 32) / u128::from(dt)).clamp(1, u128::from(u64::MAX)) as u64;
        }
        self.refreshed_mono_ns = mono;
    }

    /// Nanoseconds per tick (1.0 on the monotonic fallback).
    pub fn ns_per_tick(&mut self) -> f64 {
        self.rate() as f64 / (1u64 << 32) as f64
    }

    #[inline]
    fn rate(&mut self) -> u64 {
        if self.rate_q32 == 0 {
            self.refresh();
        }
        self.rate_q32
    }

    #[inline]
    fn ticks_to_ns(rate_q32: u64, ticks: u64) -> u64 {
        ((u128::from(ticks) * u128::from(rate_q32)) >> 32) as u64
    }

    /// Duration of `end - start` ticks in nanoseconds (0 if reversed).
    #[inline]
    pub fn duration_ns(&mut self, start: u64, end: u64) -> u64 {
        Self::ticks_to_ns(self.rate(), end.saturating_sub(start))
    }

    /// UNIX nanoseconds of a tick reading.
    pub fn unix_ns(&mut self, ticks: u64) -> u64 {
        let rate = self.rate();
        let mono = if ticks >= self.anchor.ticks {
            i128::from(self.anchor.mono_ns)
                + i128::from(Self::ticks_to_ns(rate, ticks - self.anchor.ticks))
        } else {
            i128::from(self.anchor.mono_ns)
                - i128::from(Self::ticks_to_ns(rate, self.anchor.ticks - ticks))
        };
        (mono + self.unix_offset_ns).clamp(0, i128::from(u64::MAX)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_to_wall_time_and_durations() {
        let mut cal = Calibration::new();
        let t0 = now();
        std::thread::sleep(Duration::from_millis(20));
        let t1 = now();
        let d = cal.duration_ns(t0, t1);
        assert!(
            (19_000_000..200_000_000).contains(&d),
            "{d} ns for a 20 ms sleep"
        );
        let wall = unix_ns();
        let converted = cal.unix_ns(now());
        assert!(
            converted.abs_diff(wall) < 5_000_000,
            "{converted} vs {wall}"
        );
        assert_eq!(cal.duration_ns(t1, t0), 0);
    }
}
