//! The SQL of every query and the decoding of its `RowBinary` answer.
//! Literals are built by [`lit`] (escaped) or are numbers; nothing from a
//! request reaches a statement otherwise.

use std::sync::Arc;

use osprey::model::{SpanId, TraceId};

use super::ChError;
use super::rowbinary::{RowReader, day_of_ns};
use super::rows::kind_of;
use crate::record::SpanRec;
use crate::storage::{TxnFilter, TxnRow};

/// A string literal, escaped for ClickHouse.
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A `FixedString` literal of raw bytes.
pub fn bytes_lit(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("unhex('{hex}')")
}

/// `toDate(<day>)` of a UNIX time in ns.
pub fn date_of(ns: u64) -> String {
    format!("toDate({})", day_of_ns(ns))
}

/// `toDate(<days>)`, for day numbers.
pub fn date(day: u16) -> String {
    format!("toDate({day})")
}

/// The columns of a [`TxnRow`], in [`read_txn`]'s order.
pub const TXN_COLUMNS: &str = "seq, trace_id, span_id, parent, service, endpoint, start_ns, \
     elapsed_ns, error, client_ip, user_id, http_status, thread, instance, tree_omitted";

/// Reads one row of [`TXN_COLUMNS`].
pub fn read_txn(r: &mut RowReader<'_>) -> Result<TxnRow, ChError> {
    let arc = |s: String| -> Arc<str> { Arc::from(s) };
    Ok(TxnRow {
        seq: r.u64()?,
        trace_id: TraceId(r.fixed()?),
        span_id: SpanId(r.fixed()?),
        parent: r.opt_fixed()?.map(SpanId),
        service: arc(r.string()?),
        endpoint: arc(r.string()?),
        start_ns: r.u64()?,
        elapsed_ns: r.u64()?,
        error: r.bool()?,
        client_ip: r.opt_string()?.map(arc),
        user: r.opt_string()?.map(arc),
        http_status: r.u16()?,
        thread: r.u64()?,
        instance: r.opt_string()?.map(arc),
        tree_omitted: r.bool()?,
    })
}

/// Reads every row of an answer with `each`.
pub fn read_all<T>(
    bytes: &[u8],
    mut each: impl FnMut(&mut RowReader<'_>) -> Result<T, ChError>,
) -> Result<Vec<T>, ChError> {
    let mut r = RowReader::new(bytes);
    let mut out = Vec::new();
    while !r.done() {
        out.push(each(&mut r)?);
    }
    Ok(out)
}

/// The `WHERE` conditions of a transaction filter (`1` when none).
pub fn txn_where(f: &TxnFilter) -> String {
    let mut c: Vec<String> = vec!["1".into()];
    if let Some(x) = f.from_ns {
        c.push(format!("end_ns >= {x}"));
        c.push(format!("day >= {}", date_of(x)));
    }
    if let Some(x) = f.to_ns {
        c.push(format!("end_ns < {x}"));
        c.push(format!("day <= {}", date_of(x)));
    }
    if let Some(x) = f.min_elapsed_ns {
        c.push(format!("elapsed_ns >= {x}"));
    }
    if let Some(x) = f.max_elapsed_ns {
        c.push(format!("elapsed_ns <= {x}"));
    }
    if f.error_only {
        c.push("error = 1".into());
    }
    let eq = |c: &mut Vec<String>, col: &str, v: &Option<String>| {
        if let Some(v) = v {
            c.push(format!("{col} = {}", lit(v)));
        }
    };
    eq(&mut c, "service", &f.service);
    eq(&mut c, "endpoint", &f.endpoint);
    eq(&mut c, "client_ip", &f.client_ip);
    eq(&mut c, "user_id", &f.user);
    eq(&mut c, "instance", &f.instance);
    if let Some(h) = f.http_status {
        c.push(format!("http_status = {h}"));
    }
    if let Some(t) = f.trace_id {
        c.push(format!("trace_id = {}", bytes_lit(&t.0)));
    }
    if let Some(b) = f.before {
        c.push(format!(
            "(end_ns < {e} OR (end_ns = {e} AND seq < {s}))",
            e = b.end_ns,
            s = b.seq
        ));
    }
    c.join(" AND ")
}

/// The columns of a [`SpanRec`], in [`read_span`]'s order.
pub const SPAN_COLUMNS: &str = "trace_id, span_id, parent, service, name, kind, flags, start_ns, \
     end_ns, error, status_message, attributes, exceptions";

/// Reads one row of [`SPAN_COLUMNS`].
pub fn read_span(r: &mut RowReader<'_>) -> Result<SpanRec, ChError> {
    let json = |what: &str, s: String| ChError::Decode(format!("spans.{what}: {s}"));
    Ok(SpanRec {
        trace_id: TraceId(r.fixed()?),
        span_id: SpanId(r.fixed()?),
        parent: r.opt_fixed()?.map(SpanId),
        service: r.string()?,
        name: r.string()?,
        kind: kind_of(r.u8()?),
        flags: u32::try_from(r.u64()?).unwrap_or(0),
        start_ns: r.u64()?,
        end_ns: r.u64()?,
        error: r.bool()?,
        status_message: r.string()?,
        attributes: serde_json::from_slice(r.bytes()?)
            .map_err(|e| json("attributes", e.to_string()))?,
        exceptions: serde_json::from_slice(r.bytes()?)
            .map_err(|e| json("exceptions", e.to_string()))?,
    })
}

/// `day IN (...)` of `days` and the day after each (a transaction ends on
/// the day its trace's spans start, or the next).
pub fn days_in(days: &[u16]) -> String {
    let mut all: Vec<u16> = days
        .iter()
        .flat_map(|d| [*d, d.saturating_add(1)])
        .collect();
    all.sort_unstable();
    all.dedup();
    let list: Vec<String> = all.into_iter().map(date).collect();
    format!("day IN ({})", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_cannot_break_out_of_their_quotes() {
        assert_eq!(lit("a'b\\c"), "'a\\'b\\\\c'");
        assert_eq!(bytes_lit(&[0, 255]), "unhex('00ff')");
        let f = TxnFilter {
            service: Some("x' OR 1=1 --".into()),
            ..TxnFilter::default()
        };
        assert_eq!(txn_where(&f), "1 AND service = 'x\\' OR 1=1 --'");
    }
}
