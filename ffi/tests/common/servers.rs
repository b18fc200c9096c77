//! Real application servers for the agent's end-to-end tests: the Apache
//! Tomcat distributions 9 (javax), 10.1 and 11 (jakarta) and the WildFly
//! distributions 39 (jakarta) and 26 (javax: the generation of JBoss EAP 7,
//! which is not on Maven Central), fetched from Maven Central and unpacked once under the
//! target's tmp dir, each started from a fresh base directory with the demo
//! WAR (`jvm-agent/src/test-app/war`) deployed as `/app`, listening on
//! 127.0.0.1 only.
//!
//! The agent goes in the way a user adds it: `CATALINA_OPTS` for Tomcat,
//! a `JAVA_OPTS` line appended to `standalone.conf` for WildFly.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::java::{java_home, maven_artifact};

/// A server distribution the demo WAR is deployed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Apache Tomcat 9 (javax.servlet).
    Tomcat9,
    /// Apache Tomcat 10.1 (jakarta.servlet).
    Tomcat10,
    /// Apache Tomcat 11 (jakarta.servlet).
    Tomcat11,
    /// WildFly 39 (Undertow, JBoss Modules; jakarta.servlet).
    WildFly,
    /// WildFly 26, the last javax.servlet WildFly: Undertow 2.2 and the
    /// JBoss Modules of the JBoss EAP 7 generation. Supports JDK 11 and 17.
    WildFly26,
}

impl Kind {
    fn artifact(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Tomcat9 => (
                "org.apache.tomcat:tomcat:9.0.100:tar.gz",
                "tomcat-9.0.100.tar.gz",
                "apache-tomcat-9.0.100",
            ),
            Kind::Tomcat10 => (
                "org.apache.tomcat:tomcat:10.1.59:tar.gz",
                "tomcat-10.1.59.tar.gz",
                "apache-tomcat-10.1.59",
            ),
            Kind::Tomcat11 => (
                "org.apache.tomcat:tomcat:11.0.24:tar.gz",
                "tomcat-11.0.24.tar.gz",
                "apache-tomcat-11.0.24",
            ),
            Kind::WildFly => (
                "org.wildfly:wildfly-dist:39.0.1.Final:tar.gz",
                "wildfly-dist-39.0.1.Final.tar.gz",
                "wildfly-39.0.1.Final",
            ),
            Kind::WildFly26 => (
                "org.wildfly:wildfly-dist:26.1.3.Final:tar.gz",
                "wildfly-dist-26.1.3.Final.tar.gz",
                "wildfly-26.1.3.Final",
            ),
        }
    }

    /// Whether it runs the `javax` generation of the Java EE APIs.
    pub fn javax(self) -> bool {
        matches!(self, Kind::Tomcat9 | Kind::WildFly26)
    }

    /// Java source written for the jakarta APIs, made right for this
    /// server's generation: on a javax server the servlet and JAX-RS
    /// packages renamed to their `javax` names.
    pub fn source_for(self, text: &str) -> String {
        if !self.javax() {
            return text.to_owned();
        }
        JAVAX_RENAMED.iter().fold(text.to_owned(), |t, p| {
            t.replace(&format!("jakarta.{p}"), &format!("javax.{p}"))
        })
    }

    /// The directory a WAR dropped into is deployed from, under the
    /// server's base directory `base`.
    fn deployments(self, base: &Path) -> PathBuf {
        match self {
            Kind::Tomcat9 | Kind::Tomcat10 | Kind::Tomcat11 => base.join("webapps"),
            Kind::WildFly | Kind::WildFly26 => base.join("standalone/deployments"),
        }
    }

    /// A short label for scratch directories and messages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Tomcat9 => "tomcat9",
            Kind::Tomcat10 => "tomcat10",
            Kind::Tomcat11 => "tomcat11",
            Kind::WildFly => "wildfly",
            Kind::WildFly26 => "wildfly26",
        }
    }
}

/// The packages whose `jakarta.` names a javax server knows as `javax.`.
const JAVAX_RENAMED: [&str; 2] = ["servlet", "ws.rs"];

fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("jvm-servers")
}

/// The unpacked distribution (its home directory), fetched once.
pub fn home(kind: Kind) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _once = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (coords, file, dir_name) = kind.artifact();
    let dir = servers_dir();
    let home = dir.join(dir_name);
    if !home.join(".unpacked").is_file() {
        let archive = maven_artifact(coords, file, &dir);
        let _ = std::fs::remove_dir_all(&home);
        let status = Command::new("tar")
            .arg("xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&dir)
            .status()
            .expect("tar runs");
        assert!(status.success() && home.is_dir(), "unpacking {file}");
        std::fs::write(home.join(".unpacked"), b"").unwrap();
        // Maven's local repository keeps a copy; this one would only take
        // disk (half a gigabyte for the two WildFlys).
        let _ = std::fs::remove_file(&archive);
    }
    home
}

