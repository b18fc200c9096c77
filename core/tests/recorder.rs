//! The recorder end to end through the collector, into a capturing exporter:
//! tree shape, timings, attributes, caps, sampling, concurrency and
//! back-pressure. Osprey is process-global, so tests take a lock and run
//! init/shutdown each.
#![cfg(feature = "enable")]

#[path = "support/capture.rs"]
mod capture;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use capture::{Capture, render};
use osprey::model::{AttrValue, SpanKind, StepKind};
use osprey::{Config, ErrorInfo, Handover};

static SERIAL: Mutex<()> = Mutex::new(());

fn with_osprey<R>(config: Config, capture: &Capture, body: impl FnOnce() -> R) -> R {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let guard = osprey::init(config.exporter(capture.clone())).expect("init");
    let out = body();
    assert!(guard.shutdown(Duration::from_secs(10)), "shutdown in time");
    out
}

fn quick() -> Config {
    Config::default().batch_delay(Duration::from_millis(20))
}

#[test]
fn records_a_nested_tree_with_timings_and_attributes() {
    let capture = Capture::default();
    with_osprey(quick().service_name("shop"), &capture, || {
        let txn = osprey::transaction("GET /orders").server().begin();
        txn.attr("http.request.method", "GET");
        {
            let a = osprey::step("load_orders");
            a.attr("orders", 3i64);
            std::thread::sleep(Duration::from_millis(5));
            {
                let q = osprey::step_of_kind(StepKind::Sql, "SELECT * FROM orders WHERE id = ?");
                q.attr("db.system", "h2");
                std::thread::sleep(Duration::from_millis(3));
            }
        }
        {
            let r = osprey::step("render");
            r.error(ErrorInfo {
                kind: "IllegalState".into(),
                message: "template missing".into(),
                stack: String::new(),
            });
        }
        assert_eq!(txn.end(), Some(Handover::Queued));
    });
    let txns = capture.transactions();
    assert_eq!(txns.len(), 1);
    let t = &txns[0];
    assert_eq!(
        render(t),
        "GET /orders\n  load_orders orders=3\n    SELECT * FROM orders WHERE id = ? db.system=h2\n  render !template missing\n"
    );
    assert_eq!(t.kind, SpanKind::Server);
    assert!(t.sampled && !t.repaired && t.dropped_steps == 0);
    assert_eq!(t.steps[1].parent, Some(0));
    assert_eq!(t.steps[0].parent, None);
    assert_eq!(t.steps[1].kind, StepKind::Sql);
    // Timings: children inside parents, sleeps visible, transaction covers all.
    let (a, q) = (&t.steps[0], &t.steps[1]);
    assert!(
        a.elapsed_ns >= 8_000_000,
        "load_orders took {} ns",
        a.elapsed_ns
    );
    assert!(q.elapsed_ns >= 3_000_000);
    assert!(q.start_offset_ns >= a.start_offset_ns + 5_000_000);
    assert!(q.start_offset_ns + q.elapsed_ns <= a.start_offset_ns + a.elapsed_ns);
    assert!(t.elapsed_ns >= a.elapsed_ns);
    assert!(t.elapsed_ns < 5_000_000_000);
    // Anchored to wall-clock time.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(now.abs_diff(t.end_unix_ns()) < 10_000_000_000);
    // Unique, valid ids.
    let ids: HashSet<_> = t
        .steps
        .iter()
        .map(|s| s.span_id)
        .chain([t.span_id])
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(t.trace_id.is_valid());
    assert_eq!(
        t.attributes[0].value,
        AttrValue::Str("GET".into()),
        "transaction attribute kept"
    );
    // The SQL summary: one statement, its time in milliseconds.
    let attr = |key: &str| {
        t.attributes
            .iter()
            .find(|a| &*osprey::names::resolve(a.key) == key)
            .map(|a| a.value.clone())
    };
    assert_eq!(attr(osprey::model::ATTR_SQL_COUNT), Some(AttrValue::Int(1)));
    match attr(osprey::model::ATTR_SQL_TIME_MS) {
        Some(AttrValue::Float(ms)) => assert!(
            (ms - q.elapsed_ns as f64 / 1e6).abs() < 1e-6,
            "{ms} ms vs {} ns",
            q.elapsed_ns
        ),
        other => panic!("sql time: {other:?}"),
    }
    assert_eq!(
        attr(osprey::model::ATTR_HTTP_CALL_COUNT),
        None,
        "no calls made"
    );
    // Every transaction is counted in a per-second aggregate.
    let seen = capture.seen.lock();
    assert_eq!(seen.aggregates.iter().map(|a| a.count).sum::<u64>(), 1);
}

