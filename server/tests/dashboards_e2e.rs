//! Dashboards and linkable views end to end: the real `osprey` binary with
//! OTLP/HTTP data (transactions and a JVM metric of `shop`), and headless
//! Chromium driven through chromedriver (the harness of `viewer_e2e.rs`).
//!
//! Proves: a board is composed in the viewer from an inspector chart ("Add
//! to board") and from the form with the current filter, saved on the
//! server (`/api/dashboards` holds it with its charts), and a fresh page
//! opened at its URL shows its charts drawn from the data; a URL with the
//! replayed second, the open transaction, the range and the board restores
//! all of them. Screenshots go to `target/viewer-screenshots/`.
//!
//! Without chromium and chromedriver the browser part is skipped with a
//! message (CI installs both through `.ci/run`).

mod support;
mod viewer_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};
use support::*;
use viewer_support::{Browser, serve};

const WAIT: Duration = Duration::from_secs(30);

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("viewer-screenshots")
}

fn now_ms() -> u64 {
    osprey_server::time::now_ms()
}

/// Twenty `shop` transactions over the last minute and three heap points.
fn produce(url: &str) -> (Vec<(String, u64)>, u64) {
    let now = now_ms();
    let mut spans = Vec::new();
    let mut txns = Vec::new();
    for i in 0..20u8 {
        let end = (now - 60_000 + u64::from(i) * 2_500) * MS;
        spans.push(span(
            0x40 + i,
            0x40 + i,
            None,
            "GET /board",
            SpanKind::Server,
            end - 12 * MS,
            end,
            vec![],
        ));
        txns.push((hex_id(0x40 + i, 8), end / MS));
    }
    let (status, body) = post(
        &format!("{url}/v1/traces"),
        "application/x-protobuf",
        None,
        &proto(&request("shop", spans)),
    );
    assert_eq!(status, 200, "{body}");
    let heap = [now - 50_000, now - 30_000, now - 10_000]
        .iter()
        .enumerate()
        .map(|(i, t)| (t * MS, (i as f64 + 1.0) * 64.0 * 1_048_576.0))
        .collect::<Vec<_>>();
    send_metrics(url, "shop", vec![gauge("jvm.memory.used", "By", &heap)]);
    (txns, now)
}

/// The charts of the board on the page: `[kind, points drawn]` each.
const BOARD_CHARTS: &str = "const c = document.getElementById('board-charts');
  return c && [...c.querySelectorAll('figure.chart')].map(f => [f.dataset.kind, Number(f.dataset.points)]);";

#[test]
fn a_board_composed_in_the_viewer_is_saved_and_reopened_by_its_url() {
    let dir = TempDir::new("dashboards-e2e");
    let (_server, url) = serve(&dir.0);
    let (txns, _) = produce(&url);
    let Some(browser) = Browser::start() else {
        eprintln!(
            "SKIPPED the browser part of dashboards_e2e: chromium and chromedriver are not \
             installed (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let shots = screenshots();
    browser.goto(&format!("{url}/?service=shop"));

    // 1. Compose: the inspector's heap chart, then TPS of the filtered service.
    browser.wait_for(
        "the inspector's heap chart",
        WAIT,
        "return document.querySelector('#charts figure[data-name=\"jvm.memory.used\"] .chart-add');",
    );
    browser.click(&browser.find("#charts figure[data-name='jvm.memory.used'] .chart-add"));
    browser.click(&browser.find("#board-use-filter"));
    assert_eq!(
        browser.js(
            "return document.querySelector('#board-add [name=service]').value;",
            json!([])
        ),
        "shop",
        "the form took the viewer's filter"
    );
    browser.click(&browser.find("#board-add button[type=submit]"));
    let composed = browser.wait_for(
        "two charts on the new board",
        WAIT,
        &format!("const v = (() => {{ {BOARD_CHARTS} }})(); return v && v.length == 2 && v;"),
    );
    assert_eq!(composed[0][0], "metric");
    assert_eq!(composed[1][0], "tps");

    // 2. Save it, shared.
    browser.send_keys(&browser.find("#board-name"), "Ops board");
    browser.click(&browser.find("#board-shared"));
    browser.click(&browser.find("#board-save"));
    let saved = browser.wait_for(
        "the board saved",
        WAIT,
        "const s = document.getElementById('board-status').textContent;
         return s.startsWith('saved') && location.search;",
    );
    let listed = get(&format!("{url}/api/dashboards"));
    let boards = listed["boards"].as_array().unwrap();
    assert_eq!(boards.len(), 1, "{listed}");
    let board = &boards[0];
    let id = board["id"].as_str().unwrap();
    assert!(
        saved.as_str().unwrap().contains(&format!("board={id}")),
        "{saved}"
    );
    assert_eq!(board["name"], "Ops board");
    assert_eq!(board["shared"], true);
    assert_eq!(
        board["charts"],
        json!([{"kind": "metric", "metric": "jvm.memory.used"},
               {"kind": "tps", "service": "shop"}])
    );
    assert!(
        std::fs::read_to_string(dir.0.join("data/dashboards/boards.json"))
            .unwrap()
            .contains("Ops board"),
        "kept in the data directory"
    );
    browser.screenshot(&shots.join("dashboards-1-composed.png"));

    // 3. A fresh page at the board's URL: its charts, drawn from the data.
    browser.goto("about:blank");
    browser.goto(&format!("{url}/?board={id}"));
    let shown = browser.wait_for(
        "the board's charts after a reload",
        WAIT,
        &format!(
            "const v = (() => {{ {BOARD_CHARTS} }})();
             return v && v.length == 2 && v.every(x => x[1] > 0) && v;"
        ),
    );
    // Three heap points; the twenty transactions fall in several buckets.
    assert_eq!(shown[0], json!(["metric", 3]), "{shown}");
    assert!(shown[1][1].as_u64().unwrap() >= 2, "{shown}");
    assert_eq!(
        browser.js(
            "return [document.getElementById('board-name').value, document.getElementById('board-shared').checked];",
            json!([])
        ),
        json!(["Ops board", true])
    );
    browser.screenshot(&shots.join("dashboards-2-reloaded.png"));

    // 4. The whole view in the URL: replayed second, open transaction,
    // range and board come back from a link.
    let (txn, end_ms) = &txns[7];
    browser.goto(&format!(
        "{url}/?board={id}&range=15&t={end_ms}&txn={txn}&service=shop"
    ));
    let view = browser.wait_for(
        "the linked view",
        WAIT,
        &format!(
            "return document.body.dataset.replay == '{}'
               && document.getElementById('tree').dataset.id == '{txn}'
               && document.getElementById('board-charts').dataset.charts == '2'
               && [document.getElementById('board-range').value,
                   document.querySelector('#filter [name=service]').value,
                   new URLSearchParams(location.search).get('t')];",
            end_ms / 1_000
        ),
    );
    assert_eq!(view, json!(["15", "shop", end_ms.to_string()]));
    // Going live drops the second from the URL, the rest stays.
    browser.click(&browser.find("#replay-live"));
    let live: Value = browser.wait_for(
        "live again",
        WAIT,
        "const p = new URLSearchParams(location.search);
         return !p.has('t') && [p.get('board'), p.get('txn'), p.get('range'), p.get('service')];",
    );
    assert_eq!(live, json!([id, txn, "15", "shop"]));
    browser.screenshot(&shots.join("dashboards-3-linked.png"));
}