/// The demo WAR for `kind`'s servlet API (javax sources derived from the
/// jakarta ones), built once with JDK 17.
pub fn war(kind: Kind) -> PathBuf {
    static WARS: Mutex<Vec<(bool, PathBuf)>> = Mutex::new(Vec::new());
    let mut wars = WARS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, w)) = wars.iter().find(|(j, _)| *j == kind.javax()) {
        return w.clone();
    }
    let flavour = if kind.javax() { "javax" } else { "jakarta" };
    let build = servers_dir().join(format!("war-{flavour}"));
    let _ = std::fs::remove_dir_all(&build);
    let src_dir = build.join("src");
    std::fs::create_dir_all(&src_dir).unwrap();
    let original = super::repo_root().join("jvm-agent/src/test-app/war/demo/war");
    let mut sources = Vec::new();
    let staging = build.join("staging");
    for entry in std::fs::read_dir(&original).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsp") {
            // Pages go to the WAR's root, compiled by the server.
            std::fs::create_dir_all(&staging).unwrap();
            std::fs::copy(&path, staging.join(path.file_name().unwrap())).unwrap();
            continue;
        }
        let text = kind.source_for(&std::fs::read_to_string(&path).unwrap());
        let out = src_dir.join(path.file_name().unwrap());
        std::fs::write(&out, text).unwrap();
        sources.push(out);
    }
    let h2 = maven_artifact(
        "com.h2database:h2:2.5.252",
        "h2-2.5.252.jar",
        &servers_dir(),
    );
    // Tomcat 9 and 11 ship the servlet API of their generation; WildFly's
    // jakarta API is the same as Tomcat 11's for what the demo uses.
    let api_home = home(if kind.javax() {
        Kind::Tomcat9
    } else {
        Kind::Tomcat11
    });
    let class_path = format!(
        "{}:{}",
        api_home.join("lib/servlet-api.jar").display(),
        h2.display()
    );
    let classes = staging.join("WEB-INF/classes");
    let options = ["--release", "17", "-nowarn", "-cp", &class_path].map(Into::into);
    super::java::javac(&java_home(), &options, &classes, &sources);
    std::fs::create_dir_all(staging.join("WEB-INF/lib")).unwrap();
    std::fs::copy(&h2, staging.join("WEB-INF/lib/h2.jar")).unwrap();
    let war = build.join("app.war");
    super::java::jar(&staging, &war);
    wars.push((kind.javax(), war.clone()));
    war
}