#[test]
fn continues_an_inbound_trace_and_propagates_the_current_step() {
    let capture = Capture::default();
    let outgoing = with_osprey(quick(), &capture, || {
        let txn = osprey::transaction("GET /child")
            .server()
            .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .begin();
        let _call = osprey::step_of_kind(StepKind::HttpCall, "GET http://inventory/items");
        let header = osprey::traceparent().expect("inside a transaction");
        drop(_call);
        txn.end();
        header
    });
    let t = &capture.transactions()[0];
    assert_eq!(t.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(t.parent_span_id.unwrap().to_hex(), "00f067aa0ba902b7");
    // The outgoing header names the HTTP step as parent.
    assert_eq!(
        outgoing,
        format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
            t.steps[0].span_id
        )
    );
    assert_eq!(osprey::traceparent(), None);
}

#[test]
fn caps_steps_and_repairs_unbalanced_exits() {
    let capture = Capture::default();
    with_osprey(quick().max_steps(3), &capture, || {
        let txn = osprey::transaction("batch").begin();
        for _ in 0..5 {
            let _s = osprey::step("work");
        }
        txn.end();
        // An exit without enter and a step left open are repaired.
        osprey::raw::begin("unbalanced", SpanKind::Internal, None).unwrap();
        osprey::raw::exit();
        let id = osprey::names::intern("left open");
        osprey::raw::enter(id, StepKind::Method);
        osprey::raw::end().unwrap();
    });
    let txns = capture.transactions();
    assert_eq!(txns[0].steps.len(), 3);
    assert_eq!(txns[0].dropped_steps, 2);
    assert!(!txns[0].repaired);
    assert!(txns[1].repaired);
    assert_eq!(render(&txns[1]), "unbalanced\n  left open (repaired)\n");
}

#[test]
fn sampling_keeps_errors_and_slow_ones_and_counts_everything() {
    let capture = Capture::default();
    let config = quick()
        .sample_ratio(0.0)
        .slow_threshold(Duration::from_millis(30));
    with_osprey(config, &capture, || {
        for i in 0..10 {
            let txn = osprey::transaction(format!("fast {i}")).begin();
            let _s = osprey::step("inner");
            drop(_s);
            txn.end();
        }
        let failed = osprey::transaction("failing").begin();
        failed.error(ErrorInfo {
            message: "boom".into(),
            ..ErrorInfo::default()
        });
        {
            let _s = osprey::step("inner");
        }
        failed.end();
        let slow = osprey::transaction("slow").begin();
        {
            let _s = osprey::step("inner");
            std::thread::sleep(Duration::from_millis(40));
        }
        slow.end();
    });
    let txns = capture.transactions();
    assert_eq!(txns.len(), 12, "every transaction is delivered");
    let kept = kept_names(&txns);
    assert_eq!(kept, ["failing", "slow"]);
    assert!(
        txns.iter()
            .filter(|t| !t.sampled)
            .all(|t| t.steps.is_empty())
    );
    let seen = capture.seen.lock();
    assert_eq!(seen.aggregates.iter().map(|a| a.count).sum::<u64>(), 12);
    assert_eq!(seen.aggregates.iter().map(|a| a.errors).sum::<u64>(), 1);
}

#[test]
fn a_tree_budget_keeps_that_many_trees_and_every_transaction_with_its_counts() {
    let capture = Capture::default();
    let config = quick().trees_per_second(Some(3));
    with_osprey(config, &capture, twenty_queries_and_a_failure);
    let txns = capture.transactions();
    assert_eq!(txns.len(), 21, "every transaction is delivered");
    let kept = kept_names(&txns);
    // The budget starts full: the first three ordinary trees, then the failure.
    assert_eq!(kept, ["query 0", "query 1", "query 2", "failing"]);
    for t in &txns {
        let attr = |key: &str| {
            t.attributes
                .iter()
                .find(|a| &*osprey::names::resolve(a.key) == key)
                .map(|a| a.value.clone())
        };
        let sql_count = if t.steps.iter().any(|s| s.error.is_some()) {
            1
        } else {
            2
        };
        assert_eq!(attr("osprey.sql.count"), Some(AttrValue::Int(sql_count)));
        assert!(matches!(attr("osprey.sql.time_ms"), Some(AttrValue::Float(ms)) if ms >= 0.0));
        if t.sampled {
            assert_eq!(t.steps.len(), sql_count as usize);
        } else {
            assert!(t.steps.is_empty(), "a tree over budget is not built");
            assert!(
                matches!(attr("i"), Some(AttrValue::Int(_))),
                "own attributes kept"
            );
        }
    }
}

