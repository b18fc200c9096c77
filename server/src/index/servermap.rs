//! Outgoing calls (CLIENT spans) and the server-map edges built from them.
//!
//! A CLIENT span is a call from its service to: another service, when a
//! transaction root of another service names it as parent (whenever that
//! arrives); else a database (`db.system`; named by `db.namespace`,
//! `db.name` or `server.address`); else an external host (`server.address`,
//! or the host of `url.full` / `http.url`). Calls with none of these and no
//! callee service are left out.

use crate::storage::TargetKind;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use osprey::model::{SpanId, TraceId};

use crate::record::SpanRec;
use crate::storage::disk::agg::EdgeAgg;

const NS_PER_S: u64 = 1_000_000_000;

struct Call {
    end_ns: u64,
    trace: TraceId,
    span: SpanId,
    caller: Arc<str>,
    target: Arc<str>,
    kind: TargetKind,
    elapsed_ns: u64,
    error: bool,
}

pub(super) struct EdgeIndex {
    cap: usize,
    /// Calls in arrival order; `calls[i]` has sequence `first_seq + i`.
    calls: VecDeque<Call>,
    first_seq: u64,
    /// Sequence numbers of the calls by end second.
    by_end_second: BTreeMap<u64, Vec<u64>>,
    callee: HashMap<(TraceId, SpanId), Arc<str>>,
    callee_order: VecDeque<(TraceId, SpanId)>,
    targets: HashSet<Arc<str>>,
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    (!host.is_empty()).then(|| host.to_owned())
}

/// Where a CLIENT span `s` calls, before any callee service is known: a
/// database (`db.system`, named by `db.namespace`, `db.name` or
/// `server.address`), else an external host (`server.address`, or the
/// host of `url.full` / `http.url`), else unknown (empty name).
pub fn call_target(s: &SpanRec) -> (String, TargetKind) {
    if let Some(system) = s.attr_text("db.system") {
        let name = s
            .attr_text("db.namespace")
            .or_else(|| s.attr_text("db.name"))
            .or_else(|| s.attr_text("server.address"));
        let target = match name {
            Some(n) => format!("{system}:{n}"),
            None => system.into_owned(),
        };
        (target, TargetKind::Database)
    } else if let Some(host) = s
        .attr_text("server.address")
        .map(|h| h.into_owned())
        .or_else(|| s.attr_text("url.full").and_then(|u| host_of(&u)))
        .or_else(|| s.attr_text("http.url").and_then(|u| host_of(&u)))
    {
        (host, TargetKind::External)
    } else {
        (String::new(), TargetKind::Unknown)
    }
}

