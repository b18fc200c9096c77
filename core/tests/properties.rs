//! Property tests, run in CI in a few seconds: the SQL and URL sanitiser
//! (no literal survives, idempotent, never panics) and the inbound trace
//! header parsers (never panic, round-trip what we format, accept only
//! valid ids). `PROPTEST_CASES=100000 cargo test --release -p osprey --test
//! properties` is the long run recorded in `RELIABILITY.md`.

use osprey::collector::sanitize;
use osprey::model::{SpanId, TraceId};
use osprey::names::{self, NameKind};
use osprey::propagation::{format_traceparent, parse_b3, parse_inbound, parse_traceparent};
use proptest::prelude::*;

/// Secrets put in literals: `ZQ` never occurs in the generated
/// identifiers, keywords or punctuation, so finding it in the output means
/// a literal survived.
fn secret() -> impl Strategy<Value = String> {
    "ZQ[A-Za-z0-9 _%@.:/-]{1,12}"
}

/// One piece of a SQL statement: identifiers and keywords carry no digits,
/// so any digit in the output is a surviving number.
fn sql_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-p_]{1,8}".prop_map(|s| format!(" {s} ")),
        prop_oneof![
            Just(" SELECT "),
            Just(" FROM "),
            Just(" WHERE "),
            Just(" AND "),
            Just(" IN "),
            Just(" VALUES "),
            Just(" = "),
            Just(", "),
            Just("("),
            Just(")"),
            Just(" * "),
            Just(" > "),
            Just(" ? "),
            Just(" $id "),
        ]
        .prop_map(str::to_owned),
        // '...' with doubled quotes and backslash escapes inside
        (secret(), any::<bool>()).prop_map(|(s, doubled)| if doubled {
            format!("'{s}''{s}'")
        } else {
            format!("'{s}\\'{s}'")
        }),
        any::<u64>().prop_map(|n| format!(" {n} ")),
        (any::<u32>(), any::<u16>()).prop_map(|(a, b)| format!(" {a}.{b}e3 ")),
        any::<u32>().prop_map(|n| format!(" 0x{n:X} ")),
        (secret(), "[a-z]{0,4}").prop_map(|(s, tag)| format!(" ${tag}${s}${tag}$ ")),
        // a quoted identifier holds no literal and is kept
        "[a-p ]{1,6}".prop_map(|s| format!(" \"{s}\" ")),
    ]
}

fn statement() -> impl Strategy<Value = String> {
    prop::collection::vec(sql_piece(), 1..24).prop_map(|p| p.concat())
}

