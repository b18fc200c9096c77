//! Resource detection on fixture trees (a Docker container on cgroup v2
//! with a downward-API volume; a Kubernetes pod on cgroup v1 with
//! downward-API variables) and on this machine.

use std::collections::HashMap;
use std::path::PathBuf;

use osprey::AttrValue;
use osprey::resource::{Detector, Runtime, complete_with};

const ID: &str = "9f3a1c0e5b7d4e2f8a6c1b3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/host")
        .join(name)
}

fn as_map(found: Vec<(&'static str, AttrValue)>) -> HashMap<&'static str, String> {
    let n = found.len();
    let map: HashMap<_, _> = found.into_iter().map(|(k, v)| (k, v.to_string())).collect();
    assert_eq!(map.len(), n, "a key found twice");
    map
}

#[test]
fn docker_on_cgroup_v2_with_a_downward_api_volume() {
    let found = as_map(Detector::at(fixture("docker-v2"), |_| None).detect());
    assert_eq!(found["host.name"], "shop-7d9f8-x2k4q");
    assert_eq!(found["host.id"], "0123456789abcdef0123456789abcdef");
    assert_eq!(found["os.type"], std::env::consts::OS);
    assert_eq!(found["os.version"], "6.1.0-test");
    assert_eq!(
        found["os.description"],
        "Alpine Linux v3.20; Linux 6.1.0-test"
    );
    // `0::/` hides the path: the id comes from the /etc/hostname bind mount.
    assert_eq!(found["container.id"], ID);
    assert_eq!(found["k8s.pod.name"], "shop-7d9f8-x2k4q");
    assert_eq!(found["k8s.namespace.name"], "shop-prod");
    assert!(!found.contains_key("k8s.node.name"), "not in the volume");
}

#[test]
fn kubernetes_pod_on_cgroup_v1_with_downward_api_variables() {
    let env = |k: &str| {
        match k {
            "KUBERNETES_SERVICE_HOST" => Some("10.0.0.1"),
            "K8S_NAMESPACE_NAME" => Some("payments"),
            "K8S_NODE_NAME" => Some("node-a3"),
            "K8S_CONTAINER_NAME" => Some("web"),
            "POD_UID" => Some("1b2c3d4e-aaaa-bbbb-cccc-0123456789ab"),
            _ => None,
        }
        .map(str::to_owned)
    };
    let found = as_map(Detector::at(fixture("k8s-v1"), env).detect());
    assert_eq!(found["container.id"], ID);
    assert_eq!(found["k8s.namespace.name"], "payments");
    assert_eq!(found["k8s.node.name"], "node-a3");
    assert_eq!(found["k8s.container.name"], "web");
    assert_eq!(found["k8s.pod.uid"], "1b2c3d4e-aaaa-bbbb-cccc-0123456789ab");
    // No K8S_POD_NAME: inside a pod the host name is the pod's name.
    assert_eq!(found["k8s.pod.name"], "web-0");
    assert!(
        !found.contains_key("host.id"),
        "no machine-id in the fixture"
    );
}

#[test]
fn variables_win_over_files_and_the_service_account_fills_the_namespace() {
    let env = |k: &str| (k == "K8S_POD_NAME").then(|| "from-env".to_owned());
    let found = as_map(Detector::at(fixture("docker-v2"), env).detect());
    assert_eq!(found["k8s.pod.name"], "from-env");
    let in_pod = |k: &str| (k == "KUBERNETES_SERVICE_HOST").then(|| "10.0.0.1".to_owned());
    let dir = tempfile::tempdir().unwrap();
    let ns = dir
        .path()
        .join("var/run/secrets/kubernetes.io/serviceaccount");
    std::fs::create_dir_all(&ns).unwrap();
    std::fs::write(ns.join("namespace"), "team-a\n").unwrap();
    let found = as_map(Detector::at(dir.path(), in_pod).detect());
    assert_eq!(found["k8s.namespace.name"], "team-a");
    assert!(
        !found.contains_key("k8s.pod.name"),
        "no host name in the tree"
    );
    assert!(!found.contains_key("container.id"));
}

#[test]
fn this_machine() {
    let found = as_map(Detector::system().detect());
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_owned());
    assert_eq!(
        found["host.name"],
        read("/proc/sys/kernel/hostname").unwrap()
    );
    if let Ok(id) = read("/etc/machine-id") {
        assert_eq!(found["host.id"], id);
    }
    assert_eq!(
        found["os.version"],
        read("/proc/sys/kernel/osrelease").unwrap()
    );
    let cgroup = read("/proc/self/cgroup").unwrap();
    assert_eq!(
        found.get("container.id").map(String::as_str),
        osprey::resource::container::from_cgroup(&cgroup)
            .or_else(|| osprey::resource::container::from_mountinfo(
                &read("/proc/self/mountinfo").unwrap()
            ))
            .as_deref()
    );
}

#[test]
fn a_jvm_runtime_replaces_rusts_and_user_values_win() {
    let mut r = osprey::model::Resource::default();
    r.attributes
        .push(("host.name".into(), AttrValue::Str("chosen".into())));
    let jvm = Runtime {
        name: "OpenJDK Runtime Environment".into(),
        version: "17.0.15+6".into(),
        description: "Eclipse Adoptium OpenJDK 64-Bit Server VM 17.0.15+6".into(),
    };
    complete_with(
        &mut r,
        Some(&jvm),
        &Detector::at(fixture("docker-v2"), |_| None),
    );
    let get = |k: &str| {
        r.attributes
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.to_string())
    };
    assert_eq!(get("host.name").as_deref(), Some("chosen"));
    assert_eq!(
        get("process.runtime.name").as_deref(),
        Some("OpenJDK Runtime Environment")
    );
    assert_eq!(get("process.runtime.version").as_deref(), Some("17.0.15+6"));
    assert_eq!(get("container.id").as_deref(), Some(ID));
    assert_eq!(get("process.pid"), Some(std::process::id().to_string()));
}
