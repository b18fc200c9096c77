//! Context across threads, end to end: `ThreadsApp`
//! (`jvm-agent/src/test-app/threads/demo/threads`, JDK classes only) under
//! the agent hands work from transactions (`hook.transactions`) to a fixed
//! thread pool, to `CompletableFuture` stages (the default async pool, then
//! the pool) and, on JDK 21+, to virtual threads that block (unmount) mid-task,
//! exporting to a loopback
//! OTLP receiver.
//!
//! Proves: each task is a step of the transaction that submitted it, named
//! `async <task class>`, under the step open at submission, with the worker
//! thread's name, inside its parent's time, and the worker's own steps
//! (the hooked `work` method) inside it; a task still running when its
//! transaction ended is a transaction of its own in the same trace, whose
//! parent is the submitting transaction; the same pooled threads running
//! work outside any transaction afterwards record nothing (no context
//! leaks); the output is the same with and without the agent. On JDK 17
//! and Temurin 25.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::java::{AppSpec, jdks};
use common::traces::names_and_threads;
use opentelemetry_proto::tonic::trace::v1::Span;
use osprey_testkit::Receiver;
use osprey_testkit::spans::{str_attr, within};

const WORK: &str = "demo.threads.ThreadsApp.work(java.lang.String)";
const UNTRACED: &str = "demo.threads.ThreadsApp.untraced()";
const TASK: &str = "async demo.threads.ThreadsApp$$Lambda";

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-threads", &["-DskipTests"])
}

const APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/threads/demo/threads",
    files: &["ThreadsApp.java"],
    main_class: "demo.threads.ThreadsApp",
    artifacts: &[],
    pom: None,
    name: "jvm-threads",
};

fn run(jdk: &Path, jvm_args: &[String], name: &str) -> String {
    run_app(&APP, jdk, jvm_args, name)
}

/// Runs `app`'s main class; its standard output, once it exited 0 with no
/// complaint from the agent.
fn run_app(app: &'static AppSpec, jdk: &Path, jvm_args: &[String], name: &str) -> String {
    let out = app.app().run(jdk, jvm_args, &[], name);
    assert!(
        !out.stderr.contains("osprey:"),
        "{name}: the agent complained: {}",
        out.stderr
    );
    out.stdout
}

fn root<'a>(spans: &'a [Span], method: &str, label: &str) -> &'a Span {
    common::java::root_named(spans, method, label)
}

/// The task steps directly under `parent`, each checked: a `work` step
/// inside, the worker's thread name, inside the transaction's time.
fn tasks_under<'a>(spans: &'a [Span], parent: &Span, label: &str) -> Vec<&'a Span> {
    let tasks: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id && s.name == TASK)
        .collect();
    for t in &tasks {
        assert_eq!(t.trace_id, parent.trace_id, "{label}");
        if parent.parent_span_id.is_empty() {
            assert!(
                within(t, parent),
                "{label}: {} inside {}",
                t.name,
                parent.name
            );
        } else {
            // Submitted by another task, it may run on after that one ended.
            assert!(
                t.start_time_unix_nano >= parent.start_time_unix_nano,
                "{label}"
            );
        }
        let work = spans
            .iter()
            .find(|s| s.parent_span_id == t.span_id && s.name == WORK)
            .unwrap_or_else(|| panic!("{label}: the worker's step inside its task: {t:?}"));
        assert!(within(work, t), "{label}");
        assert!(
            str_attr(&t.attributes, "thread.name").is_some(),
            "{label}: {t:?}"
        );
    }
    tasks
}

