//! `async` work on a multi-thread runtime: one transaction per request
//! whatever threads poll it, through the `tracing` layer (`#[instrument]`)
//! and through the native API (`FutureExt`, `StepHandle`). Every test runs
//! a real collector and reads what a real exporter received.
#![cfg(all(feature = "enable", feature = "layer"))]

#[path = "support/capture.rs"]
mod capture;

use std::time::Duration;

use capture::{Capture, render};
use osprey::future::FutureExt;
use osprey::model::{AttrValue, SpanKind, StepRecord, TransactionRecord};
use parking_lot::Mutex;
use tracing::Instrument;
use tracing_subscriber::prelude::*;

/// Osprey is one per process: the tests here take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// The `tracing` subscriber of this test binary: global, as in a service
/// (a scoped one does not reach every thread that drops a span, and the
/// registry closes a parent through the dropping thread's subscriber).
fn install_subscriber() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(
            osprey::layer::OspreyLayer::default()
                .server_roots()
                .transactions_from("async_spans"),
        );
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

/// Runs `body` with Osprey started on a capturing exporter and returns what
/// it exported once shut down.
fn recorded(body: impl FnOnce()) -> Vec<TransactionRecord> {
    install_subscriber();
    let capture = Capture::default();
    let guard = osprey::init(
        osprey::Config::default()
            .batch_delay(Duration::from_millis(20))
            .exporter(capture.clone()),
    )
    .unwrap();
    body();
    assert!(guard.shutdown(Duration::from_secs(10)));
    capture.transactions()
}

fn attr<'a>(attrs: &'a [osprey::model::Attribute], key: &str) -> Option<&'a AttrValue> {
    attrs
        .iter()
        .find(|a| &*osprey::names::resolve(a.key) == key)
        .map(|a| &a.value)
}

fn int(attrs: &[osprey::model::Attribute], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(AttrValue::Int(i)) => Some(*i),
        _ => None,
    }
}

fn step<'a>(t: &'a TransactionRecord, name: &str) -> &'a StepRecord {
    t.steps
        .iter()
        .find(|s| &*osprey::names::resolve(s.name) == name)
        .unwrap_or_else(|| panic!("no step {name} in\n{}", render(t)))
}

const MS: u64 = 1_000_000;

/// Step names and depths, in the order the steps began.
fn shape(t: &TransactionRecord) -> Vec<(String, u16)> {
    t.steps
        .iter()
        .map(|s| (osprey::names::resolve(s.name).to_string(), s.depth))
        .collect()
}

#[tracing::instrument]
async fn query(table: &'static str) -> u32 {
    tokio::time::sleep(Duration::from_millis(5)).await;
    tokio::task::yield_now().await;
    7
}

#[tracing::instrument]
async fn load(id: u64) -> u32 {
    tokio::time::sleep(Duration::from_millis(10)).await;
    query("orders").await + query("items").await
}

