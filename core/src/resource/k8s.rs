//! Kubernetes identity from the downward API: environment variables set
//! from `fieldRef`s, or files of a `downwardAPI` volume, with the pod's
//! host name and the service-account namespace file as fallbacks.
//!
//! The manifest snippet (also in the top-level `README.md`):
//!
//! ```yaml
//! containers:
//!   - name: shop
//!     env:
//!       - { name: K8S_POD_NAME,       valueFrom: { fieldRef: { fieldPath: metadata.name } } }
//!       - { name: K8S_NAMESPACE_NAME, valueFrom: { fieldRef: { fieldPath: metadata.namespace } } }
//!       - { name: K8S_NODE_NAME,      valueFrom: { fieldRef: { fieldPath: spec.nodeName } } }
//!       - { name: K8S_POD_UID,        valueFrom: { fieldRef: { fieldPath: metadata.uid } } }
//!       - { name: K8S_CONTAINER_NAME, value: shop }   # the downward API has no field for it
//!     volumeMounts:
//!       - { name: podinfo, mountPath: /etc/podinfo }
//! volumes:                                # optional: files instead of (or besides) variables
//!   - name: podinfo
//!     downwardAPI:
//!       items:
//!         - { path: k8s.pod.name,       fieldRef: { fieldPath: metadata.name } }
//!         - { path: k8s.namespace.name, fieldRef: { fieldPath: metadata.namespace } }
//!         - { path: k8s.pod.uid,        fieldRef: { fieldPath: metadata.uid } }
//! ```

use std::path::Path;

/// Each attribute, the variables that may carry it (first set wins), and
/// the file name in the downward-API directory.
pub const SOURCES: &[(&str, &[&str])] = &[
    ("k8s.pod.name", &["K8S_POD_NAME", "POD_NAME"]),
    (
        "k8s.namespace.name",
        &["K8S_NAMESPACE_NAME", "POD_NAMESPACE"],
    ),
    ("k8s.node.name", &["K8S_NODE_NAME", "NODE_NAME"]),
    (
        "k8s.container.name",
        &["K8S_CONTAINER_NAME", "CONTAINER_NAME"],
    ),
    ("k8s.pod.uid", &["K8S_POD_UID", "POD_UID"]),
];

/// Where a `downwardAPI` volume is looked for, below the detection root;
/// `OSPREY_K8S_PODINFO` names another directory.
pub const PODINFO_DIR: &str = "etc/podinfo";

/// The service-account namespace file Kubernetes mounts into pods.
pub const NAMESPACE_FILE: &str = "var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The Kubernetes attributes found: variables first, then the downward-API
/// files, then (inside a pod, `KUBERNETES_SERVICE_HOST` set) the pod name
/// from the host name and the namespace from the service account.
pub fn detect(
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    host_name: Option<&str>,
) -> Vec<(&'static str, String)> {
    let podinfo = env("OSPREY_K8S_PODINFO")
        .map(|d| root.join(d.trim_start_matches('/')))
        .unwrap_or_else(|| root.join(PODINFO_DIR));
    let mut out = Vec::new();
    for (key, vars) in SOURCES {
        let value = vars
            .iter()
            .find_map(|v| {
                env(v)
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
            })
            .or_else(|| super::read_trimmed(&podinfo.join(key)));
        if let Some(v) = value {
            out.push((*key, v));
        }
    }
    if env("KUBERNETES_SERVICE_HOST").is_some() {
        let has = |out: &[(&str, String)], k: &str| out.iter().any(|(key, _)| *key == k);
        if !has(&out, "k8s.pod.name")
            && let Some(h) = host_name
        {
            out.push(("k8s.pod.name", h.to_owned()));
        }
        if !has(&out, "k8s.namespace.name")
            && let Some(ns) = super::read_trimmed(&root.join(NAMESPACE_FILE))
        {
            out.push(("k8s.namespace.name", ns));
        }
    }
    out
}
