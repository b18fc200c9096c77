//! The Java agent's inspector and active services end to end: builds
//! `osprey-agent.jar`, runs `jvm-agent/src/test-app/inspector` under
//! `-javaagent:` on JDK 17 and (when installed) Temurin 25 against the
//! loopback OTLP receiver, and checks the decoded `jvm.*` metrics (heap
//! used > 0 and <= committed, threads, collectors named, classes, CPU), the
//! active-services gauges (a transaction sleeping past the threshold with
//! its stack), that premain initialises neither `java.lang.management` nor
//! `java.util.logging` (class-load log before `main`), that a JBoss-like JVM
//! gets no inspector thread before its first transaction, and that
//! `inspector=false,active=false` sends none of it.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Output;
use common::java::jdks;
use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint, metric, number_data_point};
use osprey_testkit::Receiver;
use osprey_testkit::spans::str_attr;

const MAIN: &str = "demo.inspect.InspectorApp";
const SLOW: &str = "demo.inspect.InspectorApp.handleSlow(long)";

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-inspector-build", &["-DskipTests"])
}

/// Compiles the program for `jdk` (`--release 8` on JDK 17).
fn classes(jdk: &Path) -> PathBuf {
    let tag = jdk.file_name().unwrap_or_default().to_string_lossy();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("jvm-inspector-classes-{tag}"));
    let src =
        common::repo_root().join("jvm-agent/src/test-app/inspector/demo/inspect/InspectorApp.java");
    let mut options = Vec::new();
    if jdk == common::java::java_home() {
        options.extend(["--release".into(), "8".into()]);
    }
    options.push("-nowarn".into());
    // Each test compiles into its own directory (tests run in parallel).
    let out = out.join(format!("{:?}", std::thread::current().id()).replace(['(', ')'], ""));
    common::java::javac(jdk, &options, &out, &[src]);
    out
}

/// Runs the program with the agent (`items` appended to the agent
/// arguments) for `run_ms` of short transactions, then one sleeping
/// `slow_ms`; returns its output and the receiver.
fn run(
    jdk: &Path,
    label: &str,
    items: &str,
    jvm_args: &[&str],
    run_ms: u64,
    slow_ms: u64,
) -> (Output, Receiver) {
    run_args(jdk, label, items, jvm_args, &[run_ms, slow_ms])
}

/// As [`run`], with the program's arguments given.
fn run_args(
    jdk: &Path,
    label: &str,
    items: &str,
    jvm_args: &[&str],
    program_args: &[u64],
) -> (Output, Receiver) {
    let receiver = Receiver::start();
    let agent = format!(
        "-javaagent:{}=hook.transactions=demo.inspect.InspectorApp.handle*,exporter=otlp,\
         otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=200,{items}",
        agent_jar().display(),
        receiver.port()
    );
    let mut args = vec![agent];
    args.extend(jvm_args.iter().map(|s| s.to_string()));
    let mut cmd = common::java::java(jdk, &args, classes(jdk), MAIN, &[]);
    cmd.args(program_args.iter().map(u64::to_string));
    let out = common::java::run_java(cmd, label);
    assert_eq!(out.code, Some(0), "{label}: {}\n{}", out.stdout, out.stderr);
    assert!(
        !out.stderr.lines().any(|l| l.starts_with("osprey:")),
        "{label}: agent complained:\n{}",
        out.stderr
    );
    (out, receiver)
}

/// Every metric the receiver got.
fn metrics(receiver: &Receiver) -> Vec<Metric> {
    receiver
        .metrics()
        .into_iter()
        .flat_map(|r| r.resource_metrics)
        .flat_map(|rm| rm.scope_metrics)
        .flat_map(|sm| sm.metrics)
        .collect()
}