#[tracing::instrument(fields(request = id))]
async fn handle(id: u64) -> u32 {
    let n = load(id).await;
    // Work in another task, in parallel, under this request.
    let background = tokio::spawn(
        async {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        .instrument(tracing::info_span!("background")),
    );
    tokio::time::sleep(Duration::from_millis(4)).await;
    background.await.unwrap();
    n
}

#[test]
fn instrumented_async_requests_are_one_transaction_each_with_their_steps() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        let rt = runtime();
        rt.block_on(async move {
            let tasks: Vec<_> = (0..20u64).map(|id| tokio::spawn(handle(id))).collect();
            for t in tasks {
                assert_eq!(t.await.unwrap(), 14);
            }
        });
    });
    assert_eq!(txns.len(), 20, "one transaction per request");
    let mut seen: Vec<i64> = txns
        .iter()
        .map(|t| int(&t.attributes, "request").expect("the request field"))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    for t in &txns {
        assert_eq!(t.kind, SpanKind::Server);
        assert!(!t.repaired, "{}", render(t));
        assert_eq!(osprey::names::resolve(t.name).as_ref(), "handle");
        let tree = render(t);
        // Steps in the order they began, nested by the span tree.
        assert_eq!(
            shape(t),
            [
                ("load".to_string(), 1),
                ("query".to_string(), 2),
                ("query".to_string(), 2),
                ("background".to_string(), 1)
            ],
            "{tree}"
        );
        // Elapsed covers the awaits: 10 + 5 + 5 ms in load, 4 ms after.
        let load = step(t, "load");
        assert!(load.elapsed_ns >= 20 * MS, "{}", load.elapsed_ns);
        assert!(t.elapsed_ns >= 24 * MS, "{}", t.elapsed_ns);
        for q in t.steps.iter().filter(|s| s.depth == 2) {
            assert!(q.elapsed_ns >= 5 * MS);
            assert!(q.start_offset_ns >= load.start_offset_ns);
            assert!(q.start_offset_ns + q.elapsed_ns <= load.start_offset_ns + load.elapsed_ns);
        }
        let bg = step(t, "background");
        assert!(bg.elapsed_ns >= 3 * MS);
        // Busy time is measured and is a part of the elapsed time.
        for s in &t.steps {
            let busy = s.busy_ns.expect("busy time");
            assert!(
                busy > 0 && busy < s.elapsed_ns,
                "{busy} of {}",
                s.elapsed_ns
            );
            assert_eq!(
                int(&s.attributes, osprey::model::ATTR_BUSY_NS),
                None,
                "a field, not also an attribute"
            );
        }
        let busy = t.busy_ns.expect("busy time");
        assert!(busy < t.elapsed_ns);
    }
}

fn flag(attrs: &[osprey::model::Attribute], key: &str) -> bool {
    attr(attrs, key) == Some(&AttrValue::Bool(true))
}

async fn fetch_native(i: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(2)).await;
    // A step handed to a plain thread and ended there.
    let handle = osprey::future::step("on_thread");
    let header = handle.traceparent().expect("a recording step");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        handle.attr("i", i as i64);
        let inner = handle.in_scope(|| osprey::future::step("inner"));
        std::thread::sleep(Duration::from_millis(1));
        inner.end();
        handle.end();
        tx.send(header).unwrap();
    });
    let header = rx.await.unwrap();
    // traceparent: 00-<trace>-<span>-01
    u64::from_str_radix(&header[36..52], 16).unwrap()
}

#[test]
fn native_futures_and_step_handles_make_one_transaction_across_threads() {
    let _serial = SERIAL.lock();
    let handed_out = Mutex::new(Vec::new());
    let txns = recorded(|| {
        runtime().block_on(async {
            let tasks: Vec<_> = (0..50u64)
                .map(|i| {
                    tokio::spawn(
                        async move {
                            let a = fetch_native(i).in_step("fetch").await;
                            // The timer is made inside the step.
                            async { tokio::time::sleep(Duration::from_millis(3)).await }
                                .in_step("pause")
                                .await;
                            (i, a)
                        }
                        .in_transaction(osprey::transaction("GET /native").server()),
                    )
                })
                .collect();
            for t in tasks {
                let out = t.await.unwrap();
                handed_out.lock().push(out);
            }
        });
    });
    assert_eq!(txns.len(), 50);
    let handed_out = handed_out.into_inner();
    for t in &txns {
        assert!(!t.repaired, "{}", render(t));
        assert_eq!(
            shape(t),
            [
                ("fetch".into(), 1),
                ("on_thread".into(), 2),
                ("inner".into(), 3),
                ("pause".into(), 1)
            ]
        );
        let fetch = step(t, "fetch");
        assert!(fetch.elapsed_ns >= 3 * MS);
        assert!(step(t, "pause").elapsed_ns >= 3 * MS);
        assert!(step(t, "inner").elapsed_ns >= MS);
        let on_thread = step(t, "on_thread");
        let i = int(&on_thread.attributes, "i").unwrap() as u64;
        // The header handed out names the step as exported.
        let (_, span) = handed_out.iter().find(|(j, _)| *j == i).unwrap();
        assert_eq!(u64::from_be_bytes(on_thread.span_id.0), *span);
        assert!(t.elapsed_ns >= fetch.elapsed_ns);
        assert!(t.busy_ns.unwrap() > 0);
    }
}

