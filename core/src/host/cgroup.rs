//! The process's cgroup v2: CPU usage and throttling (`cpu.stat`), memory
//! use and limit (`memory.current`, `memory.max`) and OOM kills
//! (`memory.events`) — its container's when it runs in one.

use std::path::{Path, PathBuf};

/// The directory of the cgroup v2 that `/proc/self/cgroup` (text
/// `cgroup`) names, below the `cgroup2` mount of `/proc/self/mountinfo`
/// (text `mountinfo`), with `root` in front; `None` without a v2 line or
/// mount.
pub fn locate(root: &Path, cgroup: &str, mountinfo: &str) -> Option<PathBuf> {
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let (mount_root, mount_point) = mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_ascii_whitespace().next()? != "cgroup2" {
            return None;
        }
        let f: Vec<&str> = left.split_ascii_whitespace().collect();
        Some((*f.get(3)?, *f.get(4)?))
    })?;
    // Inside a cgroup namespace the mount's root is `/` and the path is
    // relative to it; on a host a bind-mounted subtree strips its root.
    let inner = path.strip_prefix(mount_root).unwrap_or(path);
    let mut dir = root.join(mount_point.trim_start_matches('/'));
    for part in inner.split('/').filter(|p| !p.is_empty() && *p != "..") {
        dir.push(part);
    }
    Some(dir)
}

/// One reading of a cgroup v2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// CPU time in user mode, µs.
    pub user_usec: u64,
    /// CPU time in kernel mode, µs.
    pub system_usec: u64,
    /// CPU time in all, µs.
    pub usage_usec: u64,
    /// Enforcement periods elapsed (0 without a CPU quota).
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Time throttled, µs.
    pub throttled_usec: u64,
    /// `memory.current`, bytes (`None` where the controller is off, as in
    /// the root cgroup).
    pub memory_usage: Option<u64>,
    /// `memory.max`, bytes; `None` for `max` (no limit) or no controller.
    pub memory_limit: Option<u64>,
    /// `oom_kill` of `memory.events`: processes killed for lack of memory.
    pub oom_kills: Option<u64>,
    /// `oom` of `memory.events`: times the limit was hit and reclaim failed.
    pub ooms: Option<u64>,
}

/// Reads the cgroup at `dir`; `None` when it has no `cpu.stat`.
pub fn read(dir: &Path) -> Option<CgroupStats> {
    let text = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    let mut s = CgroupStats::default();
    for (k, v) in pairs(&text("cpu.stat")?) {
        match k {
            "usage_usec" => s.usage_usec = v,
            "user_usec" => s.user_usec = v,
            "system_usec" => s.system_usec = v,
            "nr_periods" => s.periods = v,
            "nr_throttled" => s.throttled_periods = v,
            "throttled_usec" => s.throttled_usec = v,
            _ => {}
        }
    }
    s.memory_usage = text("memory.current").and_then(|t| t.trim().parse().ok());
    s.memory_limit = text("memory.max").and_then(|t| t.trim().parse().ok());
    if let Some(events) = text("memory.events") {
        for (k, v) in pairs(&events) {
            match k {
                "oom_kill" => s.oom_kills = Some(v),
                "oom" => s.ooms = Some(v),
                _ => {}
            }
        }
    }
    Some(s)
}

/// `key value` lines.
fn pairs(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|l| {
        let (k, v) = l.split_once(' ')?;
        Some((k, v.trim().parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_in_a_namespace_and_on_a_host() {
        let mi_ns = "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";
        assert_eq!(
            locate(Path::new("/r"), "0::/\n", mi_ns),
            Some(PathBuf::from("/r/sys/fs/cgroup"))
        );
        let mi_hybrid = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
                         41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            locate(
                Path::new("/"),
                "1:cpu:/\n0::/system.slice/app.service\n",
                mi_hybrid
            ),
            Some(PathBuf::from(
                "/sys/fs/cgroup/unified/system.slice/app.service"
            ))
        );
        assert_eq!(locate(Path::new("/"), "4:memory:/x\n", mi_ns), None);
        assert_eq!(
            locate(
                Path::new("/"),
                "0::/\n",
                "1 0 0:1 / / rw - ext4 /dev/vda rw\n"
            ),
            None
        );
    }
}
