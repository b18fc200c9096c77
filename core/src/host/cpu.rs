//! `/proc/stat` (the machine's CPU time by mode) and `/proc/loadavg`.

/// Seconds of CPU time since boot, summed over every CPU, by mode.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTimes {
    /// Normal user mode.
    pub user: f64,
    /// Niced user mode.
    pub nice: f64,
    /// Kernel mode.
    pub system: f64,
    /// Idle.
    pub idle: f64,
    /// Idle while waiting for I/O.
    pub iowait: f64,
    /// Hardware interrupts.
    pub interrupt: f64,
    /// Software interrupts.
    pub softirq: f64,
    /// Taken by the hypervisor for other guests.
    pub steal: f64,
}

impl CpuTimes {
    /// Every mode with its semantic-convention `cpu.mode` value.
    pub fn modes(&self) -> [(&'static str, f64); 8] {
        [
            ("user", self.user),
            ("nice", self.nice),
            ("system", self.system),
            ("idle", self.idle),
            ("iowait", self.iowait),
            ("interrupt", self.interrupt),
            ("softirq", self.softirq),
            ("steal", self.steal),
        ]
    }

    /// All modes added up.
    pub fn total(&self) -> f64 {
        self.modes().iter().map(|(_, v)| v).sum()
    }
}

/// The `cpu` line and the number of `cpuN` lines of a `/proc/stat` text;
/// `None` without a `cpu` line. `ticks_per_second` is `sysconf(_SC_CLK_TCK)`.
pub fn parse_stat(text: &str, ticks_per_second: f64) -> Option<(CpuTimes, usize)> {
    let mut total = None;
    let mut cpus = 0;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        match fields.next() {
            Some("cpu") => {
                let v: Vec<f64> = fields
                    .map(|f| {
                        f.parse::<u64>()
                            .map_or(0.0, |n| n as f64 / ticks_per_second)
                    })
                    .collect();
                let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
                total = Some(CpuTimes {
                    user: at(0),
                    nice: at(1),
                    system: at(2),
                    idle: at(3),
                    iowait: at(4),
                    interrupt: at(5),
                    softirq: at(6),
                    steal: at(7),
                });
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    total.map(|t| (t, cpus))
}

/// The 1, 5 and 15 minute load averages of a `/proc/loadavg` text.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut f = text.split_ascii_whitespace().map(str::parse::<f64>);
    Some([f.next()?.ok()?, f.next()?.ok()?, f.next()?.ok()?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_sums_modes_and_counts_cpus() {
        let text = "cpu  200 10 100 1000 50 0 20 30 0 0\ncpu0 100 5 50 500 25 0 10 15 0 0\n\
                    cpu1 100 5 50 500 25 0 10 15 0 0\nintr 1 2 3\nctxt 99\n";
        let (t, cpus) = parse_stat(text, 100.0).unwrap();
        assert_eq!(cpus, 2);
        assert_eq!(t.user, 2.0);
        assert_eq!(t.system, 1.0);
        assert_eq!(t.iowait, 0.5);
        assert_eq!(t.steal, 0.3);
        assert_eq!(t.total(), 14.1);
        assert!(parse_stat("intr 1\n", 100.0).is_none());
    }

    #[test]
    fn loadavg_three_numbers() {
        assert_eq!(
            parse_loadavg("1.30 1.99 2.09 1/157 6832\n"),
            Some([1.30, 1.99, 2.09])
        );
        assert_eq!(parse_loadavg("x"), None);
    }
}