#[test]
fn cancelled_futures_and_late_steps_are_repaired_and_marked_never_a_panic() {
    let _serial = SERIAL.lock();
    let leftover = Mutex::new(None);
    let txns = recorded(|| {
        runtime().block_on(async {
            // A step whose future is dropped by a timeout.
            async {
                let slow = tokio::time::sleep(Duration::from_secs(30)).in_step("slow");
                let _ = tokio::time::timeout(Duration::from_millis(5), slow).await;
            }
            .in_transaction(osprey::transaction("step cancelled"))
            .await;
            // A transaction whose future is dropped.
            let txn = tokio::time::sleep(Duration::from_secs(30))
                .in_transaction(osprey::transaction("request cancelled"));
            let _ = tokio::time::timeout(Duration::from_millis(5), txn).await;
            // A child that ends after its parent; a step that outlives
            // its transaction.
            let txn = osprey::transaction("out of order").begin_async();
            let parent = txn.step("parent");
            let child = parent.child("child");
            let grandchild = child.child("grandchild");
            parent.end();
            tokio::time::sleep(Duration::from_millis(2)).await;
            child.end();
            let late = txn.step("late");
            *leftover.lock() = Some(grandchild);
            txn.end();
            late.end(); // after the end: ignored
        });
        // Ended after its transaction was handed over: no panic, no record.
        leftover.lock().take().unwrap().end();
    });
    assert_eq!(txns.len(), 3);
    let by_name = |n: &str| {
        txns.iter()
            .find(|t| &*osprey::names::resolve(t.name) == n)
            .unwrap()
    };
    let t = by_name("step cancelled");
    let slow = step(t, "slow");
    assert!(slow.repaired && flag(&slow.attributes, osprey::model::ATTR_CANCELLED));
    assert!(slow.elapsed_ns >= 5 * MS && slow.elapsed_ns < 30_000 * MS);
    assert!(t.repaired);

    let t = by_name("request cancelled");
    assert!(t.repaired && flag(&t.attributes, osprey::model::ATTR_CANCELLED));
    assert!(t.elapsed_ns >= 5 * MS && t.elapsed_ns < 30_000 * MS);

    let t = by_name("out of order");
    assert!(t.repaired);
    assert_eq!(render(t), "out of order\n  parent\n    child (repaired)\n");
    let (parent, child) = (step(t, "parent"), step(t, "child"));
    // Cut to its parent's end (offsets and durations are rounded to the
    // nanosecond separately).
    let (child_end, parent_end) = (
        child.start_offset_ns + child.elapsed_ns,
        parent.start_offset_ns + parent.elapsed_ns,
    );
    assert!(
        child_end.abs_diff(parent_end) <= 1,
        "{child_end} vs {parent_end}"
    );
    // `grandchild` and `late` were open at the end.
    assert_eq!(
        int(&t.attributes, osprey::model::ATTR_UNFINISHED_STEPS),
        Some(2)
    );
}

