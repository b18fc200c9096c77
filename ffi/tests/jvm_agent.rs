//! End to end through the Java agent: builds `osprey-agent.jar` with Maven
//! (embedding the libosprey this test build produced), compiles the plain
//! Java programs in `jvm-agent/src/test-app` with `javac`, runs them
//! with `-javaagent:` against the loopback OTLP/HTTP receiver and checks
//! the decoded trees: names, parent links, nesting, kinds, the error on the
//! throwing method. The program's standard output must be the same as
//! without the agent, and a bad `-Dosprey.native.path` must give one line
//! on standard error and an otherwise normal run.
//!
//! Runs on JDK 17 (demo compiled with `--release 8`) and, when installed,
//! Temurin 25 (demo compiled for class-file version 69). Set
//! `OSPREY_AGENT_JAR` to test a prebuilt jar instead of building one.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::Output;
use common::java::{jdks, mentions, received, status_code};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{hex, int_attr, str_attr, within};

const HANDLE: &str = "demo.App.handleRequest(int)";
const COMPUTE: &str = "demo.App.compute(int)";
const SQUARE: &str = "demo.Helper.square(int)";
const FAILING: &str = "demo.App.handleFailing()";
const EXPLODE: &str = "demo.Helper.explode(java.lang.String)";

/// Builds the agent jar once per test run (or takes `OSPREY_AGENT_JAR`).
fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build", &[])
}

/// Compiles the demo program once per JDK; returns its class directory.
/// JDK 17 compiles with `--release 8`; other JDKs for their own class-file
/// version (69 on JDK 25), so the hooks see current bytecode too.
fn demo_classes(jdk: &Path) -> PathBuf {
    static CLASSES: Mutex<BTreeMap<PathBuf, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut done = CLASSES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = done.get(jdk) {
        return dir.clone();
    }
    let src = common::repo_root().join("jvm-agent/src/test-app/demo");
    let tag = jdk.file_name().unwrap_or_default().to_string_lossy();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("jvm-demo-classes-{tag}"));
    let bridge = common::repo_root().join("jvm-agent/src/main/java");
    let mut options = Vec::new();
    if jdk == common::java::java_home() {
        options.extend(["--release".into(), "8".into()]);
    }
    options.extend([
        "-nowarn".into(),
        "-implicit:none".into(),
        "-sourcepath".into(),
        bridge.into_os_string(),
    ]);
    let sources = ["App.java", "Helper.java", "NativeCheck.java"].map(|f| src.join(f));
    common::java::javac(jdk, &options, &out, &sources);
    done.insert(jdk.to_path_buf(), out.clone());
    out
}

/// Runs `demo.App` on `jdk` with `jvm_args`, killing it after a minute.
fn run_demo(jdk: &Path, jvm_args: &[String], env: &[(&str, &str)], name: &str) -> Output {
    run_main(jdk, jvm_args, env, name, "demo.App")
}

/// Runs `main_class` from the demo classes on `jdk`.
fn run_main(
    jdk: &Path,
    jvm_args: &[String],
    env: &[(&str, &str)],
    name: &str,
    main_class: &str,
) -> Output {
    let cmd = common::java::java(jdk, jvm_args, demo_classes(jdk), main_class, env);
    common::java::run_java(cmd, name)
}

/// The lines of standard error the agent printed (the JVM's own warnings,
/// such as the class-data-sharing note, are not ours).
fn agent_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("osprey:"))
        .collect()
}

fn baseline(jdk: &Path, tag: &str) -> String {
    let plain = run_demo(jdk, &[], &[], &format!("jvm-plain-{tag}"));
    assert_eq!(plain.code, Some(0), "plain run failed: {}", plain.stderr);
    assert!(plain.stdout.contains("caught boom: bad input"));
    plain.stdout
}

