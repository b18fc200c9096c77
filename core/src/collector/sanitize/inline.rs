//! Credentials written inside free text: a struct's `Debug` output (what
//! `#[instrument]` records for an argument), a log-style `key=value`
//! message, a JSON or map literal, a header line. The value after a key
//! that names a credential ([`is_secret_key`]) becomes [`REDACTED`].

use std::borrow::Cow;
use std::ops::Range;

#[cfg(doc)]
use super::is_secret_key;
use super::{REDACTED, is_secret_query_param, names_a_credential, skip_quoted};

/// Values that follow a credential-named key inside free text become
/// [`REDACTED`] (quoted values keep their quotes); the rest of the text
/// stays. A key is a run of ASCII letters, digits, `_`, `-` and `.` whose
/// name marks a credential as an attribute key's would ([`is_secret_key`]),
/// followed by `:` or `=` (a JSON key's closing quote and spaces may come
/// between); a type name that marks one wraps its value in parentheses
/// (`ApiToken("…")`). A value is a quoted string, a bracketed group, an
/// unquoted word (with what it wraps: `Some("…")`), or an authorization
/// scheme and its credentials (`Bearer …`). Idempotent.
///
/// ```
/// use osprey::collector::sanitize::inline_secrets;
///
/// assert_eq!(
///     inline_secrets(r#"Login { user: "ann", password: "hunter2" }"#),
///     r#"Login { user: "ann", password: "[REDACTED]" }"#,
/// );
/// assert_eq!(
///     inline_secrets("retrying with token=abc123&page=2"),
///     "retrying with token=[REDACTED]&page=2",
/// );
/// assert_eq!(
///     inline_secrets("Authorization: Bearer eyJhbGciOi.x.y, status 401"),
///     "Authorization: [REDACTED], status 401",
/// );
/// assert_eq!(inline_secrets("GET /orders/7 took 3 ms"), "GET /orders/7 took 3 ms");
/// ```
pub fn inline_secrets(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    // Copied to `out` up to here; scanning goes on from `next`.
    let mut copied = 0;
    let mut next = 0;
    for at in separators(bytes) {
        if at < next {
            continue;
        }
        let Some((value, end)) = secret_value(bytes, at, next) else {
            continue;
        };
        next = end;
        // Empty (`password: ""` says the value was empty), or masked
        // already by the URL rules (`token=?`, `;password=*`).
        if value.is_empty() || matches!(&text[value.clone()], "?" | "*") {
            continue;
        }
        out.push_str(&text[copied..value.start]);
        out.push_str(REDACTED);
        copied = value.end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Where a key may end, in order: `:`, `=`, `(` and `{`. Most text has
/// none, and is let through after two vectorised passes.
fn separators(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut pairs = memchr::memchr3_iter(b':', b'=', b'(', bytes).peekable();
    let mut braces = memchr::memchr_iter(b'{', bytes).peekable();
    std::iter::from_fn(move || match (pairs.peek(), braces.peek()) {
        (Some(pair), Some(brace)) if brace < pair => braces.next(),
        (Some(_), _) => pairs.next(),
        (None, _) => braces.next(),
    })
}

/// The value (what is replaced) that the separator at `at` introduces
/// when a credential's key comes before it, and where scanning goes on;
/// the key starts at `floor` or later.
fn secret_value(bytes: &[u8], at: usize, floor: usize) -> Option<(Range<usize>, usize)> {
    if bytes[at] == b':'
        && let Some(password) = userinfo_password(bytes, at, floor)
    {
        return Some((password.clone(), password.end));
    }
    let key = key_before(bytes, at, floor)?;
    names_a_secret(bytes, &key).then(|| value_at(bytes, &key, at))?
}

/// The password of a URL's user information (`scheme://user:password@`)
/// when the `:` at `at` is the one between user and password.
fn userinfo_password(bytes: &[u8], at: usize, floor: usize) -> Option<Range<usize>> {
    let mut start = at;
    while start > floor && (is_key_byte(bytes[start - 1]) || bytes[start - 1] == b'%') {
        start -= 1;
    }
    if !bytes[..start].ends_with(b"://") {
        return None;
    }
    // Redacted already, whole.
    let rest = &bytes[at + 1..];
    if rest.starts_with(REDACTED.as_bytes()) && rest.get(REDACTED.len()) == Some(&b'@') {
        return Some(at + 1..at + 1 + REDACTED.len());
    }
    // Up to the `@`, over what user information may hold (RFC 3986, less
    // quotes and parentheses): the scan stops at any other key's redacted
    // value (`[`), so that redaction cannot make a second pass reach an `@`
    // the first did not (found by the fuzz target).
    let len = rest
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b"-._~%!$&*+,;=:".contains(&b)))?;
    (rest[len] == b'@').then_some(at + 1..at + 1 + len)
}

