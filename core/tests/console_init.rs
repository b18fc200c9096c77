//! End to end: `osprey::init` with a console exporter writing into a shared
//! buffer. One `init` per process, so this file holds a single test.
#![cfg(all(feature = "console", feature = "enable"))]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osprey::export::console::{ConsoleConfig, ConsoleExporter};
use osprey::{Config, StepKind};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn transactions_are_printed_with_their_tree() {
    let out = Shared::default();
    let exporter = ConsoleExporter::with_writer(ConsoleConfig { tree: true }, out.clone());
    let guard = osprey::init(Config::default().exporter(exporter)).expect("osprey starts");

    let txn = osprey::transaction("GET /cart").server().begin();
    let trace = osprey::traceparent().unwrap()[3..35].to_owned();
    {
        let _load = osprey::step("CartService.load");
        let sql = osprey::step_of_kind(StepKind::Sql, "SELECT * FROM cart");
        sql.attr("db.statement", "SELECT * FROM cart WHERE id = 7");
    }
    let _ = txn.end();
    assert!(osprey::flush(Duration::from_secs(10)));
    assert!(guard.shutdown(Duration::from_secs(10)));

    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].ends_with(&format!(" ms SERVER   GET /cart trace={trace}")),
        "{text}"
    );
    assert!(lines[0].as_bytes()[23] == b'Z', "UTC time first: {text}");
    assert!(lines[1].starts_with("  +") && lines[1].ends_with(" ms method CartService.load"));
    assert!(
        lines[2].starts_with("    +"),
        "depth 2 is indented deeper: {text}"
    );
    assert!(
        lines[2].ends_with(
            " ms sql    SELECT * FROM cart db.statement=SELECT * FROM cart WHERE id = ?"
        ),
        "the SQL literal stays in the process: {text}"
    );
}
