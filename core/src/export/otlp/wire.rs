//! The OTLP traces request written straight from the records as protobuf
//! bytes, without building the `opentelemetry-proto` message tree first:
//! no `String` or `Vec` per span, attribute or event, which made the
//! export thread allocation-bound under load (perf: malloc, free and
//! copies around prost's encoder). [`super::encode`] keeps the mapping
//! (names, attributes, flags, events, status) written with the
//! `opentelemetry-proto` types as the reference; tests check that this
//! module produces exactly its bytes, so a change there that is not
//! mirrored here fails.
//!
//! Nested messages need their length before their bytes: spans are written
//! into a reused scratch buffer and copied behind their length; attributes,
//! events and status are small and sized arithmetically.

use prost::Message;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint};

use super::encode;
use crate::model::{
    ATTR_BUSY_NS, ATTR_TREE, AttrValue, Attribute, ErrorInfo, ExportBatch, StepRecord,
    TREE_OMITTED, TransactionRecord, busy_value,
};
use crate::names::NameMirror;

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// Longest varint: a length prefix takes at most this many bytes.
const MAX_VARINT_LEN: usize = 10;

/// Which transactions of a batch become spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spans {
    /// Those that kept their call tree: a span per transaction and step.
    Trees,
    /// Those that did not: a summary span each (the root alone).
    Summaries,
    /// Both.
    All,
}

impl Spans {
    /// Whether `txn` is written.
    pub(crate) fn takes(self, txn: &TransactionRecord) -> bool {
        match self {
            Self::Trees => txn.sampled,
            Self::Summaries => !txn.sampled,
            Self::All => true,
        }
    }
}

/// Writes the traces request for the `which` transactions of `batch` into
/// `out` (cleared first) and returns where in `out` the request starts;
/// `None` (and `out` empty) when there are none.
///
/// The spans are written once, straight into `out`, after room for the
/// request's header: the header's length prefixes depend on the spans'
/// total size, so it is written last, right-aligned against the spans. A
/// reused `out` then costs neither a copy nor an allocation per batch.
///
/// `names` must have been synced after the batch was built.
pub(crate) fn encode_traces(
    batch: &ExportBatch,
    names: &NameMirror,
    which: Spans,
    out: &mut Vec<u8>,
) -> Option<usize> {
    out.clear();
    let resource = encode::resource(&batch.resource).encode_to_vec();
    let scope = encode::scope().encode_to_vec();
    let room = 2 * (1 + MAX_VARINT_LEN) + field_len(resource.len()) + field_len(scope.len());
    out.resize(room, 0);
    for txn in batch.transactions.iter().filter(|t| which.takes(t)) {
        field_with(2, out, |out| root_span(names, txn, out));
        for step in &txn.steps {
            field_with(2, out, |out| step_span(names, txn, step, out));
        }
    }
    let spans_len = out.len() - room;
    if spans_len == 0 {
        out.clear();
        return None;
    }
    let scope_spans_len = field_len(scope.len()) + spans_len;
    let resource_spans_len = field_len(resource.len()) + field_len(scope_spans_len);
    let mut header = Vec::with_capacity(room);
    // ExportTraceServiceRequest.resource_spans (1)
    encode_key(1, wire_type(LEN), &mut header);
    encode_varint(resource_spans_len as u64, &mut header);
    // ResourceSpans.resource (1), ResourceSpans.scope_spans (2)
    field_bytes(1, &resource, &mut header);
    encode_key(2, wire_type(LEN), &mut header);
    encode_varint(scope_spans_len as u64, &mut header);
    // ScopeSpans.scope (1); ScopeSpans.spans (2) follow, already framed
    field_bytes(1, &scope, &mut header);
    let start = room - header.len();
    out[start..room].copy_from_slice(&header);
    Some(start)
}