fn threads_through_agent(jdk: &Path, label: &str) {
    let expected = run(jdk, &[], &format!("threads-plain-{label}"));
    assert_eq!(
        expected,
        "pool ab\nfuture cd\nlate submitted\nvirtual 4\nuntraced 4\n"
    );
    let receiver = Receiver::start();
    let agent = common::java::agent_option(
        agent_jar(),
        &receiver,
        "hook.methods=demo.threads.ThreadsApp.*,hook.transactions=demo.threads.ThreadsApp.request*,service.name=threads",
    );
    let out = run(jdk, &[agent], &format!("threads-agent-{label}"));
    assert_eq!(out, expected, "{label}: output changed under the agent");

    let on_virtual = label != "jdk17";
    // Requests (pool, future, late, virtual) and tasks (2 + 2 + 1 + 2).
    let (want_roots, want_tasks) = if on_virtual { (4, 7) } else { (3, 5) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans = common::java::received(&receiver);
        let roots = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
        let tasks = spans.iter().filter(|s| s.name == TASK).count();
        if (roots >= want_roots && tasks >= want_tasks) || Instant::now() >= deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let names = names_and_threads(&spans);

    // Two tasks on the pool: steps of the request, on the pool's threads.
    let pool = root(&spans, "requestPool", label);
    let tasks = tasks_under(&spans, pool, label);
    assert_eq!(tasks.len(), 2, "{label}: {names:?}");
    for t in &tasks {
        let thread = str_attr(&t.attributes, "thread.name").unwrap();
        assert!(thread.starts_with("app-pool-"), "{label}: {thread}");
    }

    // CompletableFuture: the first stage on the default async pool, the
    // second on the pool, both in the request's transaction.
    let future = root(&spans, "requestFuture", label);
    let mut stages = tasks_under(&spans, future, label);
    // The second stage is submitted by whichever thread completes the first:
    // the request's, or the first stage's worker (then it nests there).
    let nested: Vec<&Span> = stages
        .iter()
        .flat_map(|t| tasks_under(&spans, t, label))
        .collect();
    stages.extend(nested);
    assert_eq!(stages.len(), 2, "{label}: {names:?}");
    let on_pool = stages
        .iter()
        .filter(|t| {
            str_attr(&t.attributes, "thread.name").is_some_and(|n| n.starts_with("app-pool-"))
        })
        .count();
    assert_eq!(
        on_pool, 1,
        "{label}: the second stage on the pool: {names:?}"
    );

    // Outlived its request: a transaction of its own, linked to it.
    let late_parent = root(&spans, "requestLate", label);
    let late = spans
        .iter()
        .find(|s| s.name == TASK && s.parent_span_id == late_parent.span_id)
        .unwrap_or_else(|| panic!("{label}: the late task: {names:?}"));
    assert_eq!(late.trace_id, late_parent.trace_id, "{label}: same trace");
    assert!(late.end_time_unix_nano > late_parent.end_time_unix_nano);
    assert!(
        spans
            .iter()
            .any(|s| s.parent_span_id == late.span_id && s.name == WORK),
        "{label}: the late task's own step"
    );
    assert!(
        str_attr(&late.attributes, "thread.name").is_some_and(|n| n.starts_with("app-pool-")),
        "{label}"
    );

    if on_virtual {
        let request = root(&spans, "requestVirtual", label);
        let tasks = tasks_under(&spans, request, label);
        assert_eq!(tasks.len(), 2, "{label}: {names:?}");
        for t in &tasks {
            let thread = str_attr(&t.attributes, "thread.name").unwrap();
            assert!(thread.starts_with("vt-"), "{label}: {thread}");
            // Both steps, before and after the virtual thread unmounted.
            let steps = spans
                .iter()
                .filter(|s| s.parent_span_id == t.span_id && s.name == WORK)
                .count();
            assert_eq!(steps, 2, "{label}: {names:?}");
        }
    }

    // Nothing recorded outside transactions, on the same pooled threads.
    assert!(
        !spans.iter().any(|s| s.name == UNTRACED),
        "{label}: context leaked into unrelated work: {names:?}"
    );
    let roots = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
    assert_eq!(roots, want_roots, "{label}: {names:?}");
}

#[test]
fn pooled_async_and_virtual_thread_work_is_recorded_in_its_transaction() {
    for (jdk, label) in jdks() {
        threads_through_agent(&jdk, label);
    }
}

const SCHEDULED_TASK: &str = "async demo.threads.ScheduledApp$$Lambda";
const SCHEDULED_WORK: &str = "demo.threads.ScheduledApp.work(java.lang.String)";
const HOP_TASK: &str = "async demo.threads.ScheduledApp$Hop";
const HOP: &str = "demo.threads.ScheduledApp.hop()";
const TICK: &str = "demo.threads.ScheduledApp.tick()";
const SCHEDULED_UNTRACED: &str = "demo.threads.ScheduledApp.untraced()";

const SCHEDULED_APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/threads/demo/threads",
    files: &["ScheduledApp.java"],
    main_class: "demo.threads.ScheduledApp",
    artifacts: &[],
    pom: None,
    name: "jvm-scheduled",
};

