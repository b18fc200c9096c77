//! A PostgreSQL server of the test's own: Debian's `postgresql` binaries,
//! a fresh cluster in a temporary directory, listening on 127.0.0.1 on a
//! free port (never the system service). Stopped and deleted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running PostgreSQL cluster; user `osprey`, trust authentication.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (apt-get install postgresql)")
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
        .1
}

/// PostgreSQL refuses to run as root: as root, run it as the `postgres`
/// user the Debian package creates.
fn as_server_user(dir: &Path, program: &Path) -> Command {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Command::new(program);
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap();
        assert!(out.status.success(), "no postgres user");
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    std::os::unix::fs::chown(dir, Some(id("-u")), Some(id("-g"))).unwrap();
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(program);
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(mut cmd: Command, what: &str, log: &Path) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

impl Postgres {
    /// Creates the cluster and starts the server, waiting until it accepts
    /// connections.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("osprey-pg")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let mut initdb = as_server_user(dir.path(), &bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "osprey",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb", &log);
        let port = free_port();
        let mut start = as_server_user(dir.path(), &bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-o"]);
        start.arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.path().display()
        ));
        start.arg("start");
        run(start, "pg_ctl start", &log);
        Self { dir, bin, port }
    }

    /// A `postgres://` URL for database `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://osprey@127.0.0.1:{}/postgres", self.port)
    }

    /// A tokio-postgres / libpq keyword string for database `postgres`.
    pub fn config(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=osprey dbname=postgres",
            self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = as_server_user(self.dir.path(), &self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"]);
        let _ = stop.output();
    }
}
