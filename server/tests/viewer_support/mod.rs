//! What the viewer's end-to-end test needs besides the server: a small
//! W3C WebDriver client over `chromedriver` (plain HTTP + JSON through
//! `ureq`), the embedded Tomcat demo application run under the Java agent,
//! and child processes that are killed when a test fails half-way.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A child process killed (and reaped) on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `name` on the `PATH`, if any.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Polls `f` every 100 ms until it returns `Some` or `limit` passes.
pub fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

// ---------------------------------------------------------------- WebDriver

/// The W3C element reference key.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one headless Chromium session.
pub struct Browser {
    base: String,
    session: String,
    _driver: Proc,
}

impl Browser {
    /// Starts `chromedriver` on a free port and a headless session, or
    /// `None` when chromedriver or chromium is not installed.
    pub fn start() -> Option<Browser> {
        let driver = which("chromedriver")?;
        let chrome = which("chromium").or_else(|| which("chromium-browser"))?;
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let proc = Proc(child);
        let base = format!("http://127.0.0.1:{port}");
        eventually(Duration::from_secs(20), || {
            http()
                .get(format!("{base}/status"))
                .call()
                .ok()
                .filter(|r| r.status() == 200)
        })
        .expect("chromedriver answers /status");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1300"]
            }
        }}});
        let v = raw(&base, "POST", "/session", Some(caps));
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Some(Browser {
            base,
            session,
            _driver: proc,
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let v = raw(
            &self.base,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        );
        if let Some(err) = v["value"]["error"].as_str() {
            panic!(
                "WebDriver {method} {path}: {err}: {}",
                v["value"]["message"]
            );
        }
        v["value"].clone()
    }

    /// Navigates to `url`.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Polls `script` until it returns something truthy; panics after `limit`
    /// with `what` and the last value.
    pub fn wait_for(&self, what: &str, limit: Duration, script: &str) -> Value {
        let mut last = Value::Null;
        eventually(limit, || {
            last = self.js(script, json!([]));
            let truthy = !matches!(&last, Value::Null | Value::Bool(false))
                && last != json!(0)
                && last != json!("");
            truthy.then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("timed out waiting for {what}; last value {last}"))
    }

    /// The first element matching a CSS selector (a WebDriver reference).
    pub fn find(&self, css: &str) -> Value {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        json!({ ELEMENT: v[ELEMENT] })
    }

    /// Clicks an element like a user (scrolls it into view first).
    pub fn click(&self, element: &Value) {
        let id = element[ELEMENT].as_str().unwrap();
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Clicks the element `css` selects, finding it again when the page
    /// replaced it between the find and the click (the viewer re-renders
    /// its lists and tables every second or two).
    pub fn click_css(&self, css: &str) {
        for _ in 0..10 {
            let element = self.find(css);
            let id = element[ELEMENT].as_str().unwrap();
            let path = format!("/session/{}/element/{id}/click", self.session);
            let v = raw(&self.base, "POST", &path, Some(json!({})));
            match v["value"]["error"].as_str() {
                None => return,
                Some("stale element reference") => continue,
                Some(err) => panic!("WebDriver click {css}: {err}: {}", v["value"]["message"]),
            }
        }
        panic!("{css}: replaced before every one of 10 clicks");
    }

    /// Types `keys` into an element (WebDriver key codes: `\u{E015}` is
    /// ArrowDown, `\u{E007}` Enter); the element is focused first.
    pub fn send_keys(&self, element: &Value, keys: &str) {
        let id = element[ELEMENT].as_str().unwrap();
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": keys })),
        );
    }

    /// Drags the mouse across `element` from one offset to another
    /// (offsets from its centre, CSS pixels), with real input events.
    pub fn drag(&self, element: &Value, from: (i64, i64), to: (i64, i64)) {
        let origin = element.clone();
        let actions = json!({"actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "duration": 0, "origin": origin, "x": from.0, "y": from.1},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerMove", "duration": 150, "origin": origin, "x": (from.0 + to.0) / 2, "y": (from.1 + to.1) / 2},
                {"type": "pointerMove", "duration": 150, "origin": origin, "x": to.0, "y": to.1},
                {"type": "pointerUp", "button": 0}
            ]
        }]});
        self.cmd("POST", "/actions", Some(actions));
        self.cmd("DELETE", "/actions", None);
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub fn screenshot(&self, path: &Path) {
        let v = self.cmd("GET", "/screenshot", None);
        let png = base64_decode(v.as_str().expect("base64 PNG"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = raw(
            &self.base,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

fn raw(base: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let url = format!("{base}{path}");
    let agent = http();
    let resp = match method {
        "GET" => agent.get(&url).call(),
        "DELETE" => agent.delete(&url).call(),
        _ => agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.unwrap_or(json!({})).to_string()),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Standard base64 (the WebDriver screenshot encoding).
pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= u32::from(val(*c)) << (18 - 6 * i);
        }
        let take = chunk.len() - 1;
        out.extend_from_slice(&n.to_be_bytes()[1..=take]);
    }
    out
}

// ------------------------------------------------------- the Tomcat demo

const ARTIFACTS: &[(&str, &str)] = &[
    (
        "org.apache.tomcat.embed:tomcat-embed-core:11.0.27",
        "tomcat-embed-core-11.0.27.jar",
    ),
    (
        "org.apache.tomcat:tomcat-annotations-api:11.0.27",
        "tomcat-annotations-api-11.0.27.jar",
    ),
    ("com.h2database:h2:2.5.252", "h2-2.5.252.jar"),
];

/// `bin/<tool>` of `JAVA_HOME` (JDK 17 preferred), else the tool on the `PATH`.
pub fn jdk_tool(tool: &str) -> PathBuf {
    let jdk17 = Path::new("/usr/lib/jvm/java-17-openjdk-amd64");
    let home = if jdk17.is_dir() {
        Some(jdk17.to_path_buf())
    } else {
        std::env::var_os("JAVA_HOME").map(PathBuf::from)
    };
    home.map(|h| h.join("bin").join(tool))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(tool))
}

fn run_ok(mut cmd: Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The agent jar: `OSPREY_AGENT_JAR`, else built once with
/// `scripts/build-agent.sh -DskipTests`.
pub fn agent_jar() -> &'static Path {
    static JAR: OnceLock<PathBuf> = OnceLock::new();
    JAR.get_or_init(|| {
        if let Some(jar) = std::env::var_os("OSPREY_AGENT_JAR") {
            let jar = PathBuf::from(jar);
            assert!(jar.is_file(), "OSPREY_AGENT_JAR={} missing", jar.display());
            return jar;
        }
        let root = repo_root();
        let mut cmd = Command::new("bash");
        cmd.arg("scripts/build-agent.sh")
            .arg("-DskipTests")
            .current_dir(&root);
        run_ok(cmd, "scripts/build-agent.sh");
        root.join("jvm-agent/target/osprey-agent.jar")
    })
}

/// A jar from Maven Central (`mvn dependency:copy`), fetched once into the
/// target's tmp dir.
pub fn maven_jar(coords: &str, file: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("maven-jars");
    let jar = dir.join(file);
    if !jar.is_file() {
        let mut cmd = Command::new("mvn");
        cmd.args(["-q", "-B", "dependency:copy"])
            .arg(format!("-Dartifact={coords}"))
            .arg(format!("-DoutputDirectory={}", dir.display()));
        run_ok(cmd, &format!("mvn dependency:copy {coords}"));
    }
    jar
}

/// The demo's class path: its classes (compiled once) and the Tomcat and
/// H2 jars (fetched once with `mvn dependency:copy`).
pub fn demo_class_path() -> &'static str {
    static CP: OnceLock<String> = OnceLock::new();
    CP.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let mut parts = Vec::new();
        for (coords, file) in ARTIFACTS {
            parts.push(maven_jar(coords, file).display().to_string());
        }
        let classes = tmp.join("viewer-tomcat-classes");
        let src = repo_root().join("examples/tomcat/demo/web");
        let _ = std::fs::remove_dir_all(&classes);
        let mut cmd = Command::new(jdk_tool("javac"));
        cmd.args(["--release", "17", "-nowarn", "-cp", &parts.join(":"), "-d"])
            .arg(&classes)
            .arg(src.join("WebApp.java"))
            .arg(src.join("Work.java"));
        run_ok(cmd, "javac demo.web");
        parts.insert(0, classes.display().to_string());
        parts.join(":")
    })
}

