//! A `tracing-subscriber` [`Layer`] that records `tracing` spans into the
//! Osprey recorder. A span is one transaction or one step from its creation
//! to its close, however many times it is entered and on whatever threads:
//! an `async fn` under `#[instrument]`, polled twenty times by four runtime
//! workers, is one step whose elapsed time covers its awaits (the time it
//! was actually polled is its `osprey.busy_ns` attribute).
//!
//! - A span with no parent in a transaction becomes the transaction (or,
//!   with [`OspreyLayer::transactions_from`] / [`OspreyLayer::transaction_level`],
//!   only spans of that target or level do: an infrastructure span around
//!   many requests then stays out). A span made with `parent: None` is one
//!   even inside another transaction's work.
//! - Spans under it become its steps; parents come from the span tree
//!   (`parent:` or the span current at creation), not from the thread.
//! - Span fields become attributes, `ERROR` events the error of the span
//!   they happen in, `follows_from` a link (an `osprey.link` attribute in the
//!   model, a `Span.Link` over OTLP). A span
//!   declaring `db.statement` (or `db.query.text`, `db.system`) is a SQL
//!   step, its statement sanitised on export; one declaring
//!   `http.request.method` and `url.full` an outgoing HTTP call.
//! - With the `sqlx` feature, sqlx's statement events (target
//!   `sqlx::query`, logged when a statement finishes) become SQL steps of
//!   the async work or span they happen in, named by the statement with its
//!   literals replaced and lasting the reported `elapsed_secs` (see
//!   `OspreyLayer::sqlx_system` for `db.system`). sqlx logs them at
//!   `DEBUG`: a level filter in front of this layer must let them through.
//! - Inside a transaction begun with the native API on this thread
//!   ([`crate::transaction`]), spans are steps of that transaction through
//!   the thread-local fast path, one step per enter/exit as before (nested
//!   when entered again while entered). Such a span entered on another
//!   thread, or after that transaction ended, records nothing: only the
//!   thread that owns a thread-local transaction can add to it.
//! - Field values and `ERROR` event fields named as credentials
//!   (`password`, `token`, …) are exported as `[REDACTED]`, and so are
//!   values written after such a name inside other fields and messages (an
//!   argument whose `Debug` shows `password: "…"`, an error message with
//!   `token=…`; see [`crate::collector::sanitize::inline_secrets`]).
//!
//! ```
//! use tracing_subscriber::prelude::*;
//!
//! let _osprey = osprey::init(osprey::Config::default().exporter(osprey::export::NullExporter)).unwrap();
//! let subscriber = tracing_subscriber::registry().with(osprey::layer::OspreyLayer::default());
//! tracing::subscriber::with_default(subscriber, || {
//!     let root = tracing::info_span!("handle_request", http.route = "/orders");
//!     let _root = root.enter();
//!     let _query = tracing::info_span!("query", db.statement = "SELECT 1").entered();
//! });
//! ```
//!
//! Transactions and steps recorded here are handed over when the root span
//! closes; `tracing`'s registry closes a parent only after its children.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::capped;
use crate::clock;
use crate::collector::sanitize::{REDACTED, is_secret_key};
use crate::local::raw::{NO_STEP, RawName, RawTxnName};
use crate::local::recorder::{self, ActiveTxn, MAX_ATTRS, StepToken, Target};
use crate::local::shared::{self, FinishedStep, SharedTxn};
use crate::model::{self, AttrValue, ErrorInfo, SpanKind, StepKind};

/// Records `tracing` spans as Osprey transactions and steps.
#[derive(Debug, Clone, Default)]
pub struct OspreyLayer {
    root_kind: SpanKind,
    root_target: Option<Cow<'static, str>>,
    root_level: Option<Level>,
    #[cfg(feature = "sqlx")]
    sqlx_system: Option<&'static str>,
}

impl OspreyLayer {
    /// Root spans become SERVER transactions (for request handlers);
    /// the default is INTERNAL.
    pub fn server_roots(mut self) -> Self {
        self.root_kind = SpanKind::Server;
        self
    }

    /// Only spans whose target starts with `prefix` begin transactions
    /// (when not already in one); other spans outside a transaction are
    /// not recorded.
    pub fn transactions_from(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        self.root_target = Some(prefix.into());
        self
    }

