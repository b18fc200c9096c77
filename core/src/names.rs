//! Interned names: method signatures, SQL texts, URLs and attribute keys are
//! stored once and referred to by a small [`NameId`].
//!
//! The table is read-mostly: interning takes a `parking_lot` lock, so callers
//! intern once (at class-transform time, at start-up, or on the collector
//! thread) and keep the id — never on the enter/exit path.
//!
//! # Names never run out
//!
//! Each [`NameKind`] has its own byte budget, so that one kind growing
//! without end (SQL shapes, outgoing URLs) cannot leave a new endpoint or
//! method without a name. SQL and URLs are sanitised *before* they are
//! interned ([`intern_as`]): `WHERE id = 42` and `WHERE id = 43` are one
//! name, and no literal is kept in memory. A name past its kind's budget
//! gets the kind's overflow id ([`overflow_id`], counted in
//! [`refused_count_of`]); callers that have the text at hand then copy it
//! into the transaction under [`NameKind::overflow_key`] (the collector does
//! so for transaction names, [`crate::raw::enter_named`] for steps), so it
//! still reaches the exporters, its memory bounded by the queue's budget.
//! Ids are never reused: records in flight, exporters' mirrors and the
//! store's name definitions refer to them, which is why full names are not
//! evicted (see `RELIABILITY.md`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::collector::sanitize;
use crate::model::StepKind;

/// Longest name kept, in bytes; longer names are cut at a character boundary.
pub const MAX_NAME_BYTES: usize = 1024;

/// Bytes one entry costs besides its text: the map slot, the id's slot in
/// the names vector, the shared allocation's counts and the allocator's
/// rounding. Measured by `tests/name_table_memory.rs` (`RELIABILITY.md`):
/// 272 488 short names grew RSS by 95 bytes each beyond their text.
pub const ENTRY_OVERHEAD: usize = 96;

/// Bytes (texts plus [`ENTRY_OVERHEAD`] each) all kinds together hold at
/// most: the sum of the kinds' budgets (28 MiB).
pub const MAX_TABLE_BYTES: usize = NameKind::Code.budget_bytes()
    + NameKind::Endpoint.budget_bytes()
    + NameKind::Sql.budget_bytes()
    + NameKind::Url.budget_bytes();

/// What a name stands for. Each kind has its own budget and overflow id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// Methods, step names, attribute keys and values, metric names: bounded
    /// by the program's code. What [`intern`] uses.
    Code,
    /// Transaction names (routes, `GET /orders`); query values are masked.
    Endpoint,
    /// SQL statements: literals become `?` before interning.
    Sql,
    /// Outgoing URLs: query values become `?`, id-like path segments `{id}`.
    Url,
}

impl NameKind {
    /// Every kind, in id order of their overflow names.
    pub const ALL: [NameKind; 4] = [Self::Code, Self::Endpoint, Self::Sql, Self::Url];

    /// Bytes (texts plus [`ENTRY_OVERHEAD`] per name) this kind may hold.
    pub const fn budget_bytes(self) -> usize {
        match self {
            Self::Code => 8 << 20,
            Self::Endpoint => 8 << 20,
            Self::Sql => 8 << 20,
            Self::Url => 4 << 20,
        }
    }

    /// The kind a step's name has.
    pub const fn of_step(kind: StepKind) -> Self {
        match kind {
            StepKind::Sql => Self::Sql,
            StepKind::HttpCall => Self::Url,
            StepKind::Method | StepKind::Custom => Self::Code,
        }
    }

    /// The kind of a name interned without one (the C ABI's `osprey_intern`,
    /// the JVM agent's `intern`): text starting with a SQL verb is SQL, text
    /// with a `scheme://` before any space (after an optional method) is a
    /// URL, anything else is code. Keeps callers that intern statements
    /// through the kind-less call from filling the table with literals.
    pub fn guess(text: &str) -> Self {
        const SQL_VERBS: &[&str] = &[
            "select", "insert", "update", "delete", "merge", "with", "call", "upsert", "replace",
            "exec", "execute", "values",
        ];
        let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        let word_end = trimmed
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(trimmed.len());
        let (word, rest) = trimmed.split_at(word_end);
        if rest.starts_with(|c: char| c.is_whitespace() || c == '(' || c == '*')
            && SQL_VERBS.iter().any(|v| word.eq_ignore_ascii_case(v))
        {
            return Self::Sql;
        }
        // `https://host/p` or `GET https://host/p`
        let url = rest
            .strip_prefix(' ')
            .filter(|_| word.chars().all(|c| c.is_ascii_uppercase()))
            .unwrap_or(trimmed);
        let scheme_end = url.find("://").unwrap_or(0);
        if scheme_end > 0
            && url[..scheme_end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Self::Url;
        }
        Self::Code
    }

    /// The attribute key under which a name past this kind's budget is
    /// copied into its transaction.
    pub const fn overflow_key(self) -> &'static str {
        match self {
            Self::Code => "code.function.name",
            Self::Endpoint => "osprey.transaction.name",
            Self::Sql => "db.query.text",
            Self::Url => "url.full",
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::Code => 0,
            Self::Endpoint => 1,
            Self::Sql => 2,
            Self::Url => 3,
        }
    }

    const fn overflow_text(self) -> &'static str {
        match self {
            Self::Code => "(other: name table full)",
            Self::Endpoint => "(other endpoint: name budget full)",
            Self::Sql => "(other SQL: name budget full)",
            Self::Url => "(other URL: name budget full)",
        }
    }
}

/// The id names of [`NameKind::Code`] get once its budget is used up.
pub const OTHER: NameId = overflow_id(NameKind::Code);

