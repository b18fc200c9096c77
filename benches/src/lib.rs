//! Shared set-up for Osprey's benchmarks: each library's live pipeline
//! (started once per process) with an exporter that only counts what it
//! receives, and the one workload every library runs — one root span with
//! `n` sequential children, each entered and exited.
//!
//! Used by `benches/compare.rs` (ns per span) and `src/bin/delivery.rs`
//! (spans delivered versus produced).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing_subscriber::layer::SubscriberExt as _;

/// The libraries compared, in table order.
pub const LIBRARIES: &[&str] = &[
    "osprey",
    "fastrace",
    "otel_sdk",
    "tracing_otel",
    "tracing_registry",
];

/// Name of every root span / transaction.
const ROOT: &str = "root";
/// Name of every child span / step.
const CHILD: &str = "child";

// ---------------------------------------------------------------- osprey

/// Starts Osprey once: `NullExporter`, queues large enough not to drop at
/// benchmark rates (64 Ki transactions and a 1 GiB budget into the
/// collector, 256 batches into the exporter), batches of 512.
pub fn osprey_start() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        osprey::start(
            osprey::Config::default()
                .service_name("bench")
                .queue_capacity(64 * 1024)
                .max_queue_bytes(1 << 30)
                .batch_size(512)
                .batch_delay(Duration::from_millis(100))
                .exporter_queue_batches(256)
                .exporter(osprey::export::NullExporter),
        )
        .expect("osprey starts");
    });
}

/// One transaction with `n` sequential steps.
#[inline]
pub fn osprey_txn(n: usize) {
    let txn = osprey::transaction(ROOT).begin();
    for _ in 0..n {
        let _step = osprey::step(CHILD);
    }
    txn.end();
}

/// Osprey's delivery counters, in transactions: (produced, dropped before
/// the collector, dropped at the exporter's queue, delivered).
pub fn osprey_counts() -> (u64, u64, u64, u64) {
    let stats = osprey::stats();
    let (dropped, delivered) = stats
        .exporters
        .first()
        .map_or((0, 0), |e| (e.dropped, e.delivered));
    (stats.produced(), stats.dropped_queue, dropped, delivered)
}

// -------------------------------------------------------------- fastrace

/// Spans fastrace's reporter received.
pub static FASTRACE_DELIVERED: AtomicU64 = AtomicU64::new(0);

struct CountingReporter;

impl fastrace::collector::Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        FASTRACE_DELIVERED.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

/// Installs fastrace's reporter once; it reports every 10 ms so its
/// per-thread command queues (10 240 entries) keep up.
pub fn fastrace_start() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        fastrace::set_reporter(
            CountingReporter,
            fastrace::collector::Config::default().report_interval(Duration::from_millis(10)),
        );
    });
}

/// One root span with `n` sequential local children.
#[inline]
pub fn fastrace_txn(n: usize) {
    use fastrace::prelude::*;
    let root = Span::root(ROOT, SpanContext::random());
    let _parent = root.set_local_parent();
    for _ in 0..n {
        let _child = LocalSpan::enter_with_local_parent(CHILD);
    }
}

// ------------------------------------------------------------ OpenTelemetry

/// An OpenTelemetry exporter that counts spans and drops them.
#[derive(Debug, Clone, Default)]
pub struct CountingExporter(Arc<AtomicU64>);

impl CountingExporter {
    /// Spans exported so far.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl SpanExporter for CountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// A tracer provider with a `BatchSpanProcessor` (its own thread; queue of
/// 64 Ki spans, batches of 512, every 100 ms) feeding a [`CountingExporter`].
pub struct OtelPipeline {
    /// The provider (flush through it).
    pub provider: SdkTracerProvider,
    /// A tracer from it.
    pub tracer: SdkTracer,
    /// The exporter, for its count.
    pub exporter: CountingExporter,
}

fn otel_pipeline() -> OtelPipeline {
    let exporter = CountingExporter::default();
    let processor = BatchSpanProcessor::builder(exporter.clone())
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(64 * 1024)
                .with_max_export_batch_size(512)
                .with_scheduled_delay(Duration::from_millis(100))
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("osprey-benches");
    OtelPipeline {
        provider,
        tracer,
        exporter,
    }
}

/// The pipeline the OpenTelemetry SDK is used through directly.
pub fn otel_sdk() -> &'static OtelPipeline {
    static PIPELINE: OnceLock<OtelPipeline> = OnceLock::new();
    PIPELINE.get_or_init(otel_pipeline)
}

/// One root span with `n` sequential children, each made the active
/// context while it runs (`in_span`).
#[inline]
pub fn otel_sdk_txn(tracer: &SdkTracer, n: usize) {
    tracer.in_span(ROOT, |_| {
        for _ in 0..n {
            tracer.in_span(CHILD, |_| {});
        }
    });
}

// ------------------------------------------------------------------ tracing

/// `tracing_subscriber::Registry` with tracing-opentelemetry's layer, on a
/// pipeline of its own (so its delivered count is its own).
pub fn tracing_otel() -> &'static (tracing::Dispatch, OtelPipeline) {
    static DISPATCH: OnceLock<(tracing::Dispatch, OtelPipeline)> = OnceLock::new();
    DISPATCH.get_or_init(|| {
        let pipeline = otel_pipeline();
        let layer = tracing_opentelemetry::layer().with_tracer(pipeline.tracer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        (tracing::Dispatch::new(subscriber), pipeline)
    })
}