/// The names of the transactions that kept their call tree, in order.
fn kept_names(txns: &[osprey::model::TransactionRecord]) -> Vec<String> {
    txns.iter()
        .filter(|t| t.sampled)
        .map(|t| osprey::names::resolve(t.name).to_string())
        .collect()
}

/// Twenty ordinary transactions (`query {i}`, attribute `i`) with two SQL
/// steps each, then one (`failing`) whose SQL step fails.
fn twenty_queries_and_a_failure() {
    for i in 0..20 {
        let txn = osprey::transaction(format!("query {i}")).begin();
        txn.attr("i", i as i64);
        for _ in 0..2 {
            let _sql = osprey::step_of_kind(StepKind::Sql, "SELECT 1");
        }
        txn.end();
    }
    let failed = osprey::transaction("failing").begin();
    osprey::step_of_kind(StepKind::Sql, "SELECT broken").error(ErrorInfo {
        message: "syntax".into(),
        ..ErrorInfo::default()
    });
    failed.end();
}

#[test]
fn when_no_exporter_wants_treeless_transactions_they_are_only_counted() {
    let capture = Capture::trees_only();
    with_osprey(
        quick().trees_per_second(Some(3)),
        &capture,
        twenty_queries_and_a_failure,
    );
    let stats = osprey::stats(); // as at shutdown
    let kept: Vec<_> = capture
        .transactions()
        .iter()
        .map(|t| {
            (
                osprey::names::resolve(t.name).to_string(),
                t.sampled,
                t.steps.len(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("query 0".to_string(), true, 2),
            ("query 1".to_string(), true, 2),
            ("query 2".to_string(), true, 2),
            ("failing".to_string(), true, 1),
        ]
    );
    let seen = capture.seen.lock();
    assert_eq!(
        seen.aggregates.iter().map(|a| a.count).sum::<u64>(),
        21,
        "every transaction is counted"
    );
    assert_eq!((stats.received, stats.counted_only), (21, 17), "{stats:?}");
    assert_eq!(stats.exporters[0].delivered, 4, "{stats:?}");
}

#[test]
fn one_exporter_wanting_treeless_transactions_gets_them_all() {
    let (trees, all) = (Capture::trees_only(), Capture::default());
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let guard = osprey::init(
        quick()
            .trees_per_second(Some(3))
            .exporter(trees.clone())
            .exporter(all.clone()),
    )
    .expect("init");
    twenty_queries_and_a_failure();
    assert!(guard.shutdown(Duration::from_secs(10)), "shutdown in time");
    assert_eq!(osprey::stats().counted_only, 0);
    for capture in [trees, all] {
        let txns = capture.transactions();
        assert_eq!(txns.len(), 21);
        assert_eq!(txns.iter().filter(|t| t.sampled).count(), 4);
    }
}

#[test]
fn many_threads_deliver_each_transaction_exactly_once_or_count_it_dropped() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 3000;
    let capture = Capture::default();
    let stats = with_osprey(quick().queue_capacity(256), &capture, || {
        std::thread::scope(|s| {
            for t in 0..THREADS {
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        let txn = osprey::transaction("job").begin();
                        txn.attr("thread", t as i64).attr("i", i as i64);
                        for _ in 0..5 {
                            let _a = osprey::step("a");
                            let _b = osprey::step("b");
                        }
                        txn.end();
                    }
                });
            }
        });
        assert!(osprey::flush(Duration::from_secs(10)));
        osprey::stats()
    });
    let txns = capture.transactions();
    let unique: HashSet<_> = txns.iter().map(|t| t.span_id).collect();
    assert_eq!(unique.len(), txns.len(), "no duplicates");
    assert!(txns.iter().all(|t| t.steps.len() == 10));
    assert_eq!(stats.produced(), (THREADS * PER_THREAD) as u64);
    let delivered = stats.exporters[0].delivered;
    assert_eq!(delivered, txns.len() as u64);
    assert_eq!(
        stats.dropped_queue + stats.exporters[0].dropped,
        stats.produced() - delivered,
        "drops account for every missing transaction: {stats:?}"
    );
}

