//! Emulator throughput and memory, printed (never asserted).
//!
//! `cargo bench -p semarize-emulator --bench throughput` (release build). Prints requests
//! per second for `GET /v1/runs/{id}` and `POST /v1/runs` over loopback with the load
//! generator in the same process (so both share the machine's cores), and the resident
//! memory growth after 100,000 stored runs, and the inspector page's size and answer time
//! with 10,000 runs. `BENCH_SECONDS` sets each phase's length (default 5).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use semarize_emulator::{Config, Emulator, Settings};

const CONNECTIONS: usize = 32;
const STORED_RUNS: u64 = 100_000;
/// Runs in the emulator when the inspector page is measured.
const PAGE_RUNS: u64 = 10_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Sends requests made by `make` on `CONNECTIONS` keep-alive connections until `stop`,
/// or until `limit` requests were sent; returns the number of 2xx answers.
async fn load(
    addr: std::net::SocketAddr,
    make: Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>,
    duration: Duration,
    limit: Option<u64>,
) -> (u64, Duration) {
    let ok = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (ok, sent, stop, make) = (ok.clone(), sent.clone(), stop.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            while !stop.load(Ordering::Relaxed) {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|l| n >= l) {
                    break;
                }
                let response = sender.send_request(make(n)).await.unwrap();
                let success = response.status().is_success();
                response.into_body().collect().await.unwrap();
                if success {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    for task in tasks {
        task.await.unwrap();
    }
    stopper.abort();
    (ok.load(Ordering::Relaxed), started.elapsed())
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let emulator = Emulator::start(Config {
            settings: Settings { run_latency_ms: 100, ..Settings::default() },
            ..Config::default()
        })
        .await
        .unwrap();
        let addr = emulator.addr();
        let auth = format!("Bearer {}", emulator.api_key());
        let body = Bytes::from(
            serde_json::json!({"kit_code": "A1B2C3D4", "input": {"transcript":
                "Rep: What drove the urgency? Prospect: We are losing 3 hours a week on manual reporting. Rep: Budget? Prospect: $500 a month."}})
            .to_string(),
        );

        // One run to read.
        let http = reqwest::Client::new();
        let created: serde_json::Value = http
            .post(format!("{}/v1/runs", emulator.base_url()))
            .header("authorization", &auth)
            .json(&serde_json::from_slice::<serde_json::Value>(&body).unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let run_path = format!("/v1/runs/{}", created["run_id"].as_str().unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;

        let get = {
            let (auth, run_path) = (auth.clone(), run_path.clone());
            Arc::new(move |_n: u64| {
                Request::get(run_path.as_str()).header("host", "bench").header("authorization", auth.as_str())
                    .body(Full::new(Bytes::new())).unwrap()
            })
        };
        let (ok, elapsed) = load(addr, get, Duration::from_secs(seconds), None).await;
        println!("GET /v1/runs/{{id}}: {:>8.0} req/s ({ok} in {:.2}s, {CONNECTIONS} connections, load generator in-process)", ok as f64 / elapsed.as_secs_f64(), elapsed.as_secs_f64());

        // Every create is a different conversation (the worst case for memory: no two runs
        // share an engine result).
        let post = {
            let auth = auth.clone();
            Arc::new(move |n: u64| {
                let body = format!(
                    r#"{{"kit_code":"A1B2C3D4","input":{{"transcript":"Call {n}. Rep: What drove the urgency? Prospect: We are losing 3 hours a week on manual reporting. Rep: Budget? Prospect: $500 a month."}}}}"#
                );
                Request::post("/v1/runs").header("host", "bench").header("authorization", auth.as_str())
                    .header("content-type", "application/json").header("idempotency-key", format!("bench-{n}"))
                    .body(Full::new(Bytes::from(body))).unwrap()
            })
        };
        let rss_before = rss_kib();
        // The inspector page with 10,000 runs (and as many requests logged), before the timed
        // creations: its size and
        // how long the server takes to answer it, median of 7 over loopback.
        let stored = emulator.control().runs().len() as u64;
        let fill = post.clone();
        let page_offset = 2_000_000_000;
        load(addr, Arc::new(move |n: u64| fill(page_offset + n)), Duration::from_secs(600), Some(PAGE_RUNS.saturating_sub(stored))).await;
        let stored = emulator.control().runs().len();
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..7 {
            let started = Instant::now();
            let page = http.get(emulator.inspector_url()).send().await.unwrap().bytes().await.unwrap();
            times.push(started.elapsed());
            size = page.len();
        }
        times.sort();
        println!(
            "inspector page: {stored} runs, {:.1} KB, answered in {:.1} ms (median of 7; targets <= 200 KB, <= 100 ms)",
            size as f64 / 1000.0,
            times[3].as_secs_f64() * 1000.0
        );

        let (ok, elapsed) = load(addr, post.clone(), Duration::from_secs(seconds), None).await;
        println!("POST /v1/runs:      {:>8.0} req/s ({ok} in {:.2}s, each with an Idempotency-Key and its own transcript)", ok as f64 / elapsed.as_secs_f64(), elapsed.as_secs_f64());

        // Fill up to 100,000 stored runs (keys continue where the timed phase stopped).
        let stored = emulator.control().runs().len() as u64;
        let remaining = STORED_RUNS.saturating_sub(stored);
        let offset = 1_000_000_000;
        let fill = Arc::new(move |n: u64| post(offset + n));
        load(addr, fill, Duration::from_secs(600), Some(remaining)).await;
        let stored = emulator.control().runs().len() as u64;
        let rss_after = rss_kib();
        println!(
            "memory: {stored} stored runs, resident {:.1} MiB (+{:.1} MiB since the first create, {:.2} KiB per run, inspection log included)",
            rss_after as f64 / 1024.0,
            rss_after.saturating_sub(rss_before) as f64 / 1024.0,
            rss_after.saturating_sub(rss_before) as f64 / stored as f64
        );
        emulator.shutdown().await;
    });
}
