//! What the Java agent's end-to-end tests share: the JDKs to run on, the
//! agent jar, `javac`, starting `java` with a clean environment, and
//! reading back the spans the agent exported.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::Span;
use osprey_testkit::Receiver;

use super::Output;

pub const JDK17: &str = "/usr/lib/jvm/java-17-openjdk-amd64";
pub const JDK25: &str = "/usr/lib/jvm/temurin-25-jdk-amd64";

/// JDK 17, or `JAVA_HOME` when it is not installed.
pub fn java_home() -> PathBuf {
    if Path::new(JDK17).is_dir() {
        return PathBuf::from(JDK17);
    }
    PathBuf::from(std::env::var_os("JAVA_HOME").expect("JDK 17 or JAVA_HOME"))
}

/// The JDKs to test on, with their labels: JDK 17 and, when installed,
/// Temurin 25.
pub fn jdks() -> Vec<(PathBuf, &'static str)> {
    let mut out = vec![(java_home(), "jdk17")];
    if Path::new(JDK25).is_dir() {
        out.push((PathBuf::from(JDK25), "jdk25"));
    } else {
        eprintln!("{JDK25} not installed: Temurin 25 not tested");
    }
    out
}

/// The agent jar: `OSPREY_AGENT_JAR` when set, otherwise built once per
/// test binary with `mvn package` (plus `mvn_args`) into `build_dir`
/// under the target's tmp dir, embedding the libosprey of this build.
pub fn agent_jar(build_dir: &str, mvn_args: &[&str]) -> &'static Path {
    static JAR: OnceLock<PathBuf> = OnceLock::new();
    JAR.get_or_init(|| {
        if let Some(jar) = std::env::var_os("OSPREY_AGENT_JAR") {
            let jar = PathBuf::from(jar);
            assert!(jar.is_file(), "OSPREY_AGENT_JAR={} missing", jar.display());
            return jar;
        }
        build_agent_jar(build_dir, mvn_args)
    })
}

/// Builds the agent jar around this test build's libosprey (debug for
/// `cargo test`) into `target/tmp/<build_dir>`, whatever `OSPREY_AGENT_JAR`
/// says: for tests that need what only this build of the library has (the
/// fault injection of `ffi/src/fault.rs`).
pub fn build_agent_jar(build_dir: &str, mvn_args: &[&str]) -> PathBuf {
    let build = Path::new(env!("CARGO_TARGET_TMPDIR")).join(build_dir);
    let mut args: Vec<String> = mvn_args.iter().map(|a| (*a).to_owned()).collect();
    args.push(format!(
        "-Dosprey.native.dir={}",
        super::lib_dir().display()
    ));
    args.push(format!("-Dosprey.build.dir={}", build.display()));
    mvn_package(&super::repo_root().join("jvm-agent"), &args);
    let jar = build.join("osprey-agent.jar");
    assert!(jar.is_file(), "{} not built", jar.display());
    jar
}