#[test]
fn a_stuck_exporter_never_blocks_recording_and_drops_are_counted() {
    let capture = Capture::slow(Duration::from_millis(300));
    let config = quick()
        .queue_capacity(16)
        .batch_size(8)
        .exporter_queue_batches(1)
        .shutdown_timeout(Duration::from_secs(10));
    let (dropped, stats) = with_osprey(config, &capture, || {
        let mut dropped = 0;
        for _ in 0..20_000 {
            let txn = osprey::transaction("t").begin();
            let _s = osprey::step("s");
            drop(_s);
            if txn.end() == Some(Handover::Dropped) {
                dropped += 1;
            }
        }
        assert!(osprey::flush(Duration::from_secs(10)));
        (dropped, osprey::stats())
    });
    assert!(dropped > 0, "a 16-slot queue cannot take 20000 at once");
    assert_eq!(stats.dropped_queue, dropped);
    assert_eq!(stats.produced(), 20_000);
    let e = &stats.exporters[0];
    assert_eq!(e.delivered, capture.transactions().len() as u64);
    assert_eq!(
        e.delivered + e.dropped + stats.dropped_queue,
        20_000,
        "{stats:?}"
    );
}

#[test]
fn calls_before_init_and_after_shutdown_do_nothing_and_do_not_panic() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(!osprey::is_running());
    let txn = osprey::transaction("nobody listens").begin();
    let s = osprey::step("step");
    s.attr("k", 1i64);
    drop(s);
    assert_eq!(txn.end(), None);
    assert_eq!(
        osprey::raw::begin("x", SpanKind::Internal, None),
        Err(osprey::RecordError::NotRunning)
    );
    assert_eq!(osprey::raw::end(), Err(osprey::RecordError::NoTransaction));
    assert!(!osprey::flush(Duration::from_millis(10)));
    assert!(!osprey::shutdown(Duration::from_millis(10)));
}

#[test]
fn steps_after_handing_out_a_traceparent_record_normally_and_keep_the_tree() {
    let capture = Capture::default();
    // Ratio 0: only the propagated trace forces this tree to be kept.
    with_osprey(quick().sample_ratio(0.0), &capture, || {
        let txn = osprey::transaction("GET /parent").begin();
        {
            let _call = osprey::step_of_kind(StepKind::HttpCall, "GET http://child/");
            assert!(osprey::traceparent().is_some());
            let _after = osprey::step("after the header");
        }
        let _next = osprey::step("next");
        drop(_next);
        txn.end();
    });
    let t = &capture.transactions()[0];
    assert!(t.sampled, "a trace continued elsewhere keeps its tree here");
    assert_eq!(
        render(t),
        "GET /parent\n  GET http://child/\n    after the header\n  next\n"
    );
}

#[test]
fn interned_attribute_values_arrive_as_their_text() {
    let capture = Capture::default();
    with_osprey(quick(), &capture, || {
        let (method, get, load, system, h2) = (
            osprey::names::intern("http.request.method"),
            osprey::names::intern("GET"),
            osprey::names::intern("load"),
            osprey::names::intern("db.system"),
            osprey::names::intern("h2"),
        );
        osprey::raw::begin("GET /", SpanKind::Server, None).unwrap();
        osprey::raw::attr_name(None, method, get).unwrap();
        let step = osprey::raw::enter(load, StepKind::Method);
        osprey::raw::attr_name(Some(step), system, h2).unwrap();
        osprey::raw::attr(Some(step), method, AttrValue::Str("POST".into())).unwrap();
        osprey::raw::exit_step(step);
        osprey::raw::end().unwrap();
    });
    let t = &capture.transactions()[0];
    assert_eq!(
        render(t),
        "GET /\n  load db.system=h2 http.request.method=POST\n"
    );
    let method = t
        .attributes
        .iter()
        .find(|a| &*osprey::names::resolve(a.key) == "http.request.method")
        .expect("the transaction's attribute");
    assert_eq!(method.value, AttrValue::Str("GET".into()));
    assert_eq!(
        osprey::raw::attr_name(None, method.key, method.key),
        Err(osprey::RecordError::NoTransaction)
    );
}