/// True when the key at `key` names a credential where it stands: its name
/// ([`is_secret_key`]), or, as a URL's query parameter, the names the URL
/// rules mask too (`key`, `sig`, `code`, …). A URL's host or user name
/// (right after `://`) never does.
fn names_a_secret(bytes: &[u8], key: &Range<usize>) -> bool {
    let name = &bytes[key.clone()];
    let before = &bytes[..key.start];
    if before.ends_with(b"://") {
        return false;
    }
    if matches!(before.last(), Some(b'?' | b'&')) {
        is_secret_query_param(name)
    } else {
        names_a_credential(name)
    }
}

/// The key that the separator at `at` follows, starting at `floor` or
/// later: for `:` and `=`, a run of key bytes, then perhaps the closing
/// quote of a quoted key (`"password":`, or escaped inside a string's
/// `Debug`: `\"password\":`), then blanks; for `(` and `{`, a type name
/// (`ApiToken(`, `ApiToken {`).
fn key_before(bytes: &[u8], at: usize, floor: usize) -> Option<Range<usize>> {
    let mut end = at;
    let typed = matches!(bytes[at], b'(' | b'{');
    if bytes[at] != b'(' {
        end = skip_blanks_back(bytes, end, floor);
    }
    let mut quote = None;
    if !typed && end > floor && matches!(bytes[end - 1], b'"' | b'\'') {
        end -= 1;
        let escaped = end > floor && bytes[end - 1] == b'\\';
        end -= usize::from(escaped);
        quote = Some((bytes[end + usize::from(escaped)], escaped));
    }
    let mut start = end;
    while start > floor && is_key_byte(bytes[start - 1]) {
        start -= 1;
    }
    if start == end || (typed && !bytes[start].is_ascii_uppercase()) {
        return None;
    }
    // A quoted key was opened by the same quote, escaped alike.
    let opened = quote.is_none_or(|(q, escaped)| {
        let open: &[u8] = if escaped { &[b'\\', q] } else { &[q] };
        bytes[..start].ends_with(open)
    });
    opened.then_some(start..end)
}

/// The value that the separator at `at` introduces after `key`, and where
/// scanning goes on; `None` when it introduces none.
fn value_at(bytes: &[u8], key: &Range<usize>, at: usize) -> Option<(Range<usize>, usize)> {
    let get = |i: usize| bytes.get(i).copied();
    let separator = bytes[at];
    if matches!(separator, b'(' | b'{') {
        // A type wrapping its value: `ApiToken("k")`, `ApiToken { value: … }`;
        // unclosed, to the end.
        return Some(match closed_group_end(bytes, at) {
            Some(close) => (at + 1..close - 1, close),
            None => (at + 1..bytes.len(), bytes.len()),
        });
    }
    // `::` is a path (`Token::new`), `==` a comparison.
    if get(at + 1) == Some(separator) {
        return None;
    }
    let start = skip_blanks(bytes, at + 1);
    if get(start) == Some(b'\\') && matches!(get(start + 1), Some(b'"' | b'\'')) {
        // Quoted inside a string's `Debug`: `\"hunter2\"`; the quotes stay.
        let close = [b'\\', bytes[start + 1]];
        let inner = start + 2;
        return Some(match bytes[inner..].windows(2).position(|w| w == close) {
            Some(len) => (inner..inner + len, inner + len + 2),
            None => (inner..bytes.len(), bytes.len()),
        });
    }
    let whole_line = is_cookie_header(&bytes[key.clone()]) && get(start) != Some(b'"');
    let end = if whole_line {
        line_end(bytes, start)
    } else {
        value_end(bytes, start)
    };
    Some(match get(start) {
        // Quoted: the quotes stay, so JSON stays JSON.
        Some(q @ (b'"' | b'\'')) if end - start >= 2 && get(end - 1) == Some(q) => {
            (start + 1..end - 1, end)
        }
        _ => (start..end, end),
    })
}