impl EdgeIndex {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            cap,
            calls: VecDeque::new(),
            first_seq: 0,
            by_end_second: BTreeMap::new(),
            callee: HashMap::new(),
            callee_order: VecDeque::new(),
            targets: HashSet::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.calls.len()
    }

    /// One shared allocation per distinct target name (a cache, cleared when large).
    fn target(&mut self, name: &str) -> Arc<str> {
        if let Some(t) = self.targets.get(name) {
            return t.clone();
        }
        if self.targets.len() >= 65_536 {
            self.targets.clear();
        }
        let t: Arc<str> = Arc::from(name);
        self.targets.insert(t.clone());
        t
    }

    pub(super) fn add_call(&mut self, s: &SpanRec, caller: Arc<str>) {
        let (name, kind) = call_target(s);
        let target = self.target(&name);
        let seq = self.first_seq + self.calls.len() as u64;
        self.by_end_second
            .entry(s.end_ns / NS_PER_S)
            .or_default()
            .push(seq);
        self.calls.push_back(Call {
            end_ns: s.end_ns,
            trace: s.trace_id,
            span: s.span_id,
            caller,
            target,
            kind,
            elapsed_ns: s.elapsed_ns(),
            error: s.error || !s.exceptions.is_empty(),
        });
        while self.calls.len() > self.cap {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        let Some(c) = self.calls.pop_front() else {
            return;
        };
        let seq = self.first_seq;
        self.first_seq += 1;
        let sec = c.end_ns / NS_PER_S;
        if let Some(v) = self.by_end_second.get_mut(&sec) {
            v.retain(|s| *s != seq);
            if v.is_empty() {
                self.by_end_second.remove(&sec);
            }
        }
    }

    /// A transaction root of `service` whose parent is `parent`.
    pub(super) fn note_callee(&mut self, trace: TraceId, parent: SpanId, service: Arc<str>) {
        if self.callee.insert((trace, parent), service).is_none() {
            self.callee_order.push_back((trace, parent));
        }
        while self.callee_order.len() > self.cap {
            if let Some(k) = self.callee_order.pop_front() {
                self.callee.remove(&k);
            }
        }
    }

    pub(super) fn evict_before(&mut self, cutoff_ns: u64) {
        while self.calls.front().is_some_and(|c| c.end_ns < cutoff_ns) {
            self.pop_front();
        }
    }

    /// The calls ending in `[from_ns, to_ns)`, grouped by end second and
    /// edge.
    pub(super) fn edge_aggs(&self, from_ns: u64, to_ns: u64) -> Vec<super::EdgeSecond> {
        type Key = (u64, Arc<str>, Arc<str>, TargetKind);
        let mut groups: BTreeMap<Key, EdgeAgg> = BTreeMap::new();
        for c in self
            .calls
            .iter()
            .filter(|c| c.end_ns >= from_ns && c.end_ns < to_ns)
        {
            let Some((target, kind)) = self.resolve(c) else {
                continue;
            };
            groups
                .entry((c.end_ns / NS_PER_S, c.caller.clone(), target, kind))
                .or_default()
                .add(c.elapsed_ns, c.error);
        }
        groups
            .into_iter()
            .map(|((second, caller, callee, kind), agg)| super::EdgeSecond {
                second,
                caller,
                callee,
                kind,
                agg,
            })
            .collect()
    }

    /// Where call `c` went, `None` while it is unknown.
    fn resolve(&self, c: &Call) -> Option<(Arc<str>, TargetKind)> {
        match self.callee.get(&(c.trace, c.span)) {
            Some(svc) if *svc != c.caller => Some((svc.clone(), TargetKind::Service)),
            _ if c.kind == TargetKind::Unknown => None,
            _ => Some((c.target.clone(), c.kind)),
        }
    }

    #[cfg(test)]
    pub(super) fn edges(&self, from_ns: u64, to_ns: u64) -> Vec<crate::storage::EdgeJson> {
        type Key = (Arc<str>, Arc<str>, TargetKind);
        let mut groups: BTreeMap<Key, (Vec<u64>, u64)> = BTreeMap::new();
        for c in self
            .calls
            .iter()
            .filter(|c| c.end_ns >= from_ns && c.end_ns < to_ns)
        {
            let Some((target, kind)) = self.resolve(c) else {
                continue;
            };
            let g = groups.entry((c.caller.clone(), target, kind)).or_default();
            g.0.push(c.elapsed_ns);
            g.1 += u64::from(c.error);
        }
        groups
            .into_iter()
            .map(|((caller, callee, kind), (mut el, errors))| {
                el.sort_unstable();
                let rank = |q: f64| {
                    let i = ((q * el.len() as f64).ceil() as usize).clamp(1, el.len()) - 1;
                    el[i] as f64 / 1e6
                };
                crate::storage::EdgeJson {
                    caller: caller.to_string(),
                    callee: callee.to_string(),
                    callee_kind: kind,
                    count: el.len() as u64,
                    errors,
                    p50_ms: rank(0.5),
                    p95_ms: rank(0.95),
                    p99_ms: rank(0.99),
                    max_ms: rank(1.0),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_is_taken_from_urls() {
        assert_eq!(
            host_of("https://u:p@api.example.com:8443/x?q").as_deref(),
            Some("api.example.com:8443")
        );
        assert_eq!(host_of("http://h/").as_deref(), Some("h"));
        assert_eq!(host_of(""), None);
    }
}
