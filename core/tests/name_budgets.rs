//! Each kind of name has its own budget in the process-wide table: SQL
//! shapes without end fill the SQL budget only, and a new endpoint or
//! method seen afterwards is still named right. Past a kind's budget the
//! name travels with its transaction instead of being lost. Its own
//! process, since it fills the process-wide table.
#![cfg(feature = "enable")]

#[path = "support/capture.rs"]
mod capture;

use std::time::Duration;

use capture::Capture;
use osprey::model::{AttrValue, StepKind, TransactionRecord};
use osprey::names::{self, NameKind, overflow_id};
use osprey::{Config, raw};

/// Interns distinct names of `kind` until its budget refuses one; how many
/// it took.
fn fill(kind: NameKind, name: impl Fn(u64) -> String) -> u64 {
    let mut i = 0u64;
    while names::refused_count_of(kind) == 0 {
        names::intern_as(&name(i), kind);
        i += 1;
        assert!(
            i < (kind.budget_bytes() / names::ENTRY_OVERHEAD) as u64 + 10,
            "{kind:?} never filled"
        );
    }
    i
}

fn attr<'a>(attributes: &'a [osprey::model::Attribute], key: &str) -> Option<&'a AttrValue> {
    attributes
        .iter()
        .find(|a| &*names::resolve(a.key) == key)
        .map(|a| &a.value)
}

#[test]
fn a_kind_past_its_budget_leaves_the_others_named_and_its_own_names_travel_with_the_transaction() {
    let early_sql = names::intern_as("SELECT a FROM early WHERE id = 1", NameKind::Sql);
    let method = names::intern("com.shop.Orders.load");

    // Distinct shapes (not literals: those collapse) fill the SQL budget.
    let filled = fill(NameKind::Sql, |i| {
        format!("SELECT a FROM table_{i} WHERE id = {i}")
    });
    assert!(filled > 10_000, "{filled}");
    assert!(names::used_bytes(NameKind::Sql) <= NameKind::Sql.budget_bytes());
    assert_eq!(
        names::intern_as("SELECT b FROM never_seen WHERE x = 'y'", NameKind::Sql),
        overflow_id(NameKind::Sql)
    );

    // Other kinds are untouched: new ones are named, old ones kept.
    for (text, kind) in [
        ("GET /first-seen-after-the-flood", NameKind::Endpoint),
        ("com.shop.Orders.firstSeenAfterTheFlood", NameKind::Code),
        ("https://inventory/stock/42", NameKind::Url),
    ] {
        let id = names::intern_as(text, kind);
        assert!(!names::is_overflow(id), "{text}");
        assert_eq!(&*names::resolve(id), &*names::clean(text, kind));
    }
    assert_eq!(
        &*names::resolve(early_sql),
        "SELECT a FROM early WHERE id = ?"
    );
    assert_eq!(names::intern("com.shop.Orders.load"), method);
    assert_eq!(names::refused_count_of(NameKind::Code), 0);
    assert_eq!(names::refused_count_of(NameKind::Endpoint), 0);

    // Fill the endpoints' budget too: transaction names then travel as an attribute.
    fill(NameKind::Endpoint, |i| format!("GET /filler/{i}"));

    let capture = Capture::default();
    let guard = osprey::init(
        Config::default()
            .batch_delay(Duration::from_millis(20))
            .exporter(capture.clone()),
    )
    .expect("init");
    let txn = osprey::transaction(String::from("GET /late-endpoint?token=s3cr3t"))
        .server()
        .begin();
    let sql = raw::enter_named("SELECT c FROM late_table WHERE pin = 1234", StepKind::Sql);
    assert_ne!(sql, 0);
    raw::exit_step(sql);
    let known = raw::enter_named("SELECT a FROM early WHERE id = 99", StepKind::Sql);
    raw::exit_step(known);
    txn.end();
    assert!(guard.shutdown(Duration::from_secs(10)));

    let txns: Vec<TransactionRecord> = capture.transactions();
    assert_eq!(txns.len(), 1);
    let t = &txns[0];
    assert_eq!(t.name, overflow_id(NameKind::Endpoint));
    assert_eq!(
        attr(&t.attributes, "osprey.transaction.name"),
        Some(&AttrValue::Str("GET /late-endpoint?token=?".into()))
    );
    assert_eq!(t.steps.len(), 2);
    assert_eq!(t.steps[0].name, overflow_id(NameKind::Sql));
    assert_eq!(
        attr(&t.steps[0].attributes, "db.query.text"),
        Some(&AttrValue::Str(
            "SELECT c FROM late_table WHERE pin = ?".into()
        ))
    );
    assert_eq!(t.steps[1].name, early_sql, "known shapes keep their id");
    assert!(t.steps[1].attributes.is_empty());
}