/// `tracing_subscriber::Registry` alone: span bookkeeping, no export.
pub fn tracing_registry() -> &'static tracing::Dispatch {
    static DISPATCH: OnceLock<tracing::Dispatch> = OnceLock::new();
    DISPATCH.get_or_init(|| tracing::Dispatch::new(tracing_subscriber::registry()))
}

/// One root span with `n` sequential children, each entered and exited,
/// through whichever dispatcher is this thread's default.
#[inline]
pub fn tracing_txn(n: usize) {
    let _root = tracing::info_span!("root").entered();
    for _ in 0..n {
        let _child = tracing::info_span!("child").entered();
    }
}

/// Makes `dispatch` this thread's default without a guard to restore it,
/// unless it already is (cheap enough to call in a benchmark loop).
#[inline]
pub fn use_dispatch(dispatch: &'static tracing::Dispatch) {
    use std::cell::Cell;
    thread_local! {
        static CURRENT: Cell<usize> = const { Cell::new(0) };
    }
    let id = dispatch as *const tracing::Dispatch as usize;
    if CURRENT.get() != id {
        CURRENT.set(id);
        std::mem::forget(tracing::dispatcher::set_default(dispatch));
    }
}

// --------------------------------------------------------------- primitives

thread_local! {
    static TXN: std::cell::RefCell<Option<osprey::TransactionGuard>> =
        const { std::cell::RefCell::new(None) };
    static LEFT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Ends the transaction [`osprey_step_in_open_transaction`] keeps open on
/// this thread, if any.
pub fn osprey_close_open_transaction() {
    if let Some(txn) = TXN.with_borrow_mut(Option::take) {
        txn.end();
    }
    LEFT.set(0);
}

/// Enters and exits one step of a transaction kept open on this thread. The
/// transaction is ended and a new one begun every 1024 steps, below the
/// default step cap, so every step is recorded (amortised: ~0.1 ns a step).
#[inline]
pub fn osprey_step_in_open_transaction() {
    const ROTATE: u32 = 1024;
    let left = LEFT.get();
    if left == 0 {
        TXN.with_borrow_mut(|txn| {
            if let Some(old) = txn.take() {
                old.end();
            }
            *txn = Some(osprey::transaction(ROOT).begin());
        });
        LEFT.set(ROTATE);
    } else {
        LEFT.set(left - 1);
    }
    let _step = osprey::step(CHILD);
}

/// Runs `f` for about 20 ms (at most 100 000 times) on this thread before
/// measuring: first-use costs (thread-local set-up, buffer growth, the
/// clock's calibration) otherwise land in divan's sample-size tuning and
/// leave it measuring one call per sample.
pub fn warm_up(mut f: impl FnMut()) {
    let start = std::time::Instant::now();
    for _ in 0..100_000 {
        f();
        if start.elapsed() > Duration::from_millis(20) {
            break;
        }
    }
}

// -------------------------------------------------------------- async work

/// Tokio runtime of the async benchmark: two workers (this machine's cores),
/// each starting with `dispatch` (if any) as its default `tracing`
/// dispatcher, so that spans created and closed on any worker reach it.
pub fn async_runtime(dispatch: Option<&'static tracing::Dispatch>) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || {
            if let Some(d) = dispatch {
                use_dispatch(d);
            }
        })
        .build()
        .expect("a tokio runtime")
}

/// A child's work: gives the worker up once (`Pending`, rescheduled, and
/// maybe resumed on the other worker), so every child is polled twice.
async fn child_work() {
    tokio::task::yield_now().await;
}

/// The async workload without any tracing: the runtime's own cost.
pub async fn bare_async_txn(n: usize) {
    for _ in 0..n {
        child_work().await;
    }
}

/// One transaction (`in_transaction`) with `n` awaited steps (`in_step`).
pub async fn osprey_async_txn(n: usize) {
    use osprey::future::FutureExt;
    async move {
        for _ in 0..n {
            child_work().in_step(CHILD).await;
        }
    }
    .in_transaction(osprey::transaction(ROOT))
    .await
}

/// One root span with `n` awaited children, `Span` + `FutureExt::in_span`.
pub async fn fastrace_async_txn(n: usize) {
    use fastrace::future::FutureExt;
    use fastrace::prelude::*;
    let root = Span::root(ROOT, SpanContext::random());
    let children = async move {
        for _ in 0..n {
            child_work()
                .in_span(Span::enter_with_local_parent(CHILD))
                .await;
        }
    };
    children.in_span(root).await
}

/// One root span with `n` awaited children, `tracing::Instrument`, through
/// whichever dispatcher is the worker's default.
pub async fn tracing_async_txn(n: usize) {
    use tracing::Instrument;
    async move {
        for _ in 0..n {
            child_work().instrument(tracing::info_span!("child")).await;
        }
    }
    .instrument(tracing::info_span!("root"))
    .await
}

/// `tracing_subscriber::Registry` with Osprey's layer.
pub fn tracing_osprey() -> &'static tracing::Dispatch {
    static DISPATCH: OnceLock<tracing::Dispatch> = OnceLock::new();
    DISPATCH.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(osprey::layer::OspreyLayer::default());
        tracing::Dispatch::new(subscriber)
    })
}