    /// Only spans at `level` or less verbose (`INFO` admits `INFO`, `WARN`
    /// and `ERROR`) begin transactions; combines with
    /// [`Self::transactions_from`].
    pub fn transaction_level(mut self, level: Level) -> Self {
        self.root_level = Some(level);
        self
    }

    /// The `db.system` given to SQL steps recorded from sqlx's statement
    /// events (`"postgresql"`, `"mysql"`, `"sqlite"`): the events do not say
    /// which database they come from.
    #[cfg(feature = "sqlx")]
    pub fn sqlx_system(mut self, system: &'static str) -> Self {
        self.sqlx_system = Some(system);
        self
    }

    fn begins_transaction(&self, meta: &Metadata<'_>) -> bool {
        self.root_target
            .as_deref()
            .is_none_or(|p| meta.target().starts_with(p))
            && self.root_level.is_none_or(|l| *meta.level() <= l)
    }
}

/// A span recorded as the transaction (`key == NO_STEP`) or a step of a
/// [`SharedTxn`]; kept in the span's registry extensions.
struct Node {
    txn: Arc<SharedTxn>,
    /// The step's key, [`NO_STEP`] for the transaction itself.
    key: u32,
    /// The parent's key (or [`NO_STEP`]).
    parent: u32,
    /// False for a span past the step cap: not recorded, its children
    /// hang on its parent.
    own: bool,
    kind: StepKind,
    start: u64,
    /// Ticks spent entered, and when the current enter began.
    busy: u64,
    entered_at: u64,
    entered: u32,
    measured: bool,
}

impl Node {
    /// The key new child steps name as their parent.
    fn child_parent(&self) -> u32 {
        if self.own { self.key } else { self.parent }
    }
}

/// A span recorded through the thread-local recorder (made inside a native
/// transaction on this thread): one step of that transaction per
/// enter/exit. Entered on another thread, or once that transaction ended,
/// it is not recorded (its parent is in a transaction no other thread can
/// add to).
struct Local {
    /// The transaction it was made in.
    home: Option<ActiveTxn>,
    /// Its fields, given to the step of each enter (at most [`MAX_ATTRS`],
    /// the most a step keeps).
    fields: SpanFields,
    /// Its current enters, innermost last: the step each opened, and on
    /// which thread. A span may be entered again while entered (re-entrant
    /// `in_scope`), or on two threads at once; each exit closes the step
    /// its own thread's last enter opened.
    enters: SmallVec<[(ActiveTxn, StepToken); 2]>,
}

/// Most enters a [`Local`] span keeps at once; deeper ones (guards leaked in
/// a loop) are not recorded, so they cannot grow memory.
const MAX_LOCAL_ENTERS: usize = 64;

impl Local {
    /// The step this thread's innermost enter opened, if any.
    fn innermost(&self, here: ActiveTxn) -> Option<StepToken> {
        self.enters
            .iter()
            .rev()
            .find(|(t, _)| *t == here)
            .map(|(_, s)| *s)
    }
}

/// A span's fields as recorded.
#[derive(Default)]
struct SpanFields(Vec<(&'static str, AttrValue)>);

impl Visit for SpanFields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), AttrValue::Int(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((
            field.name(),
            AttrValue::Int(i64::try_from(value).unwrap_or(i64::MAX)),
        ));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), AttrValue::Float(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), AttrValue::Bool(value)));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let value = capped::clean_oversized(&RawName::Static(field.name()), value);
        let (head, mark) = capped::prefix(&value, capped::MAX_VALUE_BYTES);
        // `concat` allocates the exact length.
        self.0
            .push((field.name(), AttrValue::Str([head, mark].concat())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Bounded while formatting: a large argument is not formatted whole.
        let mut text = String::new();
        capped::write_debug(&mut text, value, capped::MAX_VALUE_BYTES);
        self.0.push((field.name(), AttrValue::Str(text)));
    }
}

/// Collects an event's `message` and other fields into one text of at
/// most [`capped::MAX_VALUE_BYTES`]; the values of fields named as
/// credentials (`password`, `token`, …: the sanitiser's keys) are replaced
/// by [`REDACTED`], as they would be as attributes.
#[derive(Default)]
struct EventText {
    text: String,
    /// Cut at the bound: later fields are left out.
    full: bool,
}

