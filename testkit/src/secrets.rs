//! The secrets scanner: known secrets an end-to-end test plants where
//! applications keep them (a password in a JDBC URL, `Authorization` and
//! `Cookie` headers, bind values, query-string tokens, SQL literals), and
//! checks that none of them appears in any byte that left the process:
//! what a collector received, a store directory, API responses, logs.
//!
//! Every planted value carries a distinctive token (`...PLANTED...`) made of
//! letters and digits only, so percent-encoding, JSON or protobuf escaping
//! cannot hide it; the scan also looks for each token base64-encoded (as a
//! `Basic` credential would be). Files that are gzip streams are scanned
//! decompressed as well.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// The password of [`JDBC_URL`].
pub const JDBC_PASSWORD: &str = "pw7Kq2PLANTEDjdbc";
/// A JDBC URL carrying [`JDBC_PASSWORD`] as a query parameter.
pub const JDBC_URL: &str =
    "jdbc:postgresql://db.internal:5432/app?user=app&password=pw7Kq2PLANTEDjdbc";
/// A JDBC URL carrying [`JDBC_PASSWORD`] SQL Server style (`;password=`).
pub const JDBC_URL_SEMICOLONS: &str =
    "jdbc:sqlserver://db.internal:1433;databaseName=app;user=sa;password=pw7Kq2PLANTEDjdbc";
/// A URL carrying [`JDBC_PASSWORD`] as user information.
pub const URL_WITH_USERINFO: &str = "http://app:pw7Kq2PLANTEDjdbc@inventory.internal:8080/items";
/// The value of the planted `Authorization` header.
pub const AUTHORIZATION: &str = "Bearer tk4Rm9PLANTEDauth";
/// The value of the planted `Cookie` header.
pub const COOKIE: &str = "theme=dark; JSESSIONID=ck8Vx1PLANTEDcookie";
/// A value bound to a prepared statement's parameter.
pub const BIND_VALUE: &str = "bv3Nw6PLANTEDbind";
/// The token in [`QUERY`] and [`URL_WITH_TOKEN`].
pub const QUERY_TOKEN: &str = "qt5Hy0PLANTEDquery";
/// A query string carrying [`QUERY_TOKEN`].
pub const QUERY: &str = "access_token=qt5Hy0PLANTEDquery&page=2";
/// An outgoing URL carrying [`QUERY_TOKEN`] in its query string.
pub const URL_WITH_TOKEN: &str =
    "http://api.internal:8080/v1/items?access_token=qt5Hy0PLANTEDquery&page=2";
/// The string literal in [`SQL`].
pub const SQL_LITERAL: &str = "sl2Jp8PLANTEDsql";
/// A statement with [`SQL_LITERAL`] concatenated in.
pub const SQL: &str = "SELECT id FROM accounts WHERE api_key = 'sl2Jp8PLANTEDsql' AND id = 7";

/// Every planted secret: what it stands for, and the token that must never
/// appear in exported bytes.
pub const ALL: &[(&str, &str)] = &[
    ("JDBC password", "pw7Kq2PLANTEDjdbc"),
    ("Authorization header", "tk4Rm9PLANTEDauth"),
    ("Cookie header", "ck8Vx1PLANTEDcookie"),
    ("bind value", "bv3Nw6PLANTEDbind"),
    ("query-string token", "qt5Hy0PLANTEDquery"),
    ("SQL literal", "sl2Jp8PLANTEDsql"),
];

/// The planted request headers as HTTP/1.1 header lines (each ending in
/// CRLF): `Authorization` and `Cookie`.
pub fn header_lines() -> String {
    format!("Authorization: {AUTHORIZATION}\r\nCookie: {COOKIE}\r\n")
}