#[test]
fn a_step_future_begins_at_its_first_poll_and_one_never_polled_is_marked_cancelled() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        runtime().block_on(
            async {
                let later =
                    async { tokio::time::sleep(Duration::from_millis(2)).await }.in_step("later");
                let never = async {}.in_step("never");
                tokio::time::sleep(Duration::from_millis(5)).await;
                later.await;
                drop(never);
            }
            .in_transaction(osprey::transaction("made early")),
        );
    });
    assert_eq!(txns.len(), 1);
    let t = &txns[0];
    let later = step(t, "later");
    // Made at the start, awaited after the 5 ms sleep.
    assert!(later.start_offset_ns >= 5 * MS, "{}", later.start_offset_ns);
    assert!(later.elapsed_ns >= 2 * MS);
    let never = step(t, "never");
    assert!(never.repaired && flag(&never.attributes, osprey::model::ATTR_CANCELLED));
    assert_eq!(
        never.elapsed_ns, 0,
        "dropped unpolled: it began as it ended"
    );
    assert_eq!(never.busy_ns, None, "never polled, so no busy time");
}

#[test]
fn follows_from_is_a_link_and_only_configured_targets_begin_transactions() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        // An infrastructure span around the request is not recorded; the
        // request span inside it (this crate's target) is the transaction.
        let connection = tracing::info_span!(target: "hyper::proto", "connection");
        let _c = connection.enter();
        let producer = tracing::info_span!("produce");
        producer.in_scope(|| {
            let _inner = tracing::info_span!("inner").entered();
        });
        let consumer = tracing::info_span!("consume");
        consumer.follows_from(&producer);
        drop(producer);
        drop(consumer);
        // Inside a native transaction on this thread, spans are its steps
        // (the thread-local fast path).
        let txn = osprey::transaction("native").begin();
        tracing::info_span!("sync_step").in_scope(|| {});
        txn.end();
    });
    let names: Vec<String> = txns
        .iter()
        .map(|t| osprey::names::resolve(t.name).to_string())
        .collect();
    assert_eq!(names, ["produce", "consume", "native"]);
    assert_eq!(render(&txns[0]), "produce\n  inner\n");
    let link = attr(&txns[1].attributes, osprey::model::ATTR_LINK).expect("a link");
    assert_eq!(
        link,
        &AttrValue::Str(format!(
            "00-{}-{}-01",
            txns[0].trace_id.to_hex(),
            txns[0].span_id.to_hex()
        ))
    );
    assert_eq!(render(&txns[2]), "native\n  sync_step\n");
}

#[test]
fn async_transactions_keep_the_step_cap_and_count_the_rest() {
    let _serial = SERIAL.lock();
    install_subscriber();
    let capture = Capture::default();
    let guard = osprey::init(
        osprey::Config::default()
            .max_steps(100)
            .batch_delay(Duration::from_millis(20))
            .exporter(capture.clone()),
    )
    .unwrap();
    runtime().block_on(async {
        async {
            for _ in 0..150 {
                async {}.in_step("native").await;
            }
            // Spans past the cap: not recorded, their children hang on
            // the nearest recorded ancestor (here the transaction).
            for _ in 0..3 {
                let outer = tracing::info_span!("span");
                let _inner = tracing::info_span!(parent: &outer, "inner");
            }
        }
        .in_transaction(osprey::transaction("capped"))
        .await;
    });
    assert!(guard.shutdown(Duration::from_secs(10)));
    let txns = capture.transactions();
    assert_eq!(txns.len(), 1);
    let t = &txns[0];
    assert_eq!(t.steps.len(), 100);
    assert_eq!(t.dropped_steps, 56, "50 futures and 6 spans past the cap");
    assert!(t.steps.iter().all(|s| s.depth == 1 && !s.repaired));
    assert!(!t.repaired);
}

fn names(txns: &[TransactionRecord]) -> Vec<String> {
    txns.iter()
        .map(|t| osprey::names::resolve(t.name).to_string())
        .collect()
}

