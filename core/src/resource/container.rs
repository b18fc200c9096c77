//! `container.id` from `/proc/self/cgroup` (cgroup v1 and v2 paths of
//! Docker, containerd, CRI-O, Podman and Kubernetes) and, when the cgroup
//! namespace hides the path (v2 shows `0::/`), from `/proc/self/mountinfo`
//! (the runtime bind-mounts `/etc/hostname` from `.../containers/<id>/`).

/// The container id in a `/proc/<pid>/cgroup` text: the first line whose
/// path ends in a 64-hex-digit id, bare or wrapped as `docker-<id>.scope`,
/// `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`.
pub fn from_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        // hierarchy-id:controllers:path; the path may itself hold ':'.
        let path = line.splitn(3, ':').nth(2)?;
        let last = path.rsplit('/').next()?;
        id_in_segment(last)
    })
}

/// The container id in a `/proc/<pid>/mountinfo` text: a 64-hex-digit path
/// segment right after a `containers` segment in the root of a mount
/// (Docker and Podman mount `/etc/hostname` from there). Sandbox ids
/// (`/sandboxes/<id>`, the Kubernetes pause container) are not taken.
pub fn from_mountinfo(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        // id parent major:minor root mount-point ...
        let root = line.split_whitespace().nth(3)?;
        let mut previous = "";
        for segment in root.split('/') {
            if previous == "containers" && is_id(segment) {
                return Some(segment.to_owned());
            }
            previous = segment;
        }
        None
    })
}

fn id_in_segment(segment: &str) -> Option<String> {
    let core = segment.strip_suffix(".scope").unwrap_or(segment);
    let core = core.rsplit('-').next().unwrap_or(core);
    is_id(core).then(|| core.to_owned())
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "9f3a1c0e5b7d4e2f8a6c1b3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f";

    #[test]
    fn cgroup_v1_docker_and_kubernetes_paths() {
        let docker = format!("12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n");
        assert_eq!(from_cgroup(&docker).as_deref(), Some(ID));
        let k8s =
            format!("3:cpu:/kubepods/burstable/pod1b2c3d4e-aaaa-bbbb-cccc-0123456789ab/{ID}\n");
        assert_eq!(from_cgroup(&k8s).as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_v2_scopes_of_each_runtime() {
        for wrapped in [
            format!("docker-{ID}.scope"),
            format!("cri-containerd-{ID}.scope"),
            format!("crio-{ID}.scope"),
            format!("libpod-{ID}.scope"),
        ] {
            let text = format!("0::/kubepods.slice/kubepods-burstable.slice/{wrapped}\n");
            assert_eq!(from_cgroup(&text).as_deref(), Some(ID), "{wrapped}");
        }
    }

    #[test]
    fn no_id_outside_a_container() {
        assert_eq!(from_cgroup("0::/\n"), None);
        assert_eq!(
            from_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n"),
            None
        );
        assert_eq!(
            from_cgroup("4:memory:/process_api/c561f9b73b033f2c6c74227303442482\n"),
            None
        );
        assert_eq!(from_cgroup(""), None);
        assert_eq!(
            from_mountinfo("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"),
            None
        );
    }

    #[test]
    fn mountinfo_hostname_bind_mount() {
        let text = format!(
            "620 600 0:50 / / rw - overlay overlay rw\n\
             640 620 254:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(from_mountinfo(&text).as_deref(), Some(ID));
        let sandbox = format!(
            "640 620 254:1 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{ID}/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(from_mountinfo(&sandbox), None);
    }
}
