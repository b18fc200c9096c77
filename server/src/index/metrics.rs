//! Metric points as time series keyed by service, instance, host, name
//! and attributes.

use crate::storage::{SeriesJson, SeriesQuery};
use std::collections::{BTreeMap, VecDeque};

use crate::record::{MetricKind, MetricPoint};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    service: String,
    instance: String,
    host: String,
    name: String,
    attributes: String,
}

struct Series {
    unit: String,
    kind: MetricKind,
    /// `(time ns, value, count)`, in arrival order.
    points: VecDeque<(u64, f64, u64)>,
}

pub(super) struct MetricIndex {
    max_series: usize,
    max_points: usize,
    series: BTreeMap<Key, Series>,
    dropped: u64,
}

impl MetricIndex {
    pub(super) fn new(max_series: usize, max_points: usize) -> Self {
        Self {
            max_series,
            max_points: max_points.max(1),
            series: BTreeMap::new(),
            dropped: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.series.len()
    }

    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }

    pub(super) fn add(&mut self, p: &MetricPoint) {
        let key = Key {
            service: p.service.clone(),
            instance: p.instance.clone(),
            host: p.host.clone(),
            name: p.name.clone(),
            attributes: p.attributes.clone(),
        };
        if !self.series.contains_key(&key) && self.series.len() >= self.max_series {
            self.dropped += 1;
            return;
        }
        let s = self.series.entry(key).or_insert_with(|| Series {
            unit: p.unit.clone(),
            kind: p.kind,
            points: VecDeque::new(),
        });
        s.points.push_back((p.time_ns, p.value, p.count));
        while s.points.len() > self.max_points {
            s.points.pop_front();
        }
    }

    pub(super) fn evict_before(&mut self, cutoff_ns: u64) {
        for s in self.series.values_mut() {
            while s.points.front().is_some_and(|p| p.0 < cutoff_ns) {
                s.points.pop_front();
            }
        }
        self.series.retain(|_, s| !s.points.is_empty());
    }

    /// Every point held, as stored points.
    pub(super) fn points(&self) -> Vec<MetricPoint> {
        let mut out = Vec::new();
        for (k, s) in &self.series {
            out.extend(s.points.iter().map(|&(time_ns, value, count)| MetricPoint {
                service: k.service.clone(),
                name: k.name.clone(),
                unit: s.unit.clone(),
                kind: s.kind,
                attributes: k.attributes.clone(),
                time_ns,
                value,
                count,
                instance: k.instance.clone(),
                host: k.host.clone(),
            }));
        }
        out
    }

    pub(super) fn query(&self, q: &SeriesQuery) -> Vec<SeriesJson> {
        let from = q.from_ns.unwrap_or(0);
        let to = q.to_ns.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        for (k, s) in &self.series {
            if q.service.as_deref().is_some_and(|x| x != k.service)
                || q.name.as_deref().is_some_and(|x| x != k.name)
                || q.instance.as_deref().is_some_and(|x| x != k.instance)
            {
                continue;
            }
            let mut pts: Vec<(u64, f64, u64)> = s
                .points
                .iter()
                .filter(|p| p.0 >= from && p.0 < to)
                .map(|p| (p.0 / 1_000_000, p.1, p.2))
                .collect();
            pts.sort_by_key(|p| p.0);
            if q.latest_only {
                pts = pts.pop().into_iter().collect();
            }
            if pts.is_empty() {
                continue;
            }
            out.push(SeriesJson {
                service: k.service.clone(),
                name: k.name.clone(),
                attributes: k.attributes.clone(),
                unit: s.unit.clone(),
                kind: s.kind,
                points: pts,
                instance: k.instance.clone(),
                host: k.host.clone(),
            });
        }
        out
    }
}
