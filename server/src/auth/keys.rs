//! API keys for the OTLP ingest: `osprey key add|remove|list` manage
//! `<data>/auth/keys.json`, which keeps only the SHA-256 of each key (the
//! keys are 256 random bits, so a fast digest is enough). A key may be
//! restricted to service names.
//!
//! [`KeyRing::check`] is the one check every ingest protocol calls: it
//! takes the request's header map (an HTTP request's or a gRPC call's
//! metadata turned into headers) and answers the [`Grant`] or a
//! [`KeyError`].

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, header};
use serde::{Deserialize, Serialize};

use super::files::{self, Watched};
use super::{AuthError, now_ms, random_hex, sha256_hex};

/// One key as stored (never the key itself).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyEntry {
    /// Short random id, shown by `osprey key list`, used by `key remove`.
    pub id: String,
    /// Free label (`--name`).
    #[serde(default)]
    pub name: String,
    /// Services this key may send for; empty: any.
    #[serde(default)]
    pub services: Vec<String>,
    /// Hex SHA-256 of the key.
    pub sha256: String,
    /// When it was made, UNIX ms.
    #[serde(default)]
    pub created_ms: u64,
}

/// `keys.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KeyFile {
    /// The keys.
    pub keys: Vec<KeyEntry>,
}

fn path(data: &Path) -> std::path::PathBuf {
    files::auth_dir(data).join("keys.json")
}

/// Prefix of every key, so a leaked key is recognisable in logs and scans.
pub const KEY_PREFIX: &str = "osk_";

/// Makes a key, stores its digest and returns the entry and the key (the
/// only time the key exists outside the agent that is given it).
pub fn add(
    data: &Path,
    name: Option<String>,
    services: Vec<String>,
) -> Result<(KeyEntry, String), AuthError> {
    let mut services: Vec<String> = services
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    services.sort();
    services.dedup();
    let key = format!("{KEY_PREFIX}{}", random_hex(32)?);
    let entry = KeyEntry {
        id: random_hex(6)?,
        name: name.unwrap_or_default(),
        services,
        sha256: sha256_hex(key.as_bytes()),
        created_ms: now_ms(),
    };
    let p = path(data);
    let mut file: KeyFile = files::load(&p)?;
    file.keys.push(entry.clone());
    files::save(&p, &file)?;
    Ok((entry, key))
}

/// Removes the keys whose id or name is `which`; how many were removed.
pub fn remove(data: &Path, which: &str) -> Result<usize, AuthError> {
    let p = path(data);
    let mut file: KeyFile = files::load(&p)?;
    let before = file.keys.len();
    file.keys.retain(|k| k.id != which && k.name != which);
    let removed = before - file.keys.len();
    if removed > 0 {
        files::save(&p, &file)?;
    }
    Ok(removed)
}

/// The stored keys.
pub fn list(data: &Path) -> Result<Vec<KeyEntry>, AuthError> {
    Ok(files::load::<KeyFile>(&path(data))?.keys)
}

/// What a valid key allows.
#[derive(Clone, Debug)]
pub struct Grant {
    /// The key's id (`None` when ingest is open).
    pub key_id: Option<String>,
    services: Option<Arc<[String]>>,
}

impl Grant {
    /// Any service, no key (auth off).
    pub fn open() -> Self {
        Self {
            key_id: None,
            services: None,
        }
    }

    /// Whether data of `service` may be stored.
    pub fn allows(&self, service: &str) -> bool {
        self.services
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == service))
    }

    /// `Ok` when every service of a request is allowed; else the first
    /// that is not.
    pub fn check_services<'a>(
        &self,
        services: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), KeyError> {
        match services.into_iter().find(|s| !self.allows(s)) {
            None => Ok(()),
            Some(s) => Err(KeyError::Forbidden {
                service: s.to_owned(),
            }),
        }
    }
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyError {
    /// No key in the request (401).
    Missing,
    /// A key that is not (or no longer) configured (401).
    Unknown,
    /// The key may not send data of this service (403).
    Forbidden {
        /// The first refused service.
        service: String,
    },
}

