//! The Java agent's resource and host metrics end to end: builds
//! `osprey-agent.jar`, runs `jvm-agent/src/test-app/inspector` under
//! `-javaagent:...,host.metrics=true` against the loopback OTLP receiver,
//! and checks that the resource names this JVM as `process.runtime.*` and
//! this machine as `host.*`/`os.*`, and that host metrics arrive.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use osprey_testkit::Receiver;
use osprey_testkit::spans::str_attr;

const MAIN: &str = "demo.inspect.InspectorApp";

#[test]
fn jvm_runtime_host_identity_and_host_metrics() {
    let jdk = common::java::java_home();
    let jar = common::java::agent_jar("jvm-resource-build", &["-DskipTests"]);
    let classes = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jvm-resource-classes");
    let src =
        common::repo_root().join("jvm-agent/src/test-app/inspector/demo/inspect/InspectorApp.java");
    common::java::javac(
        &jdk,
        &["--release".into(), "8".into(), "-nowarn".into()],
        &classes,
        &[src],
    );
    // The JDK's own answer to what the agent should report.
    let props = std::process::Command::new(jdk.join("bin/java"))
        .args(["-XshowSettings:properties", "-version"])
        .output()
        .unwrap();
    let props = String::from_utf8_lossy(&props.stderr).into_owned();
    let prop = |k: &str| {
        props
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{k} = ")))
            .unwrap_or_else(|| panic!("no {k} in {props}"))
            .to_owned()
    };

    let receiver = Receiver::start();
    let agent = format!(
        "-javaagent:{}=hook.transactions=demo.inspect.InspectorApp.handle*,exporter=otlp,\
         otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=200,host.metrics=true,host.top_processes=3",
        jar.display(),
        receiver.port()
    );
    let mut cmd = common::java::java(&jdk, &[agent], PathBuf::from(&classes), MAIN, &[]);
    cmd.args(["2500", "10"]);
    let out = common::java::run_java(cmd, "jvm-resource");
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        !out.stderr.lines().any(|l| l.starts_with("osprey:")),
        "agent complained:\n{}",
        out.stderr
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    let reqs = loop {
        let reqs = receiver.metrics();
        let has = |name: &str| {
            reqs.iter()
                .flat_map(|r| &r.resource_metrics)
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .any(|m| m.name == name)
        };
        if (has("system.memory.limit") && has("system.cpu.utilization"))
            || Instant::now() > deadline
        {
            break reqs;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let names: Vec<&str> = reqs
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| m.name.as_str())
        .collect();
    for name in [
        "system.memory.limit",
        "system.cpu.time",
        "system.cpu.utilization",
        "system.network.io",
        "process.memory.usage",
        "jvm.memory.used",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let resource = &reqs[0].resource_metrics[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert_eq!(
        str_attr(resource, "process.runtime.name"),
        Some(prop("java.runtime.name").as_str())
    );
    assert_eq!(
        str_attr(resource, "process.runtime.version"),
        Some(prop("java.runtime.version").as_str())
    );
    let description = str_attr(resource, "process.runtime.description").unwrap();
    assert!(description.contains(&prop("java.vm.name")), "{description}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(str_attr(resource, "host.name"), Some(host.trim()));
    assert_eq!(str_attr(resource, "os.type"), Some("linux"));
    assert_eq!(str_attr(resource, "process.executable.name"), Some("java"));
}
