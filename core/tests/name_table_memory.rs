//! What a full name table costs: every kind filled to its budget stays
//! within the table's byte budget in resident memory, which is what
//! `ENTRY_OVERHEAD` claims (the map slot, the names vector's slot, the
//! shared allocation's counts and rounding). Its own process: it fills the
//! process-wide table and measures this process's RSS.

use osprey::names::{self, ENTRY_OVERHEAD, MAX_TABLE_BYTES, NameKind};

#[path = "support/rss.rs"]
mod rss;
use rss::rss_kib;

#[test]
fn a_full_table_stays_within_its_budget_in_resident_memory() {
    let before = rss_kib();
    let mut count = 0u64;
    let mut text_bytes = 0usize;
    for kind in NameKind::ALL {
        let mut i = 0u64;
        while names::refused_count_of(kind) == 0 {
            // Short names: the overhead dominates, the worst case per byte.
            let name = match kind {
                NameKind::Code => format!("m{i}"),
                NameKind::Endpoint => format!("GET /e{i:x}"),
                NameKind::Sql => format!("SELECT c FROM t{i:x}"),
                NameKind::Url => format!("http://h/p{i:x}"),
            };
            let id = names::intern_as(&name, kind);
            if !names::is_overflow(id) {
                count += 1;
                text_bytes += names::resolve(id).len();
            }
            i += 1;
        }
    }
    let grown = (rss_kib() - before) * 1024;
    let charged: usize = NameKind::ALL.iter().map(|k| names::used_bytes(*k)).sum();
    eprintln!(
        "names={count} text_bytes={text_bytes} charged={charged} rss_growth={grown} \
         rss_per_name={} text_per_name={} overhead_per_name={}",
        grown / count,
        text_bytes as u64 / count,
        (grown - text_bytes as u64) / count
    );
    assert!(charged <= MAX_TABLE_BYTES);
    assert_eq!(charged, text_bytes + count as usize * ENTRY_OVERHEAD);
    assert!(
        grown <= MAX_TABLE_BYTES as u64 * 5 / 4,
        "a full table took {grown} bytes of RSS, budget {MAX_TABLE_BYTES}"
    );
}
