//! A `tracing-subscriber` [`Layer`] that records `tracing` spans into the
//! Osprey recorder: the outermost span entered on a thread becomes the
//! transaction, spans entered inside it become steps, span fields become
//! attributes, and `ERROR` events become the error of the innermost span.
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
//! A span maps to one step per enter/exit pair, so an `async` span polled
//! several times records one step per poll; spans must exit on the thread
//! that entered them (as `tracing` guarantees for `Entered` guards).

use std::fmt;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::local::raw::RawName;
use crate::local::recorder::{self, NewName, StepToken, Target};
use crate::model::{AttrValue, ErrorInfo, SpanKind, StepKind};

/// Records `tracing` spans as Osprey transactions and steps.
#[derive(Debug, Clone, Default)]
pub struct OspreyLayer {
    root_kind: SpanKind,
}

impl OspreyLayer {
    /// Root spans become SERVER transactions (for request handlers);
    /// the default is INTERNAL.
    pub fn server_roots(mut self) -> Self {
        self.root_kind = SpanKind::Server;
        self
    }
}

/// Fields recorded on a span, kept in its registry extensions.
#[derive(Default)]
struct SpanFields(Vec<(&'static str, AttrValue)>);

/// How the current enter of a span was recorded.
#[derive(Clone, Copy)]
enum Entered {
    /// Began the transaction with this sequence number.
    Transaction(u32),
    Step(StepToken),
}

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
        self.0
            .push((field.name(), AttrValue::Str(value.to_owned())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .push((field.name(), AttrValue::Str(format!("{value:?}"))));
    }
}

/// Collects an event's `message` and other fields into one text.
#[derive(Default)]
struct EventText(String);

impl Visit for EventText {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use fmt::Write;
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}

impl<S> Layer<S> for OspreyLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !cfg!(feature = "enable") {
            return;
        }
        if let Some(span) = ctx.span(id) {
            let mut fields = SpanFields::default();
            attrs.record(&mut fields);
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let mut fresh = SpanFields::default();
        values.record(&mut fresh);
        // Fields recorded while the span is open go straight to its step.
        if let Some(entered) = ext.get_mut::<Entered>().copied() {
            apply(entered, &fresh.0);
        }
        if let Some(fields) = ext.get_mut::<SpanFields>() {
            fields.0.extend(fresh.0);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if !cfg!(feature = "enable") {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let name = span.metadata().name();
        let entered = if recorder::is_active() {
            Entered::Step(recorder::enter(RawName::Static(name), StepKind::Method))
        } else {
            match recorder::begin(NewName::Raw(RawName::Static(name)), self.root_kind, None) {
                Ok(seq) => Entered::Transaction(seq),
                Err(_) => return,
            }
        };
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<SpanFields>() {
            apply(entered, &fields.0);
        }
        ext.replace(entered);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        match span.extensions_mut().remove::<Entered>() {
            Some(Entered::Transaction(seq)) => {
                let _ = recorder::end_seq(seq);
            }
            Some(Entered::Step(token)) => recorder::exit_step(token),
            None => {}
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR || !recorder::is_active() {
            return;
        }
        let mut text = EventText::default();
        event.record(&mut text);
        let _ = recorder::set_error(
            Target::Current,
            ErrorInfo {
                kind: String::new(),
                message: text.0,
                stack: String::new(),
            },
        );
    }
}

fn apply(entered: Entered, fields: &[(&'static str, AttrValue)]) {
    let target = match entered {
        Entered::Transaction(_) => Target::Transaction,
        Entered::Step(token) if token == StepToken::NONE => return,
        Entered::Step(token) => Target::Step(token),
    };
    for (key, value) in fields {
        let _ = recorder::set_attr(target, RawName::Static(key), value.clone());
    }
}