#[test]
fn a_request_cancelled_by_a_timeout_keeps_its_open_steps() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        runtime().block_on(async {
            let request = async {
                async {
                    async { tokio::time::sleep(Duration::from_secs(30)).await }
                        .in_step("waits")
                        .await
                }
                .in_step("calls")
                .await
            }
            .in_transaction(osprey::transaction("timed out"));
            let timed_out = tokio::time::timeout(Duration::from_millis(20), request).await;
            assert!(timed_out.is_err());
        });
    });
    assert_eq!(txns.len(), 1);
    let t = &txns[0];
    // The steps end (cancelled) before the transaction does: kept, nested,
    // and not cut to an end they did not have.
    assert_eq!(shape(t), [("calls".into(), 1), ("waits".into(), 2)]);
    for name in ["calls", "waits"] {
        let s = step(t, name);
        assert!(flag(&s.attributes, osprey::model::ATTR_CANCELLED), "{name}");
        assert!(s.elapsed_ns >= 15 * MS, "{name} lasted until the drop");
    }
    assert!(t.repaired && flag(&t.attributes, osprey::model::ATTR_CANCELLED));
    assert_eq!(
        int(&t.attributes, osprey::model::ATTR_UNFINISHED_STEPS),
        None
    );
}

#[test]
fn steps_past_the_cap_do_not_count_against_the_queue_budget() {
    let _serial = SERIAL.lock();
    let mut handover = None;
    let txns = recorded(|| {
        let txn = osprey::transaction("many capped steps").begin_async();
        // Far more keys than the default cap (2048) keeps; at 8 bytes of
        // queue budget a key (the budget's 8 MiB / a piece's line), they
        // would have looked like 12 MiB.
        for _ in 0..200_000 {
            drop(txn.step("s"));
        }
        handover = txn.end();
    });
    assert_eq!(handover, Some(osprey::Handover::Queued));
    assert_eq!(names(&txns), ["many capped steps"]);
    assert_eq!(txns[0].steps.len(), 2048);
    assert_eq!(txns[0].dropped_steps, 200_000 - 2048);
}

#[test]
fn a_root_span_made_inside_a_request_is_its_own_transaction() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        let request = tracing::info_span!("request");
        let detached = request.in_scope(|| tracing::info_span!(parent: None, "detached"));
        drop(request);
        detached.in_scope(|| std::thread::sleep(Duration::from_millis(1)));
    });
    assert_eq!(names(&txns), ["request", "detached"]);
    assert!(txns.iter().all(|t| !t.repaired && t.steps.is_empty()));
}

#[test]
fn secrets_in_error_events_are_redacted() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        let _login = tracing::info_span!("login").entered();
        let _check = tracing::info_span!("check").entered();
        tracing::error!(password = "hunter2", user = "alice", "login failed");
    });
    assert_eq!(txns.len(), 1);
    let error = step(&txns[0], "check").error.as_ref().expect("the error");
    assert_eq!(
        error.message,
        "login failed password=[REDACTED] user=\"alice\""
    );
}

#[derive(Debug)]
#[allow(dead_code)] // read through `Debug` only
struct LoginForm {
    user: String,
    password: String,
}

#[tracing::instrument]
fn log_in(form: &LoginForm) {
    let token = "t-9f8e";
    tracing::error!("refused, retry with token={token}");
}

#[test]
fn secrets_inside_recorded_arguments_and_messages_are_redacted() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        let _request = tracing::info_span!("request").entered();
        log_in(&LoginForm {
            user: "ann".into(),
            password: "hunter2".into(),
        });
    });
    assert_eq!(txns.len(), 1);
    let log_in = step(&txns[0], "log_in");
    assert_eq!(
        attr(&log_in.attributes, "form"),
        Some(&AttrValue::Str(
            r#"LoginForm { user: "ann", password: "[REDACTED]" }"#.into()
        ))
    );
    let error = log_in.error.as_ref().expect("the error");
    assert_eq!(error.message, "refused, retry with token=[REDACTED]");
}

#[derive(Debug)]
#[allow(dead_code)] // read through `Debug` only
struct Upload {
    bytes: Vec<u8>,
}

#[tracing::instrument]
fn store(upload: &Upload) {
    tracing::error!(detail = ?upload.bytes, "rejected");
}

