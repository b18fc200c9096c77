//! Data-store servers the Java agent's client tests run against: each
//! started by the test on 127.0.0.1 with its own port and a fresh
//! directory under the system temp dir (readable by the `postgres` user),
//! never the system's services; stopped and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::servers::free_port;

/// A fresh directory under the system temp dir, removed by [`Dir`]'s drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("osprey-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `cmd`; fails the test with its output when it fails.
fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
fn wait_for_port(port: u16, child: &mut Child, log: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `cmd` run as the `postgres` user when this process is root (PostgreSQL
/// refuses to run as root), as is otherwise.
fn as_postgres(program: &Path) -> Command {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { geteuid() } == 0;
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

unsafe extern "C" {
    fn geteuid() -> u32;
}

/// Debian's PostgreSQL server binaries (`/usr/lib/postgresql/N/bin`, the
/// highest N).
fn postgres_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (Debian's postgresql package)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().expect("an initdb under /usr/lib/postgresql")
}

/// A PostgreSQL cluster of its own (`initdb`, then `pg_ctl start`), trust
/// authentication on 127.0.0.1, superuser `osprey`, database `shop`.
pub struct Postgres {
    /// The port it listens on.
    pub port: u16,
    bin: PathBuf,
    dir: Dir,
}

impl Postgres {
    /// Initialises and starts the cluster, then makes the database `shop`.
    pub fn start(name: &str) -> Postgres {
        let bin = postgres_bin();
        let dir = Dir::new(name);
        // The postgres user owns the cluster's directory.
        run(
            {
                let mut c = Command::new("chown");
                c.args(["postgres:"]).arg(&dir.0);
                c
            },
            "chown",
        );
        let data = dir.0.join("data");
        let mut initdb = as_postgres(&bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "osprey",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb");
        let port = free_port();
        let mut start = as_postgres(&bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                dir.0.display()
            ))
            .arg("-l")
            .arg(dir.0.join("log"))
            .args(["-w", "start"]);
        start.stdout(Stdio::null());
        run(start, "pg_ctl start");
        let pg = Postgres { port, bin, dir };
        let mut create = as_postgres(&pg.bin.join("createdb"));
        create.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "osprey",
            "shop",
        ]);
        run(create, "createdb");
        pg
    }

    /// Runs `sql` in database `db` with `psql`; fails the test when it fails.
    pub fn sql(&self, db: &str, sql: &str) {
        let mut psql = as_postgres(&self.bin.join("psql"));
        psql.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "osprey",
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-d", db, "-c", sql]);
        run(psql, "psql");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = as_postgres(&self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(self.dir.0.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = stop.status();
    }
}

/// A MariaDB server of its own (`mariadb-install-db`, then `mariadbd`),
/// user `root` without a password on 127.0.0.1, database `shop`.
pub struct MariaDb {
    /// The port it listens on.
    pub port: u16,
    child: Child,
    _dir: Dir,
}

impl MariaDb {
    /// Initialises and starts the server, then makes the database `shop`.
    pub fn start(name: &str) -> MariaDb {
        let dir = Dir::new(name);
        let data = dir.0.join("data");
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ]);
        run(install, "mariadb-install-db");
        let port = free_port();
        let log = dir.0.join("log");
        let mut child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.0.join("sock").display()))
            .arg(format!("--pid-file={}", dir.0.join("pid").display()))
            .args(["--skip-log-bin", "--innodb-buffer-pool-size=16M"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("mariadbd starts (Debian's mariadb-server package)");
        wait_for_port(port, &mut child, &log, "mariadbd");
        let mut create = Command::new("mariadb");
        create
            .arg("--no-defaults")
            .args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", "root"])
            .args(["-e", "CREATE DATABASE shop"]);
        run(create, "mariadb CREATE DATABASE");
        MariaDb {
            port,
            child,
            _dir: dir,
        }
    }

    /// Runs `sql` in database `db` with the `mariadb` client; fails the
    /// test when it fails.
    pub fn sql(&self, db: &str, sql: &str) {
        let mut client = Command::new("mariadb");
        client
            .arg("--no-defaults")
            .args([
                "-h",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "-u",
                "root",
            ])
            .args(["-D", db, "-e", sql]);
        run(client, "mariadb");
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // SIGTERM: a clean shutdown, then the directory goes.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis server of its own (`redis-server`), no persistence.
pub struct Redis {
    /// The port it listens on.
    pub port: u16,
    child: Child,
    _dir: Dir,
}

impl Redis {
    /// Starts the server.
    pub fn start(name: &str) -> Redis {
        let dir = Dir::new(name);
        let port = free_port();
        let log = dir.0.join("log");
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir.0)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (Debian's redis-server package)");
        wait_for_port(port, &mut child, &log, "redis-server");
        Redis {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A single-node Kafka broker in KRaft mode (broker and controller in one
/// JVM, from the Kafka jars on Maven Central), one partition per topic,
/// topics created on first use.
pub struct Kafka {
    /// The port of its PLAINTEXT listener.
    pub port: u16,
    child: Child,
    _dir: Dir,
}

impl Kafka {
    /// Fetches the broker's jars once (`mvn dependency:copy-dependencies`
    /// of `ffi/tests/kafka-broker`), formats a fresh log directory and
    /// starts the broker.
    pub fn start(name: &str) -> Kafka {
        let libs = kafka_libs();
        let dir = Dir::new(name);
        let port = free_port();
        let controller = free_port();
        let config = dir.0.join("server.properties");
        std::fs::write(
            &config,
            format!(
                "process.roles=broker,controller\n\
                 node.id=1\n\
                 controller.quorum.bootstrap.servers=127.0.0.1:{controller}\n\
                 listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                 controller.listener.names=CONTROLLER\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
                 log.dirs={}\n\
                 num.partitions=1\n\
                 offsets.topic.replication.factor=1\n\
                 offsets.topic.num.partitions=1\n\
                 transaction.state.log.replication.factor=1\n\
                 transaction.state.log.min.isr=1\n\
                 share.coordinator.state.topic.replication.factor=1\n\
                 share.coordinator.state.topic.min.isr=1\n\
                 group.initial.rebalance.delay.ms=0\n",
                dir.0.join("data").display()
            ),
        )
        .unwrap();
        let java = super::java::java_home().join("bin/java");
        let class_path = format!("{}/*", libs.display());
        let mut format = Command::new(&java);
        format
            .args(["-cp", &class_path, "kafka.tools.StorageTool", "format"])
            .args(["-t", "osprey-test-cluster-0001", "--standalone", "-c"])
            .arg(&config);
        run(format, "kafka StorageTool format");
        let log = dir.0.join("log");
        let mut child = Command::new(&java)
            .args(["-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .args(["-cp", &class_path, "kafka.Kafka"])
            .arg(&config)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("the Kafka broker starts");
        wait_for_port(port, &mut child, &log, "kafka");
        Kafka {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The broker's jars, copied once into the target's tmp dir.
fn kafka_libs() -> PathBuf {
    maven_dependencies("ffi/tests/kafka-broker", "kafka-broker-libs")
}

/// The runtime dependencies of the Maven project in the repository
/// directory `project` (a `pom` listing them), copied once with `mvn
/// dependency:copy-dependencies` into the target's tmp dir `dir_name`;
/// returns that directory.
pub fn maven_dependencies(project: &str, dir_name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir_name);
    let done = dir.join(".copied");
    if !done.is_file() {
        let pom = super::repo_root().join(project).join("pom.xml");
        let mut mvn = Command::new("mvn");
        mvn.args(["-q", "-B", "-f"])
            .arg(&pom)
            .arg("dependency:copy-dependencies")
            .arg(format!("-DoutputDirectory={}", dir.display()))
            .arg("-DincludeScope=runtime")
            .env("JAVA_HOME", super::java::java_home())
            .stdin(Stdio::null());
        run(
            mvn,
            &format!("mvn dependency:copy-dependencies ({project})"),
        );
        std::fs::write(&done, "").unwrap();
    }
    dir
}