fn run_scheduled(jdk: &Path, jvm_args: &[String], name: &str) -> String {
    run_app(&SCHEDULED_APP, jdk, jvm_args, name)
}

/// The one task span named `task` directly under `parent`, with the
/// worker's `work` step inside it and the worker thread `thread`.
fn task_with_work<'a>(
    spans: &'a [Span],
    parent: &Span,
    task: &str,
    thread: &str,
    label: &str,
) -> &'a Span {
    let found: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id && s.name == task)
        .collect();
    assert_eq!(found.len(), 1, "{label}: {task} under {}", parent.name);
    let t = found[0];
    assert_eq!(t.trace_id, parent.trace_id, "{label}: same trace");
    assert_eq!(
        str_attr(&t.attributes, "thread.name"),
        Some(thread),
        "{label}: {t:?}"
    );
    assert!(
        t.start_time_unix_nano >= parent.start_time_unix_nano,
        "{label}"
    );
    t
}

fn scheduled_through_agent(jdk: &Path, label: &str) {
    let expected = run_scheduled(jdk, &[], &format!("scheduled-plain-{label}"));
    assert_eq!(
        expected,
        "delayed later true\nperiodic true\nchain true\nthread thread\nthread late true\n\
         lazy lazy\nlazy outside outside\n"
    );
    let receiver = Receiver::start();
    let agent = format!(
        "-javaagent:{}=hook.methods=demo.threads.ScheduledApp.*,\
         hook.transactions=demo.threads.ScheduledApp.request*,exporter=otlp,\
         otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,service.name=scheduled",
        agent_jar().display(),
        receiver.port()
    );
    let out = run_scheduled(jdk, &[agent], &format!("scheduled-agent-{label}"));
    assert_eq!(out, expected, "{label}: output changed under the agent");

    // Requests; lambda tasks (2 delayed, 2 threads, 1 lazy pool) and one hop.
    let deadline = Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans = common::java::received(&receiver);
        let roots = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
        let tasks = spans.iter().filter(|s| s.name == SCHEDULED_TASK).count();
        let hops = spans.iter().filter(|s| s.name == HOP_TASK).count();
        if (roots >= 6 && tasks >= 5 && hops >= 1) || Instant::now() >= deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let names = names_and_threads(&spans);
    let has_work = |t: &Span| {
        spans
            .iter()
            .any(|s| s.parent_span_id == t.span_id && s.name == SCHEDULED_WORK)
    };

    // Delayed tasks run after their request ended: linked to it, each with
    // its own step.
    let delayed = root(&spans, "requestDelayed", label);
    let tasks: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == delayed.span_id && s.name == SCHEDULED_TASK)
        .collect();
    assert_eq!(tasks.len(), 2, "{label}: {names:?}");
    for t in &tasks {
        assert_eq!(t.trace_id, delayed.trace_id, "{label}");
        assert!(t.end_time_unix_nano > delayed.end_time_unix_nano, "{label}");
        assert_eq!(
            str_attr(&t.attributes, "thread.name"),
            Some("app-scheduler")
        );
        assert!(has_work(t), "{label}: {names:?}");
    }

    // Periodic tasks carry nothing: no run is recorded, the request's trace
    // holds the request alone.
    let periodic = root(&spans, "requestPeriodic", label);
    assert!(
        !spans
            .iter()
            .any(|s| s.trace_id == periodic.trace_id && s.span_id != periodic.span_id),
        "{label}: periodic runs chained onto their request: {names:?}"
    );
    assert!(!spans.iter().any(|s| s.name == TICK), "{label}: {names:?}");

    // A task that schedules itself again: its first run only.
    let chain = root(&spans, "requestChain", label);
    let hop = task_with_work(&spans, chain, HOP_TASK, "app-scheduler", label);
    assert!(
        spans
            .iter()
            .any(|s| s.parent_span_id == hop.span_id && s.name == HOP),
        "{label}: {names:?}"
    );
    assert_eq!(
        spans.iter().filter(|s| s.name == HOP).count(),
        1,
        "{label}: later runs chained: {names:?}"
    );
    assert_eq!(
        spans.iter().filter(|s| s.name == HOP_TASK).count(),
        1,
        "{label}"
    );

    // new Thread(r).start(): joined, a step inside its request; outliving
    // it, linked to it.
    let thread = root(&spans, "requestThread()", label);
    let t = task_with_work(&spans, thread, SCHEDULED_TASK, "app-thread", label);
    assert!(within(t, thread), "{label}");
    assert!(has_work(t), "{label}: {names:?}");
    let late = root(&spans, "requestThreadLate", label);
    let t = task_with_work(&spans, late, SCHEDULED_TASK, "app-thread-late", label);
    assert!(t.end_time_unix_nano > late.end_time_unix_nano, "{label}");
    assert!(has_work(t), "{label}: {names:?}");

    // A pool's worker thread started inside a request is not the request's:
    // its task is (through the executor), its later work outside is nothing.
    let lazy = root(&spans, "requestLazyPool", label);
    let t = task_with_work(&spans, lazy, SCHEDULED_TASK, "lazy-pool", label);
    assert!(has_work(t), "{label}: {names:?}");
    assert!(
        !spans.iter().any(|s| s.name == SCHEDULED_UNTRACED),
        "{label}: context leaked into the pool: {names:?}"
    );
    let roots = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
    assert_eq!(roots, 6, "{label}: {names:?}");
}

