//! Resource attributes Osprey detects on its own, so that a server receiving
//! many processes of one service tells them apart and places them on their
//! host, container and pod:
//!
//! | attribute | source |
//! |---|---|
//! | `host.name` | `gethostname(2)` |
//! | `host.id` | `/etc/machine-id` (or `/var/lib/dbus/machine-id`) |
//! | `host.arch` | the build target |
//! | `os.type`, `os.version`, `os.description` | the build target, `/proc/sys/kernel/osrelease`, `/etc/os-release` |
//! | `process.pid`, `process.executable.name` | the process |
//! | `process.runtime.name`, `.version`, `.description` | [`Runtime`]: Rust's for the crate, the JVM's from the Java agent, none for C |
//! | `service.instance.id` | a random UUID per start |
//! | `container.id` | `/proc/self/cgroup` (cgroup v1 and v2), else `/proc/self/mountinfo` |
//! | `k8s.pod.name`, `k8s.namespace.name`, `k8s.node.name`, `k8s.container.name`, `k8s.pod.uid` | the downward API ([`k8s`], with a manifest snippet) |
//!
//! Values the user set (`OTEL_RESOURCE_ATTRIBUTES`, `resource.attributes`,
//! [`crate::Config::resource_attribute`]) always win: detection only fills
//! what is missing, once, when Osprey starts. The command line and the
//! environment are never read into attributes (they may hold secrets).
//!
//! [`Detector`] reads every file below a root directory, so tests run it on
//! fixture trees.

pub mod container;
pub mod k8s;

use std::path::{Path, PathBuf};

use crate::model::{AttrValue, Resource};

/// `host.name`: the machine's name.
pub const HOST_NAME: &str = "host.name";
/// `service.instance.id`: one process run of the service.
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// `process.pid`: the operating system's process id.
pub const PROCESS_PID: &str = "process.pid";
/// `host.id`: the machine id.
pub const HOST_ID: &str = "host.id";
/// `container.id`: the container the process runs in.
pub const CONTAINER_ID: &str = "container.id";

/// The language runtime of the process, exported as `process.runtime.*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Runtime {
    /// `process.runtime.name` (`rust`, `OpenJDK Runtime Environment`).
    pub name: String,
    /// `process.runtime.version` (`1.95.0`, `17.0.15+6`).
    pub version: String,
    /// `process.runtime.description` (`rustc 1.95.0 (…)`, the JVM's vendor and VM).
    pub description: String,
}

impl Runtime {
    /// The Rust toolchain that built this crate.
    pub fn rust() -> Self {
        let description = env!("OSPREY_RUSTC_VERSION");
        Self {
            name: "rust".into(),
            version: description
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned(),
            description: description.to_owned(),
        }
    }
}

/// Reads an environment variable (a closure in tests).
type EnvGetter = Box<dyn Fn(&str) -> Option<String>>;

/// Finds the resource attributes of this process, reading files below a
/// root directory (`/` for the real system) and variables through a getter.
pub struct Detector {
    root: PathBuf,
    env: EnvGetter,
    host_name: Option<String>,
}

impl Detector {
    /// The running system: root `/`, the process environment, `gethostname`.
    pub fn system() -> Self {
        Self {
            root: PathBuf::from("/"),
            env: Box::new(|k| std::env::var(k).ok()),
            host_name: host_name(),
        }
    }

    /// A fixture tree at `root` with variables from `env`; the host name is
    /// read from `<root>/proc/sys/kernel/hostname`.
    pub fn at(root: impl Into<PathBuf>, env: impl Fn(&str) -> Option<String> + 'static) -> Self {
        let root = root.into();
        let host_name = read_trimmed(&root.join("proc/sys/kernel/hostname"));
        Self {
            root,
            env: Box::new(env),
            host_name,
        }
    }