/// A value past the bound: cut at a character boundary, marked, within it.
fn is_cut(value: Option<&AttrValue>, head: &str) -> bool {
    use osprey::capped::{CUT_MARK, MAX_VALUE_BYTES};
    matches!(value, Some(AttrValue::Str(s))
        if s.len() <= MAX_VALUE_BYTES && s.len() > MAX_VALUE_BYTES - 8
            && s.starts_with(head) && s.ends_with(CUT_MARK))
}

#[test]
fn oversized_values_are_cut_and_their_transactions_delivered() {
    use osprey::capped::{CUT_MARK, MAX_VALUE_BYTES};
    let _serial = SERIAL.lock();
    // 8 MiB of two-byte characters, and a 4 MiB argument whose `Debug` is
    // 12 MiB: whole (or cut but still holding its memory), each would take
    // its transaction past the queue's 8 MiB budget, and it would be
    // dropped.
    let big = "é".repeat(4 << 20);
    let error = osprey::model::ErrorInfo {
        kind: "Oversized".into(),
        message: big.clone(),
        stack: String::new(),
    };
    // 30 KB of SQL: cleaned before it is cut, so its tail survives.
    let ids: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
    let long_sql = format!(
        "SELECT * FROM orders WHERE id IN ({}) AND status = 'open'",
        ids.join(", ")
    );
    let txns = recorded(|| {
        let native = osprey::transaction("native").begin();
        native.attr("body", big.clone()).error(error.clone());
        native.attr("db.statement", long_sql.clone());
        native.end();
        let in_async = osprey::transaction("async").begin_async();
        in_async.attr("body", big.clone()).error(error.clone());
        in_async.end();
        let _request = tracing::info_span!("request").entered();
        store(&Upload {
            bytes: vec![7; 4 << 20],
        });
    });
    assert_eq!(names(&txns), ["native", "async", "request"]);
    assert_eq!(
        attr(&txns[0].attributes, "db.statement"),
        Some(&AttrValue::Str(
            "SELECT * FROM orders WHERE id IN (?) AND status = ?".into()
        ))
    );
    for t in &txns[..2] {
        assert!(is_cut(attr(&t.attributes, "body"), "éé"), "{}", t.name.0);
        let message = &t.error.as_ref().expect("the error").message;
        assert!(is_cut(Some(&AttrValue::Str(message.clone())), "éé"));
    }
    let store = step(&txns[2], "store");
    assert!(is_cut(
        attr(&store.attributes, "upload"),
        "Upload { bytes: [7, 7"
    ));
    let message = &store.error.as_ref().expect("the error").message;
    assert!(message.len() <= MAX_VALUE_BYTES && message.ends_with(CUT_MARK));
    assert!(
        message.starts_with("rejected detail=[7, 7"),
        "{message:.40}"
    );
    assert!(osprey::capped::cut_count() >= 6);
}

#[test]
fn a_span_exited_after_its_close_leaves_nothing_behind() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        let first = tracing::info_span!("first");
        let id = first.id().unwrap();
        tracing::dispatcher::get_default(|d| d.enter(&id));
        drop(first);
        tracing::dispatcher::get_default(|d| d.exit(&id));
        assert!(osprey::current_ids().is_none());
        tracing::info_span!("second").in_scope(|| {});
    });
    assert_eq!(names(&txns), ["first", "second"]);
}

#[test]
fn a_span_in_a_native_transaction_entered_again_while_entered() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        let txn = osprey::transaction("native").begin();
        let span = tracing::info_span!("twice");
        span.in_scope(|| span.in_scope(|| {}));
        txn.end();
        // After the end the span records nothing, and leaves the thread
        // free for the next transaction.
        span.in_scope(|| span.in_scope(|| {}));
        assert!(osprey::current_ids().is_none());
        osprey::transaction("after").begin().end();
    });
    assert_eq!(names(&txns), ["native", "after"]);
    assert_eq!(render(&txns[0]), "native\n  twice\n    twice\n");
}