fn trace_through_agent(jdk: &Path, label: &str) {
    let expected_stdout = baseline(jdk, &format!("trace-{label}"));
    let receiver = Receiver::start();
    let jar = agent_jar();
    let agent = format!(
        "-javaagent:{}=osprey.hook.methods=demo.*,osprey.hook.transactions=demo.App.handle*,\
         exporter=otlp,otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,bogus.key=1",
        jar.display(),
        receiver.port()
    );
    let args = vec![agent, "-Dosprey.bogus.key=2".to_owned()];
    let run = run_demo(
        jdk,
        &args,
        &[("OTEL_SERVICE_NAME", "jvm-demo")],
        &format!("jvm-agent-{label}"),
    );
    assert_eq!(
        run.code,
        Some(0),
        "{label}: agent run failed: {}",
        run.stderr
    );
    assert_eq!(run.stdout, expected_stdout, "{label}: stdout changed");

    // The unknown key is named once, whichever sources repeat it.
    let lines = agent_lines(&run.stderr);
    assert_eq!(lines.len(), 1, "{label}: stderr:\n{}", run.stderr);
    assert!(lines[0].contains("bogus.key"), "{}", lines[0]);
    assert!(
        !run.stderr.contains("restricted method"),
        "{label}: native-access warning printed:\n{}",
        run.stderr
    );

    // Three transactions of 1 + 2 + 2, 1 + 2 + 2 and 1 + 1 spans, exported
    // by the shutdown hook before the JVM exited.
    let deadline = Instant::now() + Duration::from_secs(10);
    let spans: Vec<(String, Span)> = loop {
        let mut spans = Vec::new();
        for req in receiver.traces() {
            spans.extend(common::spans_with_service(req.resource_spans));
        }
        if spans.len() >= 12 || Instant::now() >= deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(spans.iter().all(|(svc, _)| svc == "jvm-demo"), "{spans:#?}");
    let spans: Vec<Span> = spans.into_iter().map(|(_, s)| s).collect();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(spans.len(), 12, "{label}: {names:?}");
    let count = |n: &str| names.iter().filter(|x| **x == n).count();
    assert_eq!(count(HANDLE), 2, "{names:?}");
    assert_eq!(count(COMPUTE), 4, "{names:?}");
    assert_eq!(count(SQUARE), 4, "{names:?}");
    assert_eq!(count(FAILING), 1, "{names:?}");
    assert_eq!(count(EXPLODE), 1, "{names:?}");
    // Getters and the transaction-less main are not recorded.
    assert!(
        !names
            .iter()
            .any(|n| n.contains("getValue") || n.contains("main"))
    );

    let by_id = |id: &[u8]| spans.iter().find(|s| s.span_id == id);
    for s in &spans {
        match s.name.as_str() {
            HANDLE | FAILING => {
                assert!(s.parent_span_id.is_empty(), "{} is a root", s.name);
                assert_eq!(s.kind, span::SpanKind::Internal as i32);
            }
            name => {
                let parent = by_id(&s.parent_span_id).unwrap_or_else(|| panic!("parent of {name}"));
                let expected_parent = match name {
                    COMPUTE => HANDLE,
                    SQUARE => COMPUTE,
                    EXPLODE => FAILING,
                    other => panic!("unexpected span {other}"),
                };
                assert_eq!(parent.name, expected_parent, "parent of {name}");
                assert_eq!(parent.trace_id, s.trace_id);
                assert!(within(s, parent), "{name} inside {}", parent.name);
            }
        }
    }
    // Each handled request is its own trace with two compute steps.
    let roots: Vec<&Span> = spans.iter().filter(|s| s.name == HANDLE).collect();
    assert_ne!(roots[0].trace_id, roots[1].trace_id);
    for root in &roots {
        let children = spans
            .iter()
            .filter(|s| s.parent_span_id == root.span_id)
            .count();
        assert_eq!(children, 2);
        assert_ne!(status_code(root), status::StatusCode::Error as i32);
    }

    // The exception is recorded on the throwing method and on the
    // transaction it escaped from, with type and message.
    let explode = spans.iter().find(|s| s.name == EXPLODE).unwrap();
    let failing = spans.iter().find(|s| s.name == FAILING).unwrap();
    for s in [explode, failing] {
        assert_eq!(status_code(s), status::StatusCode::Error as i32, "{s:#?}");
        assert!(mentions(s, "IllegalStateException"), "{s:#?}");
        assert!(mentions(s, "boom: bad input"), "{s:#?}");
    }
}

fn bad_native_path(jdk: &Path, label: &str) {
    let expected_stdout = baseline(jdk, &format!("bad-native-{label}"));
    let args = vec![
        "-Dosprey.native.path=/nonexistent/libosprey.so".to_owned(),
        format!(
            "-javaagent:{}=osprey.hook.methods=demo.*,osprey.hook.transactions=demo.App.handle*",
            agent_jar().display()
        ),
    ];
    let run = run_demo(jdk, &args, &[], &format!("jvm-bad-native-{label}"));
    assert_eq!(run.code, Some(0), "{label}: {}", run.stderr);
    assert_eq!(run.stdout, expected_stdout, "{label}: stdout changed");
    let lines = agent_lines(&run.stderr);
    assert_eq!(lines.len(), 1, "{label}: stderr:\n{}", run.stderr);
    assert!(
        lines[0].contains("/nonexistent/libosprey.so") && lines[0].contains("disabled"),
        "{}",
        lines[0]
    );
    // Switched off before touching anything: not even the JVM's
    // boot-class-path warning appears.
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

/// Every native method, called directly from Java through the agent's
/// boot-class-path bridge: return codes, null handling, non-BMP strings,
/// and the transaction they recorded (server kind, inbound parent, rename,
/// attributes, error, propagated traceparent).
fn natives_from_java(jdk: &Path, label: &str) {
    let receiver = Receiver::start();
    let agent = format!(
        "-javaagent:{}=exporter=otlp,otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50",
        agent_jar().display(),
        receiver.port()
    );
    let run = run_main(
        jdk,
        &[agent],
        &[],
        &format!("jvm-natives-{label}"),
        "demo.NativeCheck",
    );
    assert_eq!(run.code, Some(0), "{label}: {}\n{}", run.stdout, run.stderr);
    assert!(agent_lines(&run.stderr).is_empty(), "{}", run.stderr);
    let printed = |key: &str| -> String {
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} not printed:\n{}", run.stdout))
            .to_owned()
    };
    assert_eq!(printed("begin"), "0");
    assert_eq!(printed("beginAgain"), "7");
    assert!(printed("lastError").contains("already"), "{}", run.stdout);
    assert_eq!(printed("handleNonZero"), "true");
    assert_eq!(printed("end"), "0");
    assert_eq!(printed("endAgain"), "6");
    assert_eq!(printed("enterNoTxn"), "0");
    assert_eq!(printed("deferNonZero"), "true");
    assert_eq!(printed("deferNoTxn"), "0");
    assert_eq!(printed("traceparentNoTxn"), "null");
    assert_eq!(printed("badKind"), "9");
    assert_eq!(printed("nullName"), "1");
    let check = printed("checkKey");
    assert!(
        check.starts_with("3 ") && check.contains("nope.key"),
        "{check}"
    );
    assert_eq!(printed("checkGood"), "0");
    assert_eq!(printed("checkBad"), "3");
    assert_eq!(printed("sameId"), "true");
    assert_eq!(printed("internNull"), "-1");
    assert_eq!(printed("initAgain"), "5");
    assert_eq!(printed("flush"), "0");
    assert_eq!(printed("seriesOk"), "true");
    assert_eq!(printed("seriesSame"), "true");
    assert_eq!(printed("seriesBadKind"), "-9");
    assert_eq!(printed("seriesNullName"), "-1");
    assert_eq!(printed("metrics"), "0");
    assert_eq!(printed("metricsShort"), "0", "reads what both arrays hold");
    assert_eq!(printed("metricsUndefined"), "9");
    assert_eq!(printed("metricsNull"), "1");
    assert_eq!(printed("active"), "0");
    assert_eq!(printed("activeEmpty"), "0");
    assert_eq!(printed("activeNull"), "1");
    assert!(
        receiver.wait_for("/v1/metrics", 1, Duration::from_secs(10)),
        "{label}: no metrics arrived"
    );
    let gauges: Vec<String> = receiver
        .metrics()
        .into_iter()
        .flat_map(|r| r.resource_metrics)
        .flat_map(|rm| rm.scope_metrics)
        .flat_map(|sm| sm.metrics)
        .map(|m| m.name)
        .collect();
    assert!(gauges.iter().any(|n| n == "check.gauge"), "{gauges:?}");
    assert!(
        gauges.iter().any(|n| n == "osprey.active.elapsed"),
        "{gauges:?}"
    );

    assert!(
        receiver.wait_for("/v1/traces", 1, Duration::from_secs(10)),
        "{label}: no trace arrived; stderr:\n{}",
        run.stderr
    );
    let spans: Vec<Span> = received(&receiver);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let root = spans
        .iter()
        .find(|s| s.name == "GET /renamed")
        .expect("renamed root");
    let step = spans.iter().find(|s| s.name == "Check.step").expect("step");
    assert_eq!(root.kind, span::SpanKind::Server as i32);
    assert_eq!(hex(&root.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&root.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(
        str_attr(&root.attributes, "http.request.method"),
        Some("GET")
    );
    assert_eq!(
        int_attr(&root.attributes, "http.response.status_code"),
        Some(200)
    );
    assert_eq!(step.parent_span_id, root.span_id);
    assert_eq!(
        str_attr(&step.attributes, "note"),
        Some("h\u{e9}llo \u{2713} \u{1d11e}")
    );
    assert_eq!(str_attr(&step.attributes, "pool"), Some("h\u{e9}llo-pool"));
    assert_eq!(
        int_attr(&step.attributes, "http.response.status_code"),
        Some(201),
        "the deferred end's status"
    );
    assert!(
        !step.attributes.iter().any(|a| a.key == "skipped"),
        "{step:#?}"
    );
    assert_eq!(status_code(step), status::StatusCode::Error as i32);
    assert!(mentions(step, "IOException") && mentions(step, "disk full"));
    assert_eq!(
        printed("traceparent"),
        format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
            hex(&step.span_id)
        )
    );
}

#[test]
fn java_program_trace_arrives_over_otlp() {
    for (jdk, label) in jdks() {
        trace_through_agent(&jdk, label);
    }
}

#[test]
fn every_native_method_from_java() {
    for (jdk, label) in jdks() {
        natives_from_java(&jdk, label);
    }
}

#[test]
fn bad_native_path_switches_the_agent_off() {
    for (jdk, label) in jdks() {
        bad_native_path(&jdk, label);
    }
}

/// The agent's private temporary directory outlives a JVM killed with
/// SIGKILL (no shutdown hook runs); the next JVM started with the agent
/// sweeps it, never the directory of a JVM still running, and a JVM that
/// exits normally leaves nothing.
#[test]
fn a_killed_jvms_temporary_directory_is_swept_by_the_next_start() {
    use std::process::{Child, Command, Stdio};

    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jvm-agent-sweep");
    let _ = std::fs::remove_dir_all(&root);
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let main = root.join("Wait.java");
    std::fs::write(
        &main,
        "public class Wait { public static void main(String[] a) throws Exception {\n\
         System.out.println(\"up\"); System.out.flush(); System.in.read(); } }\n",
    )
    .unwrap();
    let java = common::java::java_home().join("bin/java");
    let mut n = 0;
    let mut start = || -> Child {
        n += 1;
        let out = root.join(format!("jvm-{n}.out"));
        let child = Command::new(&java)
            .arg(format!("-Djava.io.tmpdir={}", tmp.display()))
            .arg(format!(
                "-javaagent:{}=exporter=console,service.name=sweep",
                agent_jar().display()
            ))
            .arg(&main)
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("java starts");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .any(|l| l == "up")
        {
            assert!(Instant::now() < deadline, "JVM {n} never came up");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    };
    let dirs = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with("osprey-"))
            })
            .collect();
        v.sort();
        v
    };
    let end = |mut child: Child| {
        drop(child.stdin.take()); // Wait reads end of input and returns
        let status = common::wait_until(&mut child, Instant::now() + Duration::from_secs(60))
            .expect("the JVM ends once its input closes");
        assert!(status.success(), "{status}");
    };

    let mut killed = start();
    let left = dirs();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].join("osprey-bootstrap.jar").is_file());
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    assert_eq!(dirs(), left, "a killed JVM cannot tidy up after itself");

    let live = start();
    let after = dirs();
    assert_eq!(
        after.len(),
        1,
        "the killed JVM's directory was swept: {after:?}"
    );
    assert_ne!(after, left);
    let other = start();
    let both = dirs();
    assert_eq!(both.len(), 2, "a running JVM's directory stays: {both:?}");
    assert!(both.contains(&after[0]));

    end(live);
    end(other);
    assert_eq!(
        dirs(),
        Vec::<PathBuf>::new(),
        "a normal exit leaves nothing"
    );
}