#[test]
fn delayed_periodic_and_thread_started_work() {
    for (jdk, label) in jdks() {
        scheduled_through_agent(&jdk, label);
    }
}

const SPRING_TASK: &str = "async demo.threads.SpringSchedulerApp$$Lambda";
const SPRING_WORK: &str = "demo.threads.SpringSchedulerApp.work(java.lang.String)";
const SPRING_TICK: &str = "demo.threads.SpringSchedulerApp.tick()";

/// Spring's scheduler and what it needs, from Maven Central.
const SPRING: [(&str, &str); 4] = [
    (
        "org.springframework:spring-context:6.2.12",
        "spring-context-6.2.12.jar",
    ),
    (
        "org.springframework:spring-core:6.2.12",
        "spring-core-6.2.12.jar",
    ),
    (
        "org.springframework:spring-beans:6.2.12",
        "spring-beans-6.2.12.jar",
    ),
    (
        "org.springframework:spring-jcl:6.2.12",
        "spring-jcl-6.2.12.jar",
    ),
];

const SPRING_APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/threads/demo/threads",
    files: &["SpringSchedulerApp.java"],
    main_class: "demo.threads.SpringSchedulerApp",
    artifacts: &SPRING,
    pom: None,
    name: "jvm-spring-scheduler",
};