impl KeyError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            KeyError::Missing | KeyError::Unknown => 401,
            KeyError::Forbidden { .. } => 403,
        }
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Missing => write!(f, "an API key is required"),
            KeyError::Unknown => write!(f, "unknown API key"),
            KeyError::Forbidden { service } => {
                write!(f, "this API key may not send data of service {service:?}")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// Grants by hex SHA-256 of the key.
type Grants = Arc<HashMap<String, Grant>>;

/// The configured keys of a running server, re-read when the file changes.
pub struct KeyRing {
    file: Watched<KeyFile>,
    header: HeaderName,
    /// Grants by key digest, built from one version of the file.
    by_digest: parking_lot::Mutex<Option<(Arc<KeyFile>, Grants)>>,
}

impl KeyRing {
    /// Reads `<data>/auth/keys.json`; keys are taken from `header`
    /// (`authorization` expects `Bearer <key>`; another header the key
    /// itself, with or without `Bearer `).
    pub fn open(data: &Path, header: HeaderName) -> io::Result<Self> {
        Ok(Self {
            file: Watched::open(path(data))?,
            header,
            by_digest: parking_lot::Mutex::new(None),
        })
    }

    /// How many keys are configured now.
    pub fn len(&self) -> usize {
        self.file.get().keys.len()
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn grants(&self) -> Arc<HashMap<String, Grant>> {
        let file = self.file.get();
        let mut cached = self.by_digest.lock();
        if let Some((f, grants)) = cached.as_ref()
            && Arc::ptr_eq(f, &file)
        {
            return grants.clone();
        }
        let map: Arc<HashMap<String, Grant>> = Arc::new(
            file.keys
                .iter()
                .map(|k| {
                    let grant = Grant {
                        key_id: Some(k.id.clone()),
                        services: (!k.services.is_empty())
                            .then(|| k.services.clone().into_iter().collect()),
                    };
                    (k.sha256.clone(), grant)
                })
                .collect(),
        );
        *cached = Some((file, map.clone()));
        map
    }

    /// The check of one request's headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<Grant, KeyError> {
        let value = headers
            .get(&self.header)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .ok_or(KeyError::Missing)?;
        let key = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ if self.header == header::AUTHORIZATION => return Err(KeyError::Missing),
            _ => value,
        };
        if key.is_empty() {
            return Err(KeyError::Missing);
        }
        self.grants()
            .get(&sha256_hex(key.as_bytes()))
            .cloned()
            .ok_or(KeyError::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "osprey-keys-{tag}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_key_is_read_from_the_configured_header_in_either_form() {
        let d = dir("forms");
        let (entry, key) = add(&d, None, vec![" b ".into(), "a".into(), "a".into()]).unwrap();
        assert_eq!(entry.services, ["a", "b"]);
        let ring = KeyRing::open(&d, header::AUTHORIZATION).unwrap();
        for ok in [
            format!("Bearer {key}"),
            format!("bearer  {key} "),
            format!("BEARER {key}"),
        ] {
            let grant = ring.check(&headers("authorization", &ok)).unwrap();
            assert_eq!(grant.key_id.as_deref(), Some(entry.id.as_str()));
            assert!(grant.allows("a") && grant.allows("b") && !grant.allows("c"));
        }
        for (value, want) in [
            (key.clone(), KeyError::Missing),
            (format!("Basic {key}"), KeyError::Missing),
            ("Bearer ".to_owned(), KeyError::Missing),
            (format!("Bearer {key}x"), KeyError::Unknown),
        ] {
            assert_eq!(
                ring.check(&headers("authorization", &value)).unwrap_err(),
                want
            );
        }
        assert_eq!(
            ring.check(&HeaderMap::new()).unwrap_err(),
            KeyError::Missing
        );
        let custom = KeyRing::open(&d, HeaderName::from_static("x-key")).unwrap();
        assert!(custom.check(&headers("x-key", &key)).is_ok());
        assert!(
            custom
                .check(&headers("x-key", &format!("Bearer {key}")))
                .is_ok()
        );
        assert_eq!(
            custom
                .check(&headers("authorization", &format!("Bearer {key}")))
                .unwrap_err(),
            KeyError::Missing
        );
        assert_eq!(
            Grant::open().check_services(["x", "y"]),
            Ok(()),
            "an open grant takes any service"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
