//! Builds C programs against the committed header and this crate's
//! cdylib, and runs them with a time limit; `java` holds what the Java
//! agent's end-to-end tests share, `servers`, `spring` and `stores` the
//! servers and applications they run, `traces` reading back the
//! transactions of their HTTP requests.

#![allow(dead_code)]

pub mod java;
pub mod servers;
pub mod spring;
pub mod stores;
pub mod traces;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use osprey_testkit::spans::str_attr;

/// What a finished C program printed.
#[derive(Debug)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("ffi/ has a parent")
        .to_path_buf()
}

/// The directory holding this crate's freshly built `libosprey.so`.
///
/// The library is only a cdylib/staticlib, so `cargo test` does not build
/// it for the integration tests: build it here (a no-op when up to date)
/// with the same profile as the test binary, so a stale copy is never used.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "osprey-ffi", "--lib"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo runs");
    assert!(status.success(), "cargo build -p osprey-ffi failed");
    assert!(
        profile_dir.join("libosprey.so").is_file(),
        "libosprey.so not found in {}",
        profile_dir.display()
    );
    profile_dir
}

/// Compiles `source` with gcc (`-Wall -Wextra -Werror`) against
/// `ffi/include/osprey.h` and links it to `libosprey.so`.
pub fn compile(source: &Path, name: &str) -> PathBuf {
    compile_with_header(source, name, &repo_root().join("ffi/include"))
}

/// As [`compile`], with the `osprey.h` found in `include` (an older
/// header, for the ABI compatibility test).
pub fn compile_with_header(source: &Path, name: &str, include: &Path) -> PathBuf {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-programs");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(name);
    let lib = lib_dir();
    let output = Command::new("gcc")
        .args(["-Wall", "-Wextra", "-Werror", "-std=c11", "-pthread", "-g"])
        .arg("-I")
        .arg(include)
        .arg(source)
        .arg("-L")
        .arg(&lib)
        .arg("-losprey")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("gcc runs");
    assert!(
        output.status.success(),
        "gcc failed for {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// Runs `exe` with `args` (working directory `cwd`), killing it after
/// `limit`; fails the test unless it exits with status 0.
pub fn run_ok(exe: &Path, args: &[&str], cwd: &Path, limit: Duration) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args).env_remove("OSPREY_CONFIG");
    let out = run_limited(cmd, cwd, limit, &exe.display().to_string());
    assert_eq!(
        out.code,
        Some(0),
        "{} failed\nstdout:\n{}\nstderr:\n{}",
        exe.display(),
        out.stdout,
        out.stderr
    );
    out
}

/// Starts `cmd` in `cwd` with no standard input and its standard output
/// and error going to `stdout.txt` and `stderr.txt` there; returns the
/// child and those two paths.
pub fn spawn_logged(mut cmd: Command, cwd: &Path, what: &str) -> (Child, PathBuf, PathBuf) {
    std::fs::create_dir_all(cwd).unwrap();
    let stdout_path = cwd.join("stdout.txt");
    let stderr_path = cwd.join("stderr.txt");
    let child = cmd
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} starts: {e}"));
    (child, stdout_path, stderr_path)
}

/// Polls `child` every 20 ms until it exits (its status) or `deadline`
/// passes (`None`; the child is left running).
pub fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` in `cwd` (see [`spawn_logged`]), killing it and failing the
/// test if it has not finished after `limit`; returns what it printed,
/// whatever its exit status. A `java` that runs past `limit` is asked for
/// a thread dump first (`SIGQUIT`, printed to its standard output), which
/// the failure shows: a hang says where it hangs.
pub fn run_limited(cmd: Command, cwd: &Path, limit: Duration, what: &str) -> Output {
    let java = Path::new(cmd.get_program()).file_name() == Some("java".as_ref());
    let (mut child, stdout_path, stderr_path) = spawn_logged(cmd, cwd, what);
    let Some(status) = wait_until(&mut child, Instant::now() + limit) else {
        let mut dump = String::new();
        if java {
            let quit = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            if quit.is_ok_and(|s| s.success()) {
                std::thread::sleep(Duration::from_secs(2));
                let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
                if let Some(at) = stdout.find("Full thread dump") {
                    dump = format!("\nthread dump:\n{}", &stdout[at..]);
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{what} did not finish within {limit:?}; stderr:\n{}{dump}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
    };
    Output {
        code: status.code(),
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    }
}

/// The spans of one OTLP trace export, each with the `service.name` of
/// its resource (empty when unset).
pub fn spans_with_service(resource_spans: Vec<ResourceSpans>) -> Vec<(String, Span)> {
    let mut spans = Vec::new();
    for rs in resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| str_attr(&r.attributes, "service.name"))
            .unwrap_or_default()
            .to_owned();
        for ss in rs.scope_spans {
            spans.extend(ss.spans.into_iter().map(|s| (service.clone(), s)));
        }
    }
    spans
}

/// Status line and body of `GET path` on 127.0.0.1:`port` over HTTP/1.1
/// (`Connection: close`; a chunked body is joined); `None` when the
/// connection or the response fails, or no answer came within two minutes
/// (a first request that warms up a Spring Boot application on a loaded
/// machine can take half a minute).
pub fn http_get(port: u16, path: &str, extra_headers: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: osprey-test/1.0\r\n\
         Connection: close\r\n{extra_headers}\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next().unwrap_or_default().to_owned();
    Some((status, dechunk(head, body)))
}

/// The body of a response, joined when it was sent chunked.
fn dechunk(head: &str, body: &str) -> String {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// A fresh scratch directory under the target's tmp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ffi-runs")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
