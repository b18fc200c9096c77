//! Builds C programs against the committed header and this crate's
//! cdylib, and runs them with a time limit.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-programs");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(name);
    let lib = lib_dir();
    let include = repo_root().join("ffi/include");
    let output = Command::new("gcc")
        .args(["-Wall", "-Wextra", "-Werror", "-std=c11", "-pthread", "-g"])
        .arg("-I")
        .arg(&include)
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
    std::fs::create_dir_all(cwd).unwrap();
    let stdout_path = cwd.join("stdout.txt");
    let stderr_path = cwd.join("stderr.txt");
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(cwd)
        .env_remove("OSPREY_CONFIG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("C program starts");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish within {limit:?}; stderr:\n{}",
                exe.display(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        code: status.code(),
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    };
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

/// A fresh scratch directory under the target's tmp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ffi-runs")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