/// The jar of the WildFly module `module` (its directory under the base
/// layer, such as `javax/ws/rs/api`) in `kind`'s distribution.
pub fn module_jar(kind: Kind, module: &str) -> PathBuf {
    let dir = home(kind)
        .join("modules/system/layers/base")
        .join(module)
        .join("main");
    super::java::jars_in(&dir)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no jar in {}", dir.display()))
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server; stopped (or killed) when dropped.
pub struct Server {
    child: Child,
    /// The HTTP port on 127.0.0.1.
    pub port: u16,
    /// Where its console output goes.
    pub stdout: PathBuf,
    stderr: PathBuf,
    name: String,
    kind: Kind,
    base: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `kind` on `jdk` with the demo WAR as `/app`, `jvm_options`
    /// added the way a user would (`-javaagent:...`), the `env` variables
    /// set; waits until `/app/hello?id=42` answers 200.
    pub fn start(
        kind: Kind,
        jdk: &Path,
        jvm_options: &str,
        env: &[(&str, &str)],
        name: &str,
    ) -> Server {
        let base = super::scratch(name);
        let war = war(kind);
        let home = home(kind);
        let port = free_port();
        let mut cmd = match kind {
            Kind::Tomcat9 | Kind::Tomcat10 | Kind::Tomcat11 => {
                tomcat(&home, &base, &war, port, jvm_options)
            }
            Kind::WildFly | Kind::WildFly26 => wildfly(&home, &base, &war, port, jvm_options),
        };
        cmd.env("JAVA_HOME", jdk);
        for (k, _) in std::env::vars() {
            if k.starts_with("OSPREY_")
                || k.starts_with("OTEL_")
                || k == "JAVA_TOOL_OPTIONS"
                || k == "JAVA_OPTS"
            {
                cmd.env_remove(&k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, stdout, stderr) = super::spawn_logged(cmd, &base.join("run"), name);
        let mut server = Server {
            child,
            port,
            stdout,
            stderr,
            name: name.to_owned(),
            kind,
            base,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some((status, _)) = server.try_get("/app/hello?id=42", "")
                && status.contains(" 200")
            {
                return server;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("{name}: exited early ({status}):\n{}", server.output());
            }
            assert!(
                Instant::now() < deadline,
                "{name}: not serving /app within two minutes:\n{}",
                server.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Deploys `war` on the running server (copied beside its deployments
    /// directory, then renamed into it: the scanner never sees half a WAR)
    /// and waits (up to two minutes) until `GET probe` answers 200.
    pub fn deploy(&self, war: &Path, probe: &str) {
        let dir = self.kind.deployments(&self.base);
        assert!(dir.is_dir(), "{}", dir.display());
        let file = war.file_name().expect("a WAR file");
        let part = self.base.join(file);
        std::fs::copy(war, &part).unwrap();
        std::fs::rename(&part, dir.join(file)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some((status, _)) = self.try_get(probe, "")
                && status.contains(" 200")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {} not deployed within two minutes:\n{}",
                self.name,
                war.display(),
                self.output()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Its console output so far (standard output and error).
    pub fn output(&self) -> String {
        format!(
            "{}\n{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// Status line and body of `GET path` (headers differ by date).
    pub fn get(&self, path: &str, extra_headers: &str) -> (String, String) {
        self.try_get(path, extra_headers)
            .unwrap_or_else(|| panic!("{}: GET {path} failed", self.name))
    }

    fn try_get(&self, path: &str, extra_headers: &str) -> Option<(String, String)> {
        super::http_get(self.port, path, extra_headers)
    }

    /// Stops the server with SIGTERM to its JVM (its shutdown hooks run, so
    /// the agent exports what it holds), waits up to a minute for the JVM
    /// to exit, then reaps the launcher script; returns the output.
    pub fn stop(mut self) -> String {
        // `standalone.sh` runs the JVM as its child and, once the JVM exits
        // on a signal, may spin in its `wait` loop: signal the JVM itself.
        let launcher = self.child.id();
        let jvm = Command::new("pgrep")
            .arg("-P")
            .arg(launcher.to_string())
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(launcher);
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(jvm.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        if jvm == launcher {
            let status = super::wait_until(&mut self.child, deadline);
            assert!(
                status.is_some(),
                "{}: did not stop within a minute",
                self.name
            );
        } else {
            while Path::new(&format!("/proc/{jvm}")).exists() {
                assert!(
                    Instant::now() < deadline,
                    "{}: did not stop within a minute",
                    self.name
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.output()
    }
}

/// `catalina.sh run` with a fresh `CATALINA_BASE`: the distribution's
/// configuration with the HTTP connector moved to `port` on 127.0.0.1 and
/// the shutdown port off.
fn tomcat(home: &Path, base: &Path, war: &Path, port: u16, jvm_options: &str) -> Command {
    for dir in ["conf", "logs", "temp", "work", "webapps"] {
        std::fs::create_dir_all(base.join(dir)).unwrap();
    }
    for entry in std::fs::read_dir(home.join("conf")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, base.join("conf").join(path.file_name().unwrap())).unwrap();
        }
    }
    let server_xml = base.join("conf/server.xml");
    let text = std::fs::read_to_string(&server_xml).unwrap();
    assert!(text.contains("port=\"8080\"") && text.contains("port=\"8005\""));
    let text = text.replace("port=\"8005\"", "port=\"-1\"").replacen(
        "<Connector port=\"8080\"",
        &format!("<Connector address=\"127.0.0.1\" port=\"{port}\""),
        1,
    );
    std::fs::write(&server_xml, text).unwrap();
    std::fs::copy(war, base.join("webapps/app.war")).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(home.join("bin/catalina.sh"))
        .arg("run")
        .env("CATALINA_HOME", home)
        .env("CATALINA_BASE", base)
        .env("CATALINA_OPTS", jvm_options)
        .env_remove("CATALINA_PID");
    cmd
}

/// `standalone.sh` with a fresh `jboss.server.base.dir`, HTTP on `port` and
/// the other listeners on free ports, everything bound to 127.0.0.1, and
/// `jvm_options` appended to `JAVA_OPTS` in a copy of `standalone.conf`.
fn wildfly(home: &Path, base: &Path, war: &Path, port: u16, jvm_options: &str) -> Command {
    let standalone = base.join("standalone");
    let status = Command::new("cp")
        .arg("-r")
        .arg(home.join("standalone"))
        .arg(&standalone)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::copy(war, standalone.join("deployments/app.war")).unwrap();
    let conf = base.join("standalone.conf");
    let mut text = std::fs::read_to_string(home.join("bin/standalone.conf")).unwrap();
    text.push_str(&format!("\nJAVA_OPTS=\"$JAVA_OPTS {jvm_options}\"\n"));
    std::fs::write(&conf, text).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(home.join("bin/standalone.sh"))
        .arg(format!("-Djboss.server.base.dir={}", standalone.display()))
        .arg(format!("-Djboss.http.port={port}"))
        .arg(format!("-Djboss.https.port={}", free_port()))
        .arg(format!("-Djboss.ajp.port={}", free_port()))
        .arg(format!("-Djboss.management.http.port={}", free_port()))
        .arg(format!("-Djboss.management.https.port={}", free_port()))
        .arg("-Djboss.bind.address=127.0.0.1")
        .arg("-Djboss.bind.address.management=127.0.0.1")
        .env("JBOSS_HOME", home)
        .env("RUN_CONF", &conf)
        .env("LAUNCH_JBOSS_IN_BACKGROUND", "1")
        .stdin(Stdio::null());
    cmd
}
