//! Keeps secrets in the process: SQL literals become `?`, query-string
//! values of URLs become `?`, attributes whose key names a credential
//! (authorization, cookie, password, token, ...) are redacted, and so are
//! values written after such a key inside other attributes' text and error
//! messages ([`inline_secrets`]). Applied on the collector thread to every
//! record before any exporter sees it.

use std::borrow::Cow;

mod inline;

pub use inline::inline_secrets;

use crate::model::{AttrValue, StepKind, StepRecord, TransactionRecord};
use crate::names::{self, NameId, NameKind};

/// What replaces a redacted attribute value.
pub const REDACTED: &str = "[REDACTED]";

/// Attribute-key fragments that mark a credential (matched case-insensitively).
const SECRET_KEY_PARTS: &[&str] = &[
    "authorization",
    "cookie",
    "password",
    "passwd",
    "secret",
    "token",
    "api-key",
    "api_key",
    "apikey",
    "credential",
];

/// Attribute keys holding SQL text.
const SQL_KEYS: &[&str] = &["db.statement", "db.query.text"];

/// Attribute keys holding URLs.
const URL_KEYS: &[&str] = &["url.full", "http.url", "db.connection_string"];

/// Attribute keys holding a query string without its `?`.
const QUERY_KEYS: &[&str] = &["url.query"];

/// Attribute-key prefixes of values bound to a statement's parameters
/// (OpenTelemetry's `db.query.parameter.<key>`, formerly
/// `db.operation.parameter.<key>`): redacted like credentials.
const BIND_KEY_PREFIXES: &[&str] = &["db.query.parameter.", "db.operation.parameter."];

/// Replaces string, numeric and hex literals in SQL with `?`, keeping
/// identifiers (`t1`, `"col 2"`), keywords and punctuation. An `IN` list of
/// placeholders becomes `(?)` and a tuple of placeholders repeating the one
/// before it is dropped (`IN (1, 2, 3)` is `IN (?)`, `VALUES (1, 2), (3, 4)`
/// is `VALUES (?, ?)`), so that statements differing only in their literals
/// or list lengths share a name.
/// Idempotent: a sanitised statement comes back unchanged.
pub fn sql(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .any(|b| b.is_ascii_digit() || matches!(*b, b'\'' | b'$' | b'?'))
    {
        return Cow::Borrowed(text);
    }
    let mut out = Lists::new(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' => {
                i = skip_quoted(bytes, i, b'\'');
                out.placeholder();
            }
            b'"' | b'`' => {
                // A quoted identifier: kept as is.
                let end = skip_quoted(bytes, i, b);
                out.other(&text[i..end]);
                i = end;
            }
            b'$' if dollar_tag(bytes, i).is_some() => {
                let tag = dollar_tag(bytes, i).unwrap_or(1);
                let body = &text[i + tag..];
                let close = body
                    .find(&text[i..i + tag])
                    .map_or(text.len(), |p| i + tag + p + tag);
                out.placeholder();
                i = close;
            }
            b'0'..=b'9' if !out.continues_identifier() => {
                i += 1;
                if b == b'0' && bytes.get(i).is_some_and(|c| *c == b'x' || *c == b'X') {
                    i += 1;
                }
                while i < bytes.len()
                    && (bytes[i].is_ascii_hexdigit()
                        || matches!(bytes[i], b'.' | b'e' | b'E' | b'_'))
                {
                    i += 1;
                }
                out.placeholder();
            }
            b'?' => {
                out.placeholder();
                i += 1;
            }
            b'(' => {
                out.open();
                i += 1;
            }
            b')' => {
                out.close();
                i += 1;
            }
            b',' | b' ' | b'\t' | b'\n' | b'\r' => {
                out.separator(b as char);
                i += 1;
            }
            _ => {
                let len = utf8_len(b);
                out.other(&text[i..(i + len).min(text.len())]);
                i += len;
            }
        }
    }
    Cow::Owned(out.finish())
}