/// The demo application running under the agent.
pub struct Demo {
    proc: Proc,
    /// Its HTTP port.
    pub port: u16,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Demo {
    /// Starts `demo.web.WebApp` with `-javaagent:<jar>=<options>`; waits for its port.
    pub fn start(agent_options: &str, logs: &Path) -> Demo {
        Demo::start_with(
            &[format!(
                "-javaagent:{}={agent_options}",
                agent_jar().display()
            )],
            logs,
        )
    }

    /// Starts `demo.web.WebApp` with these JVM options (another agent, say);
    /// waits for its port.
    pub fn start_with(jvm_options: &[String], logs: &Path) -> Demo {
        std::fs::create_dir_all(logs).unwrap();
        let stdout = logs.join("demo.out");
        let stderr = logs.join("demo.err");
        let mut cmd = Command::new(jdk_tool("java"));
        cmd.args(jvm_options)
            .arg("-cp")
            .arg(demo_class_path())
            .arg("demo.web.WebApp")
            .current_dir(logs)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, _) in std::env::vars() {
            if k.starts_with("OSPREY_") || k.starts_with("OTEL_") || k == "JAVA_TOOL_OPTIONS" {
                cmd.env_remove(&k);
            }
        }
        let mut proc = Proc(cmd.spawn().expect("java starts"));
        let port = eventually(Duration::from_secs(60), || {
            if let Ok(Some(status)) = proc.0.try_wait() {
                panic!(
                    "demo exited early ({status}):\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            std::fs::read_to_string(&stdout)
                .ok()?
                .lines()
                .find_map(|l| l.strip_prefix("port=").map(|p| p.trim().parse().unwrap()))
        })
        .expect("Tomcat starts within a minute");
        Demo {
            proc,
            port,
            stdout,
            stderr,
        }
    }

    /// `GET path` with optional extra headers; status and body.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut req = http().get(format!("http://127.0.0.1:{}{path}", self.port));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.call().expect("demo answers");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap_or_default())
    }

    /// `GET /exit` and waits for the JVM to end (the agent flushes on shutdown).
    pub fn stop(mut self) {
        let (status, _) = self.get("/exit", &[]);
        assert_eq!(status, 200);
        let exited = eventually(Duration::from_secs(60), || {
            self.proc.0.try_wait().ok().flatten()
        })
        .expect("demo stops within a minute");
        assert!(
            exited.success(),
            "demo: {exited}\n{}",
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        );
    }
}

/// `osprey serve` on a free loopback port with data in `dir`.
pub fn serve(dir: &Path) -> (Proc, String) {
    serve_with(Path::new(env!("CARGO_BIN_EXE_osprey")), dir)
}

/// Like [`serve`], running the `osprey` binary at `bin`.
pub fn serve_with(bin: &Path, dir: &Path) -> (Proc, String) {
    let port = free_port();
    let child = Command::new(bin)
        .args([
            "serve",
            "--grpc-listen",
            "off",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--data")
        .arg(dir.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("osprey.err")).unwrap())
        .spawn()
        .expect("osprey starts");
    let proc = Proc(child);
    let url = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("osprey listens");
    assert_eq!(
        super::support::get_status(&format!("{url}/api/status")).0,
        200
    );
    (proc, url)
}