/// The data points of every metric named `name`.
fn points(all: &[Metric], name: &str) -> Vec<NumberDataPoint> {
    all.iter()
        .filter(|m| m.name == name)
        .flat_map(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.clone(),
            Some(metric::Data::Sum(s)) => s.data_points.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn value(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        Some(number_data_point::Value::AsDouble(d)) => d,
        None => f64::NAN,
    }
}

/// The last point of `name` whose `key` attribute is `val` (any when `key` is empty).
fn last(all: &[Metric], name: &str, key: &str, val: &str) -> f64 {
    points(all, name)
        .iter()
        .rfind(|p| key.is_empty() || str_attr(&p.attributes, key) == Some(val))
        .map(value)
        .unwrap_or_else(|| panic!("no {name} {key}={val}"))
}

/// Waits until the receiver holds a metric named `name` (the shutdown hook
/// exports the last batch as the JVM exits).
fn wait_for_metric(receiver: &Receiver, name: &str) -> Vec<Metric> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = metrics(receiver);
        if all.iter().any(|m| m.name == name) || Instant::now() >= deadline {
            return all;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Lines of the class-load log (`-Xlog:class+load`) before `main` printed its first line.
fn loaded_before_main(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .take_while(|l| !l.starts_with("main-start"))
        .filter(|l| l.contains("class,load"))
        .collect()
}

fn jvm_metrics_and_active_services(jdk: &Path, label: &str) {
    // A long initial delay: the first transaction must be what starts sampling.
    let (out, receiver) = run(
        jdk,
        &format!("inspector-{label}"),
        "inspector.delay_ms=600000,active.stack_threshold_ms=2000",
        &["-Xlog:class+load=info"],
        3000,
        3500,
    );
    let before = loaded_before_main(&out.stdout);
    assert!(
        before.len() > 100,
        "{label}: class-load log missing:\n{}",
        out.stdout
    );
    for forbidden in [
        "java.lang.management.",
        "java.util.logging.LogManager",
        "sun.management.",
    ] {
        assert!(
            !before.iter().any(|l| l.contains(forbidden)),
            "{label}: {forbidden} loaded before main: {:?}",
            before
                .iter()
                .filter(|l| l.contains(forbidden))
                .collect::<Vec<_>>()
        );
    }
    assert!(
        out.stdout.contains("main-end inspector-thread=true"),
        "{}",
        out.stdout
    );

    let all = wait_for_metric(&receiver, "osprey.active.elapsed");
    let heap_used = last(&all, "jvm.memory.used", "jvm.memory.type", "heap");
    let heap_committed = last(&all, "jvm.memory.committed", "jvm.memory.type", "heap");
    assert!(
        heap_used > 0.0 && heap_used <= heap_committed,
        "{label}: heap {heap_used} / {heap_committed}"
    );
    assert!(last(&all, "jvm.memory.used", "jvm.memory.type", "non_heap") > 0.0);
    let threads: f64 = ["true", "false"]
        .iter()
        .map(|d| {
            points(&all, "jvm.thread.count")
                .iter()
                .rfind(|p| format!("{:?}", p.attributes).contains(&format!("BoolValue({d})")))
                .map(value)
                .unwrap_or(0.0)
        })
        .sum();
    assert!(threads >= 1.0, "{label}: {threads} threads");
    assert!(last(&all, "jvm.class.count", "", "") > 100.0);
    assert!(last(&all, "jvm.class.loaded", "", "") >= last(&all, "jvm.class.count", "", ""));
    assert!(last(&all, "jvm.cpu.count", "", "") >= 1.0);
    let cpu = last(&all, "jvm.cpu.recent_utilization", "", "");
    assert!((0.0..=1.0).contains(&cpu), "{label}: cpu {cpu}");
    assert!(last(&all, "jvm.cpu.time", "", "") > 0.0);
    let gc_names: Vec<String> = points(&all, "jvm.gc.collections.count")
        .iter()
        .filter_map(|p| str_attr(&p.attributes, "jvm.gc.name").map(str::to_owned))
        .collect();
    assert!(!gc_names.is_empty(), "{label}: no collector named");
    assert!(!points(&all, "jvm.gc.collections.elapsed").is_empty());
    for m in &all {
        let unit = match m.name.as_str() {
            "jvm.memory.used" | "jvm.memory.committed" | "jvm.memory.limit" => "By",
            "jvm.thread.count" => "{thread}",
            "jvm.class.count" | "jvm.class.loaded" | "jvm.class.unloaded" => "{class}",
            "jvm.cpu.time" => "s",
            "jvm.cpu.recent_utilization" => "1",
            _ => continue,
        };
        assert_eq!(m.unit, unit, "{label}: unit of {}", m.name);
    }

    // Active services: the sleeping transaction, past the threshold, with its stack.
    let slow: Vec<NumberDataPoint> = points(&all, "osprey.active.elapsed")
        .into_iter()
        .filter(|p| str_attr(&p.attributes, "osprey.transaction.name") == Some(SLOW))
        .collect();
    assert!(!slow.is_empty(), "{label}: slow transaction never active");
    let longest = slow.iter().map(value).fold(0.0, f64::max);
    assert!(
        (2.0..4.0).contains(&longest),
        "{label}: active for {longest} s"
    );
    assert_eq!(str_attr(&slow[0].attributes, "thread.name"), Some("main"));
    let stack = slow
        .iter()
        .find_map(|p| str_attr(&p.attributes, "code.stacktrace"))
        .unwrap_or_else(|| panic!("{label}: no stack past the threshold"));
    assert!(
        stack.contains("demo.inspect.InspectorApp.handleSlow"),
        "{stack}"
    );
    assert!(stack.contains("sleep"), "{stack}");
    // Short ones are under the threshold: no stack.
    assert!(
        points(&all, "osprey.active.elapsed")
            .iter()
            .filter(|p| str_attr(&p.attributes, "osprey.transaction.name") != Some(SLOW))
            .all(|p| str_attr(&p.attributes, "code.stacktrace").is_none())
    );
    assert!(!points(&all, "osprey.active.count").is_empty());
}

fn jboss_like_waits_for_the_first_transaction(jdk: &Path, label: &str) {
    // `java.util.logging.manager` set, as JBoss/WildFly do: no thread before
    // the first transaction, sampling right after it.
    let (out, receiver) = run(
        jdk,
        &format!("inspector-jboss-{label}"),
        "inspector.interval_ms=200",
        &["-Djava.util.logging.manager=java.util.logging.LogManager"],
        1500,
        0,
    );
    assert!(
        out.stdout.contains("main-start inspector-thread=false"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("main-end inspector-thread=true"),
        "{}",
        out.stdout
    );
    let all = wait_for_metric(&receiver, "jvm.memory.used");
    assert!(last(&all, "jvm.memory.used", "jvm.memory.type", "heap") > 0.0);

    // Without any transaction: the server's log manager class loading
    // starts the thread, which samples after `inspector.delay_ms`.
    let (out, receiver) = run_args(
        jdk,
        &format!("inspector-jboss-idle-{label}"),
        "inspector.interval_ms=200,inspector.delay_ms=300",
        &["-Djava.util.logging.manager=java.util.logging.LogManager"],
        &[0, 0, 1500],
    );
    assert!(
        out.stdout.contains("main-start inspector-thread=false"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("idle-end inspector-thread=true"),
        "{}",
        out.stdout
    );
    // An idle G1 heap may report 0 used (no region retired yet): only
    // committed must be positive.
    let all = wait_for_metric(&receiver, "jvm.memory.used");
    let used = last(&all, "jvm.memory.used", "jvm.memory.type", "heap");
    let committed = last(&all, "jvm.memory.committed", "jvm.memory.type", "heap");
    assert!(
        committed > 0.0 && used <= committed,
        "{label}: heap {used} / {committed}"
    );
}

fn switched_off_sends_nothing(jdk: &Path, label: &str) {
    let (out, receiver) = run(
        jdk,
        &format!("inspector-off-{label}"),
        "inspector=false,active=false,inspector.delay_ms=0",
        &[],
        1500,
        0,
    );
    assert!(
        out.stdout.contains("main-end inspector-thread=false"),
        "{}",
        out.stdout
    );
    // The transactions' own metrics arrive; nothing of the inspector's.
    let all = wait_for_metric(&receiver, "osprey.transactions");
    assert!(all.iter().any(|m| m.name == "osprey.transactions"));
    let foreign: Vec<&str> = all
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| n.starts_with("jvm.") || n.starts_with("osprey.active"))
        .collect();
    assert!(foreign.is_empty(), "{label}: {foreign:?}");
}

#[test]
fn jvm_metrics_and_active_services_arrive_over_otlp() {
    for (jdk, label) in jdks() {
        jvm_metrics_and_active_services(&jdk, label);
    }
}

#[test]
fn jboss_like_jvm_starts_the_inspector_on_the_first_transaction() {
    for (jdk, label) in jdks() {
        jboss_like_waits_for_the_first_transaction(&jdk, label);
    }
}

#[test]
fn inspector_and_active_off_send_no_jvm_metrics() {
    for (jdk, label) in jdks() {
        switched_off_sends_nothing(&jdk, label);
    }
}