#[test]
fn spring_task_scheduler_delayed_and_periodic() {
    for (jdk, label) in jdks() {
        let expected = run_app(
            &SPRING_APP,
            &jdk,
            &[],
            &format!("spring-scheduler-plain-{label}"),
        );
        assert_eq!(expected, "later true\nperiodic true\n");
        let receiver = Receiver::start();
        let agent = format!(
            "-javaagent:{}=hook.methods=demo.threads.SpringSchedulerApp.*,\
             hook.transactions=demo.threads.SpringSchedulerApp.request*,exporter=otlp,\
             otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,service.name=spring-scheduler",
            agent_jar().display(),
            receiver.port()
        );
        let out = run_app(
            &SPRING_APP,
            &jdk,
            &[agent],
            &format!("spring-scheduler-agent-{label}"),
        );
        assert_eq!(out, expected, "{label}: output changed under the agent");
        let deadline = Instant::now() + Duration::from_secs(10);
        let spans = loop {
            let spans = common::java::received(&receiver);
            let roots = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
            if (roots >= 2 && spans.iter().any(|s| s.name == SPRING_TASK))
                || Instant::now() >= deadline
            {
                break spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();

        // Named after the application's task inside Spring's wrapper, run
        // after its request ended, linked to it.
        let later = root(&spans, "requestLater", label);
        let task = spans
            .iter()
            .find(|s| s.parent_span_id == later.span_id && s.name == SPRING_TASK)
            .unwrap_or_else(|| panic!("{label}: the delayed task: {names:?}"));
        assert_eq!(task.trace_id, later.trace_id, "{label}");
        assert!(
            task.end_time_unix_nano > later.end_time_unix_nano,
            "{label}"
        );
        assert!(
            str_attr(&task.attributes, "thread.name")
                .is_some_and(|n| n.starts_with("spring-scheduler-")),
            "{label}: {task:?}"
        );
        assert!(
            spans
                .iter()
                .any(|s| s.parent_span_id == task.span_id && s.name == SPRING_WORK),
            "{label}: {names:?}"
        );

        // Periodic (fixed rate, trigger): nothing chained onto the request.
        let periodic = root(&spans, "requestPeriodic", label);
        assert!(
            !spans
                .iter()
                .any(|s| s.trace_id == periodic.trace_id && s.span_id != periodic.span_id),
            "{label}: periodic runs chained onto their request: {names:?}"
        );
        assert!(
            !spans.iter().any(|s| s.name == SPRING_TICK),
            "{label}: {names:?}"
        );
        let roots = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
        assert_eq!(roots, 2, "{label}: {names:?}");
    }
}

const MORE_WORK: &str = "demo.threads.MoreThreadsApp.work(java.lang.String)";
const MORE_NAP: &str = "demo.threads.MoreThreadsApp.nap()";
const MORE_IO: &str = "demo.threads.MoreThreadsApp.io(java.net.Socket)";
const MORE_UNTRACED: &str = "demo.threads.MoreThreadsApp.untraced()";
const MORE_TASK: &str = "async demo.threads.MoreThreadsApp$$Lambda";
/// `MoreThreadsApp.VIRTUALS` and `ROUNDS`.
const VIRTUALS: usize = 50;
const ROUNDS: usize = 5;

const MORE_APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/threads/demo/threads",
    files: &["MoreThreadsApp.java", "Workers.java"],
    main_class: "demo.threads.MoreThreadsApp",
    artifacts: &[],
    pom: None,
    name: "jvm-more-threads",
};

/// The spans directly under `parent` named `name`.
fn children<'a>(spans: &'a [Span], parent: &Span, name: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id && s.name == name)
        .collect()
}

/// `under` holds exactly the rounds of a virtual thread's work: `ROUNDS`
/// of each of `work`, `nap` (each with its one `work` inside, recorded after
/// the thread slept) and `io` (open while the thread blocked), all in
/// `under`'s trace and time, and nothing else.
fn assert_rounds(spans: &[Span], under: &Span, label: &str) {
    let names = names_and_threads(spans);
    let mut direct: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == under.span_id)
        .collect();
    direct.sort_by_key(|s| s.start_time_unix_nano);
    let kinds: Vec<&str> = direct.iter().map(|s| s.name.as_str()).collect();
    let round = [MORE_WORK, MORE_NAP, MORE_IO];
    let want: Vec<&str> = round.iter().cycle().take(3 * ROUNDS).copied().collect();
    assert_eq!(
        kinds, want,
        "{label}: the rounds under {}: {names:?}",
        under.name
    );
    for s in &direct {
        assert_eq!(s.trace_id, under.trace_id, "{label}");
        assert!(
            within(s, under),
            "{label}: {} inside {}",
            s.name,
            under.name
        );
        let inner: Vec<&Span> = spans
            .iter()
            .filter(|c| c.parent_span_id == s.span_id)
            .collect();
        if s.name == MORE_NAP {
            assert_eq!(inner.len(), 1, "{label}: the step after the sleep");
            assert_eq!(inner[0].name, MORE_WORK, "{label}");
            assert!(within(inner[0], s), "{label}");
        } else {
            assert!(inner.is_empty(), "{label}: {} holds {inner:?}", s.name);
        }
    }
}

