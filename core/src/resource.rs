//! Resource attributes Osprey detects on its own, so that a server receiving
//! many processes of one service tells them apart: `host.name`,
//! `service.instance.id` and `process.pid`.
//!
//! Values the user set (`OTEL_RESOURCE_ATTRIBUTES`, `resource.attributes`,
//! [`crate::Config::resource_attribute`]) always win: detection only fills
//! what is missing, once, when Osprey starts.

use crate::model::{AttrValue, Resource};

/// `host.name`: the machine's name.
pub const HOST_NAME: &str = "host.name";
/// `service.instance.id`: one process run of the service.
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// `process.pid`: the operating system's process id.
pub const PROCESS_PID: &str = "process.pid";

/// Adds the detected attributes `resource` lacks: the host name (when the
/// system has one), a random instance id, the process id.
pub fn complete(resource: &mut Resource) {
    let has = |r: &Resource, key: &str| r.attributes.iter().any(|(k, _)| k == key);
    if !has(resource, HOST_NAME)
        && let Some(host) = host_name()
    {
        resource
            .attributes
            .push((HOST_NAME.to_owned(), AttrValue::Str(host)));
    }
    if !has(resource, SERVICE_INSTANCE_ID) {
        resource.attributes.push((
            SERVICE_INSTANCE_ID.to_owned(),
            AttrValue::Str(instance_id()),
        ));
    }
    if !has(resource, PROCESS_PID) {
        resource.attributes.push((
            PROCESS_PID.to_owned(),
            AttrValue::Int(i64::from(std::process::id())),
        ));
    }
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
    fn detection_fills_host_instance_and_pid() {
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
    }

    #[test]
    fn values_already_set_win_and_ids_differ_per_call() {
        let mut r = Resource::default();
        r.attributes
            .push((SERVICE_INSTANCE_ID.into(), AttrValue::Str("pod-7".into())));
        r.attributes
            .push((HOST_NAME.into(), AttrValue::Str("web-1".into())));
        complete(&mut r);
        assert_eq!(
            value(&r, SERVICE_INSTANCE_ID),
            Some(&AttrValue::Str("pod-7".into()))
        );
        assert_eq!(value(&r, HOST_NAME), Some(&AttrValue::Str("web-1".into())));
        assert_eq!(r.attributes.len(), 3);
        assert_ne!(instance_id(), instance_id());
    }
}