/// Mirrors `encode::root_span`.
fn root_span(names: &NameMirror, txn: &TransactionRecord, out: &mut Vec<u8>) {
    let end = txn.end_unix_ns();
    let flags = encode::root_flags(txn);
    field_bytes(1, &txn.trace_id.0, out);
    field_bytes(2, &txn.span_id.0, out);
    if let Some(parent) = txn.parent_span_id {
        field_bytes(4, &parent.0, out);
    }
    field_bytes(5, names.get(txn.name).as_bytes(), out);
    field_varint(6, encode::span_kind(txn.kind) as i32 as u64, out);
    field_fixed64(7, txn.start_unix_ns, out);
    field_fixed64(8, end, out);
    attributes(names, &txn.attributes, out);
    busy(txn.busy_ns, out);
    if txn.dropped_steps > 0 {
        key_value(
            "osprey.dropped_steps",
            &AttrValue::Int(i64::from(txn.dropped_steps)),
            out,
        );
    }
    if txn.repaired {
        key_value("osprey.repaired", &AttrValue::Bool(true), out);
    }
    if txn.thread_id != 0 {
        let id = i64::try_from(txn.thread_id).unwrap_or(i64::MAX);
        key_value("thread.id", &AttrValue::Int(id), out);
    }
    if !txn.sampled {
        key_str(ATTR_TREE, TREE_OMITTED, out);
    }
    error_parts(txn.error.as_ref(), end, names, &txn.attributes, out);
    field_fixed32(16, flags, out);
}

/// Mirrors `encode::step_span`.
fn step_span(names: &NameMirror, txn: &TransactionRecord, step: &StepRecord, out: &mut Vec<u8>) {
    let parent = txn.parent_span_id_of(step);
    let start = txn.start_unix_ns.saturating_add(step.start_offset_ns);
    let end = start.saturating_add(step.elapsed_ns);
    field_bytes(1, &txn.trace_id.0, out);
    field_bytes(2, &step.span_id.0, out);
    field_bytes(4, &parent.0, out);
    field_bytes(5, names.get(step.name).as_bytes(), out);
    field_varint(
        6,
        encode::span_kind(step.kind.span_kind()) as i32 as u64,
        out,
    );
    field_fixed64(7, start, out);
    field_fixed64(8, end, out);
    attributes(names, &step.attributes, out);
    busy(step.busy_ns, out);
    if let Some(key) = step.implied_statement_key() {
        key_str(key, names.get(step.name), out);
    }
    if step.repaired {
        key_value("osprey.repaired", &AttrValue::Bool(true), out);
    }
    error_parts(step.error.as_deref(), end, names, &step.attributes, out);
    field_fixed32(16, encode::FLAGS_SAMPLED_HAS_IS_REMOTE, out);
}

/// The busy time of async work as Span.attributes (9), when it has one.
fn busy(busy_ns: Option<u64>, out: &mut Vec<u8>) {
    if let Some(ns) = busy_ns {
        key_value(ATTR_BUSY_NS, &busy_value(ns), out);
    }
}

/// Span.links (13): the `follows_from` links among `attrs`
/// ([`encode::link_of`]).
fn links(names: &NameMirror, attrs: &[Attribute], out: &mut Vec<u8>) {
    for a in attrs {
        let Some(link) = encode::link_of(names.get(a.key), &a.value) else {
            continue;
        };
        field_with(13, out, |out| {
            field_bytes(1, &link.trace_id.0, out);
            field_bytes(2, &link.span_id.0, out);
            field_fixed32(6, encode::link_flags(&link), out);
        });
    }
}

/// Span.events (11): the `exception` event; Span.links (13); Span.status
/// (15) — in field order, as prost writes them.
fn error_parts(
    error: Option<&ErrorInfo>,
    at_unix_ns: u64,
    names: &NameMirror,
    attrs: &[Attribute],
    out: &mut Vec<u8>,
) {
    let Some(error) = error else {
        links(names, attrs, out);
        return;
    };
    let fields = [
        ("exception.type", error.kind.as_str()),
        ("exception.message", error.message.as_str()),
        ("exception.stacktrace", error.stack.as_str()),
    ];
    let present = || fields.into_iter().filter(|(_, v)| !v.is_empty());
    let name = "exception";
    let event_len = 9
        + field_len(name.len())
        + present()
            .map(|(k, v)| field_len(key_value_len(k, &str_len(v))))
            .sum::<usize>();
    encode_key(11, wire_type(LEN), out);
    encode_varint(event_len as u64, out);
    field_fixed64(1, at_unix_ns, out);
    field_bytes(2, name.as_bytes(), out);
    for (k, v) in present() {
        encode_key(3, wire_type(LEN), out);
        encode_varint(key_value_len(k, &str_len(v)) as u64, out);
        field_bytes(1, k.as_bytes(), out);
        encode_key(2, wire_type(LEN), out);
        encode_varint(str_len(v) as u64, out);
        field_bytes(1, v.as_bytes(), out);
    }
    links(names, attrs, out);
    let message = encode::status_message(error);
    let status_len = if message.is_empty() {
        0
    } else {
        field_len(message.len())
    } + 2;
    encode_key(15, wire_type(LEN), out);
    encode_varint(status_len as u64, out);
    if !message.is_empty() {
        field_bytes(2, message.as_bytes(), out);
    }
    field_varint(
        3,
        opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error as i32 as u64,
        out,
    );
}

