//! `tracing` spans recorded through `OspreyLayer`: the outermost span is the
//! transaction, nested spans are steps, fields are attributes, ERROR events
//! mark the innermost span.
#![cfg(all(feature = "enable", feature = "layer"))]

#[path = "support/capture.rs"]
mod capture;

use std::time::Duration;

use capture::{Capture, render};
use osprey::model::{AttrValue, SpanKind};
use tracing_subscriber::prelude::*;

#[test]
fn tracing_spans_become_a_transaction_with_steps() {
    let capture = Capture::default();
    let guard = osprey::init(
        osprey::Config::default()
            .batch_delay(Duration::from_millis(20))
            .exporter(capture.clone()),
    )
    .unwrap();
    let subscriber =
        tracing_subscriber::registry().with(osprey::layer::OspreyLayer::default().server_roots());
    tracing::subscriber::with_default(subscriber, || {
        let root = tracing::info_span!(
            "handle_order",
            order_id = 42u64,
            user = tracing::field::Empty
        );
        let _root = root.enter();
        root.record("user", "alice");
        {
            let _load = tracing::info_span!("load", table = "orders").entered();
            let _query = tracing::debug_span!("query", db.statement = "SELECT 1").entered();
        }
        {
            let _pay = tracing::info_span!("pay").entered();
            tracing::error!(code = 402, "card declined");
        }
    });
    assert!(guard.shutdown(Duration::from_secs(5)));
    let txns = capture.transactions();
    assert_eq!(txns.len(), 1);
    let t = &txns[0];
    assert_eq!(t.kind, SpanKind::Server);
    assert_eq!(
        render(t),
        "handle_order\n  load table=orders\n    query db.statement=SELECT ?\n  pay !card declined code=402\n"
    );
    assert!(
        matches!(t.busy_ns, Some(ns) if ns > 0 && ns <= t.elapsed_ns),
        "busy {:?} within elapsed {}",
        t.busy_ns,
        t.elapsed_ns
    );
    let attrs: Vec<_> = t
        .attributes
        .iter()
        .map(|a| (osprey::names::resolve(a.key).to_string(), a.value.clone()))
        .collect();
    assert_eq!(
        attrs[..2],
        [
            ("order_id".to_string(), AttrValue::Int(42)),
            ("user".to_string(), AttrValue::Str("alice".into()))
        ]
    );
    // The span declaring `db.statement` is a SQL step: counted as one.
    assert_eq!(t.steps[1].kind, osprey::model::StepKind::Sql);
    assert_eq!(
        attrs[2],
        (osprey::model::ATTR_SQL_COUNT.to_string(), AttrValue::Int(1))
    );
    assert_eq!(attrs[3].0, osprey::model::ATTR_SQL_TIME_MS);
    assert_eq!(attrs.len(), 4);
}
