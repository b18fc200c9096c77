//! The README's main command, `bash examples/tomcat/run.sh`, end to end:
//! an embedded Tomcat application under the Java agent records into the
//! local store, and the script prints what it read back. Set
//! `OSPREY_AGENT_JAR` to use a prebuilt agent (`scripts/test-all.sh` does).

use std::path::Path;
use std::process::Command;

#[test]
fn the_tomcat_demo_prints_transactions_and_a_call_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new("bash")
        .arg(root.join("examples/tomcat/run.sh"))
        .env("OSPREY_STORE_REPORT", env!("CARGO_BIN_EXE_store_report"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("6 transactions read back"),
        "four /hello, /fail, /exit:\n{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    // Once as a line, once more as the head of the slowest tree.
    assert_eq!(count("SERVER   GET /hello"), 5, "{stdout}");
    assert!(
        lines.iter().any(|l| l.contains("GET /fail")
            && l.contains("ERROR java.lang.IllegalStateException: kaboom")),
        "{stdout}"
    );
    assert!(
        count("trace=4bf92f3577b34da6a3ce929d0e0e4736") >= 1,
        "inbound traceparent continued: {stdout}"
    );
    let tree = stdout
        .split("The call tree of the slowest one:")
        .nth(1)
        .expect("a call tree");
    for step in [
        "method demo.web.Work.outer(java.lang.String)",
        "method demo.web.Work.inner(int)",
        "sql    SELECT name FROM item WHERE id = ?",
        "sql    SELECT name FROM item WHERE name = ? AND id = ?",
    ] {
        assert!(tree.contains(step), "{step} missing from:\n{tree}");
    }
    assert!(!stdout.contains("not-for-export") && !stdout.contains("'widget'"));
}