/// Whitespace between SQL tokens.
const SPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// True when `text` ends with `keyword` (ASCII, any case) as a whole word.
fn ends_with_keyword(text: &str, keyword: &str) -> bool {
    let Some(head_len) = text.len().checked_sub(keyword.len()) else {
        return false;
    };
    text.is_char_boundary(head_len)
        && text[head_len..].eq_ignore_ascii_case(keyword)
        && !text[..head_len]
            .bytes()
            .next_back()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The output of [`sql`] with the placeholder lists collapsed as they close.
struct Lists {
    out: String,
    /// Open parentheses: where each starts in `out`, and whether it holds
    /// nothing but placeholders, commas and spaces so far.
    open: Vec<(usize, bool)>,
}

impl Lists {
    fn new(capacity: usize) -> Self {
        Self {
            out: String::with_capacity(capacity),
            open: Vec::new(),
        }
    }

    /// True when a digit written next continues an identifier (`t1`,
    /// `col_2`, `$1`, `t.1`) rather than starting a number. Decided on the
    /// output, not the input: a digit right after a literal (`$$a$$9`,
    /// whose closing `$` is gone) is a literal too, so that sanitising twice
    /// changes nothing (found by the `sanitize` fuzz target).
    fn continues_identifier(&self) -> bool {
        self.out
            .bytes()
            .next_back()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.'))
    }

    fn placeholder(&mut self) {
        self.out.push('?');
    }

    fn separator(&mut self, c: char) {
        self.out.push(c);
    }

    fn other(&mut self, text: &str) {
        if let Some(top) = self.open.last_mut() {
            top.1 = false;
        }
        self.out.push_str(text);
    }

    fn open(&mut self) {
        if let Some(top) = self.open.last_mut() {
            top.1 = false;
        }
        self.open.push((self.out.len(), true));
        self.out.push('(');
    }

    fn close(&mut self) {
        let Some((start, only)) = self.open.pop() else {
            self.out.push(')');
            return;
        };
        if !(only && self.out[start..].contains('?')) {
            self.out.push(')');
            return;
        }
        // A tuple of placeholders: `IN (?, ?, ?)` is one `(?)` whatever its
        // length; other tuples keep their shape (`VALUES (?, ?)`), and a
        // tuple repeating the one just before it (`VALUES (?, ?), (?, ?)`)
        // is dropped.
        self.out.push(')');
        let before = self.out[..start].trim_end_matches(SPACE);
        if ends_with_keyword(before, "in") {
            self.out.truncate(start);
            self.out.push_str("(?)");
        }
        let tuple = self.out[start..].to_owned();
        let before = self.out[..start].trim_end_matches(SPACE);
        if let Some(prev) = before.strip_suffix(',')
            && prev.trim_end_matches(SPACE).ends_with(&tuple)
        {
            let end = prev.trim_end_matches(SPACE).len();
            self.out.truncate(end);
        }
    }

    fn finish(self) -> String {
        self.out
    }
}

/// Replaces every query-string value of a URL with `?` (signed URLs carry
/// credentials there), every `;key=value` parameter's value with `*`
/// (session ids, JDBC passwords), and drops the user information (`user:password@`);
/// the path and parameter names stay.
pub fn url(text: &str) -> Cow<'_, str> {
    let mut out = url_once(text);
    if let Cow::Owned(_) = out {
        // Removing user info can join what a second pass masks (a
        // `;key=value` before it, user info behind it): go on to the fixed
        // point, so the result is idempotent (found by the fuzz target).
        for _ in 0..4 {
            let again = url_once(&out).into_owned();
            if again == *out {
                break;
            }
            out = Cow::Owned(again);
        }
    }
    out
}