/// The secrets found in `bytes`, each as `(what, how)`, `how` being
/// `"plain"` or `"base64"`.
pub fn find(bytes: &[u8]) -> Vec<(&'static str, &'static str)> {
    let mut found = Vec::new();
    for (what, token) in ALL {
        if contains(bytes, token.as_bytes()) {
            found.push((*what, "plain"));
        } else if base64_forms(token)
            .iter()
            .any(|b| contains(bytes, b.as_bytes()))
        {
            found.push((*what, "base64"));
        }
    }
    found
}

/// Panics, naming `place`, the secret and its surroundings, when any
/// planted secret appears in `bytes`.
pub fn assert_none(place: &str, bytes: &[u8]) {
    let found = find(bytes);
    if found.is_empty() {
        return;
    }
    let (what, how) = found[0];
    let token = ALL.iter().find(|(w, _)| *w == what).map_or("", |(_, t)| *t);
    let at = position(bytes, token.as_bytes()).unwrap_or(0);
    let from = at.saturating_sub(80);
    let to = (at + token.len() + 80).min(bytes.len());
    panic!(
        "secret leaked into {place}: {found:?}; the first ({what}, {how}) in context: {:?}",
        String::from_utf8_lossy(&bytes[from..to])
    );
}

/// [`assert_none`] over every file under `dir` (recursively), and over the
/// decompressed contents of gzip files; returns how many bytes were
/// scanned, so a test can check it scanned something.
pub fn assert_none_in_dir(dir: &Path) -> u64 {
    let mut scanned = 0;
    for file in files(dir) {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let place = file.display().to_string();
        assert_none(&place, &bytes);
        scanned += bytes.len() as u64;
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            if GzDecoder::new(&bytes[..])
                .take(1 << 30)
                .read_to_end(&mut plain)
                .is_ok()
            {
                assert_none(&format!("{place} (gunzipped)"), &plain);
            }
        }
    }
    scanned
}

/// Every regular file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    position(haystack, needle).is_some()
}

fn position(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The stable middle of `token`'s base64 encoding at each of the three
/// alignments it can start at inside a longer encoded text.
fn base64_forms(token: &str) -> Vec<String> {
    (0..3)
        .map(|pad| {
            let mut data = vec![b'x'; pad];
            data.extend_from_slice(token.as_bytes());
            let encoded = base64(&data);
            // Drop the characters that mix in the padding before and after.
            let skip = (pad * 4).div_ceil(3) + 1;
            let keep = (token.len() * 4 / 3).saturating_sub(2);
            encoded.chars().skip(skip).take(keep).collect()
        })
        .collect()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_planted_value_carries_its_token() {
        let planted = [
            JDBC_URL,
            JDBC_URL_SEMICOLONS,
            URL_WITH_USERINFO,
            AUTHORIZATION,
            COOKIE,
            BIND_VALUE,
            QUERY,
            URL_WITH_TOKEN,
            SQL,
        ];
        let found: Vec<&str> = planted
            .iter()
            .flat_map(|p| find(p.as_bytes()))
            .map(|(what, _)| what)
            .collect();
        for (what, _) in ALL {
            assert!(found.contains(what), "{what} is never planted");
        }
    }

    #[test]
    fn finds_secrets_plain_and_base64_and_nothing_in_clean_text() {
        assert_eq!(
            find(b"{\"q\":\"a sl2Jp8PLANTEDsql b\"}"),
            [("SQL literal", "plain")]
        );
        for prefix in ["", "u", "us", "use"] {
            let basic = base64(format!("{prefix}:{JDBC_PASSWORD}").as_bytes());
            assert_eq!(
                find(format!("Authorization: Basic {basic}").as_bytes()),
                [("JDBC password", "base64")],
                "{prefix}"
            );
        }
        assert!(find(b"SELECT id FROM accounts WHERE api_key = ? AND id = ?").is_empty());
    }

    #[test]
    #[should_panic(expected = "secret leaked into the test")]
    fn a_leak_fails_the_assertion() {
        assert_none("the test", format!("x {URL_WITH_TOKEN} y").as_bytes());
    }
}
