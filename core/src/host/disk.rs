//! `/proc/diskstats` (I/O per block device) and the space of mounted
//! filesystems (`/proc/self/mounts` and `statvfs(3)`).

use std::ffi::CString;
use std::path::Path;

/// Bytes per sector in `/proc/diskstats`, whatever the device's own.
const SECTOR_BYTES: u64 = 512;

/// Most devices and mounts reported per sample.
pub const MAX_DEVICES: usize = 64;

/// I/O counters of one block device since boot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskStat {
    /// Device name (`vda`, `nvme0n1p1`).
    pub device: String,
    /// Reads completed.
    pub reads: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Writes completed.
    pub writes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Milliseconds spent doing I/O.
    pub io_ms: u64,
}

/// Parses a `/proc/diskstats` text, leaving out devices that never did
/// any I/O (unused loop and ram devices), at most [`MAX_DEVICES`].
pub fn parse_diskstats(text: &str) -> Vec<DiskStat> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() < 14 {
                return None;
            }
            let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
            let d = DiskStat {
                device: f[2].to_owned(),
                reads: n(3),
                read_bytes: n(5).saturating_mul(SECTOR_BYTES),
                writes: n(7),
                write_bytes: n(9).saturating_mul(SECTOR_BYTES),
                io_ms: n(12),
            };
            (d.reads + d.writes > 0).then_some(d)
        })
        .take(MAX_DEVICES)
        .collect()
}

/// A mounted filesystem worth reporting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The device (`/dev/vda1`, `overlay`).
    pub device: String,
    /// Where it is mounted.
    pub mountpoint: String,
    /// Filesystem type (`ext4`).
    pub fs_type: String,
}

/// Filesystem types reported besides those on a `/dev/` device.
const LOCAL_VIRTUAL: &[&str] = &["overlay", "zfs", "btrfs"];

/// The mounts of a `/proc/self/mounts` text that hold data: block devices
/// and overlay/zfs/btrfs, one per mount point, at most [`MAX_DEVICES`].
/// Network filesystems are left out: `statvfs` on an unreachable server
/// would block the collector thread.
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let (device, mountpoint, fs_type) = (f[0], unescape(f[1]), f[2]);
        let wanted = device.starts_with("/dev/") || LOCAL_VIRTUAL.contains(&fs_type);
        if !wanted || out.iter().any(|m| m.mountpoint == mountpoint) {
            continue;
        }
        out.push(Mount {
            device: device.to_owned(),
            mountpoint,
            fs_type: fs_type.to_owned(),
        });
        if out.len() == MAX_DEVICES {
            break;
        }
    }
    out
}

/// `\040` and the like in a mounts field, decoded.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Space of one filesystem, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Space {
    /// In use.
    pub used: u64,
    /// Free for unprivileged users.
    pub free: u64,
    /// Free only for root.
    pub reserved: u64,
}

/// `statvfs` of a mount point; `None` when the call fails.
pub fn space(mountpoint: &Path) -> Option<Space> {
    let path = CString::new(mountpoint.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs is plain old data; an all-zero value is valid.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `s` is a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let unit = s.f_frsize as u64;
    let total = (s.f_blocks as u64).saturating_mul(unit);
    let free_all = (s.f_bfree as u64).saturating_mul(unit);
    let free = (s.f_bavail as u64).saturating_mul(unit);
    Some(Space {
        used: total.saturating_sub(free_all),
        free,
        reserved: free_all.saturating_sub(free),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskstats_in_bytes_without_idle_devices() {
        let text = "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n \
            254       0 vda 4314236 102040 169724778 7861864 5613704 1116663 805590264 13148684 0 656872 21169934 743882 72 610350560 141782 153385 17603\n";
        let d = parse_diskstats(text);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].device, "vda");
        assert_eq!(d[0].reads, 4_314_236);
        assert_eq!(d[0].read_bytes, 169_724_778 * 512);
        assert_eq!(d[0].writes, 5_613_704);
        assert_eq!(d[0].write_bytes, 805_590_264 * 512);
        assert_eq!(d[0].io_ms, 656_872);
    }

    #[test]
    fn mounts_keep_data_filesystems_once() {
        let text = "proc /proc proc rw 0 0\n/dev/vda / ext4 rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n\
                    /dev/vda / ext4 rw 0 0\noverlay /var/lib/x overlay rw 0 0\n\
                    /dev/sdb1 /mnt/my\\040disk xfs rw 0 0\nsrv:/x /nfs nfs4 rw 0 0\n";
        let m = parse_mounts(text);
        let points: Vec<&str> = m.iter().map(|m| m.mountpoint.as_str()).collect();
        assert_eq!(points, ["/", "/var/lib/x", "/mnt/my disk"]);
    }

    #[test]
    fn root_space_adds_up() {
        let s = space(Path::new("/")).unwrap();
        assert!(s.used > 0);
        assert!(space(Path::new("/no/such/dir")).is_none());
    }
}
