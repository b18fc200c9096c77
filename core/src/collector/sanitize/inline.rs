//! Credentials written inside free text: a struct's `Debug` output (what
//! `#[instrument]` records for an argument), a log-style `key=value`
//! message, a JSON or map literal, a header line. The value after a key
//! that names a credential ([`is_secret_key`]) becomes [`REDACTED`].

use std::borrow::Cow;

#[cfg(doc)]
use super::is_secret_key;
use super::{REDACTED, SECRET_KEY_PARTS, skip_quoted};

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
    // Most text has no separator a key could precede: one vectorised pass.
    for at in memchr::memchr3_iter(b':', b'=', b'(', bytes) {
        if at < next {
            continue;
        }
        let Some(key) = key_before(bytes, at, next) else {
            continue;
        };
        if !mentions_a_secret(&bytes[key.clone()]) {
            continue;
        }
        let Some((value, end)) = value_after(bytes, key.start, key.end) else {
            continue;
        };
        next = end;
        // Masked already, by the URL rules (`token=?`, `;password=*`).
        if matches!(&text[value.clone()], "?" | "*") {
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

/// The key that the separator at `at` (`:`, `=` or `(`) follows, starting
/// at `floor` or later: for `:` and `=`, a run of key bytes, then perhaps
/// the closing quote of a quoted key (`"password":`), then blanks; for `(`,
/// a type name right before it (`ApiToken(`).
fn key_before(bytes: &[u8], at: usize, floor: usize) -> Option<std::ops::Range<usize>> {
    let mut end = at;
    let mut quote = None;
    if bytes[at] != b'(' {
        while end > floor && matches!(bytes[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        if end > floor && matches!(bytes[end - 1], b'"' | b'\'') {
            quote = Some(bytes[end - 1]);
            end -= 1;
        }
    }
    let mut start = end;
    while start > floor && is_key_byte(bytes[start - 1]) {
        start -= 1;
    }
    let opened = |q| start > 0 && bytes[start - 1] == q;
    let typed = bytes[at] != b'(' || bytes[start].is_ascii_uppercase();
    (start < end && quote.is_none_or(opened) && typed).then_some(start..end)
}

/// True when some credential fragment occurs in `bytes`, in any case: what
/// [`is_secret_key`] says of a key, without its lower-case copy.
fn mentions_a_secret(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| {
        STARTS_A_PART[usize::from(b)]
            && SECRET_KEY_PARTS.iter().any(|part| {
                let part = part.as_bytes();
                part[0] == b.to_ascii_lowercase()
                    && bytes.len() - i >= part.len()
                    && bytes[i..i + part.len()].eq_ignore_ascii_case(part)
            })
    })
}

/// The bytes a credential fragment starts with, in either case.
static STARTS_A_PART: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < SECRET_KEY_PARTS.len() {
        let first = SECRET_KEY_PARTS[i].as_bytes()[0];
        table[first as usize] = true;
        table[first.to_ascii_uppercase() as usize] = true;
        i += 1;
    }
    table
};

/// A byte of a key (`db.password`, `api-key`, `X_Auth_Token`).
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The byte range of the value that the key at `key_start..key_end`
/// introduces (what is replaced), and where scanning goes on; `None` when
/// the key introduces no value.
fn value_after(
    bytes: &[u8],
    key_start: usize,
    key_end: usize,
) -> Option<(std::ops::Range<usize>, usize)> {
    let at = |i: usize| bytes.get(i).copied();
    // A type wrapping its value: `ApiToken("k")`, `Password(Secret)`.
    if at(key_end) == Some(b'(') && bytes[key_start].is_ascii_uppercase() {
        // Unclosed: to the end.
        let (inner_end, close) = match closed_group_end(bytes, key_end) {
            Some(close) => (close - 1, close),
            None => (bytes.len(), bytes.len()),
        };
        let inner = key_end + 1..inner_end;
        return (!inner.is_empty()).then_some((inner, close));
    }
    let mut i = key_end;
    // The closing quote of a JSON or map key: `"password": "…"`.
    if matches!(at(i), Some(b'"' | b'\'')) && key_start > 0 && at(key_start - 1) == at(i) {
        i += 1;
    }
    i = skip_blanks(bytes, i);
    let separator = at(i)?;
    // `::` is a path (`Token::new`), `==` a comparison.
    if !matches!(separator, b':' | b'=') || at(i + 1) == Some(separator) {
        return None;
    }
    let start = skip_blanks(bytes, i + 1);
    let whole_line = is_cookie_header(&bytes[key_start..key_end]) && at(start) != Some(b'"');
    let end = if whole_line {
        line_end(bytes, start)
    } else {
        value_end(bytes, start)
    };
    if end == start {
        return None;
    }
    Some(match at(start) {
        // Quoted: the quotes stay, so JSON stays JSON.
        Some(q @ (b'"' | b'\'')) if end - start >= 2 && at(end - 1) == Some(q) => {
            (start + 1..end - 1, end)
        }
        _ => (start..end, end),
    })
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
            match bytes.get(word..word + 2) {
                // A struct's `Debug`: `Secret { … }`.
                Some(b" {") => group_end(bytes, word + 1),
                Some([b' ', _]) if scheme => word_end(bytes, word + 1),
                _ => word,
            }
        }
    }
}

/// Authorization schemes whose credentials follow after a space.
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
    fn a_key_names_a_credential_as_an_attribute_key_would() {
        for key in [
            "password",
            "X-Api-Key",
            "db.PASSWD",
            "tokens",
            "user",
            "pass",
            "",
            "Ünïcode",
        ] {
            assert_eq!(
                mentions_a_secret(key.as_bytes()),
                super::super::is_secret_key(key),
                "{key}"
            );
        }
    }

    #[test]
    fn a_newtype_named_as_a_credential() {
        check(
            r#"call(ApiToken("k-9"), 3)"#,
            r#"call(ApiToken([REDACTED]), 3)"#,
        );
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