/// A byte of a key (`db.password`, `api-key`, `X_Auth_Token`).
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// `Cookie` and `Set-Cookie`, whose value is every `name=value` pair of the
/// line.
fn is_cookie_header(key: &[u8]) -> bool {
    key.eq_ignore_ascii_case(b"cookie") || key.eq_ignore_ascii_case(b"set-cookie")
}

/// The end of the line `start` is on.
fn line_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| matches!(b, b'\n' | b'\r'))
        .map_or(bytes.len(), |p| start + p)
}

/// Where the value starting at `start` ends.
fn value_end(bytes: &[u8], start: usize) -> usize {
    match bytes.get(start) {
        None => start,
        Some(&q @ (b'"' | b'\'')) => skip_quoted(bytes, start, q),
        Some(b'(' | b'[' | b'{') => group_end(bytes, start),
        Some(_) => {
            let word = word_end(bytes, start);
            // A scheme and its credentials: `Bearer abc`, `Basic dXNlcg==`.
            let scheme = AUTH_SCHEMES
                .iter()
                .any(|s| bytes[start..word].eq_ignore_ascii_case(s.as_bytes()));
            let after = skip_blanks(bytes, word);
            match bytes.get(after) {
                // A struct's `Debug`: `Secret { … }`.
                Some(b'{') if after == word + 1 => group_end(bytes, after),
                // The credentials after the scheme, quoted or not.
                Some(_) if scheme && after > word => value_end(bytes, after),
                _ => word,
            }
        }
    }
}

/// Authorization schemes whose credentials follow after blanks.
const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "digest", "token", "negotiate", "apikey"];

/// The end of an unquoted word starting at `start`, taking in a group it
/// opens (`Some("…")`).
fn word_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'(' | b'[' | b'{' => i = group_end(bytes, i),
            b',' | b';' | b'&' | b' ' | b'\t' | b'\n' | b'\r' | b')' | b']' | b'}' | b'"'
            | b'\'' => break,
            _ => i += 1,
        }
    }
    i
}

/// The end (after its closing bracket) of the bracketed group opening at
/// `open`, skipping quoted strings and nested groups of the same bracket
/// (others are its content); the text's end when it is not closed.
fn group_end(bytes: &[u8], open: usize) -> usize {
    closed_group_end(bytes, open).unwrap_or(bytes.len())
}