/// The artifact `coords` (`group:artifact:version[:type]`) copied from
/// `mvn -q -B package` of the Maven project in `project` with `args`, under
/// [`java_home`]; fails the test when Maven does.
pub fn mvn_package(project: &Path, args: &[String]) {
    let out = Command::new("mvn")
        .args(["-q", "-B", "package"])
        .args(args)
        .current_dir(project)
        .env("JAVA_HOME", java_home())
        .stdin(Stdio::null())
        .output()
        .expect("mvn runs (Maven is needed for this test)");
    assert!(
        out.status.success(),
        "mvn package in {} failed:\n{}\n{}",
        project.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Maven Central into `dir` as `file`, fetched once (`mvn dependency:copy`).
pub fn maven_artifact(coords: &str, file: &str, dir: &Path) -> PathBuf {
    let path = dir.join(file);
    if !path.is_file() {
        let out = Command::new("mvn")
            .args(["-q", "-B", "dependency:copy"])
            .arg(format!("-Dartifact={coords}"))
            .arg(format!("-DoutputDirectory={}", dir.display()))
            .env("JAVA_HOME", java_home())
            .stdin(Stdio::null())
            .output()
            .expect("mvn runs (Maven is needed for this test)");
        assert!(
            out.status.success() && path.is_file(),
            "mvn dependency:copy {coords} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    path
}

/// Embedded Tomcat 11 and its annotations API (`(coords, file)` for
/// [`maven_artifacts`]).
pub const TOMCAT_EMBED: [(&str, &str); 2] = [
    (
        "org.apache.tomcat.embed:tomcat-embed-core:11.0.27",
        "tomcat-embed-core-11.0.27.jar",
    ),
    (
        "org.apache.tomcat:tomcat-annotations-api:11.0.27",
        "tomcat-annotations-api-11.0.27.jar",
    ),
];

/// The artifacts (`(coords, file)`) fetched once with Maven into the
/// target's tmp dir `dir_name`.
pub fn maven_artifacts(artifacts: &[(&str, &str)], dir_name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir_name);
    artifacts
        .iter()
        .map(|(coords, file)| maven_artifact(coords, file, &dir))
        .collect()
}

/// `dir`, then the jars of `libs`, as a class path.
pub fn class_path(dir: &Path, libs: &[PathBuf]) -> String {
    let mut parts = vec![dir.display().to_string()];
    parts.extend(libs.iter().map(|p| p.display().to_string()));
    parts.join(":")
}

/// Compiles the `files` of the repository directory `src` with JDK 17's
/// `javac --release 17` against `libs` into the target's tmp dir `out`
/// (every JDK then runs the same classes); returns that directory.
pub fn compile_app(src: &str, files: &[&str], libs: &[PathBuf], out: &str) -> PathBuf {
    let src = super::repo_root().join(src);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(out);
    let options: Vec<OsString> = ["--release", "17", "-nowarn", "-cp"]
        .map(Into::into)
        .into_iter()
        .chain([class_path(Path::new("."), libs).into()])
        .collect();
    let sources: Vec<PathBuf> = files.iter().map(|f| src.join(f)).collect();
    javac(&java_home(), &options, &out, &sources);
    out
}

/// A JVM application that prints `port=N` once it serves HTTP on
/// 127.0.0.1 and stops on `GET /exit` (answering `bye`); killed if a test
/// fails half-way.
pub struct PortApp {
    child: Child,
    /// The port it printed.
    pub port: u16,
    stdout: PathBuf,
    stderr: PathBuf,
    name: String,
}

impl Drop for PortApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PortApp {
    /// Starts `cmd` in a fresh scratch directory `name` and waits (up to
    /// three minutes: a Spring Boot start on a loaded machine) for its `port=` line.
    pub fn start(cmd: Command, name: &str) -> PortApp {
        let (child, stdout, stderr) = spawn_java(cmd, name);
        let mut app = PortApp {
            child,
            port: 0,
            stdout,
            stderr,
            name: name.to_owned(),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        loop {
            let text = std::fs::read_to_string(&app.stdout).unwrap_or_default();
            if let Some(port) = text.lines().find_map(|l| l.strip_prefix("port=")) {
                app.port = port.trim().parse().expect("port number");
                return app;
            }
            if let Some(status) = app.child.try_wait().unwrap() {
                panic!("{name}: exited early ({status}):\n{}", app.stderr_text());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: not serving within three minutes:\n{}",
                app.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its standard error so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Status line and body of `GET path`.
    pub fn get(&self, path: &str, extra_headers: &str) -> (String, String) {
        super::http_get(self.port, path, extra_headers)
            .unwrap_or_else(|| panic!("{}: GET {path} failed", self.name))
    }

    /// Asks it to stop (`GET /exit`), waits (bounded) for exit code 0;
    /// returns its standard output and error.
    pub fn stop(mut self) -> (String, String) {
        let (status, body) = self.get("/exit", "");
        assert!(
            status.contains(" 200") && body.contains("bye"),
            "{status} {body}"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let name = self.name.clone();
        let status = super::wait_until(&mut self.child, deadline)
            .unwrap_or_else(|| panic!("{name}: did not stop within a minute"));
        assert_eq!(status.code(), Some(0), "{name}:\n{}", self.stderr_text());
        (
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            self.stderr_text(),
        )
    }
}

/// Compiles `sources` with `jdk`'s `javac` and `options` into a fresh
/// `out` directory (emptied first); fails the test if `javac` does.
pub fn javac(jdk: &Path, options: &[OsString], out: &Path, sources: &[PathBuf]) {
    let _ = std::fs::remove_dir_all(out);
    let status = Command::new(jdk.join("bin/javac"))
        .args(options)
        .arg("-d")
        .arg(out)
        .args(sources)
        .status()
        .expect("javac runs");
    assert!(status.success(), "javac failed");
}

/// Packs the directory `dir` into the jar (or WAR) `out` with JDK 17's
/// `jar`; fails the test if that fails.
pub fn jar(dir: &Path, out: &Path) {
    let status = Command::new(java_home().join("bin/jar"))
        .arg("cf")
        .arg(out)
        .arg("-C")
        .arg(dir)
        .arg(".")
        .status()
        .expect("jar runs");
    assert!(status.success(), "building {}", out.display());
}

/// `jdk`'s `java` with `jvm_args`, `-cp class_path` and `main_class`, the
/// variables `env` set, and every `OSPREY_*`, `OTEL_*` and
/// `JAVA_TOOL_OPTIONS` of this process's environment removed.
pub fn java(
    jdk: &Path,
    jvm_args: &[String],
    class_path: impl AsRef<std::ffi::OsStr>,
    main_class: &str,
    env: &[(&str, &str)],
) -> Command {
    let mut cmd = Command::new(jdk.join("bin/java"));
    cmd.args(jvm_args)
        .arg("-cp")
        .arg(class_path)
        .arg(main_class);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for (k, _) in std::env::vars() {
        if k.starts_with("OSPREY_") || k.starts_with("OTEL_") || k == "JAVA_TOOL_OPTIONS" {
            cmd.env_remove(&k);
        }
    }
    cmd
}

/// Runs `cmd` in a fresh scratch directory `name`, killing it after a
/// minute; returns what it printed, whatever its exit status.
pub fn run_java(cmd: Command, name: &str) -> Output {
    super::run_limited(
        cmd,
        &super::scratch(name),
        Duration::from_secs(60),
        &format!("{name}: java"),
    )
}

/// Starts `cmd` in a fresh scratch directory `name` without waiting;
/// returns the child and the paths of its standard output and error.
pub fn spawn_java(cmd: Command, name: &str) -> (Child, PathBuf, PathBuf) {
    super::spawn_logged(cmd, &super::scratch(name), "java")
}

/// All spans the receiver holds now.
pub fn received(receiver: &Receiver) -> Vec<Span> {
    receiver
        .traces()
        .into_iter()
        .flat_map(|r| r.resource_spans)
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect()
}

/// The span's status code (0, unset, when it has no status).
pub fn status_code(s: &Span) -> i32 {
    s.status.as_ref().map_or(0, |st| st.code)
}

/// Whether `needle` appears in the span's attributes, events or status.
pub fn mentions(s: &Span, needle: &str) -> bool {
    format!("{:?}{:?}{:?}", s.attributes, s.events, s.status).contains(needle)
}

/// The two statements the demo applications' `Work.inner` runs, sanitised.
pub const DEMO_SQL: [&str; 2] = [
    "SELECT name FROM item WHERE id = ?",
    "SELECT name FROM item WHERE name = ? AND id = ?",
];

/// Asserts the demo applications' call tree under the server span `root`:
/// `outer` (the step named so) → `inner` → the two [`DEMO_SQL`] statements
/// in order, CLIENT spans with `db.system=h2`, each span of the same trace
/// and inside its parent's time. `context` prefixes failure messages.
pub fn assert_demo_tree(spans: &[Span], root: &Span, outer: &str, inner: &str, context: &str) {
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let outer = spans
        .iter()
        .find(|s| s.name == outer && s.parent_span_id == root.span_id)
        .unwrap_or_else(|| panic!("{context}: outer under the server span: {names:?}"));
    let inner = spans
        .iter()
        .find(|s| s.name == inner && s.parent_span_id == outer.span_id)
        .unwrap_or_else(|| panic!("{context}: inner under outer: {names:?}"));
    let mut steps: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == inner.span_id)
        .collect();
    steps.sort_by_key(|s| s.start_time_unix_nano);
    let step_names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(step_names, DEMO_SQL, "{context}");
    for s in &steps {
        assert_eq!(
            s.kind,
            opentelemetry_proto::tonic::trace::v1::span::SpanKind::Client as i32,
            "{context}: {}",
            s.name
        );
        assert_eq!(
            osprey_testkit::spans::str_attr(&s.attributes, "db.system"),
            Some("h2"),
            "{context}"
        );
    }
    for (child, parent) in [
        (outer, root),
        (inner, outer),
        (steps[0], inner),
        (steps[1], inner),
    ] {
        assert_eq!(child.trace_id, root.trace_id, "{context}: {}", child.name);
        assert!(
            osprey_testkit::spans::within(child, parent),
            "{context}: {} inside {}",
            child.name,
            parent.name
        );
    }
}

/// The `-javaagent:` option for the agent jar `jar`: `options` (comma-separated
/// `key=value`s, without a leading comma; may be empty), then OTLP export to
/// `receiver` with a 50 ms batch delay.
pub fn agent_option(jar: &Path, receiver: &Receiver, options: &str) -> String {
    let sep = if options.is_empty() { "" } else { "," };
    format!(
        "-javaagent:{}={options}{sep}exporter=otlp,otlp.endpoint=http://127.0.0.1:{},\
         batch.delay_ms=50",
        jar.display(),
        receiver.port()
    )
}

/// The jars in `dir`, sorted by name.
pub fn jars_in(dir: &Path) -> Vec<PathBuf> {
    let mut jars: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jar"))
        .collect();
    jars.sort();
    jars
}

/// A test application of `jvm-agent/src/test-app`: its compiled classes, the
/// jars it runs with and its main class.
#[derive(Clone, Debug)]
pub struct TestApp {
    /// The directory of its compiled classes.
    pub classes: PathBuf,
    /// The jars on its class path after the classes.
    pub libs: Vec<PathBuf>,
    /// Its main class.
    pub main_class: &'static str,
}

impl TestApp {
    /// Compiles `files` of the repository directory `src` against `libs`
    /// into the target's tmp dir `out` (see [`compile_app`]).
    pub fn compile(
        src: &str,
        files: &[&str],
        libs: Vec<PathBuf>,
        out: &str,
        main_class: &'static str,
    ) -> TestApp {
        let classes = compile_app(src, files, &libs, out);
        TestApp {
            classes,
            libs,
            main_class,
        }
    }

    /// The same classes run with other jars (a library's other version).
    pub fn with_libs(&self, libs: Vec<PathBuf>) -> TestApp {
        TestApp {
            libs,
            ..self.clone()
        }
    }

    /// Runs it on `jdk` with `jvm_args` and the program arguments `args` in
    /// a scratch directory `name` (see [`run_java`]); fails the test unless
    /// it exits with status 0.
    pub fn run(&self, jdk: &Path, jvm_args: &[String], args: &[&str], name: &str) -> Output {
        let mut cmd = self.command(jdk, jvm_args);
        cmd.args(args);
        let out = run_java(cmd, name);
        assert_eq!(out.code, Some(0), "{name}: {}", out.stderr);
        out
    }

    /// Starts it as a server (a [`PortApp`]) on `jdk` with `jvm_args` in a
    /// scratch directory `name`.
    pub fn start(&self, jdk: &Path, jvm_args: &[String], name: &str) -> PortApp {
        PortApp::start(self.command(jdk, jvm_args), name)
    }

    /// `jdk`'s `java` running it with `jvm_args` (see [`java`]).
    fn command(&self, jdk: &Path, jvm_args: &[String]) -> Command {
        java(
            jdk,
            jvm_args,
            class_path(&self.classes, &self.libs),
            self.main_class,
            &[],
        )
    }
}

/// Waits (up to `limit`) until the receiver holds at least `n` spans;
/// returns what it holds then.
pub fn spans_at_least(receiver: &Receiver, n: usize, limit: Duration) -> Vec<Span> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let spans = received(receiver);
        if spans.len() >= n || std::time::Instant::now() >= deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first transaction (a span without parent) whose name contains
/// `needle`; fails the test (prefixing `context`) when there is none.
pub fn root_named<'a>(spans: &'a [Span], needle: &str, context: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.parent_span_id.is_empty() && s.name.contains(needle))
        .unwrap_or_else(|| panic!("{context}: no {needle} transaction in {spans:#?}"))
}

/// Every other span of `root`'s trace, in start order.
pub fn trace_steps<'a>(spans: &'a [Span], root: &Span) -> Vec<&'a Span> {
    let mut steps: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == root.trace_id && s.span_id != root.span_id)
        .collect();
    steps.sort_by_key(|s| s.start_time_unix_nano);
    steps
}

/// What makes a [`TestApp`]: its sources, main class and libraries, and
/// the name its files go under in the target's tmp dir (`<name>-classes`,
/// `<name>-libs` for the `artifacts`, `<name>-deps` for the `pom`'s
/// dependencies).
#[derive(Debug)]
pub struct AppSpec {
    /// The repository directory of its sources.
    pub src: &'static str,
    /// The source files there to compile.
    pub files: &'static [&'static str],
    /// Its main class.
    pub main_class: &'static str,
    /// Maven Central artifacts it needs (`(coords, file)`, see [`maven_artifacts`]).
    pub artifacts: &'static [(&'static str, &'static str)],
    /// A repository directory with a `pom.xml` whose runtime dependencies
    /// it needs too (see [`super::stores::maven_dependencies`]).
    pub pom: Option<&'static str>,
    /// The base name of its directories under the target's tmp dir.
    pub name: &'static str,
}

impl AppSpec {
    /// Its libraries fetched and its classes compiled, once per test binary.
    pub fn app(&'static self) -> &'static TestApp {
        static APPS: std::sync::Mutex<Vec<(&'static str, &'static TestApp)>> =
            std::sync::Mutex::new(Vec::new());
        let mut apps = APPS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, app)) = apps.iter().find(|(n, _)| *n == self.name) {
            return app;
        }
        let mut libs = maven_artifacts(self.artifacts, &format!("{}-libs", self.name));
        if let Some(pom) = self.pom {
            let deps = super::stores::maven_dependencies(pom, &format!("{}-deps", self.name));
            libs.extend(jars_in(&deps));
        }
        let app: &'static TestApp = Box::leak(Box::new(TestApp::compile(
            self.src,
            self.files,
            libs,
            &format!("{}-classes", self.name),
            self.main_class,
        )));
        apps.push((self.name, app));
        app
    }
}

/// The spans once the receiver's count stopped growing (checked every
/// 200 ms, for at most `limit`): for processes that flushed at exit.
pub fn spans_settled(receiver: &Receiver, limit: Duration) -> Vec<Span> {
    let deadline = std::time::Instant::now() + limit;
    let mut last = 0;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let spans = received(receiver);
        if (spans.len() == last && last > 0) || std::time::Instant::now() >= deadline {
            return spans;
        }
        last = spans.len();
    }
}