impl Visit for EventText {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.full {
            return;
        }
        let text = &mut self.text;
        if !text.is_empty() {
            text.push(' ');
        }
        let max = capped::MAX_VALUE_BYTES;
        self.full = if field.name() == "message" {
            capped::write_debug(text, value, max)
        } else if is_secret_key(field.name()) {
            capped::write_debug(text, &format_args!("{}={REDACTED}", field.name()), max)
        } else {
            capped::write_debug(text, &format_args!("{}={value:?}", field.name()), max)
        };
    }
}

/// The step kind a span's declared fields imply: a database statement
/// (`db.statement`, `db.query.text`, `db.system`, `db.system.name`: a SQL
/// step, exported as a CLIENT span with its statement sanitised), an
/// outgoing HTTP call (`http.request.method` with `url.full`), else a method.
fn step_kind(meta: &Metadata<'_>) -> StepKind {
    let fields = meta.fields();
    let has = |name: &str| fields.field(name).is_some();
    if has("db.statement") || has("db.query.text") || has("db.system") || has("db.system.name") {
        StepKind::Sql
    } else if has("http.request.method") && has("url.full") {
        StepKind::HttpCall
    } else {
        StepKind::Method
    }
}

/// Where a new span belongs, found from its ancestors.
enum Home {
    /// Under a span of this transaction: the parent key.
    Shared(Arc<SharedTxn>, u32),
    /// Under a span recorded through the thread-local recorder.
    Local,
    /// No recorded ancestor.
    None,
}

fn home_of<S>(span: &tracing_subscriber::registry::SpanRef<'_, S>) -> Home
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let mut ancestor = span.parent();
    while let Some(a) = ancestor {
        {
            let ext = a.extensions();
            if let Some(node) = ext.get::<Node>() {
                return Home::Shared(node.txn.clone(), node.child_parent());
            }
            if ext.get::<Local>().is_some() {
                return Home::Local;
            }
        }
        ancestor = a.parent();
    }
    Home::None
}

