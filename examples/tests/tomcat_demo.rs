//! The README's main command, `bash examples/tomcat/run.sh`, end to end:
//! an embedded Tomcat application under the Java agent exports to the
//! local collector (`osprey serve`) and records into the local store; the
//! script prints what it read back and the viewer's address. The mixed
//! traffic runs 4 s here (a minute in the README's demo); every driven
//! request is in the store and in the collector. Set `OSPREY_AGENT_JAR` to use
//! a prebuilt agent (`scripts/test-all.sh` does).

use std::path::Path;
use std::process::Command;

#[test]
fn the_tomcat_demo_prints_transactions_and_a_call_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // The collector binary of this build (same target directory).
    let report = Path::new(env!("CARGO_BIN_EXE_store_report"));
    let collector = report.with_file_name("osprey");
    if !collector.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "osprey-server", "--bin", "osprey"])
            .current_dir(root)
            .status()
            .expect("cargo runs");
        assert!(
            status.success() && collector.is_file(),
            "building the collector"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new("bash")
        .arg(root.join("examples/tomcat/run.sh"))
        .env("OSPREY_STORE_REPORT", report)
        .env("OSPREY_SERVER_BIN", &collector)
        .env("OSPREY_DEMO_PORT", port.to_string())
        .env("OSPREY_DEMO_EXIT", "1")
        .env("OSPREY_DEMO_SECONDS", "4")
        .env("OSPREY_DEMO_GRPC_LISTEN", "off")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let driven: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("drove "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the load summary:\n{stdout}"));
    assert!(driven >= 50, "4 s of traffic from three clients: {driven}");
    // Four /hello, /slow, /fail and /exit, then every driven request.
    let expected = 7 + driven;
    assert!(
        stdout.contains(&format!("{expected} transactions read back")),
        "{expected} expected:\n{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    // The scripted requests come first, in start order, before the load.
    assert!(count("SERVER   GET /hello") >= 4, "{stdout}");
    assert!(
        count("… and ") == 1 && count("GET /bench  (") == 1,
        "the rest counted per endpoint: {stdout}"
    );
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
        "SERVER   GET /slow",
        "method demo.web.Work.render(long)",
        "method demo.web.Work.outer(java.lang.String)",
        "method demo.web.Work.inner(int)",
        "sql    SELECT name FROM item WHERE id = ?",
        "sql    SELECT name FROM item WHERE name = ? AND id = ?",
    ] {
        assert!(tree.contains(step), "{step} missing from:\n{tree}");
    }
    assert!(!stdout.contains("not-for-export") && !stdout.contains("'widget'"));
    // The collector received the same transactions over OTLP.
    assert!(
        stdout.contains(&format!("The collector holds {expected} transactions")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("Open the viewer: http://127.0.0.1:{port}/")),
        "{stdout}"
    );
}
