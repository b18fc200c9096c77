//! Distinct names without end (URLs with ids, SQL with literals) cannot
//! grow the name table past its byte budget: new names become `OTHER`,
//! are counted, and names interned before stay intact. Its own process,
//! since it fills the process-wide table.

use osprey::names::{self, MAX_NAME_BYTES, MAX_TABLE_BYTES, OTHER};

#[test]
fn a_full_name_table_refuses_new_names_and_keeps_old_ones() {
    let early = names::intern("GET /orders");
    let filler = "x".repeat(MAX_NAME_BYTES - 8);
    let mut i = 0u64;
    while names::refused_count() == 0 {
        names::intern(&format!("{filler}{i:08}"));
        i += 1;
        assert!(
            i < 2 * (MAX_TABLE_BYTES / MAX_NAME_BYTES) as u64,
            "never filled"
        );
    }
    // Less than one long name of room is left: short names fill it up.
    let refused_short =
        (0..MAX_NAME_BYTES).any(|u| names::intern(&format!("GET /users/{u}")) == OTHER);
    assert!(refused_short);
    assert_eq!(names::intern("GET /users/never-seen-before"), OTHER);
    assert!(names::refused_count() >= 3);
    assert_eq!(
        names::intern("GET /orders"),
        early,
        "known names still resolve"
    );
    assert_eq!(&*names::resolve(early), "GET /orders");
}