#[test]
fn copied_text_attributes_and_names_survive_buffer_reuse() {
    let capture = Capture::default();
    with_osprey(quick(), &capture, || {
        let (path, agent, sql, load) = (
            osprey::names::intern("url.path"),
            osprey::names::intern("user_agent.original"),
            osprey::names::intern("db.statement"),
            osprey::names::intern("load"),
        );
        let long = "x".repeat(10_000);
        // Several transactions on one thread: each reuses the buffers the
        // previous one left, and must carry only its own texts.
        for (i, name) in ["GET /a", "POST /ünïcode/路径", "GET /long"]
            .iter()
            .enumerate()
        {
            osprey::raw::begin(name, SpanKind::Server, None).unwrap();
            osprey::raw::attr_str(None, path, &name[name.find(' ').unwrap() + 1..]).unwrap();
            let step = osprey::raw::enter(load, StepKind::Sql);
            osprey::raw::attr_str(Some(step), sql, &format!("SELECT c FROM t{i}")).unwrap();
            osprey::raw::exit_step(step);
            if i == 2 {
                osprey::raw::attr_str(None, agent, &long).unwrap();
                osprey::raw::rename("GET /renamed").unwrap();
            }
            osprey::raw::end().unwrap();
        }
    });
    let txns = capture.transactions();
    assert_eq!(txns.len(), 3);
    let text = |t: &osprey::model::TransactionRecord, key: &str| {
        t.attributes
            .iter()
            .find(|a| &*osprey::names::resolve(a.key) == key)
            .map(|a| a.value.clone())
    };
    assert_eq!(&*osprey::names::resolve(txns[0].name), "GET /a");
    assert_eq!(
        text(&txns[0], "url.path"),
        Some(AttrValue::Str("/a".into()))
    );
    assert_eq!(text(&txns[0], "user_agent.original"), None);
    assert_eq!(&*osprey::names::resolve(txns[1].name), "POST /ünïcode/路径");
    assert_eq!(
        text(&txns[1], "url.path"),
        Some(AttrValue::Str("/ünïcode/路径".into()))
    );
    assert_eq!(
        render(&txns[1]),
        "POST /ünïcode/路径\n  load db.statement=SELECT c FROM t1\n"
    );
    assert_eq!(&*osprey::names::resolve(txns[2].name), "GET /renamed");
    assert_eq!(
        text(&txns[2], "url.path"),
        Some(AttrValue::Str("/long".into()))
    );
    // Longer than a value may be: cut, and marked.
    use osprey::capped::{CUT_MARK, MAX_VALUE_BYTES};
    let cut = "x".repeat(MAX_VALUE_BYTES - CUT_MARK.len()) + CUT_MARK;
    assert_eq!(
        text(&txns[2], "user_agent.original"),
        Some(AttrValue::Str(cut))
    );
    assert_eq!(
        osprey::raw::attr_str(None, osprey::names::intern("k"), "v"),
        Err(osprey::RecordError::NoTransaction)
    );
}

#[test]
fn data_for_unrecorded_steps_is_dropped_not_misattributed() {
    let capture = Capture::default();
    with_osprey(quick().max_steps(1), &capture, || {
        let txn = osprey::transaction("capped").begin();
        let kept = osprey::step("kept");
        {
            let over = osprey::step("over the cap");
            over.attr("db.statement", "SELECT 1");
            over.error(ErrorInfo {
                message: "not mine".into(),
                ..ErrorInfo::default()
            });
        }
        kept.attr("mine", true);
        drop(kept);
        txn.end();
    });
    let t = &capture.transactions()[0];
    assert_eq!(render(t), "capped\n  kept mine=true\n");
    assert_eq!(t.dropped_steps, 1);
}

#[test]
fn a_zero_batch_delay_is_raised_to_a_floor_instead_of_spinning() {
    let c = Config::from_pairs_str("batch.delay_ms=0").unwrap();
    assert!(format!("{c:?}").contains("batch_delay: 1ms"), "{c:?}");
}

#[test]
fn secrets_stay_in_the_process_unless_sanitising_is_switched_off() {
    fn record() {
        let txn = osprey::transaction("GET /download").server().begin();
        txn.attr("http.request.header.authorization", "Bearer s3cr3t");
        {
            let q = osprey::step_of_kind(
                StepKind::Sql,
                "SELECT * FROM users WHERE email = 'a@b.c' AND pin = 1234",
            );
            q.attr("db.statement", "UPDATE users SET password = 'hunter2'");
        }
        {
            let _get = osprey::step_of_kind(
                StepKind::HttpCall,
                "GET https://s3/bucket/key?X-Amz-Signature=abcdef",
            );
        }
        txn.end();
    }
    let clean = Capture::default();
    with_osprey(quick(), &clean, record);
    let t = &clean.transactions()[0];
    assert_eq!(
        render(t),
        "GET /download\n  SELECT * FROM users WHERE email = ? AND pin = ? db.statement=UPDATE users SET password = ?\n  GET https://s3/bucket/key?X-Amz-Signature=?\n"
    );
    assert_eq!(t.attributes[0].value, AttrValue::Str("[REDACTED]".into()));

    let raw = Capture::default();
    with_osprey(quick().sanitize(false), &raw, record);
    let text = render(&raw.transactions()[0]);
    assert!(
        text.contains("'hunter2'") && text.contains("abcdef"),
        "{text}"
    );
}

