//! A small, really full-able file system for tests: a `tmpfs` of a given
//! size mounted on a fresh directory (needs the right to mount: root, or
//! CAP_SYS_ADMIN in a container), unmounted when dropped. Where mounting is
//! not allowed, [`SmallDisk::mount`] says why and tests skip.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted `tmpfs`; unmounted (lazily) and removed when dropped.
pub struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    /// Mounts a `tmpfs` of `bytes` on a new directory under the system's
    /// temporary directory; the reason when it cannot.
    pub fn mount(tag: &str, bytes: u64) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("osprey-disk-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    /// [`SmallDisk::mount`] for a test: `None` (after saying why on
    /// stderr) where mounting is not allowed, so the test skips; a panic
    /// instead when `OSPREY_REQUIRE_TMPFS` is set (CI on a machine that can
    /// mount).
    pub fn for_test(tag: &str, bytes: u64) -> Option<Self> {
        match Self::mount(tag, bytes) {
            Ok(d) => Some(d),
            Err(why) if std::env::var_os("OSPREY_REQUIRE_TMPFS").is_none() => {
                eprintln!("skipped: {why}");
                None
            }
            Err(why) => panic!("{why}"),
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes a file of `bytes` zeroes (to leave little space); stops at
    /// the first error (a full disk) and returns how much was written.
    pub fn fill(&self, name: &str, bytes: u64) -> u64 {
        use std::io::Write;
        let Ok(mut f) = std::fs::File::create(self.dir.join(name)) else {
            return 0;
        };
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0;
        while written < bytes {
            let n = chunk.len().min((bytes - written) as usize);
            if f.write_all(&chunk[..n]).is_err() {
                break;
            }
            written += n as u64;
        }
        let _ = f.sync_all();
        written
    }

    /// Bytes still free (`statvfs` through `df`), or 0 when unknown.
    pub fn free_bytes(&self) -> u64 {
        Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.dir)
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .nth(1)
                    .and_then(|l| l.trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