/// One pass of [`url`].
fn url_once(text: &str) -> Cow<'_, str> {
    let userinfo = userinfo(text);
    if userinfo.is_none() && !text.contains(['?', ';']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let rest = match userinfo {
        Some((start, end)) => {
            out.push_str(&text[..start]);
            &text[end..]
        }
        None => text,
    };
    let (before_query, query) = match rest.find('?') {
        Some(q) => rest.split_at(q),
        None => (rest, ""),
    };
    out.push_str(&mask_params(before_query));
    if let Some(query) = query.strip_prefix('?') {
        let (query, fragment) = match query.find('#') {
            Some(h) => query.split_at(h),
            None => (query, ""),
        };
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) => format!("{k}=?"),
                None => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&masked.join("&"));
        out.push_str(fragment);
    }
    if out == text {
        return Cow::Borrowed(text);
    }
    Cow::Owned(out)
}

/// A query string (`url.query`) keeps what the recording side chose to keep
/// (the Java agent's `http.query.allow` list), except the values of
/// parameters whose names mark a credential (`access_token`, `password`,
/// `api_key`, `sig`, `session`, ...), which become `?`.
pub fn query_string(text: &str) -> Cow<'_, str> {
    let secret = |pair: &str| {
        pair.split_once('=')
            .is_some_and(|(k, _)| is_secret_query_param(k.as_bytes()))
    };
    if !text.split('&').any(secret) {
        return Cow::Borrowed(text);
    }
    let masked: Vec<String> = text
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if secret(pair) => format!("{k}=?"),
            _ => pair.to_owned(),
        })
        .collect();
    Cow::Owned(masked.join("&"))
}

/// Query-parameter name fragments that mark a credential, besides
/// [`SECRET_KEY_PARTS`].
const QUERY_SECRET_PARTS: &[&str] = &["key", "sig", "session", "sid", "auth", "code", "pass"];

/// Where the user information (`user:password@`) of `text`'s authority is,
/// as a byte range including the `@`.
fn userinfo(text: &str) -> Option<(usize, usize)> {
    let start = text.find("://")? + 3;
    let authority = &text[start..];
    let end = authority
        .find(['/', '?', '#', ';'])
        .unwrap_or(authority.len());
    let at = authority[..end].rfind('@')?;
    Some((start, start + at + 1))
}

/// Values of `;key=value` parameters (path parameters such as `;jsessionid=`,
/// JDBC properties such as `;password=`) become `*` (not `?`, which would
/// start a query string on a second pass).
fn mask_params(text: &str) -> Cow<'_, str> {
    if !text.contains(';') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (n, part) in text.split(';').enumerate() {
        if n > 0 {
            out.push(';');
        }
        match part.split_once('=') {
            Some((k, v)) if n > 0 => {
                out.push_str(k);
                out.push_str("=*");
                // A path parameter ends at the next segment.
                if let Some(slash) = v.find(['/', '#']) {
                    out.push_str(&v[slash..]);
                }
            }
            _ => out.push_str(part),
        }
    }
    Cow::Owned(out)
}

/// [`url`], and path segments that look like ids (all digits, a UUID, or
/// 16 or more hex digits) become `{id}`: the name of an outgoing call, whose
/// path often carries the id of what it fetches. Idempotent (not `?`, which
/// would start a query string on a second pass: found by the property
/// tests with `/0/=`).
pub fn url_route(text: &str) -> Cow<'_, str> {
    let masked = url(text);
    let end = masked.find(['?', '#']).unwrap_or(masked.len());
    let path_start = match masked[..end].find("://") {
        Some(s) => masked[s + 3..end].find('/').map_or(end, |p| s + 3 + p),
        None => masked[..end].find('/').unwrap_or(end),
    };
    let path = &masked[path_start..end];
    if !path.split('/').any(id_like) {
        return masked;
    }
    let mut out = String::with_capacity(masked.len());
    out.push_str(&masked[..path_start]);
    for (n, segment) in path.split('/').enumerate() {
        if n > 0 {
            out.push('/');
        }
        out.push_str(if id_like(segment) { ID } else { segment });
    }
    out.push_str(&masked[end..]);
    Cow::Owned(out)
}

