//! The auth files (`<data>/auth/keys.json`, `<data>/auth/users.json`):
//! written whole through a temporary file and a rename, readable by the
//! owner only, and re-read by a running server when they change on disk
//! (so `osprey key add` and `osprey user remove` take effect at once).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The directory under the data directory that holds the auth files.
pub fn auth_dir(data: &Path) -> PathBuf {
    data.join("auth")
}

/// Reads `path`; a missing file is the default (empty) value.
pub fn load<T: DeserializeOwned + Default>(path: &Path) -> io::Result<T> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// Writes `value` to `path` atomically: a temporary file (mode 0600),
/// fsync, rename; the directory is created with mode 0700.
pub fn save<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    restrict(dir, 0o700)?;
    let tmp = path.with_extension("json.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    restrict(&tmp, 0o600)?;
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// A file's parsed content, re-read when its modification time or size
/// changes. A file that becomes unreadable keeps the last good content
/// (logged), so a half-edited file never opens the server.
pub struct Watched<T> {
    path: PathBuf,
    state: Mutex<(Stamp, Arc<T>)>,
}

impl<T: DeserializeOwned + Default> Watched<T> {
    /// Reads `path` now; an unreadable file is an error.
    pub fn open(path: PathBuf) -> io::Result<Self> {
        let s = stamp(&path);
        let value = load(&path)?;
        Ok(Self {
            path,
            state: Mutex::new((s, Arc::new(value))),
        })
    }

    /// The current content.
    pub fn get(&self) -> Arc<T> {
        let now = stamp(&self.path);
        let mut state = self.state.lock();
        if now != state.0 {
            match load(&self.path) {
                Ok(v) => *state = (now, Arc::new(v)),
                Err(e) => {
                    eprintln!("osprey: auth: keeping the previous content: {e}");
                    state.0 = now;
                }
            }
        }
        state.1.clone()
    }
}