#[test]
fn stale_guards_never_end_a_later_transaction_or_instance() {
    let capture = Capture::default();
    with_osprey(quick(), &capture, || {
        let stale = osprey::transaction("A").begin();
        osprey::raw::end().unwrap(); // A ended behind its guard's back
        osprey::raw::begin("B", SpanKind::Internal, None).unwrap();
        assert_eq!(stale.end(), None, "the guard of A does not end B");
        assert!(osprey::raw::in_transaction());
        osprey::raw::end().unwrap();
    });
    let names: Vec<_> = capture
        .transactions()
        .iter()
        .map(|t| osprey::names::resolve(t.name).to_string())
        .collect();
    assert_eq!(names, ["A", "B"]);

    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let first = osprey::init(quick().exporter(osprey::export::NullExporter)).unwrap();
    assert!(osprey::shutdown(Duration::from_secs(5)));
    let second = osprey::init(quick().exporter(osprey::export::NullExporter)).unwrap();
    drop(first);
    assert!(
        osprey::is_running(),
        "an old guard does not stop a later init"
    );
    assert!(second.shutdown(Duration::from_secs(5)));
}

#[test]
fn a_detached_transaction_ends_on_another_thread_with_both_threads_steps() {
    let capture = Capture::default();
    with_osprey(quick(), &capture, || {
        let _txn = osprey::transaction("GET /async").server().begin();
        drop(osprey::step("on_request_thread"));
        let id = osprey::raw::detach().expect("detach");
        assert_ne!(id, 0);
        assert!(!osprey::raw::in_transaction(), "the thread is free again");
        assert_eq!(osprey::raw::detached_count(), 1);
        // The request thread serves another request meanwhile.
        osprey::transaction("GET /sync").server().begin().end();

        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            // The completing thread is itself inside a transaction: it is
            // parked while the request's is finished, then restored.
            let own = osprey::transaction("worker job").begin();
            let previous = osprey::raw::attach(id).expect("attach");
            assert_ne!(previous, 0);
            assert_eq!(
                osprey::raw::attach(id),
                Err(osprey::DetachError::UnknownId),
                "an id is picked up once"
            );
            drop(osprey::step("on_completing_thread"));
            osprey::raw::end().expect("end the async transaction");
            assert_eq!(osprey::raw::attach(previous), Ok(0));
            own.end();
        })
        .join()
        .unwrap();
        assert_eq!(osprey::raw::detached_count(), 0);
        assert_eq!(
            osprey::raw::attach(12345),
            Err(osprey::DetachError::UnknownId)
        );
    });
    let txns = capture.transactions();
    let names: Vec<String> = txns
        .iter()
        .map(|t| osprey::names::resolve(t.name).to_string())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let a = txns
        .iter()
        .find(|t| &*osprey::names::resolve(t.name) == "GET /async")
        .expect("async transaction");
    assert_eq!(
        render(a),
        "GET /async\n  on_request_thread\n  on_completing_thread\n"
    );
    assert!(
        a.elapsed_ns >= 30_000_000,
        "ends at completion: {} ns",
        a.elapsed_ns
    );
    let w = txns
        .iter()
        .find(|t| &*osprey::names::resolve(t.name) == "worker job")
        .expect("the completing thread's own transaction survives");
    assert!(w.steps.is_empty());
}

#[test]
fn a_deferred_step_ends_when_another_thread_completes_it() {
    let capture = Capture::default();
    with_osprey(quick(), &capture, || {
        let (call, pending) = (
            osprey::names::intern("GET 127.0.0.1:1"),
            osprey::names::intern("GET 127.0.0.1:2"),
        );
        osprey::raw::begin("GET /front", SpanKind::Server, None).unwrap();
        let step = osprey::raw::enter(call, StepKind::HttpCall);
        let end = osprey::raw::defer_end(step).expect("a step of the open transaction");
        osprey::raw::exit_step(step);
        let never = osprey::raw::enter(pending, StepKind::HttpCall);
        let _kept = osprey::raw::defer_end(never).expect("deferred");
        osprey::raw::exit_step(never);
        let done = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            end.complete(
                503,
                Some(ErrorInfo {
                    kind: "HTTP 503".into(),
                    message: "response status 503".into(),
                    stack: String::new(),
                }),
            );
            end.complete(200, None); // only the first counts
        });
        done.join().unwrap();
        osprey::raw::end().unwrap();
        assert!(
            osprey::raw::defer_end(step).is_none(),
            "no transaction open"
        );
    });
    let t = &capture.transactions()[0];
    let step = |name: &str| {
        t.steps
            .iter()
            .find(|s| &*osprey::names::resolve(s.name) == name)
            .expect(name)
    };
    let called = step("GET 127.0.0.1:1");
    assert!(
        called.elapsed_ns >= 30_000_000,
        "ends at completion, not at exit: {} ns",
        called.elapsed_ns
    );
    let status = called
        .attributes
        .iter()
        .find(|a| &*osprey::names::resolve(a.key) == "http.response.status_code")
        .map(|a| a.value.clone());
    assert_eq!(status, Some(AttrValue::Int(503)));
    assert_eq!(
        called.error.as_ref().map(|e| e.kind.as_str()),
        Some("HTTP 503")
    );
    let pending = step("GET 127.0.0.1:2");
    assert!(pending.elapsed_ns < 30_000_000);
    assert!(
        pending.attributes.iter().any(|a| {
            &*osprey::names::resolve(a.key) == "osprey.incomplete"
                && a.value == AttrValue::Bool(true)
        }),
        "{pending:?}"
    );
}

