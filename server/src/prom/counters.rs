//! Request counters since the server started, per service, instance and
//! endpoint: requests, errors and a response-time histogram, fed by the
//! live transaction feed ([`crate::live`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use osprey::model::HISTOGRAM_BOUNDS_MS;
use parking_lot::Mutex;

use super::encode::{Family, Sample, Type};
use crate::alerts::window::{BUCKETS, Bucket};
use crate::storage::TxnRow;

/// Most (service, instance, endpoint) series; transactions of further
/// endpoints are counted under the endpoint `(other)` of their service.
pub const MAX_SERIES: usize = 10_000;

/// The endpoint name of what [`MAX_SERIES`] folds together.
pub const OTHER_ENDPOINT: &str = "(other)";

type Key = (Arc<str>, Option<Arc<str>>, Arc<str>);

/// The counters.
#[derive(Default)]
pub struct Counters {
    cells: Mutex<BTreeMap<Key, Bucket>>,
}

impl Counters {
    /// Counts `rows`.
    pub fn add(&self, rows: &[TxnRow]) {
        let mut cells = self.cells.lock();
        for r in rows {
            let mut key = (r.service.clone(), r.instance.clone(), r.endpoint.clone());
            if cells.len() >= MAX_SERIES && !cells.contains_key(&key) {
                key.2 = Arc::from(OTHER_ENDPOINT);
            }
            cells.entry(key).or_default().add(r.elapsed_ns, r.error);
        }
    }

    /// The request families, for the services `allow` accepts.
    pub fn families(&self, allow: &dyn Fn(&str) -> bool) -> Vec<Family> {
        let cells = self.cells.lock();
        let mut requests = Vec::new();
        let mut errors = Vec::new();
        let mut hist = Vec::new();
        for ((service, instance, endpoint), b) in cells.iter() {
            if !allow(service) {
                continue;
            }
            let labels = vec![
                ("service".to_owned(), service.to_string()),
                (
                    "instance".to_owned(),
                    instance.as_deref().unwrap_or("").to_owned(),
                ),
                ("endpoint".to_owned(), endpoint.to_string()),
            ];
            requests.push(sample("_total", labels.clone(), b.count as f64));
            errors.push(sample("_total", labels.clone(), b.errors as f64));
            let mut seen = 0;
            for i in 0..BUCKETS {
                seen += b.hist[i];
                let le = match HISTOGRAM_BOUNDS_MS.get(i) {
                    Some(&ms) => super::encode::number(ms as f64 / 1000.0),
                    None => "+Inf".into(),
                };
                let mut l = labels.clone();
                l.push(("le".into(), le));
                hist.push(sample("_bucket", l, seen as f64));
            }
            hist.push(sample("_sum", labels.clone(), b.sum_ns as f64 / 1e9));
            hist.push(sample("_count", labels, b.count as f64));
        }
        vec![
            Family {
                name: "osprey_requests".into(),
                help: "Transactions (requests) ended since the server started.".into(),
                kind: Type::Counter,
                samples: requests,
            },
            Family {
                name: "osprey_request_errors".into(),
                help: "Failed transactions since the server started.".into(),
                kind: Type::Counter,
                samples: errors,
            },
            Family {
                name: "osprey_request_duration_seconds".into(),
                help: "Response time of transactions.".into(),
                kind: Type::Histogram,
                samples: hist,
            },
        ]
    }
}

fn sample(suffix: &'static str, labels: Vec<(String, String)>, value: f64) -> Sample {
    Sample {
        suffix,
        labels,
        value,
    }
}