/// What replaces an id-like path segment.
const ID: &str = "{id}";

/// A path segment that names one object rather than a route.
fn id_like(segment: &str) -> bool {
    let b = segment.as_bytes();
    if b.is_empty() {
        return false;
    }
    let digits = b.iter().all(u8::is_ascii_digit);
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            matches!(i, 8 | 13 | 18 | 23) == (*c == b'-') && (*c == b'-' || c.is_ascii_hexdigit())
        });
    let hex =
        b.len() >= 16 && b.iter().all(u8::is_ascii_hexdigit) && b.iter().any(u8::is_ascii_digit);
    digits || uuid || hex
}

/// True when an attribute key names a credential.
pub fn is_secret_key(key: &str) -> bool {
    names_a_credential(key.as_bytes())
}

/// [`is_secret_key`] on a name's bytes.
fn names_a_credential(name: &[u8]) -> bool {
    contains_any(name, SECRET_KEY_PARTS)
}

/// True when a URL query parameter's name marks a credential: as a key's
/// would, or by one of the URL rules' own fragments (`key`, `sig`, …).
fn is_secret_query_param(name: &[u8]) -> bool {
    names_a_credential(name) || contains_any(name, QUERY_SECRET_PARTS)
}

/// True when one of `parts` (lower case) occurs in `text`, in any case,
/// without a lower-case copy of `text`.
fn contains_any(text: &[u8], parts: &[&str]) -> bool {
    text.iter().enumerate().any(|(i, b)| {
        let first = b.to_ascii_lowercase();
        parts.iter().any(|part| {
            let part = part.as_bytes();
            part[0] == first
                && text.len() - i >= part.len()
                && text[i..i + part.len()].eq_ignore_ascii_case(part)
        })
    })
}

/// Applies the rules to records, caching the sanitised form of each
/// interned name and what each attribute key is.
pub(crate) struct Sanitizer {
    sql_names: CleanNames,
    /// Transaction names ([`NameKind::Endpoint`]: [`url`]).
    endpoint_names: CleanNames,
    /// Outgoing calls' names ([`NameKind::Url`]: [`url_route`], which also
    /// turns ids in the path into `{id}`): cached apart from the endpoints,
    /// as the same text cleans differently as each.
    url_names: CleanNames,
    /// Indexed by the key's id; grown on demand (keys are few and interned
    /// early, and the name table is bounded).
    key_kinds: Vec<KeyKind>,
}

impl Default for Sanitizer {
    fn default() -> Self {
        Self {
            sql_names: CleanNames::new(NameKind::Sql),
            endpoint_names: CleanNames::new(NameKind::Endpoint),
            url_names: CleanNames::new(NameKind::Url),
            key_kinds: Vec::new(),
        }
    }
}

/// The sanitised form of each interned name, for one kind of name: indexed
/// by the name's id (ids are dense and the name table is bounded), grown on
/// demand; `None` where not looked at yet.
struct CleanNames {
    kind: NameKind,
    ids: Vec<Option<NameId>>,
}

impl CleanNames {
    fn new(kind: NameKind) -> Self {
        Self {
            kind,
            ids: Vec::new(),
        }
    }

    /// The id of `id`'s text sanitised for this kind: the same id for names
    /// interned through [`names::intern_as`], which sanitised them already;
    /// a new one (interned on first use) for a name interned raw (a
    /// caller's [`names::intern`]).
    fn clean(&mut self, id: NameId) -> NameId {
        if names::is_overflow(id) {
            return id;
        }
        let index = id.0 as usize;
        if let Some(Some(clean)) = self.ids.get(index) {
            return *clean;
        }
        let text = names::resolve(id);
        let clean = match names::clean(&text, self.kind) {
            Cow::Borrowed(_) => id,
            Cow::Owned(s) => names::intern_as(&s, self.kind),
        };
        if index >= self.ids.len() {
            self.ids.resize(index + 1, None);
        }
        self.ids[index] = Some(clean);
        clean
    }
}