/// Span.attributes (9), one KeyValue each.
fn attributes(names: &NameMirror, attrs: &[Attribute], out: &mut Vec<u8>) {
    for a in attrs {
        let key = names.get(a.key);
        if encode::link_of(key, &a.value).is_none() {
            key_value(key, &a.value, out);
        }
    }
}

/// One KeyValue as Span.attributes (9).
fn key_value(key: &str, value: &AttrValue, out: &mut Vec<u8>) {
    key_value_head(key, any_value_len(value), out);
    match value {
        AttrValue::Str(s) => str_value(s, out),
        AttrValue::Bool(b) => {
            encode_key(2, wire_type(VARINT), out);
            encode_varint(u64::from(*b), out);
        }
        AttrValue::Int(i) => {
            encode_key(3, wire_type(VARINT), out);
            encode_varint(*i as u64, out);
        }
        AttrValue::Float(f) => {
            encode_key(4, wire_type(FIXED64), out);
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
}

/// One KeyValue with a string value as Span.attributes (9), from a borrowed
/// string.
fn key_str(key: &str, value: &str, out: &mut Vec<u8>) {
    key_value_head(key, str_len(value), out);
    str_value(value, out);
}

/// A KeyValue's framing and key, up to the AnyValue body of `value_len`
/// bytes, which the caller writes next.
fn key_value_head(key: &str, value_len: usize, out: &mut Vec<u8>) {
    encode_key(9, wire_type(LEN), out);
    encode_varint(key_value_len(key, &value_len) as u64, out);
    field_bytes(1, key.as_bytes(), out);
    encode_key(2, wire_type(LEN), out);
    encode_varint(value_len as u64, out);
}

/// AnyValue.string_value (1); a oneof member is written even when empty.
fn str_value(s: &str, out: &mut Vec<u8>) {
    encode_key(1, wire_type(LEN), out);
    encode_varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// Bytes of a KeyValue body: key (1) and value (2); `value_len` is the
/// AnyValue body's length.
fn key_value_len(key: &str, value_len: &usize) -> usize {
    (if key.is_empty() {
        0
    } else {
        field_len(key.len())
    }) + field_len(*value_len)
}

/// Bytes of an AnyValue body. A oneof member is written even when it holds
/// its type's default value.
fn any_value_len(value: &AttrValue) -> usize {
    match value {
        AttrValue::Str(s) => str_len(s),
        AttrValue::Bool(_) => 2,
        AttrValue::Int(i) => 1 + encoded_len_varint(*i as u64),
        AttrValue::Float(_) => 9,
    }
}

/// Bytes of an AnyValue holding the string `s`.
fn str_len(s: &str) -> usize {
    1 + encoded_len_varint(s.len() as u64) + s.len()
}

/// Bytes of a length-delimited field with a one-byte key and `len` bytes.
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn wire_type(w: u32) -> prost::encoding::WireType {
    match w {
        VARINT => prost::encoding::WireType::Varint,
        FIXED64 => prost::encoding::WireType::SixtyFourBit,
        LEN => prost::encoding::WireType::LengthDelimited,
        _ => prost::encoding::WireType::ThirtyTwoBit,
    }
}

/// A length-delimited field (a nested message) whose body `write` appends
/// straight to `out`. One byte is kept for the length; a body of 128 bytes
/// or more, whose length takes more, is moved along once. Cheaper than
/// writing the body into a scratch buffer and copying it, since most spans
/// are short.
fn field_with(tag: u32, out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    encode_key(tag, wire_type(LEN), out);
    let at = out.len();
    out.push(0);
    write(out);
    let mut len = out.len() - at - 1;
    let mut prefix = [0u8; MAX_VARINT_LEN];
    let mut used = 0;
    loop {
        let low = (len & 0x7f) as u8;
        len >>= 7;
        prefix[used] = if len == 0 { low } else { low | 0x80 };
        used += 1;
        if len == 0 {
            break;
        }
    }
    if used > 1 {
        out.splice(at + 1..at + 1, prefix[1..used].iter().copied());
    }
    out[at..at + used].copy_from_slice(&prefix[..used]);
}

/// A length-delimited field; omitted when empty (proto3 default).
fn field_bytes(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    encode_key(tag, wire_type(LEN), out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A varint field; omitted when 0.
fn field_varint(tag: u32, v: u64, out: &mut Vec<u8>) {
    if v != 0 {
        encode_key(tag, wire_type(VARINT), out);
        encode_varint(v, out);
    }
}

/// A fixed64 field; omitted when 0.
fn field_fixed64(tag: u32, v: u64, out: &mut Vec<u8>) {
    if v != 0 {
        encode_key(tag, wire_type(FIXED64), out);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A fixed32 field; omitted when 0.
fn field_fixed32(tag: u32, v: u32, out: &mut Vec<u8>) {
    if v != 0 {
        encode_key(tag, wire_type(FIXED32), out);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    use super::*;
    use crate::model::{Resource, SpanId, SpanKind, StepKind, TraceId};
    use crate::names::intern;

    fn step(id: u8, parent: Option<u32>, kind: StepKind, name: &str) -> StepRecord {
        StepRecord {
            span_id: SpanId([id; 8]),
            parent,
            depth: if parent.is_some() { 2 } else { 1 },
            kind,
            name: intern(name),
            start_offset_ns: u64::from(id) * 1_000,
            elapsed_ns: 700,
            busy_ns: None,
            error: None,
            attributes: Vec::new(),
            repaired: false,
        }
    }

    fn mirror() -> NameMirror {
        let mut names = NameMirror::default();
        names.sync();
        names
    }

    fn attr(key: &str, value: AttrValue) -> Attribute {
        Attribute {
            key: intern(key),
            value,
        }
    }

    const LINK: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const LINK_UNSAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00";

    /// Every shape the mapping has: remote parent or none, attributes of
    /// each type (empty string, negative and large integers, false), errors
    /// with and without message, repaired and dropped steps, no thread id,
    /// an unsampled transaction, long names (multi-byte lengths).
    fn batch() -> ExportBatch {
        let mut sql = step(
            2,
            Some(0),
            StepKind::Sql,
            "SELECT name FROM item WHERE id = ?",
        );
        sql.error = Some(Box::new(ErrorInfo {
            kind: "SQLException".into(),
            message: "deadlock".into(),
            stack: "at Dao.load\nat Svc.run".into(),
        }));
        sql.attributes = vec![
            attr("db.system", AttrValue::from("h2")),
            attr("db.rows", AttrValue::Int(-3)),
            attr("empty", AttrValue::from("")),
            attr("ratio", AttrValue::Float(0.25)),
            attr("flag", AttrValue::Bool(false)),
            attr("", AttrValue::Int(0)),
            attr(crate::model::ATTR_LINK, AttrValue::from(LINK_UNSAMPLED)),
        ];
        sql.repaired = true;
        let mut load = step(3, None, StepKind::Method, "load");
        load.busy_ns = Some(1_234);
        load.attributes = vec![
            attr(crate::model::ATTR_LINK, AttrValue::from(LINK)),
            // Not a traceparent: stays an attribute.
            attr(
                crate::model::ATTR_LINK,
                AttrValue::from("not-a-traceparent"),
            ),
        ];
        let mut own_text = step(6, Some(0), StepKind::Sql, "CALL audit(?)");
        own_text.attributes = vec![attr("db.query.text", AttrValue::from("CALL audit(?)"))];
        let mut batch_op = step(8, Some(0), StepKind::Sql, "BATCH");
        batch_op.attributes = vec![attr("db.operation.name", AttrValue::from("BATCH"))];
        let mut http = step(4, Some(99), StepKind::HttpCall, &"GET /long".repeat(40));
        http.error = Some(Box::new(ErrorInfo {
            kind: "HTTP 500".into(),
            message: String::new(),
            stack: String::new(),
        }));
        let txn = TransactionRecord {
            trace_id: TraceId([0xab; 16]),
            span_id: SpanId([1; 8]),
            parent_span_id: Some(SpanId([9; 8])),
            kind: SpanKind::Server,
            name: intern("GET /orders"),
            start_unix_ns: 1_700_000_000_000_000_000,
            elapsed_ns: 10_000,
            busy_ns: Some(9_000),
            error: Some(ErrorInfo {
                kind: "IllegalStateException".into(),
                message: "kaboom".into(),
                stack: "x".repeat(300),
            }),
            attributes: vec![
                attr("http.request.method", AttrValue::from("GET")),
                attr("http.response.status_code", AttrValue::Int(500)),
                attr("big", AttrValue::Int(i64::MAX)),
                attr("yes", AttrValue::Bool(true)),
                attr(crate::model::ATTR_LINK, AttrValue::from(LINK)),
            ],
            steps: vec![load, sql, http, own_text, batch_op],
            dropped_steps: 2,
            repaired: true,
            sampled: true,
            thread_id: 77,
        };
        let plain = TransactionRecord {
            span_id: SpanId([7; 8]),
            parent_span_id: None,
            kind: SpanKind::Internal,
            error: None,
            attributes: Vec::new(),
            steps: (10..200)
                .map(|i| step(i, None, StepKind::Method, "m"))
                .collect(),
            dropped_steps: 0,
            repaired: false,
            thread_id: 0,
            ..txn.clone()
        };
        let unsampled = TransactionRecord {
            sampled: false,
            steps: Vec::new(),
            span_id: SpanId([5; 8]),
            ..txn.clone()
        };
        ExportBatch {
            resource: Arc::new(Resource {
                service_name: "svc".into(),
                attributes: vec![("host.name".into(), AttrValue::from("h1"))],
            }),
            transactions: vec![txn, unsampled, plain],
            ..ExportBatch::default()
        }
    }

    /// Every span of [`batch`] as the collector decodes them.
    fn sent_spans() -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
        let mut out = Vec::new();
        let start = encode_traces(&batch(), &mirror(), Spans::All, &mut out).unwrap();
        let mut request = ExportTraceServiceRequest::decode(&out[start..]).unwrap();
        std::mem::take(&mut request.resource_spans[0].scope_spans[0].spans)
    }

    #[test]
    fn busy_times_are_sent_as_the_busy_attribute() {
        let spans = sent_spans();
        let busy = |id: u8| {
            let span = spans.iter().find(|s| s.span_id == [id; 8]).unwrap();
            let found: Vec<_> = span
                .attributes
                .iter()
                .filter(|kv| kv.key == crate::model::ATTR_BUSY_NS)
                .map(|kv| kv.value.clone().unwrap().value.unwrap())
                .collect();
            found
        };
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        assert_eq!(busy(1), [Value::IntValue(9_000)], "the transaction's");
        assert_eq!(busy(3), [Value::IntValue(1_234)], "an async step's");
        assert!(busy(2).is_empty(), "a synchronous step has none");
    }

    #[test]
    fn follows_from_links_are_span_links_not_attributes() {
        let spans = sent_spans();
        let by_id = |id: u8| spans.iter().find(|s| s.span_id == [id; 8]).unwrap();
        let links = |id: u8| -> Vec<(String, String, u32)> {
            by_id(id)
                .links
                .iter()
                .map(|l| {
                    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect();
                    (hex(&l.trace_id), hex(&l.span_id), l.flags)
                })
                .collect()
        };
        let trace = "0af7651916cd43dd8448eb211c80319c".to_owned();
        let sampled = (trace.clone(), "b7ad6b7169203331".to_owned(), 0x101);
        assert_eq!(
            links(1),
            std::slice::from_ref(&sampled),
            "the transaction's link"
        );
        assert_eq!(links(3), [sampled], "a step's link");
        assert_eq!(
            links(2),
            [(trace, "00f067aa0ba902b7".to_owned(), 0x100)],
            "an unsampled link, on a failed step"
        );
        let link_values = |id: u8| -> Vec<String> {
            by_id(id)
                .attributes
                .iter()
                .filter(|kv| kv.key == crate::model::ATTR_LINK)
                .map(|kv| format!("{:?}", kv.value))
                .collect()
        };
        assert!(link_values(1).is_empty());
        assert!(link_values(2).is_empty());
        let kept = link_values(3);
        assert_eq!(kept.len(), 1);
        assert!(kept[0].contains("not-a-traceparent"));
    }

    #[test]
    fn writes_exactly_the_reference_encoding() {
        let batch = batch();
        let reference = encode::traces_request(&batch, Spans::All)
            .unwrap()
            .encode_to_vec();
        let mut out = vec![7; 3];
        let start = encode_traces(&batch, &mirror(), Spans::All, &mut out).expect("spans written");
        let wire = &out[start..];
        assert_eq!(wire.len(), reference.len());
        assert!(wire == reference, "bytes differ from prost's encoding");
        // A reused buffer gives the same bytes.
        assert_eq!(
            encode_traces(&batch, &mirror(), Spans::All, &mut out),
            Some(start)
        );
        assert!(out[start..] == reference);
    }

    #[test]
    fn spans_past_two_length_bytes_are_framed_like_prost() {
        let mut batch = batch();
        let big = "y".repeat(20_000); // a span body over 16 383 bytes: 3-byte length
        batch.transactions[0]
            .attributes
            .push(attr("big", AttrValue::from(big.as_str())));
        let reference = encode::traces_request(&batch, Spans::All)
            .unwrap()
            .encode_to_vec();
        let mut out = Vec::new();
        let start = encode_traces(&batch, &mirror(), Spans::All, &mut out).expect("spans written");
        assert!(
            out[start..] == reference,
            "bytes differ from prost's encoding"
        );
    }

    #[test]
    fn a_sql_step_without_statement_attribute_exports_its_name_as_statement() {
        let batch = batch();
        let mut out = Vec::new();
        let start = encode_traces(&batch, &mirror(), Spans::All, &mut out).expect("spans written");
        let request = ExportTraceServiceRequest::decode(&out[start..]).expect("decodes");
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        let statements = |name: &str| -> Vec<(String, String)> {
            let span = spans.iter().find(|s| s.name == name).expect(name);
            span.attributes
                .iter()
                .filter(|kv| {
                    kv.key.starts_with("db.") && kv.key != "db.system" && kv.key != "db.rows"
                })
                .map(|kv| (kv.key.clone(), format!("{:?}", kv.value)))
                .collect()
        };
        let implied = statements("SELECT name FROM item WHERE id = ?");
        assert_eq!(implied.len(), 1, "{implied:?}");
        assert_eq!(implied[0].0, "db.statement");
        assert!(
            implied[0].1.contains("SELECT name FROM item WHERE id = ?"),
            "{implied:?}"
        );
        let own = statements("CALL audit(?)");
        assert_eq!(own.len(), 1, "its own text only: {own:?}");
        assert_eq!(own[0].0, "db.query.text");
        let batch = statements("BATCH");
        assert_eq!(batch.len(), 1, "its operation only: {batch:?}");
        assert_eq!(batch[0].0, "db.operation.name");
        let method = statements("load");
        assert!(method.is_empty(), "{method:?}");
    }

    #[test]
    fn a_batch_without_trees_writes_no_trees() {
        let mut batch = batch();
        batch
            .transactions
            .iter_mut()
            .for_each(|t| t.sampled = false);
        let mut wire = vec![1, 2, 3];
        assert_eq!(
            encode_traces(&batch, &mirror(), Spans::Trees, &mut wire),
            None
        );
        assert!(wire.is_empty());
        assert!(encode::traces_request(&batch, Spans::Trees).is_none());
        batch.transactions.clear();
        assert_eq!(
            encode_traces(&batch, &mirror(), Spans::All, &mut wire),
            None
        );
    }

    #[test]
    fn each_selection_matches_the_reference_and_summaries_are_marked_roots() {
        let batch = batch();
        let mut out = Vec::new();
        for which in [Spans::Trees, Spans::Summaries, Spans::All] {
            let reference = encode::traces_request(&batch, which)
                .unwrap()
                .encode_to_vec();
            let start = encode_traces(&batch, &mirror(), which, &mut out).unwrap();
            assert!(out[start..] == reference, "{which:?} differs from prost's");
        }
        let start = encode_traces(&batch, &mirror(), Spans::Summaries, &mut out).unwrap();
        let request = ExportTraceServiceRequest::decode(&out[start..]).unwrap();
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 1, "the one tree-less transaction, root only");
        let s = &spans[0];
        assert_eq!(s.span_id, vec![5; 8]);
        assert_eq!(s.name, "GET /orders");
        assert_eq!(s.flags & 1, 0, "not flagged sampled");
        let text = |k: &str| {
            s.attributes
                .iter()
                .find(|kv| kv.key == k)
                .map(|kv| format!("{:?}", kv.value))
        };
        assert!(text(ATTR_TREE).unwrap().contains(TREE_OMITTED));
        assert!(text("http.response.status_code").unwrap().contains("500"));
        assert!(text("thread.id").unwrap().contains("77"));
        assert_eq!(s.status.as_ref().map(|st| st.code), Some(2));
        let trees = encode_traces(&batch, &mirror(), Spans::Trees, &mut out).unwrap();
        let request = ExportTraceServiceRequest::decode(&out[trees..]).unwrap();
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        assert!(spans.iter().all(|s| s.span_id != vec![5; 8]));
        assert!(
            spans
                .iter()
                .all(|s| !s.attributes.iter().any(|kv| kv.key == ATTR_TREE))
        );
    }
}