impl<S> Layer<S> for OspreyLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !cfg!(feature = "enable") {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let meta = span.metadata();
        let (txn, parent) = match home_of(&span) {
            Home::Shared(txn, parent) => (txn, parent),
            Home::Local => return local_span(&span, attrs),
            // Made under no span: a step of the native transaction open on
            // this thread, unless it was made a root (`parent: None`).
            Home::None if attrs.is_contextual() && recorder::is_active() => {
                return local_span(&span, attrs);
            }
            // Inside async work of the native API (a future in
            // `in_transaction`, a server middleware's request): its step,
            // unless it was made a root (`parent: None`).
            Home::None
                if attrs.is_contextual()
                    && let Some(context) = shared::current_context() =>
            {
                context
            }
            Home::None if !self.begins_transaction(meta) => return,
            Home::None => {
                let name = RawTxnName::Raw(RawName::Static(meta.name()));
                let Some(txn) = SharedTxn::begin(name, self.root_kind, None, None) else {
                    return;
                };
                record_fields(&txn, NO_STEP, attrs);
                let node = Node::new(txn, NO_STEP, NO_STEP, true, StepKind::Method);
                span.extensions_mut().insert(node);
                return;
            }
        };
        let kind = step_kind(meta);
        let node = match txn.open_step() {
            Some(key) => {
                record_fields(&txn, key, attrs);
                Node::new(txn, key, parent, true, kind)
            }
            None => Node::new(txn, NO_STEP, parent, false, kind),
        };
        span.extensions_mut().insert(node);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(node) = ext.get_mut::<Node>() {
            if node.own {
                record_fields(&node.txn, node.key, values);
            }
            return;
        }
        let Some(local) = ext.get_mut::<Local>() else {
            return;
        };
        let mut fresh = SpanFields::default();
        values.record(&mut fresh);
        // Fields recorded while the span is open on this thread go straight
        // to its step.
        if let Some(here) = recorder::active_txn()
            && let Some(step) = local.innermost(here)
        {
            apply(step, &fresh.0);
        }
        let room = MAX_ATTRS.saturating_sub(local.fields.0.len());
        local.fields.0.extend(fresh.0.into_iter().take(room));
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(target) = ctx.span(follows) else {
            return;
        };
        let link = {
            let mut ext = target.extensions_mut();
            let Some(node) = ext.get_mut::<Node>() else {
                return;
            };
            let span_id = node.txn.span_id_of(node.child_parent());
            crate::propagation::format_traceparent(node.txn.trace_id(), span_id, true)
        };
        let Some(span) = ctx.span(id) else { return };
        if let Some(node) = span.extensions().get::<Node>()
            && node.own
        {
            node.txn
                .attr(node.key, RawName::Static(model::ATTR_LINK), link.into());
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if !cfg!(feature = "enable") {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(node) = ext.get_mut::<Node>() {
            if node.entered == 0 {
                node.entered_at = clock::now();
            }
            node.entered += 1;
            shared::push_context(&node.txn, node.child_parent());
            return;
        }
        let Some(local) = ext.get_mut::<Local>() else {
            return;
        };
        let Some(here) = local.home else { return };
        if recorder::active_txn() != Some(here) || local.enters.len() >= MAX_LOCAL_ENTERS {
            return;
        }
        let step = recorder::enter(
            RawName::Static(span.metadata().name()),
            step_kind(span.metadata()),
        );
        apply(step, &local.fields.0);
        local.enters.push((here, step));
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(node) = ext.get_mut::<Node>() {
            shared::pop_context(&node.txn, node.child_parent());
            if node.entered > 0 {
                node.entered -= 1;
                if node.entered == 0 {
                    node.busy += clock::now().saturating_sub(node.entered_at);
                    node.measured = true;
                }
            }
            return;
        }
        let Some(local) = ext.get_mut::<Local>() else {
            return;
        };
        // Also once its transaction ended (the exit then closes nothing).
        if let Some(at) = local.enters.iter().rposition(|(t, _)| t.is_here()) {
            let (_, step) = local.enters.remove(at);
            recorder::exit_step(step);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(node) = span.extensions_mut().remove::<Node>() else {
            return;
        };
        let now = clock::now();
        // Still entered when closed (a guard leaked across the close):
        // count the time up to now.
        let busy = if node.entered > 0 {
            Some(node.busy + now.saturating_sub(node.entered_at))
        } else {
            node.measured.then_some(node.busy)
        };
        if node.key == NO_STEP {
            if node.own {
                let _ = node.txn.end(now, busy, false);
            }
            return;
        }
        node.txn.finish_step(FinishedStep {
            key: node.key,
            parent: node.parent,
            start: node.start,
            end: now,
            busy,
            name: RawName::Static(span.metadata().name()),
            kind: node.kind,
            cancelled: false,
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        #[cfg(feature = "sqlx")]
        if event.metadata().target() == sqlx::TARGET {
            return sqlx::record(event, &ctx, self.sqlx_system);
        }
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        if let Some(span) = ctx.event_span(event)
            && let Some(node) = span.extensions().get::<Node>()
        {
            node.txn.error(node.child_parent(), event_error(event));
            return;
        }
        if recorder::is_active() {
            let _ = recorder::set_error(Target::Current, event_error(event));
        } else if let Some((txn, key)) = shared::current_context() {
            // Outside any span, in async work of the native API (a future
            // in `in_transaction` or `in_step`): that work's error.
            txn.error(key, event_error(event));
        }
    }
}

/// SQL steps from sqlx's statement events. sqlx opens no span per
/// statement; when a statement's rows have been read (or it is dropped) it
/// logs one event, target `sqlx::query`, with `summary` (its first four
/// words), `db.statement` (the whole text when longer than the summary,
/// else empty), `rows_affected`, `rows_returned` and `elapsed_secs`. Logged
/// on the thread polling the query, inside the request's async context, the
/// event becomes a SQL step ending now and starting `elapsed_secs` ago.
#[cfg(feature = "sqlx")]
mod sqlx {
    use super::*;

    pub(super) const TARGET: &str = "sqlx::query";

    #[derive(Default)]
    struct Statement {
        summary: String,
        text: String,
        elapsed_ns: u64,
        rows_returned: Option<u64>,
        rows_affected: Option<u64>,
    }

    impl Visit for Statement {
        fn record_str(&mut self, field: &Field, value: &str) {
            match field.name() {
                "summary" => value.clone_into(&mut self.summary),
                "db.statement" => value.trim().clone_into(&mut self.text),
                _ => {}
            }
        }
        fn record_f64(&mut self, field: &Field, value: f64) {
            if field.name() == "elapsed_secs" && value.is_finite() && value > 0.0 {
                self.elapsed_ns = (value * 1e9) as u64;
            }
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            match field.name() {
                "rows_returned" => self.rows_returned = Some(value),
                "rows_affected" => self.rows_affected = Some(value),
                _ => {}
            }
        }
        fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
    }

    pub(super) fn record<S>(event: &Event<'_>, ctx: &Context<'_, S>, system: Option<&'static str>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if !cfg!(feature = "enable") {
            return;
        }
        let now = clock::now();
        let context = match ctx.event_span(event) {
            Some(span) => span
                .extensions()
                .get::<Node>()
                .map(|node| (node.txn.clone(), node.child_parent())),
            None => None,
        };
        let Some((txn, parent)) = context.or_else(shared::current_context) else {
            return;
        };
        let mut statement = Statement::default();
        event.record(&mut statement);
        let text = if statement.text.is_empty() {
            statement.summary.as_str()
        } else {
            statement.text.as_str()
        };
        if text.is_empty() {
            return;
        }
        let Some(key) = txn.open_step() else { return };
        let name = crate::future::intern_step_name(&txn, key, StepKind::Sql, text);
        if let Some(system) = system {
            txn.attr(key, RawName::Static("db.system"), system.into());
        }
        if let Some(rows) = statement.rows_returned.filter(|r| *r > 0) {
            let rows = i64::try_from(rows).unwrap_or(i64::MAX);
            txn.attr(
                key,
                RawName::Static("db.response.returned_rows"),
                rows.into(),
            );
        }
        if let Some(rows) = statement.rows_affected.filter(|r| *r > 0) {
            let rows = i64::try_from(rows).unwrap_or(i64::MAX);
            txn.attr(
                key,
                RawName::Static("db.response.affected_rows"),
                rows.into(),
            );
        }
        txn.finish_step(FinishedStep {
            key,
            parent,
            start: clock::ticks_before(now, statement.elapsed_ns),
            end: now,
            busy: None,
            name,
            kind: StepKind::Sql,
            cancelled: false,
        });
    }
}

impl Node {
    fn new(txn: Arc<SharedTxn>, key: u32, parent: u32, own: bool, kind: StepKind) -> Self {
        Self {
            txn,
            key,
            parent,
            own,
            kind,
            start: clock::now(),
            busy: 0,
            entered_at: 0,
            entered: 0,
            measured: false,
        }
    }
}

/// Marks a span for the thread-local path and keeps its fields for its
/// enters.
fn local_span<S>(span: &tracing_subscriber::registry::SpanRef<'_, S>, attrs: &Attributes<'_>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let mut fields = SpanFields::default();
    attrs.record(&mut fields);
    fields.0.truncate(MAX_ATTRS);
    span.extensions_mut().insert(Local {
        home: recorder::active_txn(),
        fields,
        enters: SmallVec::new(),
    });
}

/// Records span fields as attributes of a shared transaction's step.
fn record_fields(txn: &SharedTxn, key: u32, values: &impl RecordFields) {
    let mut fields = SpanFields::default();
    values.record_into(&mut fields);
    for (name, value) in fields.0 {
        txn.attr(key, RawName::Static(name), value);
    }
}

/// `Attributes` and `Record` both record their fields into a visitor.
trait RecordFields {
    fn record_into(&self, visitor: &mut dyn Visit);
}

impl RecordFields for Attributes<'_> {
    fn record_into(&self, visitor: &mut dyn Visit) {
        self.record(visitor);
    }
}

impl RecordFields for Record<'_> {
    fn record_into(&self, visitor: &mut dyn Visit) {
        self.record(visitor);
    }
}

fn event_error(event: &Event<'_>) -> ErrorInfo {
    let mut text = EventText::default();
    event.record(&mut text);
    // The space before a field is written outside the bound.
    capped::cap(&mut text.text, capped::MAX_VALUE_BYTES);
    ErrorInfo {
        kind: String::new(),
        message: text.text,
        stack: String::new(),
    }
}

fn apply(step: StepToken, fields: &[(&'static str, AttrValue)]) {
    if step == StepToken::NONE {
        return;
    }
    let target = Target::Step(step);
    for (key, value) in fields {
        let _ = recorder::set_attr(target, RawName::Static(key), value.clone());
    }
}