/// As [`group_end`]; `None` when the group is not closed.
fn closed_group_end(bytes: &[u8], open: usize) -> Option<usize> {
    let opener = bytes[open];
    let closer = match opener {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    };
    let mut depth = 0usize;
    let mut i = open;
    while let Some(&b) = bytes.get(i) {
        if matches!(b, b'"' | b'\'') {
            i = skip_quoted(bytes, i, b);
            continue;
        }
        if b == opener {
            depth += 1;
        } else if b == closer {
            depth -= 1;
            if depth == 0 {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

/// Before `i`, back over blanks, not past `floor`.
fn skip_blanks_back(bytes: &[u8], mut i: usize, floor: usize) -> usize {
    while i > floor && matches!(bytes[i - 1], b' ' | b'\t') {
        i -= 1;
    }
    i
}

fn skip_blanks(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: &str) {
        let once = inline_secrets(text);
        assert_eq!(once, expected, "{text:?}");
        assert_eq!(inline_secrets(&once), once, "idempotent on {text:?}");
    }

    #[test]
    fn debug_output_of_a_struct_holding_a_credential() {
        check(
            r#"Login { user: "ann", password: "hu\"nter2", remember: true }"#,
            r#"Login { user: "ann", password: "[REDACTED]", remember: true }"#,
        );
        check(
            r#"Db { url: "pg://x", api_token: Some("k-1"), retries: 3 }"#,
            r#"Db { url: "pg://x", api_token: [REDACTED], retries: 3 }"#,
        );
        check(
            "Conf { secret: Secret { inner: [1, 2] }, n: 1 }",
            "Conf { secret: [REDACTED], n: 1 }",
        );
        check(
            "Keys { credentials: [\"a\", \"b\"] }",
            "Keys { credentials: [REDACTED] }",
        );
    }

    #[test]
    fn a_string_holding_json_in_debug_output() {
        check(
            r#"Request { body: "{\"user\":\"ann\",\"password\":\"hu nter2\"}" }"#,
            r#"Request { body: "{\"user\":\"ann\",\"password\":\"[REDACTED]\"}" }"#,
        );
        check(
            r#"Some("{\"api_key\": \"k"#,
            r#"Some("{\"api_key\": \"[REDACTED]"#,
        );
    }

    #[test]
    fn urls_in_free_text() {
        check(
            "error sending request for url (https://app:hunter2@api.example.com/v1)",
            "error sending request for url (https://app:[REDACTED]@api.example.com/v1)",
        );
        check(
            "redis://:hunter2@cache:6379/0 unreachable",
            "redis://:[REDACTED]@cache:6379/0 unreachable",
        );
        check(
            "GET https://maps/json?key=AIzaSyX&address=x failed",
            "GET https://maps/json?key=[REDACTED]&address=x failed",
        );
        check(
            "blob?sv=2020&sig=abc%3D&se=1",
            "blob?sv=2020&sig=[REDACTED]&se=1",
        );
        // The password scan stops where user information cannot go on, so
        // another key's redaction after it cannot make a second pass differ
        // (the `sanitize` fuzz target's find, reduced).
        check("x://u:a{token:c/d}e@f", "x://u:a{token:[REDACTED]}e@f");
        check(
            "q://:$&:apikey=to\0en:&yo=6@h",
            "q://:$&:apikey=[REDACTED]&yo=6@h",
        );
        // A host or user name is not a key, whatever it is called.
        for text in [
            "http://vault-secrets:8200/v1/kv timed out",
            "https://token-svc.prod/x?page=2&zone=eu",
            "https://user:@host/",
        ] {
            assert!(matches!(inline_secrets(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn a_type_named_as_a_credential() {
        check(
            r#"call(ApiToken("k-9"), 3)"#,
            r#"call(ApiToken([REDACTED]), 3)"#,
        );
        check(
            r#"Req { auth: Some(ApiToken { value: "abc" }), n: 1 }"#,
            r#"Req { auth: Some(ApiToken {[REDACTED]}), n: 1 }"#,
        );
        check(r#"Auth::Token { value: "x""#, r#"Auth::Token {[REDACTED]"#);
        // A lower-case call is not a type: `get_token(id)` keeps its argument.
        check("get_token(42) failed", "get_token(42) failed");
    }

    #[test]
    fn key_value_text_json_and_headers() {
        check(
            "login failed user=ann password=hunter2 ip=10.0.0.1",
            "login failed user=ann password=[REDACTED] ip=10.0.0.1",
        );
        check(
            r#"{"user": "ann", "Password" : "p w", "n": 1}"#,
            r#"{"user": "ann", "Password" : "[REDACTED]", "n": 1}"#,
        );
        check("{'api_key': 'k'}", "{'api_key': '[REDACTED]'}");
        check(
            "GET /x?access_token=abc&page=2",
            "GET /x?access_token=[REDACTED]&page=2",
        );
        check(
            "Cookie: SESSION=abc; theme=dark\nAccept: */*",
            "Cookie: [REDACTED]\nAccept: */*",
        );
        check("authorization: Basic dXNlcjpw", "authorization: [REDACTED]");
        check(
            "Authorization: Bearer  abc, next",
            "Authorization: [REDACTED], next",
        );
        check("Authorization: bearer\tabc", "Authorization: [REDACTED]");
        check(
            r#"Authorization: Bearer "a b""#,
            "Authorization: [REDACTED]",
        );
        check("Authorization: Bearer", "Authorization: [REDACTED]");
        // What the URL rules masked stays as they left it.
        check(
            "GET /x?token=?&a=? ;password=*",
            "GET /x?token=?&a=? ;password=*",
        );
    }

    #[test]
    fn text_without_a_credential_value_is_untouched() {
        for text in [
            "",
            "GET /orders/{id}",
            "token expired",
            "password",
            "Token::new(3)",
            "if token == other",
            "password: ",
            "a password:",
            // Empty says something, and nothing is hidden in it.
            r#"Login { password: "" }"#,
        ] {
            let out = inline_secrets(text);
            assert!(matches!(out, Cow::Borrowed(_)), "{text:?} -> {out:?}");
        }
        check(
            "naïve café token=ü✓ done",
            "naïve café token=[REDACTED] done",
        );
    }

    #[test]
    fn unclosed_groups_and_quotes_redact_to_the_end() {
        check(r#"password: "abc"#, r#"password: [REDACTED]"#);
        check("secret: Some((1, ", "secret: [REDACTED]");
        check("Password(abc", "Password([REDACTED]");
    }
}
