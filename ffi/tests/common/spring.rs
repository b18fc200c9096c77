//! Spring Boot applications of the repository for the agent's end-to-end
//! tests: packaged once per test binary with Maven (into cargo's target
//! directory) and started as executable jars.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use super::java::PortApp;

/// The Spring Boot example (`examples/spring-boot`) packaged once into the
/// target's tmp dir `build_dir`: its executable jar.
pub fn demo_jar(build_dir: &str) -> &'static Path {
    static JAR: OnceLock<PathBuf> = OnceLock::new();
    JAR.get_or_init(|| {
        boot_jar(
            "examples/spring-boot",
            "spring.demo.build.dir",
            build_dir,
            "spring-demo.jar",
        )
    })
}

/// Starts the Spring Boot example (see [`demo_jar`]) on `jdk` with
/// `jvm_args` in a scratch directory `name`; waits for it to serve.
pub fn start_demo(jdk: &Path, jvm_args: &[String], build_dir: &str, name: &str) -> PortApp {
    PortApp::start(boot_command(jdk, jvm_args, demo_jar(build_dir)), name)
}

/// `mvn package` of the Spring Boot project in the repository directory
/// `project`, whose build directory is the Maven property `dir_property`,
/// into the target's tmp dir `build_dir`: the executable jar `jar_name`
/// there. Maven runs once per `build_dir` at a time.
pub fn boot_jar(project: &str, dir_property: &str, build_dir: &str, jar_name: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _once = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let build = Path::new(env!("CARGO_TARGET_TMPDIR")).join(build_dir);
    super::java::mvn_package(
        &super::repo_root().join(project),
        &[
            "-DskipTests".to_owned(),
            format!("-D{dir_property}={}", build.display()),
        ],
    );
    let jar = build.join(jar_name);
    assert!(jar.is_file(), "{} not built", jar.display());
    jar
}

/// `jdk`'s `java` running the Spring Boot jar `jar` (its `JarLauncher`)
/// with `jvm_args` and a clean environment (see [`super::java::java`]);
/// the application's own arguments can be added to it.
pub fn boot_command(jdk: &Path, jvm_args: &[String], jar: &Path) -> Command {
    super::java::java(
        jdk,
        jvm_args,
        jar,
        "org.springframework.boot.loader.launch.JarLauncher",
        &[],
    )
}

/// The `[trace span]` of the first log line containing `needle`
/// (`logging.pattern.correlation`): both empty without the ids.
pub fn log_ids(stdout: &str, needle: &str) -> (String, String) {
    let line = stdout
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no log line with {needle:?} in:\n{stdout}"));
    line.split('[')
        .filter_map(|part| part.split_once(']').map(|(inside, _)| inside))
        .find_map(|inside| {
            let mut it = inside.split(' ');
            let (trace, span) = (it.next()?, it.next()?);
            let hex = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
            let ok = it.next().is_none()
                && ((hex(trace, 32) && hex(span, 16)) || (trace.is_empty() && span.is_empty()));
            ok.then(|| (trace.to_owned(), span.to_owned()))
        })
        .unwrap_or_else(|| panic!("no [trace span] in {line:?}"))
}

/// Status line and body of `GET` each of `paths` on `app`, in order, the
/// time stamp of Spring Boot's JSON error bodies left out (it differs from
/// run to run; see [`without_timestamp`]); then `app` stopped.
pub fn responses(app: PortApp, paths: &[&str]) -> Vec<(String, String)> {
    let got = paths
        .iter()
        .map(|p| {
            let (status, body) = app.get(p, "");
            (status, without_timestamp(&body))
        })
        .collect();
    let _ = app.stop();
    got
}

/// `body` without the `"timestamp":"..."` member of Spring Boot's JSON
/// error body (unchanged when it has none).
pub fn without_timestamp(body: &str) -> String {
    match body.split_once("\"timestamp\":\"") {
        Some((head, rest)) => match rest.split_once('"') {
            Some((_, tail)) => format!("{head}{}", tail.trim_start_matches(',')),
            None => body.to_owned(),
        },
        None => body.to_owned(),
    }
}