    /// Every attribute found, in the table's order (without
    /// `service.instance.id`, `process.pid` and `process.runtime.*`, which
    /// [`complete_with`] adds).
    pub fn detect(&self) -> Vec<(&'static str, AttrValue)> {
        let mut out: Vec<(&'static str, AttrValue)> = Vec::new();
        let mut put = |k: &'static str, v: String| out.push((k, AttrValue::Str(v)));
        if let Some(h) = &self.host_name {
            put(HOST_NAME, h.clone());
        }
        if let Some(id) = ["etc/machine-id", "var/lib/dbus/machine-id"]
            .iter()
            .find_map(|p| read_trimmed(&self.root.join(p)))
        {
            put(HOST_ID, id);
        }
        put("host.arch", host_arch().to_owned());
        put("os.type", std::env::consts::OS.to_owned());
        let kernel = read_trimmed(&self.root.join("proc/sys/kernel/osrelease"));
        if let Some(k) = &kernel {
            put("os.version", k.clone());
        }
        let pretty = ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .find_map(|p| std::fs::read_to_string(self.root.join(p)).ok())
            .and_then(|t| os_release_pretty_name(&t));
        let kernel_text = kernel.map(|k| format!("{} {k}", os_kernel_name()));
        let description = match (pretty, kernel_text) {
            (Some(p), Some(k)) => Some(format!("{p}; {k}")),
            (p, k) => p.or(k),
        };
        if let Some(d) = description {
            put("os.description", d);
        }
        let proc_self = self.root.join("proc/self");
        let container = std::fs::read_to_string(proc_self.join("cgroup"))
            .ok()
            .and_then(|t| container::from_cgroup(&t))
            .or_else(|| {
                std::fs::read_to_string(proc_self.join("mountinfo"))
                    .ok()
                    .and_then(|t| container::from_mountinfo(&t))
            });
        if let Some(id) = container {
            put(CONTAINER_ID, id);
        }
        for (k, v) in k8s::detect(&self.root, &*self.env, self.host_name.as_deref()) {
            put(k, v);
        }
        out
    }
}

/// Adds the detected attributes `resource` lacks; see [`complete_with`].
/// The runtime is Rust's.
pub fn complete(resource: &mut Resource) {
    complete_with(resource, Some(&Runtime::rust()), &Detector::system());
}

/// Adds the attributes `resource` lacks: what `detector` finds, the
/// `runtime`'s `process.runtime.*`, a random instance id and the process id.
pub fn complete_with(resource: &mut Resource, runtime: Option<&Runtime>, detector: &Detector) {
    let mut found = detector.detect();
    if let Some(r) = runtime {
        for (k, v) in [
            ("process.runtime.name", &r.name),
            ("process.runtime.version", &r.version),
            ("process.runtime.description", &r.description),
        ] {
            if !v.is_empty() {
                found.push((k, AttrValue::Str(v.clone())));
            }
        }
    }
    if let Some(exe) = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    {
        found.push(("process.executable.name", AttrValue::Str(exe)));
    }
    found.push((SERVICE_INSTANCE_ID, AttrValue::Str(instance_id())));
    found.push((PROCESS_PID, AttrValue::Int(i64::from(std::process::id()))));
    for (k, v) in found {
        if !resource.attributes.iter().any(|(have, _)| have == k) {
            resource.attributes.push((k.to_owned(), v));
        }
    }
}

/// The `PRETTY_NAME` of an `os-release` text, unquoted.
fn os_release_pretty_name(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_owned())
        .filter(|v| !v.is_empty())
}

fn os_kernel_name() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        other => other,
    }
}

/// `host.arch` in the semantic conventions' words.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

/// A small file's text, trimmed; `None` when missing, unreadable or empty.
pub(crate) fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The host name from `gethostname(2)`; `None` when the call fails or the
/// name is empty or not UTF-8.
pub fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for `buf.len()` bytes; gethostname writes at
    // most that many and we read only up to the first NUL inside the buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    std::str::from_utf8(&buf[..len])
        .ok()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A random version-4 UUID in its usual text form
/// (`8-4-4-4-12` lower-case hex digits), from the operating system's
/// random source (mixed with the clock if that fails).
pub fn instance_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let mut rng = crate::rng::Rng::UNSEEDED;
        b[..8].copy_from_slice(&rng.next().to_le_bytes());
        b[8..].copy_from_slice(&rng.next().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'r>(r: &'r Resource, key: &str) -> Option<&'r AttrValue> {
        r.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    #[test]
    fn detection_fills_host_instance_pid_and_runtime() {
        let mut r = Resource::default();
        complete(&mut r);
        assert_eq!(
            value(&r, PROCESS_PID),
            Some(&AttrValue::Int(i64::from(std::process::id())))
        );
        let Some(AttrValue::Str(id)) = value(&r, SERVICE_INSTANCE_ID) else {
            panic!("no instance id: {r:?}");
        };
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.as_bytes()[14], b'4', "{id}");
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap();
        assert_eq!(value(&r, HOST_NAME), Some(&AttrValue::Str(host)));
        assert_eq!(
            value(&r, "process.runtime.name"),
            Some(&AttrValue::Str("rust".into()))
        );
        let Some(AttrValue::Str(v)) = value(&r, "process.runtime.version") else {
            panic!("no runtime version: {r:?}");
        };
        assert!(v.starts_with("1."), "{v}");
    }

    #[test]
    fn values_already_set_win_and_ids_differ_per_call() {
        let mut r = Resource::default();
        r.attributes
            .push((SERVICE_INSTANCE_ID.into(), AttrValue::Str("pod-7".into())));
        r.attributes
            .push((HOST_NAME.into(), AttrValue::Str("web-1".into())));
        r.attributes
            .push(("os.type".into(), AttrValue::Str("plan9".into())));
        complete(&mut r);
        assert_eq!(
            value(&r, SERVICE_INSTANCE_ID),
            Some(&AttrValue::Str("pod-7".into()))
        );
        assert_eq!(value(&r, HOST_NAME), Some(&AttrValue::Str("web-1".into())));
        assert_eq!(value(&r, "os.type"), Some(&AttrValue::Str("plan9".into())));
        let mut keys: Vec<_> = r.attributes.iter().map(|(k, _)| k.as_str()).collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n, "no key twice: {keys:?}");
        assert_ne!(instance_id(), instance_id());
    }

    #[test]
    fn no_runtime_means_no_runtime_attributes() {
        let mut r = Resource::default();
        complete_with(&mut r, None, &Detector::at("/nonexistent-root", |_| None));
        assert!(value(&r, "process.runtime.name").is_none());
        assert!(value(&r, HOST_NAME).is_none(), "no hostname file there");
        assert!(value(&r, PROCESS_PID).is_some());
    }

    #[test]
    fn os_release_pretty_name_is_unquoted() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            os_release_pretty_name(text).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(os_release_pretty_name("NAME=x\n"), None);
    }
}
