//! A Rust shop of two axum services, each one request = one transaction:
//! `shop` (`GET /orders/{id}`) loads the user, queries its database and calls
//! `inventory` (`GET /stock/{sku}`, a second process) through reqwest; the
//! call carries `traceparent`, so each order is one trace across both.
//! Handlers are plain `async fn`s on a multi-thread tokio runtime, recorded
//! by `osprey_web::OspreyServerLayer` (transactions), `OspreyMiddleware`
//! (the outgoing call), `osprey::future` (steps) and `#[instrument]` through
//! `OspreyLayer`. A nightly job recorded only with `tracing` spans runs too.
//!
//! Run: `cargo run -p osprey-examples --bin rust_app`. It starts the
//! inventory service (this program with argument `inventory`), serves the
//! shop on 127.0.0.1, sends it six orders, and stops both. With no exporter
//! configured the trees go to the local store (`./osprey-data`, the
//! inventory's under `inventory/` in it, or `$OSPREY_DATA_DIR`); at the end
//! the program prints this run's transactions and call trees from it. Set
//! `OTEL_EXPORTER_OTLP_ENDPOINT` to send both services' trees to an OTLP
//! collector instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use osprey::export::store::StoreConfig;
use osprey::future::FutureExt;
use osprey_examples::{Trees, print_store};
use tracing_subscriber::prelude::*;

/// The number of orders the shop is sent.
const ORDERS: u32 = 6;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("inventory") {
        inventory_main();
    } else {
        shop_main();
    }
}

/// Starts Osprey for `service`: the configured exporters, else the local
/// store (its `sub` directory when given). Returns the guard and the store
/// used, if any.
fn start_osprey(service: String, sub: Option<&str>) -> (osprey::OspreyGuard, Option<StoreConfig>) {
    let config = osprey::Config::from_env()
        .unwrap_or_else(|e| {
            eprintln!("bad configuration: {e}");
            std::process::exit(2)
        })
        .service_name(service)
        .batch_delay(Duration::from_millis(100));
    let mut store = StoreConfig::default();
    if let Some(sub) = sub {
        store.dir = store.dir.join(sub);
    }
    let (config, store) = if config.has_exporters() {
        (config, None)
    } else {
        (config.exporter_spec(store.clone()), Some(store))
    };
    let guard = osprey::init(config).expect("osprey starts");
    let layer = osprey::layer::OspreyLayer::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("no other subscriber");
    (guard, store)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn listen() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    (listener, addr)
}

// ----- the shop -------------------------------------------------------------

struct Shop {
    inventory: SocketAddr,
    client: reqwest_middleware::ClientWithMiddleware,
}

fn shop_main() {
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "rust-shop".into());
    let run_start = unix_ns_now();
    let (osprey, store) = start_osprey(service, None);

    // The inventory service: this program again, in its own process. It
    // prints its address, and stops when its standard input closes.
    let exe = std::env::current_exe().expect("own path");
    let mut inventory = Command::new(exe)
        .arg("inventory")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the inventory service starts");
    let mut first_line = String::new();
    BufReader::new(inventory.stdout.take().expect("its stdout"))
        .read_line(&mut first_line)
        .expect("its address");
    let inventory_addr: SocketAddr = first_line.trim().parse().expect("an address");

    runtime().block_on(async {
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(osprey_web::OspreyMiddleware)
            .build();
        let app = Router::new()
            .route("/orders/{id}", get(order))
            .with_state(Arc::new(Shop {
                inventory: inventory_addr,
                client,
            }))
            .layer(osprey_web::OspreyServerLayer::new());
        let (listener, addr) = listen().await;
        tokio::spawn(async move { axum::serve(listener, app).await });
        println!("shop on http://{addr}, inventory on http://{inventory_addr}");

        // The customers: a plain client, two orders at a time.
        let customers = reqwest::Client::new();
        for pair in (0..ORDERS).step_by(2) {
            let sent = (pair..(pair + 2).min(ORDERS)).map(|id| {
                let customers = customers.clone();
                async move {
                    let res = customers
                        .get(format!("http://{addr}/orders/{id}"))
                        .send()
                        .await
                        .expect("the shop answers");
                    println!("GET /orders/{id} -> {}", res.status());
                }
            });
            futures_join(sent).await;
        }
        nightly_report().await;
    });

    // Closing its input stops the inventory, which flushes what it recorded.
    drop(inventory.stdin.take());
    let _ = inventory.wait();
    let finished = osprey.shutdown(Duration::from_secs(10));
    let stats = osprey::stats();
    println!(
        "shop recorded {} transactions, {} dropped{}",
        stats.produced(),
        stats.dropped_queue,
        if finished {
            ""
        } else {
            " (exporters did not finish in time)"
        }
    );
    if let Some(store) = store {
        print_store(&store.dir, run_start, Trees::All, usize::MAX).expect("the local store opens");
        println!("-- inventory --");
        print_store(
            &store.dir.join("inventory"),
            run_start,
            Trees::All,
            usize::MAX,
        )
        .expect("the inventory's store opens");
    }
}