/// The id names of `kind` get once its budget is used up.
pub const fn overflow_id(kind: NameKind) -> NameId {
    NameId(kind.index() as u32)
}

/// True for the overflow ids ([`overflow_id`]).
pub const fn is_overflow(id: NameId) -> bool {
    (id.0 as usize) < NameKind::ALL.len()
}

/// A small id standing for an interned name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NameId(pub u32);

struct Table {
    ids: HashMap<Arc<str>, NameId>,
    names: Vec<Arc<str>>,
    /// Bytes charged to each kind (index [`NameKind::index`]).
    bytes: [usize; 4],
}

static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
static TRUNCATED: AtomicU64 = AtomicU64::new(0);
static REFUSED: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

fn table() -> &'static RwLock<Table> {
    TABLE.get_or_init(|| {
        RwLock::new(Table {
            ids: HashMap::new(),
            names: NameKind::ALL
                .iter()
                .map(|k| Arc::from(k.overflow_text()))
                .collect(),
            bytes: [0; 4],
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

/// The text [`intern_as`] keeps for `name` of `kind`: SQL literals, URL
/// query values and id-like path segments, endpoint query values replaced
/// by `?`; code names as they are.
pub fn clean(name: &str, kind: NameKind) -> Cow<'_, str> {
    match kind {
        NameKind::Code => Cow::Borrowed(name),
        NameKind::Endpoint => sanitize::url(name),
        NameKind::Sql => sanitize::sql(name),
        NameKind::Url => sanitize::url_route(name),
    }
}

/// Returns the id of `name`, adding it on first use, charged to
/// [`NameKind::Code`]. Names longer than [`MAX_NAME_BYTES`] are truncated
/// (and counted) first. For SQL, URLs and transaction names use
/// [`intern_as`], which sanitises them first.
pub fn intern(name: &str) -> NameId {
    intern_clean(truncate(name), NameKind::Code)
}

/// Returns the id of `name` sanitised for `kind` ([`clean`]), adding it on
/// first use and charging it to `kind`'s budget; past the budget, the
/// kind's [`overflow_id`]. The same text always gives the same id, whatever
/// kind first interned it.
pub fn intern_as(name: &str, kind: NameKind) -> NameId {
    let cleaned = clean(name, kind);
    intern_clean(truncate(&cleaned), kind)
}

fn intern_clean(name: &str, kind: NameKind) -> NameId {
    if let Some(id) = table().read().ids.get(name) {
        return *id;
    }
    let mut t = table().write();
    if let Some(id) = t.ids.get(name) {
        return *id;
    }
    let cost = name.len() + ENTRY_OVERHEAD;
    let used = &mut t.bytes[kind.index()];
    if *used + cost > kind.budget_bytes() {
        REFUSED[kind.index()].fetch_add(1, Ordering::Relaxed);
        return overflow_id(kind);
    }
    *used += cost;
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
#[cfg(feature = "otlp")]
#[derive(Debug, Default)]
pub(crate) struct NameMirror {
    names: Vec<Arc<str>>,
}

#[cfg(feature = "otlp")]
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

/// How many new names were refused (given an [`overflow_id`]) because
/// their kind's budget was used up, all kinds together.
pub fn refused_count() -> u64 {
    NameKind::ALL.iter().map(|k| refused_count_of(*k)).sum()
}

/// How many new names of `kind` were refused (given its [`overflow_id`]).
pub fn refused_count_of(kind: NameKind) -> u64 {
    REFUSED[kind.index()].load(Ordering::Relaxed)
}

/// Bytes (texts plus [`ENTRY_OVERHEAD`] each) charged to `kind` so far.
pub fn used_bytes(kind: NameKind) -> usize {
    table().read().bytes[kind.index()]
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
        assert_eq!(&*resolve(OTHER), NameKind::Code.overflow_text());
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

    #[test]
    fn sql_and_urls_are_sanitised_before_they_are_interned() {
        let a = intern_as(
            "SELECT * FROM t_names WHERE id = 42 AND n = 'x'",
            NameKind::Sql,
        );
        let b = intern_as(
            "SELECT * FROM t_names WHERE id = 43 AND n = 'y'",
            NameKind::Sql,
        );
        assert_eq!(a, b);
        assert_eq!(&*resolve(a), "SELECT * FROM t_names WHERE id = ? AND n = ?");
        let u = intern_as("https://api/users/12345/orders?token=abc", NameKind::Url);
        assert_eq!(&*resolve(u), "https://api/users/{id}/orders?token=?");
        let e = intern_as("GET /names-test?session=s3cr3t", NameKind::Endpoint);
        assert_eq!(&*resolve(e), "GET /names-test?session=?");
        assert!(!is_overflow(a) && !is_overflow(u) && !is_overflow(e));
        assert!(used_bytes(NameKind::Sql) > 0);
    }

    #[test]
    fn kinds_are_guessed_from_the_text() {
        for (text, kind) in [
            ("SELECT a FROM b", NameKind::Sql),
            ("  insert into t values (1)", NameKind::Sql),
            ("with x as (select 1) select * from x", NameKind::Sql),
            ("(SELECT 1)", NameKind::Sql),
            ("https://host/a?b=1", NameKind::Url),
            ("GET http://host/a", NameKind::Url),
            ("com.shop.Orders.select", NameKind::Code),
            ("selection", NameKind::Code),
            ("db.statement", NameKind::Code),
            ("GET /orders", NameKind::Code),
            ("", NameKind::Code),
        ] {
            assert_eq!(NameKind::guess(text), kind, "{text}");
        }
    }
}
