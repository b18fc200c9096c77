//! Interned names: method signatures, SQL texts, URLs and attribute keys are
//! stored once and referred to by a small [`NameId`].
//!
//! The table is read-mostly: interning takes a `parking_lot` lock, so callers
//! intern once (at class-transform time, at start-up, or on the collector
//! thread) and keep the id — never on the enter/exit path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// Longest name kept, in bytes; longer names are cut at a character boundary.
pub const MAX_NAME_BYTES: usize = 1024;

/// Bytes of names the table holds at most (16 MiB); past it new names
/// become [`OTHER`] and are counted, so unbounded distinct names (URLs with
/// ids, SQL with literals) cannot grow memory without bound.
pub const MAX_TABLE_BYTES: usize = 16 << 20;

/// The id every name gets once the table is full.
pub const OTHER: NameId = NameId(0);

const OTHER_TEXT: &str = "(other: name table full)";

/// A small id standing for an interned name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NameId(pub u32);

struct Table {
    ids: HashMap<Arc<str>, NameId>,
    names: Vec<Arc<str>>,
    bytes: usize,
}

static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
static TRUNCATED: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);

fn table() -> &'static RwLock<Table> {
    TABLE.get_or_init(|| {
        RwLock::new(Table {
            ids: HashMap::new(),
            names: vec![Arc::from(OTHER_TEXT)],
            bytes: 0,
        })
    })
}

/// Cuts `name` to at most [`MAX_NAME_BYTES`] at a character boundary,
/// counting the cut in [`truncated_count`].
pub fn truncate(name: &str) -> &str {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    TRUNCATED.fetch_add(1, Ordering::Relaxed);
    let mut end = MAX_NAME_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Returns the id of `name`, adding it on first use. Names longer than
/// [`MAX_NAME_BYTES`] are truncated (and counted) first.
pub fn intern(name: &str) -> NameId {
    let name = truncate(name);
    if let Some(id) = table().read().ids.get(name) {
        return *id;
    }
    let mut t = table().write();
    if let Some(id) = t.ids.get(name) {
        return *id;
    }
    if t.bytes + name.len() > MAX_TABLE_BYTES {
        REFUSED.fetch_add(1, Ordering::Relaxed);
        return OTHER;
    }
    t.bytes += name.len();
    let id = NameId(t.names.len() as u32);
    let shared: Arc<str> = Arc::from(name);
    t.names.push(shared.clone());
    t.ids.insert(shared, id);
    id
}

/// A reader's own copy of the table's names, brought up to date under one
/// read lock by [`NameMirror::sync`], after which looking names up takes no
/// lock and touches no reference count. For exporters, which look up every
/// span's name and attribute key. Ids are never reused, so the copy is never
/// stale, only short of names interned since the last sync.
#[derive(Debug, Default)]
pub(crate) struct NameMirror {
    names: Vec<Arc<str>>,
}

impl NameMirror {
    /// Copies the names interned since the last call.
    pub fn sync(&mut self) {
        let table = table().read();
        let have = self.names.len();
        if table.names.len() > have {
            self.names.extend_from_slice(&table.names[have..]);
        }
    }

    /// The name behind `id`; `"?"` for an id unknown at the last sync.
    pub fn get(&self, id: NameId) -> &str {
        self.names.get(id.0 as usize).map_or("?", |name| name)
    }
}

/// The name behind `id`; `"?"` for an id this process never issued.
pub fn resolve(id: NameId) -> Arc<str> {
    table()
        .read()
        .names
        .get(id.0 as usize)
        .cloned()
        .unwrap_or_else(|| Arc::from("?"))
}

/// True when `id` was issued by [`intern`].
pub fn is_known(id: NameId) -> bool {
    (id.0 as usize) < table().read().names.len()
}

/// How many new names were refused (given [`OTHER`]) because the table
/// was full.
pub fn refused_count() -> u64 {
    REFUSED.load(Ordering::Relaxed)
}

/// How many names were truncated since the process started.
pub fn truncated_count() -> u64 {
    TRUNCATED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_id() {
        let a = intern("GET /orders");
        let b = intern("GET /orders");
        assert_eq!(a, b);
        assert_ne!(a, intern("GET /users"));
        assert_eq!(&*resolve(a), "GET /orders");
        assert_eq!(&*resolve(NameId(u32::MAX)), "?");
        assert_eq!(&*resolve(OTHER), OTHER_TEXT);
        assert_ne!(a, OTHER);
    }

    #[test]
    fn oversized_names_are_truncated_at_char_boundary_and_counted() {
        let before = truncated_count();
        let long = "é".repeat(MAX_NAME_BYTES); // 2 bytes each
        let id = intern(&long);
        let kept = resolve(id);
        assert!(kept.len() <= MAX_NAME_BYTES);
        assert!(kept.chars().all(|c| c == 'é'));
        assert!(truncated_count() > before);
    }
}