/// 512 cases per property (a few seconds in CI); `PROPTEST_CASES` overrides.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 512;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_sql_literal_survives(text in statement()) {
        let clean = sanitize::sql(&text);
        prop_assert!(!clean.contains("ZQ"), "{text:?} -> {clean:?}");
        prop_assert!(!clean.bytes().any(|b| b.is_ascii_digit()), "{text:?} -> {clean:?}");
        // and the name interned for it holds none either
        let id = names::intern_as(&text, NameKind::Sql);
        let name = names::resolve(id);
        prop_assert!(!name.contains("ZQ"));
    }

    #[test]
    fn sql_sanitising_is_idempotent(text in prop_oneof![statement(), any::<String>()]) {
        let once = sanitize::sql(&text).into_owned();
        let twice = sanitize::sql(&once).into_owned();
        prop_assert_eq!(once, twice, "input {:?}", text);
    }

    #[test]
    fn sql_sanitising_never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = sanitize::sql(&text);
        let _ = names::clean(&text, NameKind::Sql);
    }

    #[test]
    fn no_query_value_or_id_survives_in_a_url(
        host in "[a-z]{1,10}(\\.[a-z]{2,5})?",
        segments in prop::collection::vec(prop_oneof![
            "[a-z]{1,8}".prop_map(|s| (s, false)),
            any::<u64>().prop_map(|n| (n.to_string(), true)),
        ], 0..6),
        query in prop::collection::vec(("[a-z_]{1,8}", secret()), 0..5),
        fragment in prop::option::of("[a-z]{1,6}"),
    ) {
        let path: String = segments.iter().map(|(s, _)| format!("/{s}")).collect();
        let mut url = format!("https://{host}{path}");
        if !query.is_empty() {
            let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            url = format!("{url}?{}", q.join("&"));
        }
        if let Some(f) = &fragment {
            url = format!("{url}#{f}");
        }
        let masked = sanitize::url(&url);
        prop_assert!(!masked.contains("ZQ"), "{url:?} -> {masked:?}");
        for (k, _) in &query {
            prop_assert!(masked.contains(&format!("{k}=?")), "{url:?} -> {masked:?}");
        }
        let route = sanitize::url_route(&url);
        prop_assert!(!route.contains("ZQ"));
        prop_assert!(!route.bytes().any(|b| b.is_ascii_digit()), "{url:?} -> {route:?}");
        for (s, id) in &segments {
            if !id {
                prop_assert!(route.contains(&format!("/{s}")), "{url:?} -> {route:?}");
            }
        }
    }

    #[test]
    fn url_sanitising_is_idempotent_and_never_panics(text in any::<String>()) {
        let once = sanitize::url(&text).into_owned();
        prop_assert_eq!(&*sanitize::url(&once), &*once);
        let route = sanitize::url_route(&text).into_owned();
        prop_assert_eq!(&*sanitize::url_route(&route), &*route);
        let _ = NameKind::guess(&text);
    }

    #[test]
    fn no_credential_survives_in_debug_output_or_key_value_text(
        keys in prop::collection::vec("[a-z]{1,8}", 0..4),
        secret_key in prop::sample::select(vec![
            "password", "api_token", "Authorization", "client_secret", "x-api-key", "db.passwd",
        ]),
        secret in secret(),
        word in "ZQ[A-Za-z0-9_%@.:/-]{1,12}",
        wrapped in any::<bool>(),
    ) {
        // A struct's `Debug`, as `#[instrument]` records an argument.
        let value = if wrapped { format!("{:?}", Some(&secret)) } else { format!("{secret:?}") };
        let mut fields: Vec<String> = keys.iter().map(|k| format!("{k}: {k:?}")).collect();
        fields.insert(keys.len() / 2, format!("{secret_key}: {value}"));
        let debug = format!("Request {{ {} }}", fields.join(", "));
        // A log line of `key=value` pairs.
        let mut pairs: Vec<String> = keys.iter().map(|k| format!("{k}=1")).collect();
        pairs.insert(keys.len() / 2, format!("{secret_key}={word}"));
        let line = pairs.join(" ");
        for text in [debug, line] {
            let clean = sanitize::inline_secrets(&text);
            prop_assert!(!clean.contains("ZQ"), "{text:?} -> {clean:?}");
            for k in &keys {
                prop_assert!(clean.contains(k.as_str()), "{text:?} -> {clean:?}");
            }
        }
    }

    #[test]
    fn inline_secret_redaction_is_idempotent_and_never_panics(
        text in prop_oneof![
            any::<String>(),
            "(password|Token|set-cookie|ApiSecret|Bearer|://|key|[ :=\"'(){}\\[\\],;&@?/\\\\a-z\n])*",
        ],
    ) {
        let once = sanitize::inline_secrets(&text).into_owned();
        prop_assert_eq!(&*sanitize::inline_secrets(&once), &*once, "input {:?}", text);
    }

    #[test]
    fn header_parsers_never_panic(text in any::<String>()) {
        let _ = parse_traceparent(&text);
        let _ = parse_b3(&text);
        let _ = parse_inbound(&text);
    }

    #[test]
    fn header_parsers_never_panic_on_near_misses(
        text in "[0-9a-fA-F-]{0,70}",
    ) {
        if let Some(p) = parse_traceparent(&text) {
            prop_assert!(p.trace_id.is_valid() && p.span_id.is_valid());
        }
        if let Some(p) = parse_b3(&text) {
            prop_assert!(p.trace_id.is_valid() && p.span_id.is_valid());
        }
    }

    #[test]
    fn traceparent_round_trips(trace in any::<[u8; 16]>(), span in any::<[u8; 8]>(), sampled in any::<bool>()) {
        let (trace, span) = (TraceId(trace), SpanId(span));
        let header = format_traceparent(trace, span, sampled);
        let parsed = parse_traceparent(&header);
        if trace.is_valid() && span.is_valid() {
            let p = parsed.expect("a valid header parses");
            prop_assert_eq!((p.trace_id, p.span_id, p.sampled), (trace, span, sampled));
            prop_assert_eq!(parse_inbound(&header), Some(p));
            // Upper-case hex is not W3C.
            let upper = header.to_uppercase();
            prop_assert_eq!(parse_traceparent(&upper).is_some(), upper == header);
        } else {
            prop_assert!(parsed.is_none(), "all-zero ids are invalid: {}", header);
        }
    }

    #[test]
    fn b3_round_trips(trace in any::<[u8; 16]>(), span in any::<[u8; 8]>(), sampled in any::<bool>(), short in any::<bool>()) {
        let mut trace = TraceId(trace);
        if short {
            trace.0[..8].fill(0);
        }
        let span = SpanId(span);
        let hex = trace.to_hex();
        let trace_text = if short { &hex[16..] } else { &hex[..] };
        let header = format!("{trace_text}-{}-{}", span.to_hex(), if sampled { 1 } else { 0 });
        match parse_b3(&header) {
            Some(p) => prop_assert_eq!((p.trace_id, p.span_id, p.sampled), (trace, span, sampled)),
            None => prop_assert!(!trace.is_valid() || !span.is_valid(), "{}", header),
        }
    }
}