#[test]
fn a_span_in_a_native_transaction_entered_on_two_threads_at_once() {
    let _serial = SERIAL.lock();
    let mut b_free = false;
    let txns = recorded(|| {
        std::thread::scope(|scope| {
            let txn = osprey::transaction("main").begin();
            let span = tracing::info_span!("shared");
            let (entered_tx, entered_rx) = std::sync::mpsc::channel();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let other = span.clone();
            // Thread b enters the span outside any transaction of its own:
            // nothing is recorded there, and b is left free.
            let b = scope.spawn(move || {
                other.in_scope(|| {
                    entered_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                });
                done_tx.send(()).unwrap();
                let free = osprey::current_ids().is_none();
                osprey::transaction("b after").begin().end();
                free
            });
            entered_rx.recv().unwrap();
            span.in_scope(|| {
                go_tx.send(()).unwrap();
                // b exits first, while this thread is still inside.
                done_rx.recv().unwrap();
            });
            txn.end();
            b_free = b.join().unwrap();
        });
    });
    assert!(b_free, "thread b is in no transaction");
    let mut names = names(&txns);
    names.sort();
    assert_eq!(names, ["b after", "main"]);
    let main = txns
        .iter()
        .find(|t| &*osprey::names::resolve(t.name) == "main")
        .unwrap();
    assert_eq!(render(main), "main\n  shared\n");
    assert!(!main.repaired, "its own exit closed the step");
}

#[test]
fn a_span_of_a_native_transaction_polled_by_workers_is_not_a_transaction_per_poll() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        let rt = runtime();
        let txn = osprey::transaction("job").begin();
        let work = rt.spawn(
            async {
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            .instrument(tracing::info_span!("work")),
        );
        txn.end();
        rt.block_on(work).unwrap();
    });
    assert_eq!(names(&txns), ["job"]);
}

#[test]
fn an_error_event_outside_spans_marks_the_native_async_work_it_happens_in() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        runtime().block_on(async {
            async {
                async {
                    tokio::task::yield_now().await;
                    tracing::error!("payment refused");
                }
                .in_step("pay")
                .await;
                tracing::error!("order failed");
            }
            .in_transaction(osprey::transaction("order"))
            .await;
        });
    });
    assert_eq!(txns.len(), 1);
    let t = &txns[0];
    let pay = step(t, "pay").error.as_ref().expect("the step's error");
    assert_eq!(pay.message, "payment refused");
    let order = t.error.as_ref().expect("the transaction's error");
    assert_eq!(order.message, "order failed");
}

#[test]
fn a_span_of_a_native_transaction_entered_in_a_leaking_loop_stays_bounded() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        let txn = osprey::transaction("leaky").begin();
        let span = tracing::info_span!("leaked");
        for _ in 0..1000 {
            std::mem::forget(span.enter());
        }
        txn.end();
        assert!(osprey::current_ids().is_none());
        osprey::transaction("after").begin().end();
    });
    assert_eq!(names(&txns), ["leaky", "after"]);
    // Nested, one per kept enter; the ones never exited closed by the end.
    let t = &txns[0];
    assert_eq!(t.steps.len(), 64);
    assert_eq!(t.steps.last().map(|s| s.depth), Some(64));
    assert!(t.repaired);
}

#[test]
fn a_root_span_made_inside_a_native_transaction_is_its_own_transaction() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        let txn = osprey::transaction("native").begin();
        {
            let _step = tracing::info_span!("step").entered();
            let _own = tracing::info_span!(parent: None, "own").entered();
            let _inner = tracing::info_span!("inner").entered();
        }
        txn.end();
    });
    let mut names = names(&txns);
    names.sort();
    assert_eq!(names, ["native", "own"]);
    for t in &txns {
        let want = match &*osprey::names::resolve(t.name) {
            "native" => "native\n  step\n",
            _ => "own\n  inner\n",
        };
        assert_eq!(render(t), want);
        assert!(!t.repaired);
    }
}