fn more_threads_through_agent(jdk: &Path, label: &str) {
    let on_virtual = label != "jdk17";
    // Two carriers at most for 50 virtual threads.
    let carriers: Vec<String> = [
        "-Djdk.virtualThreadScheduler.parallelism=2",
        "-Djdk.virtualThreadScheduler.maxPoolSize=2",
    ]
    .map(String::from)
    .to_vec();
    let expected = run_app(&MORE_APP, jdk, &carriers, &format!("more-plain-{label}"));
    assert_eq!(
        expected,
        "virtual own 50\nvirtual tasks 50\nstart virtual vs\ndelayed abc\nsubclass 4\nuntraced done\n"
    );
    let receiver = Receiver::start();
    let mut args = carriers.clone();
    args.push(common::java::agent_option(
        agent_jar(),
        &receiver,
        "hook.methods=demo.threads.MoreThreadsApp.*,demo.threads.Workers$Hooked.run,\
         hook.transactions=demo.threads.MoreThreadsApp.request*,service.name=more-threads",
    ));
    let out = MORE_APP
        .app()
        .run(jdk, &args, &[], &format!("more-agent-{label}"));
    assert!(
        !out.stderr.contains("osprey:"),
        "{label}: the agent complained: {}",
        out.stderr
    );
    assert_eq!(
        out.stdout, expected,
        "{label}: output changed under the agent"
    );
    if on_virtual {
        // The case the agent must handle was there: virtual threads that
        // blocked on one carrier and went on on the other.
        let switches: usize = out
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("carrier-switches "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{label}: {}", out.stderr));
        assert!(switches > 0, "{label}: no virtual thread changed carrier");
    }

    // Roots: 50 on virtual threads + 3 requests (tasks, start, delayed,
    // subclass: 4 on JDK 21+); 2 on JDK 17.
    let want_roots = if on_virtual { VIRTUALS + 4 } else { 2 };
    let spans = common::java::spans_settled(&receiver, Duration::from_secs(20));
    let names = names_and_threads(&spans);
    let roots: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), want_roots, "{label}: {names:?}");

    if on_virtual {
        // Each virtual thread's own transaction: all its steps, before,
        // inside and after each unmount, and none of another's.
        let own: Vec<&Span> = roots
            .iter()
            .copied()
            .filter(|r| r.name.contains("requestOnVirtual"))
            .collect();
        assert_eq!(own.len(), VIRTUALS, "{label}: {names:?}");
        for r in &own {
            assert_rounds(&spans, r, label);
            let in_trace = spans.iter().filter(|s| s.trace_id == r.trace_id).count();
            assert_eq!(in_trace, 1 + 4 * ROUNDS, "{label}: {}", r.name);
        }

        // Tasks of one transaction on virtual threads: each a step of it
        // with its rounds.
        let request = root(&spans, "requestVirtualTasks", label);
        let tasks = children(&spans, request, MORE_TASK);
        assert_eq!(tasks.len(), VIRTUALS, "{label}: {names:?}");
        for t in &tasks {
            assert_eq!(t.trace_id, request.trace_id, "{label}");
            assert_rounds(&spans, t, label);
        }
        let in_trace = spans
            .iter()
            .filter(|s| s.trace_id == request.trace_id)
            .count();
        assert_eq!(in_trace, 1 + VIRTUALS * (1 + 4 * ROUNDS), "{label}");

        // Thread.ofVirtual().start and Thread.startVirtualThread: steps of
        // the request, on the virtual threads.
        let request = root(&spans, "requestStartVirtual", label);
        let tasks = children(&spans, request, MORE_TASK);
        assert_eq!(tasks.len(), 2, "{label}: {names:?}");
        let mut threads: Vec<&str> = tasks
            .iter()
            .map(|t| str_attr(&t.attributes, "thread.name").unwrap_or("?"))
            .collect();
        threads.sort_unstable();
        assert_eq!(threads, ["", "vt-started"], "{label}");
        for t in &tasks {
            assert!(within(t, request), "{label}");
            assert_eq!(
                children(&spans, t, MORE_WORK).len(),
                1,
                "{label}: {names:?}"
            );
        }
    }

    // CompletableFuture.delayedExecutor: steps of the request (joined), on
    // the default pool and on the given pool; on JDK 25 ForkJoinPool.schedule
    // too.
    let request = root(&spans, "requestDelayed", label);
    let tasks = children(&spans, request, MORE_TASK);
    assert_eq!(
        tasks.len(),
        if on_virtual { 3 } else { 2 },
        "{label}: {names:?}"
    );
    let on_pool = tasks
        .iter()
        .filter(|t| str_attr(&t.attributes, "thread.name") == Some("delayed-pool"))
        .count();
    assert_eq!(on_pool, 1, "{label}: {names:?}");
    for t in &tasks {
        assert_eq!(t.trace_id, request.trace_id, "{label}");
        assert!(within(t, request), "{label}");
        assert_eq!(
            children(&spans, t, MORE_WORK).len(),
            1,
            "{label}: {names:?}"
        );
    }

    // The application's Thread subclasses overriding run(): steps named
    // after the subclass, on the started thread.
    let request = root(&spans, "requestSubclass", label);
    for (task, thread) in [
        ("async demo.threads.Workers$Worker", "app-worker"),
        ("async demo.threads.Workers$DeepWorker", "app-deep"),
        ("async demo.threads.Workers$1", "app-anon"),
    ] {
        let t = task_with_work(&spans, request, task, thread, label);
        assert!(within(t, request), "{label}");
        assert_eq!(
            children(&spans, t, MORE_WORK).len(),
            1,
            "{label}: {names:?}"
        );
    }
    // A subclass whose run() is hooked too: the hook's step inside the
    // thread's task step, the work inside it.
    let hooked = task_with_work(
        &spans,
        request,
        "async demo.threads.Workers$Hooked",
        "app-hooked",
        label,
    );
    let run = children(&spans, hooked, "demo.threads.Workers$Hooked.run()");
    assert_eq!(run.len(), 1, "{label}: {names:?}");
    assert_eq!(children(&spans, run[0], MORE_WORK).len(), 1, "{label}");
    // A pool's worker thread of the application's subclass, started inside
    // the request: its task is the request's (through the executor), the
    // worker thread's own run is not.
    task_with_work(&spans, request, MORE_TASK, "app-subclass-pool", label);
    assert!(
        !spans.iter().any(|s| s.name.contains("PoolThread")),
        "{label}: a pool's worker carried its request: {names:?}"
    );

    // Outside transactions (a subclass, a virtual thread, a delayed task):
    // nothing, and nothing leaked into it from a carrier or a pool.
    assert!(
        !spans.iter().any(|s| s.name == MORE_UNTRACED),
        "{label}: context leaked into unrelated work: {names:?}"
    );
    assert!(
        !spans.iter().any(|s| s.name.contains("CompletableFuture")),
        "{label}: the JDK's relay recorded: {names:?}"
    );
}

#[test]
fn virtual_threads_across_carriers_started_directly_delayed_executor_and_thread_subclasses() {
    for (jdk, label) in jdks() {
        more_threads_through_agent(&jdk, label);
    }
}
