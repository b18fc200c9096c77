//! `osprey_web::postgres::Client` against a real PostgreSQL server started
//! by the test: prepared statements are named by their text, a failed
//! statement is marked with its SQLSTATE only (PostgreSQL's message can
//! quote the failing value), outside any transaction nothing is recorded.

#[path = "../../core/tests/support/capture.rs"]
mod capture;
// Shared with two_services.rs, which also uses `url`.
#[allow(dead_code)]
#[path = "support/postgres.rs"]
mod postgres;

use std::time::Duration;

use capture::{Capture, render};
use osprey::future::FutureExt;
use osprey::model::{AttrValue, StepKind};

fn name(id: osprey::names::NameId) -> String {
    osprey::names::resolve(id).to_string()
}

#[test]
fn statements_are_sql_steps_named_without_literals_and_failures_keep_only_the_code() {
    let pg = postgres::Postgres::start();
    let capture = Capture::default();
    let guard = osprey::init(
        osprey::Config::default()
            .batch_delay(Duration::from_millis(20))
            .exporter(capture.clone()),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&pg.config(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let client = osprey_web::postgres::Client::new(client);
        // Not in a transaction: runs, records nothing.
        client
            .batch_execute("CREATE TABLE audit (what text)")
            .await
            .unwrap();
        async {
            let insert = client
                .prepare("INSERT INTO audit (what) VALUES ($1)")
                .await
                .unwrap();
            assert_eq!(client.execute(&insert, &[&"login"]).await.unwrap(), 1);
            let rows = client
                .query("SELECT what FROM audit WHERE what <> 'alice-secret'", &[])
                .await
                .unwrap();
            assert_eq!(rows.len(), 1);
            let err = client
                .query_one("SELECT 1 / (length('bob-secret') - 10)", &[])
                .await
                .unwrap_err();
            assert_eq!(
                err.code(),
                Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO)
            );
        }
        .in_transaction(osprey::transaction("audit-job"))
        .await;
    });
    drop(rt);
    assert!(guard.shutdown(Duration::from_secs(20)));
    let txns = capture.transactions();
    assert_eq!(txns.len(), 1);
    let t = &txns[0];
    let steps: Vec<(String, StepKind)> = t.steps.iter().map(|s| (name(s.name), s.kind)).collect();
    assert_eq!(
        steps,
        [
            ("INSERT INTO audit (what) VALUES ($1)".into(), StepKind::Sql),
            ("INSERT INTO audit (what) VALUES ($1)".into(), StepKind::Sql),
            (
                "SELECT what FROM audit WHERE what <> ?".into(),
                StepKind::Sql
            ),
            ("SELECT ? / (length(?) - ?)".into(), StepKind::Sql),
        ],
        "{}",
        render(t)
    );
    for s in &t.steps {
        let system = s.attributes.iter().find(|a| name(a.key) == "db.system");
        assert_eq!(
            system.map(|a| &a.value),
            Some(&AttrValue::Str("postgresql".into()))
        );
    }
    let affected = t.steps[1]
        .attributes
        .iter()
        .find(|a| name(a.key) == "db.response.affected_rows");
    assert_eq!(affected.map(|a| &a.value), Some(&AttrValue::Int(1)));
    assert!(t.steps[..3].iter().all(|s| s.error.is_none()));
    let error = t.steps[3].error.as_deref().expect("the failed statement");
    assert_eq!(error.kind, "22012");
    assert_eq!(error.message, "");
    // No literal reached the records.
    let dump = format!("{t:?}{}", render(t));
    assert!(!dump.contains("secret"), "{dump}");
}