async fn futures_join<F: Future<Output = ()> + Send + 'static>(all: impl Iterator<Item = F>) {
    let tasks: Vec<_> = all.map(tokio::spawn).collect();
    for t in tasks {
        t.await.expect("a customer");
    }
}

/// `GET /orders/{id}`: one SERVER transaction named by the route, with its
/// steps in order.
async fn order(State(shop): State<Arc<Shop>>, Path(id): Path<u32>) -> Result<String, StatusCode> {
    let user = load_user(id).await;
    // A database call, here simulated: a SQL step named by its statement
    // with the literal replaced (`... WHERE id = ?`).
    let query = osprey::future::sql_step(&format!("SELECT * FROM orders WHERE id = {id}"));
    query.attr("db.system", "postgresql");
    tokio::time::sleep(Duration::from_millis(2)).await;
    query.end();
    // An outgoing call: a CLIENT step carrying `traceparent`.
    let stock = shop
        .client
        .get(format!("http://{}/stock/{id}", shop.inventory))
        .send()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    if !stock.status().is_success() {
        // 502: the transaction is marked failed.
        return Err(StatusCode::BAD_GATEWAY);
    }
    let stock = stock.text().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(render(id, &user, &stock).await)
}

/// Library code instrumented with `tracing`: an `async fn` step that covers
/// its awaits, however often it is polled.
#[tracing::instrument]
async fn load_user(order_id: u32) -> String {
    tokio::time::sleep(Duration::from_millis(1)).await;
    format!("user-{}", order_id % 7)
}

async fn render(id: u32, user: &str, stock: &str) -> String {
    async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        format!("order {id} for {user}: {stock}")
    }
    .in_step("render")
    .await
}

/// A background job recorded entirely through `tracing`: the outermost span
/// becomes an INTERNAL transaction, the inner ones its steps.
async fn nightly_report() {
    use tracing::Instrument;
    async {
        for region in ["emea", "apac"] {
            tokio::time::sleep(Duration::from_millis(1))
                .instrument(tracing::info_span!("aggregate_region", region))
                .await;
        }
    }
    .instrument(tracing::info_span!("nightly_report", kind = "batch"))
    .await;
}

// ----- the inventory ----------------------------------------------------------

fn inventory_main() {
    let (osprey, _store) = start_osprey("inventory".into(), Some("inventory"));
    let rt = runtime();
    rt.block_on(async {
        let app = Router::new()
            .route("/stock/{sku}", get(stock))
            .layer(osprey_web::OspreyServerLayer::new());
        let (listener, addr) = listen().await;
        println!("{addr}");
        std::io::stdout().flush().expect("stdout");
        let closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = closed.await;
            })
            .await
            .expect("the inventory serves");
    });
    drop(rt);
    osprey.shutdown(Duration::from_secs(10));
}

/// `GET /stock/{sku}`: every third SKU's warehouse is unavailable (503).
async fn stock(Path(sku): Path<u32>) -> Result<String, StatusCode> {
    let lookup = osprey::future::step("lookup");
    lookup.attr("warehouse", "north");
    tokio::time::sleep(Duration::from_millis(3)).await;
    lookup.end();
    if sku % 3 == 2 {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    Ok(format!("{} left", 10 - sku))
}

fn unix_ns_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