/// What an attribute key says about its value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum KeyKind {
    /// Not looked at yet.
    #[default]
    Unknown,
    /// Kept as is.
    Plain,
    /// Replaced by [`REDACTED`].
    Secret,
    /// SQL text: literals replaced.
    Sql,
    /// A URL: credentials and query values dropped.
    Url,
    /// A query string: values of credential-like parameters dropped.
    Query,
}

impl KeyKind {
    /// What the attribute key `key` is.
    fn of(key: &str) -> Self {
        if is_secret_key(key) || BIND_KEY_PREFIXES.iter().any(|p| key.starts_with(p)) {
            Self::Secret
        } else if SQL_KEYS.contains(&key) {
            Self::Sql
        } else if URL_KEYS.contains(&key) {
            Self::Url
        } else if QUERY_KEYS.contains(&key) {
            Self::Query
        } else {
            Self::Plain
        }
    }
}

/// The rule that cleans a value recorded under `key` when it is one of the
/// keys with a structure (SQL text, a URL, a query string); `None` for
/// others. For a value too long to keep whole, cleaned before it is cut
/// (see [`crate::capped`]), so that what is kept is the start of the
/// cleaned text: a long `IN (…)` list collapses instead of being cut.
pub(crate) fn structured_rule(key: &str) -> Option<fn(&str) -> Cow<'_, str>> {
    match KeyKind::of(key) {
        KeyKind::Sql => Some(sql),
        KeyKind::Url => Some(url),
        KeyKind::Query => Some(query_string),
        KeyKind::Secret | KeyKind::Plain | KeyKind::Unknown => None,
    }
}

impl Sanitizer {
    /// Sanitises a transaction and its steps in place.
    pub fn apply(&mut self, txn: &mut TransactionRecord) {
        txn.name = self.endpoint_names.clean(txn.name);
        self.scrub_attributes(&mut txn.attributes);
        if let Some(e) = &mut txn.error {
            scrub_text(&mut e.message, inline_secrets);
        }
        for step in &mut txn.steps {
            self.apply_step(step);
        }
    }

    #[inline]
    fn apply_step(&mut self, step: &mut StepRecord) {
        // Most steps are plain method calls with nothing to clean.
        if step.kind == StepKind::Method && step.attributes.is_empty() && step.error.is_none() {
            return;
        }
        match step.kind {
            StepKind::Sql => {
                step.name = self.sql_names.clean(step.name);
            }
            StepKind::HttpCall => {
                step.name = self.url_names.clean(step.name);
            }
            StepKind::Method | StepKind::Custom => {}
        }
        self.scrub_attributes(&mut step.attributes);
        if let Some(e) = step.error.as_deref_mut() {
            // Database errors often quote the offending literal (and a
            // driver's connection error its `password=`).
            if step.kind == StepKind::Sql {
                scrub_text(&mut e.message, sql);
            }
            scrub_text(&mut e.message, inline_secrets);
        }
    }

    fn scrub_attributes(&mut self, attributes: &mut [crate::model::Attribute]) {
        for a in attributes {
            let clean: fn(&str) -> Cow<'_, str> = match self.key_kind(a.key) {
                // Free text: a `Debug` of a struct holding a password.
                KeyKind::Plain | KeyKind::Unknown => inline_secrets,
                KeyKind::Secret => {
                    a.value = AttrValue::Str(REDACTED.to_owned());
                    continue;
                }
                KeyKind::Sql => sql,
                KeyKind::Url => url,
                KeyKind::Query => query_string,
            };
            if let AttrValue::Str(value) = &mut a.value {
                scrub_text(value, clean);
            }
        }
    }

    /// What `key` is, looked up by text once per key.
    fn key_kind(&mut self, key: NameId) -> KeyKind {
        let index = key.0 as usize;
        if let Some(&kind) = self.key_kinds.get(index)
            && kind != KeyKind::Unknown
        {
            return kind;
        }
        let kind = KeyKind::of(&names::resolve(key));
        if index >= self.key_kinds.len() {
            self.key_kinds.resize(index + 1, KeyKind::Unknown);
        }
        self.key_kinds[index] = kind;
        kind
    }
}