#[test]
fn detach_without_a_transaction_is_refused() {
    let capture = Capture::default();
    with_osprey(quick(), &capture, || {
        assert_eq!(
            osprey::raw::detach(),
            Err(osprey::DetachError::NoTransaction)
        );
    });
}

/// The calling thread's CPU time so far, in ms.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

#[test]
fn cpu_time_is_measured_per_transaction_when_asked() {
    let cpu = |t: &osprey::model::TransactionRecord| {
        t.attributes.iter().find_map(|a| {
            (&*osprey::names::resolve(a.key) == osprey::model::ATTR_CPU_TIME_MS).then(|| {
                match a.value {
                    AttrValue::Float(ms) => ms,
                    ref other => panic!("{other:?}"),
                }
            })
        })
    };
    let capture = Capture::default();
    with_osprey(quick().cpu_time(true), &capture, || {
        let busy = osprey::transaction("busy").begin();
        // Spin until this thread has used 30 ms of CPU (not of wall time: a
        // loaded machine may run it for less than that in 30 ms).
        let until = thread_cpu_ms() + 30.0;
        let mut x = 0u64;
        while thread_cpu_ms() < until {
            for _ in 0..1000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        busy.end();
        let idle = osprey::transaction("idle").begin();
        std::thread::sleep(Duration::from_millis(30));
        idle.end();
    });
    let txns = capture.transactions();
    let by_name = |n: &str| {
        txns.iter()
            .find(|t| &*osprey::names::resolve(t.name) == n)
            .unwrap()
    };
    let busy = cpu(by_name("busy")).expect("measured");
    let idle = cpu(by_name("idle")).expect("measured");
    assert!(
        busy >= 29.0,
        "a loop that used 30 ms of CPU measured {busy} ms"
    );
    assert!(idle < 10.0, "a 30 ms sleep used {idle} ms of CPU");

    let capture = Capture::default();
    with_osprey(quick(), &capture, || {
        osprey::transaction("plain").begin().end();
    });
    assert_eq!(cpu(&capture.transactions()[0]), None, "off by default");
}

#[test]
fn forked_work_is_a_step_where_it_ran_or_a_linked_child_when_it_outlives_the_parent() {
    let capture = Capture::default();
    let (task, late_task, query) = (
        osprey::names::intern("task demo.Report"),
        osprey::names::intern("task demo.Late"),
        osprey::names::intern("SELECT 1"),
    );
    let late = with_osprey(quick().sample_ratio(0.0), &capture, || {
        osprey::raw::begin("GET /report", SpanKind::Server, None).unwrap();
        let submit = osprey::raw::enter(osprey::names::intern("submit"), StepKind::Method);
        let fork = osprey::raw::fork(task).expect("a transaction is open");
        let late = osprey::raw::fork(late_task).expect("a transaction is open");
        let (parent_trace, parent_span) = osprey::current_ids().unwrap();
        let worker = std::thread::spawn(move || {
            // A pooled thread with nothing open: the work records here.
            osprey::raw::begin_fork(&fork).expect("begin the worker's part");
            assert_eq!(
                osprey::raw::begin_fork(&fork),
                Err(osprey::RecordError::AlreadyActive)
            );
            let (trace, _) = osprey::current_ids().unwrap();
            assert_eq!(
                trace, parent_trace,
                "the worker's log lines carry the trace"
            );
            let q = osprey::raw::enter(query, StepKind::Sql);
            std::thread::sleep(Duration::from_millis(20));
            osprey::raw::exit_step(q);
            osprey::raw::end().unwrap();
            assert!(
                !osprey::raw::in_transaction(),
                "nothing left on the pooled thread"
            );
            assert_eq!(
                osprey::raw::begin_fork(&fork),
                Err(osprey::RecordError::NoTransaction),
                "a fork begins once"
            );
        });
        worker.join().unwrap();
        osprey::raw::exit_step(submit);
        osprey::raw::end().unwrap();
        // The collector took the parent before this work began: a
        // transaction of its own.
        assert!(osprey::flush(Duration::from_secs(10)));
        std::thread::spawn(move || {
            osprey::raw::begin_fork(&late).unwrap();
            drop(osprey::step("late work"));
            osprey::raw::end().unwrap();
        })
        .join()
        .unwrap();
        (parent_trace, parent_span)
    });
    let txns = capture.transactions();
    let report = txns
        .iter()
        .find(|t| &*osprey::names::resolve(t.name) == "GET /report")
        .expect("the parent");
    assert_eq!(
        render(report),
        "GET /report\n  submit\n    task demo.Report\n      SELECT ?\n"
    );
    let task_step = &report.steps[1];
    assert!(
        task_step.elapsed_ns >= 20_000_000,
        "the worker's own timing"
    );
    assert_eq!(report.steps[0].span_id, late.1, "the submitting step's id");
    let child = txns
        .iter()
        .find(|t| &*osprey::names::resolve(t.name) == "task demo.Late")
        .expect("the late work is a transaction of its own");
    assert_eq!(child.trace_id, report.trace_id);
    assert_eq!(child.parent_span_id, Some(report.steps[0].span_id));
    assert!(child.sampled && report.sampled, "both keep their trees");
    assert_eq!(render(child), "task demo.Late\n  late work\n");
    assert_eq!(txns.len(), 2);
}

#[test]
fn a_task_whose_transaction_ended_on_its_result_before_the_task_did_is_its_step() {
    // A `FutureTask` publishes its result before its runner returns: the
    // waiting request can end, and the collector take it up, first.
    let capture = Capture::default();
    let task = osprey::names::intern("task demo.Quote");
    with_osprey(quick(), &capture, || {
        osprey::raw::begin("GET /quote", SpanKind::Server, None).unwrap();
        let fork = osprey::raw::fork(task).expect("a transaction is open");
        let (published, result) = std::sync::mpsc::channel();
        let (go, returning) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            osprey::raw::begin_fork(&fork).unwrap();
            drop(osprey::step("price"));
            published.send(()).unwrap();
            returning.recv().unwrap();
            osprey::raw::end().unwrap();
        });
        result.recv().unwrap();
        let taken = osprey::stats().received;
        osprey::raw::end().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while osprey::stats().received == taken && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(osprey::stats().received > taken, "the collector took it up");
        go.send(()).unwrap();
        worker.join().unwrap();
    });
    let txns = capture.transactions();
    assert_eq!(txns.len(), 1, "no orphan: {txns:?}");
    let t = &txns[0];
    let rendered = render(t);
    let shape: Vec<&str> = rendered
        .lines()
        .map(|l| l.split(" osprey.end_cut_ns=").next().unwrap())
        .collect();
    assert_eq!(shape, ["GET /quote", "  task demo.Quote", "    price"]);
    let task_step = &t.steps[0];
    assert!(task_step.start_offset_ns + task_step.elapsed_ns <= t.elapsed_ns);
    let cut = task_step
        .attributes
        .iter()
        .find(|a| &*osprey::names::resolve(a.key) == "osprey.end_cut_ns");
    assert!(
        matches!(cut, Some(a) if matches!(a.value, AttrValue::Int(ns) if ns > 0)),
        "the cut is said: {cut:?}"
    );
}

#[test]
fn log_ids_name_the_open_step_without_keeping_the_tree() {
    let capture = Capture::default();
    let ids = with_osprey(quick().sample_ratio(0.0), &capture, || {
        assert!(osprey::current_ids().is_none());
        let txn = osprey::transaction("GET /quiet").begin();
        let at_txn = osprey::current_ids().unwrap();
        let step = osprey::step("work");
        let at_step = osprey::current_ids().unwrap();
        assert_eq!(osprey::current_ids().unwrap(), at_step, "stable");
        drop(step);
        txn.end();
        (at_txn, at_step)
    });
    let t = &capture.transactions()[0];
    assert_eq!(ids.0, (t.trace_id, t.span_id));
    assert_eq!(ids.1.0, t.trace_id);
    assert_ne!(ids.1.1, t.span_id);
    assert!(!t.sampled, "asking for log ids does not keep the tree");
}
