//! Crash safety with the real binary: batches are posted while the server
//! is killed with SIGKILL; after a restart every acknowledged batch is
//! queryable, a torn tail and a corrupt segment are skipped and reported.

mod support;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use support::*;

fn serve(data: &Path) -> (ServerProcess, String) {
    serve_binary(data, &[])
}

/// Transaction `n`: a root and three steps, ids derived from `n`.
fn batch(n: u32) -> Vec<u8> {
    let mut trace = [0u8; 16];
    trace[..4].copy_from_slice(&n.to_be_bytes());
    trace[15] = 1;
    let id = |k: u8| {
        let mut s = [k; 8];
        s[..4].copy_from_slice(&n.to_be_bytes());
        s.to_vec()
    };
    // Recent, so age retention (7 days by default) keeps it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let t0 = now.as_secs() * 1_000_000_000 - 60_000_000_000 + u64::from(n % 1_000) * 1_000_000;
    let mk = |k: u8, parent: Option<u8>, name: &str| Span {
        trace_id: trace.to_vec(),
        span_id: id(k),
        parent_span_id: parent.map(id).unwrap_or_default(),
        name: name.into(),
        kind: if parent.is_none() {
            SpanKind::Server
        } else {
            SpanKind::Internal
        } as i32,
        start_time_unix_nano: t0 + u64::from(k),
        end_time_unix_nano: t0 + 500_000 - u64::from(k),
        ..Span::default()
    };
    proto(&request(
        "crash",
        vec![
            mk(1, None, "GET /n"),
            mk(2, Some(1), "a"),
            mk(3, Some(2), "b"),
            mk(4, Some(1), "c"),
        ],
    ))
}

fn txn_id(n: u32) -> String {
    let mut s = [1u8; 8];
    s[..4].copy_from_slice(&n.to_be_bytes());
    s.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn acknowledged_batches_survive_kill_9_and_damage_is_skipped() {
    let dir = TempDir::new("crash");
    let (child, url) = serve(&dir.0);

    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let posters: Vec<_> = (0..2u32)
        .map(|w| {
            let (acked, stop, url) = (acked.clone(), stop.clone(), url.clone());
            std::thread::spawn(move || {
                let mut n = w;
                while !stop.load(Ordering::Relaxed) {
                    let body = batch(n);
                    let ok = ureq::post(format!("{url}/v1/traces"))
                        .header("content-type", "application/x-protobuf")
                        .send(&body[..])
                        .map(|r| r.status().as_u16() == 200);
                    match ok {
                        Ok(true) => acked.lock().unwrap().push(n),
                        Ok(false) => {}
                        Err(_) => break, // the server is gone
                    }
                    n += 2;
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 300 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(child); // SIGKILL, mid-ingest
    stop.store(true, Ordering::Relaxed);
    posters.into_iter().for_each(|p| p.join().unwrap());
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300,
        "only {} batches acknowledged",
        acked.len()
    );

    // Simulate a write torn by the crash: a frame header promising more bytes than follow.
    let mut segs: Vec<_> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let last = segs.last().unwrap().clone();
    let mut f = OpenOptions::new().append(true).open(&last).unwrap();
    f.write_all(&[0xe8, 0x03, 0, 0, 1, 2, 3, 4, 20, 9, 9])
        .unwrap();
    drop(f);
    // And a segment that is not one at all.
    fs::write(
        dir.0.join("srv-0000000000000001-9999999999.oss"),
        b"garbage, not a segment",
    )
    .unwrap();

    let (_child, url) = serve(&dir.0);
    let status = get(&format!("{url}/api/status"));
    let problems: Vec<String> = status["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["segment"].as_str().unwrap(),
                i["problem"].as_str().unwrap()
            )
        })
        .collect();
    let last_name = last.file_name().unwrap().to_str().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(last_name) && p.contains("torn tail")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("9999999999") && p.contains("bad magic")),
        "{problems:?}"
    );
    let held = status["index"]["transactions"].as_u64().unwrap() as usize;
    assert!(
        held >= acked.len(),
        "{held} held, {} acknowledged",
        acked.len()
    );

    for n in &acked {
        let tree = get(&format!("{url}/api/tree/{}", txn_id(*n)));
        let steps = tree["transactions"][0]["steps"].as_array().unwrap();
        let names: Vec<_> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b", "c"], "batch {n}");
    }
    // Still ingests after the restart.
    assert_eq!(
        post(
            &format!("{url}/v1/traces"),
            "application/x-protobuf",
            None,
            &batch(1_000_000)
        )
        .0,
        200
    );
    assert_eq!(
        get(&format!("{url}/api/tree/{}", txn_id(1_000_000)))["transactions"][0]["steps"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