/// Replaces `text` by what `clean` makes of it, when that differs.
fn scrub_text(text: &mut String, clean: fn(&str) -> Cow<'_, str>) {
    if let Cow::Owned(s) = clean(text) {
        *text = s;
    }
}

/// End of a quoted run starting at `start` (doubled quotes and backslash
/// escapes stay inside); the text's end when unterminated.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            c if c == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Length of a PostgreSQL dollar-quote tag (`$$` or `$tag$`) at `i`.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
        if bytes[j].is_ascii_digit() && j == i + 1 {
            return None; // `$1` is a positional parameter
        }
        j += 1;
    }
    (bytes.get(j) == Some(&b'$')).then_some(j + 1 - i)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_cleans_apart_as_a_transaction_name_and_as_an_outgoing_call() {
        // A gateway's incoming request and the call it forwards can carry
        // the same text; each kind keeps its own rule, whichever came first.
        let mut s = Sanitizer::default();
        let cases = [
            ("GET /orders/12345", "GET /orders/{id}", true),
            ("GET /carts/67890", "GET /carts/{id}", false),
        ];
        for (text, route, endpoint_first) in cases {
            let id = names::intern(text);
            let (endpoint, url) = if endpoint_first {
                let e = s.endpoint_names.clean(id);
                (e, s.url_names.clean(id))
            } else {
                let u = s.url_names.clean(id);
                (s.endpoint_names.clean(id), u)
            };
            assert_eq!(&*names::resolve(endpoint), text);
            assert_eq!(&*names::resolve(url), route);
            // Cached: the same ids again.
            assert_eq!(s.endpoint_names.clean(id), endpoint);
            assert_eq!(s.url_names.clean(id), url);
        }
    }

    #[test]
    fn sql_literals_become_placeholders() {
        let cases = [
            // found by the fuzzer: the closing `$` is gone, the 9 is a literal
            ("SELECT $$a$$9", "SELECT ??"),
            ("SELECT $1, t1.c2 FROM t1", "SELECT $1, t1.c2 FROM t1"),
            (
                "SELECT * FROM users WHERE name = 'O''Brien' AND id = 42",
                "SELECT * FROM users WHERE name = ? AND id = ?",
            ),
            (
                "INSERT INTO t1 (a, b) VALUES (3.14, -7)",
                "INSERT INTO t1 (a, b) VALUES (?, -?)",
            ),
            (
                "UPDATE \"col 2\" SET v = 0xFF WHERE k = $1",
                "UPDATE \"col 2\" SET v = ? WHERE k = $1",
            ),
            ("SELECT $$secret$$, $tag$x$tag$", "SELECT ?, ?"),
            ("SELECT 'unterminated", "SELECT ?"),
            (
                "SELECT name FROM t WHERE note = 'é'",
                "SELECT name FROM t WHERE note = ?",
            ),
            ("SELECT a FROM b", "SELECT a FROM b"),
            (
                "SELECT x FROM t2.c3 WHERE y = 'a\\'b'",
                "SELECT x FROM t2.c3 WHERE y = ?",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(sql(input), want, "{input}");
        }
    }

    #[test]
    fn placeholder_lists_collapse_to_one_shape() {
        let cases = [
            (
                "SELECT a FROM t WHERE id IN (1, 2, 3)",
                "SELECT a FROM t WHERE id IN (?)",
            ),
            (
                "SELECT a FROM t WHERE id IN (?, ?,?)",
                "SELECT a FROM t WHERE id IN (?)",
            ),
            (
                "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
                "INSERT INTO t VALUES (?, ?)",
            ),
            ("INSERT INTO t VALUES (?, ?)", "INSERT INTO t VALUES (?, ?)"),
            (
                "SELECT coalesce(?, ?) FROM t",
                "SELECT coalesce(?, ?) FROM t",
            ),
            (
                "SELECT a FROM t WHERE b in(1,2) OR c IN (?)",
                "SELECT a FROM t WHERE b in(?) OR c IN (?)",
            ),
            (
                "SELECT a FROM t WHERE pin (1, 2)",
                "SELECT a FROM t WHERE pin (?, ?)",
            ),
            ("SELECT f(a, 1) FROM t", "SELECT f(a, ?) FROM t"),
            ("SELECT count() FROM t", "SELECT count() FROM t"),
            (
                "SELECT a FROM t WHERE (b, c) IN ((1, 2), (3, 4))",
                "SELECT a FROM t WHERE (b, c) IN ((?, ?))",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(sql(input), want, "{input}");
            assert_eq!(sql(want), want, "idempotent: {want}");
        }
    }

    #[test]
    fn id_like_path_segments_of_outgoing_urls_are_masked() {
        assert_eq!(
            url_route("https://api/users/12345/orders/5f0c0ffee0ddba11c0ffee00?x=1"),
            "https://api/users/{id}/orders/{id}?x=?"
        );
        assert_eq!(
            url_route("GET http://h:8080/v2/items/123e4567-e89b-12d3-a456-426614174000"),
            "GET http://h:8080/v2/items/{id}"
        );
        assert_eq!(url_route("http://h/v2/items"), "http://h/v2/items");
        assert_eq!(url_route("/a/7"), "/a/{id}");
        assert_eq!(url_route("/0/="), "/{id}/=");
        // found by the property tests: `?` would start a query string
        assert_eq!(url_route("/{id}/="), "/{id}/=");
    }

    #[test]
    fn url_query_values_are_masked() {
        assert_eq!(
            url("https://s3/b/k?X-Amz-Signature=abc&X-Amz-Expires=60#frag"),
            "https://s3/b/k?X-Amz-Signature=?&X-Amz-Expires=?#frag"
        );
        assert_eq!(url("http://inventory/stock"), "http://inventory/stock");
    }

    #[test]
    fn url_credentials_and_parameters_are_dropped() {
        assert_eq!(
            url("http://app:pw@inventory:8080/items?page=2"),
            "http://inventory:8080/items?page=?"
        );
        assert_eq!(
            url("jdbc:sqlserver://db:1433;databaseName=app;user=sa;password=pw"),
            "jdbc:sqlserver://db:1433;databaseName=*;user=*;password=*"
        );
        assert_eq!(
            url("/cart;jsessionid=AB12/view#top"),
            "/cart;jsessionid=*/view#top"
        );
        assert_eq!(url("mailto:a@b"), "mailto:a@b");
        assert_eq!(query_string("token=t&page=2&x"), "token=?&page=2&x");
        assert_eq!(query_string("id=42"), "id=42");
        assert_eq!(
            query_string("X-Amz-Signature=s&sessionid=1"),
            "X-Amz-Signature=?&sessionid=?"
        );
        assert_eq!(query_string("plain"), "plain");
        for once in [
            url("http://u:p@h/a;b=c?d=e#f").into_owned(),
            url("jdbc:mysql://u@h;x=1").into_owned(),
        ] {
            assert_eq!(url(&once), once);
        }
    }

    #[test]
    fn credential_keys_are_recognised() {
        for key in [
            "http.request.header.authorization",
            "http.request.header.cookie",
            "db.password",
            "X-Api-Key",
            "session_token",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        assert!(!is_secret_key("http.request.method"));
        assert!(is_secret_key("Ünïcode_PassWord") && !is_secret_key("Ünïcode"));
        assert!(is_secret_query_param(b"Signature") && is_secret_query_param(b"X-API-KEY"));
        assert!(!is_secret_query_param(b"page") && !is_secret_key("key"));
    }
}
