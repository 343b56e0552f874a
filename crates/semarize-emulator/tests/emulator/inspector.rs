//! The inspector page (`GET /_emulator/`): what it shows, read from the same records as
//! the JSON inspection endpoints; its guard against other sites; its pagination; and the
//! page driven in a real browser (headless Chromium).

use serde_json::{Value, json};

use crate::support::{Env, create_body, start};

/// An emulator holding two runs (one under an Idempotency-Key), a webhook endpoint nobody
/// listens at (so its deliveries fail and are retried), a request answered by a fault and
/// a fault still armed.
async fn busy_emulator() -> (Env, Vec<String>) {
    // Deliveries retry after 1 min / 60 = 1 s: the next retry is pending while the page
    // is read.
    let env = start(|s| s.time_scale = 60.0).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hooks", closed.local_addr().unwrap());
    drop(closed);
    env.register(&dead_url).await;
    let mut runs = Vec::new();
    for key in [Some("inspector-key-1"), None] {
        let created = env.create(&create_body(), key).await;
        assert_eq!(created.status, 202);
        runs.push(created.json()["run_id"].as_str().unwrap().to_owned());
    }
    for run in &runs {
        env.wait_terminal(run).await;
    }
    let control = env.emulator.control().clone();
    env.eventually("two failed deliveries", || {
        control
            .deliveries()
            .iter()
            .filter(|d| d.result == "failed")
            .count()
            >= 2
    })
    .await;
    // One request answered by a fault, and one fault left armed.
    env.emulator.control().fail_next("get_run", 1, 503, Some(1));
    assert_eq!(env.get(&format!("/v1/runs/{}", runs[0])).await.status, 503);
    env.emulator.control().fail_next("list_runs", 2, 500, None);
    (env, runs)
}

async fn page(env: &Env, query: &str) -> (u16, String) {
    let (status, _, body) = env
        .raw("GET", &format!("/_emulator/{query}"), None, None, &[])
        .await
        .unwrap();
    (status, String::from_utf8(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_requests_runs_deliveries_faults_and_settings() {
    let (env, runs) = busy_emulator().await;
    let (status, html) = page(&env, "").await;
    assert_eq!(status, 200);

    // Runs, with their Kit, status history and a link to their JSON.
    for run in &runs {
        assert!(
            html.contains(&format!("href=\"/_emulator/inspect/runs/{run}\"")),
            "{run}"
        );
    }
    assert!(html.contains("queued "), "status over time");
    assert!(html.contains(" → succeeded "), "status over time");
    let detail = env
        .call(
            "GET",
            &format!("/_emulator/inspect/runs/{}", runs[0]),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(detail.json()["status"], "succeeded");

    // Requests: every one the emulator logged, with its request id, the key, the fault.
    let requests = env.emulator.control().requests();
    assert!(requests.len() >= 5, "{requests:?}");
    for request in &requests {
        let id = request
            .request_id
            .as_deref()
            .expect("every answer has a request id");
        assert!(html.contains(id), "request {id} is listed");
    }
    let faulted = requests.iter().find(|r| r.status == 503).expect("the 503");
    assert_eq!(faulted.fault, Some("status"));
    assert_eq!(faulted.run_id.as_deref(), Some(runs[0].as_str()));
    let created = requests
        .iter()
        .find(|r| r.idempotency_key.as_deref() == Some("inspector-key-1"))
        .expect("the keyed creation");
    assert_eq!(created.run_id.as_deref(), Some(runs[0].as_str()));
    assert!(html.contains("inspector-key-1"));

    // Deliveries: each attempt with its headers (signature included), the receiver's
    // answer (none: nothing listens), its latency and the next retry.
    let deliveries = env.emulator.control().deliveries();
    let failed = deliveries
        .iter()
        .find(|d| d.result == "failed")
        .expect("a failed delivery");
    assert!(failed.headers["semarize-signature"].starts_with("v1="));
    assert!(failed.headers.contains_key("semarize-timestamp"));
    assert!(failed.latency_ms.is_some());
    let next = failed.next_retry_at.as_deref().expect("a retry follows");
    assert!(html.contains(&failed.headers["semarize-signature"]));
    assert!(
        html.contains(&format!("title=\"{next}\"")),
        "the next retry"
    );
    assert!(html.contains("result-failed"));
    assert!(
        html.contains("<td>no answer</td>"),
        "sent, and nothing came back"
    );

    // Armed faults, readable as JSON too, and the settings.
    let armed = env
        .call("GET", "/_emulator/inspect/faults", None, None, &[])
        .await;
    assert_eq!(armed.json()["faults"][0]["operation"], "list_runs");
    assert_eq!(armed.json()["faults"][0]["count"], 2);
    assert!(
        html.contains("<td>list_runs</td><td>2</td>"),
        "the armed fault"
    );
    for setting in [
        "run_latency_ms",
        "sync_wait_ms",
        "create_rate",
        "additive",
        "webhook_payload_limit_bytes",
    ] {
        assert!(html.contains(&format!("<th>{setting}</th>")), "{setting}");
    }

    // No API key anywhere; the webhook secret masked.
    assert!(!html.contains(env.emulator.api_key()));
    let secret = env
        .emulator
        .control()
        .webhook_endpoints()
        .pop()
        .map(|e| {
            env.emulator
                .control()
                .webhook_secret(&e.workspace_id)
                .unwrap()
        })
        .unwrap();
    assert!(!html.contains(&secret), "the secret is masked");
    assert!(html.contains(&format!("{}••••", &secret[..6])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_narrow_every_list_to_one_run_or_one_key() {
    let (env, runs) = busy_emulator().await;
    let (_, by_run) = page(&env, &format!("?run_id={}", runs[1])).await;
    assert!(by_run.contains(&format!("/_emulator/inspect/runs/{}", runs[1])));
    assert!(!by_run.contains(&format!("/_emulator/inspect/runs/{}", runs[0])));
    assert!(!by_run.contains("inspector-key-1"));
    let (_, by_key) = page(&env, "?key=inspector-key-1").await;
    assert!(by_key.contains(&format!("/_emulator/inspect/runs/{}", runs[0])));
    assert!(!by_key.contains(&format!("/_emulator/inspect/runs/{}", runs[1])));
    // What a client sends is logged only up to a bound: a 5,000-character key (refused)
    // is kept cut at 256 characters.
    let long_key = "k".repeat(5_000);
    assert_eq!(
        env.create(&create_body(), Some(&long_key)).await.status,
        400
    );
    let logged = env.emulator.control().requests().pop().unwrap();
    assert_eq!(
        logged.idempotency_key.as_deref().map(|k| k.chars().count()),
        Some(257),
        "256 characters and the mark of the cut"
    );
    // A hostile filter value is shown escaped, never as markup.
    let (status, hostile) = page(&env, "?key=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert_eq!(status, 200);
    assert!(hostile.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!hostile.contains("<script>alert(1)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lists_are_paginated() {
    let env = start(|_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..120 {
        ids.push(
            env.create(&create_body(), None).await.json()["run_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // The runs section of a page.
    let runs = |html: &str| {
        let start = html.find("<section id=\"runs\">").expect("a runs section");
        let end = start + html[start..].find("</section>").expect("its end");
        html[start..end].to_owned()
    };
    let (_, first) = page(&env, "").await;
    let first = runs(&first);
    assert!(first.contains("120 in all; page 1 of 3"), "runs: 50 a page");
    // Newest first: the last run made is on page 1, the first on page 3.
    assert!(first.contains(&ids[119]) && !first.contains(&ids[0]));
    assert!(first.contains("href=\"/_emulator/?runs_page=2\">older</a>"));
    let (_, last) = page(&env, "?runs_page=3").await;
    let last = runs(&last);
    assert!(last.contains(&ids[0]) && !last.contains(&ids[119]));
    assert!(last.contains("page 3 of 3"));
    // Beyond the last page: the last page.
    let (_, beyond) = page(&env, "?runs_page=99").await;
    assert!(beyond.contains("page 3 of 3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_site_can_neither_arm_a_fault_nor_read_the_page() {
    let env = start(|_| {}).await;
    let port = env.emulator.addr().port();
    let arm = json!({"operation": "create_run", "kind": "status", "status": 503});
    // A request from another site's page (its Origin) is refused, and nothing is armed.
    let refused = env
        .call(
            "POST",
            "/_emulator/faults",
            Some(&arm),
            None,
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(env.emulator.control().armed_faults().faults.is_empty());
    // A DNS name rebound to loopback cannot load the page or use the controls, even when
    // its Origin matches its Host.
    let rebound = format!("evil.example:{port}");
    let origin = format!("http://{rebound}");
    for (method, path) in [
        ("GET", "/_emulator/"),
        ("GET", "/_emulator"),
        ("POST", "/_emulator/faults"),
    ] {
        let reply = env
            .raw(
                method,
                path,
                Some(&arm),
                None,
                &[("host", &rebound), ("origin", &origin)],
            )
            .await
            .unwrap();
        assert_eq!(reply.0, 403, "{method} {path}");
    }
    // Nor read the records as JSON: a same-origin read sends no Origin, but a browser's
    // Sec-Fetch-Mode gives it away.
    for path in ["/_emulator/inspect/requests", "/_emulator/inspect/webhooks"] {
        let reply = env
            .raw(
                "GET",
                path,
                None,
                None,
                &[("host", &rebound), ("sec-fetch-mode", "cors")],
            )
            .await
            .unwrap();
        assert_eq!(reply.0, 403, "{path}");
    }
    assert!(env.emulator.control().armed_faults().faults.is_empty());
    // A form (not JSON) is refused even from the page's own origin.
    let own = format!("http://127.0.0.1:{port}");
    let form = env
        .http
        .post(format!("{}/_emulator/faults", env.emulator.base_url()))
        .header("origin", &own)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("operation=create_run&kind=status&status=503")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 400);
    assert!(env.emulator.control().armed_faults().faults.is_empty());
    // The page itself, from its own origin, and scripts without any Origin, may.
    let own_page = env
        .call(
            "POST",
            "/_emulator/faults",
            Some(&arm),
            None,
            &[("origin", &own)],
        )
        .await;
    assert_eq!(own_page.status, 204);
    assert_eq!(
        env.control("DELETE", "/_emulator/faults", Value::Null)
            .await
            .status,
        204
    );
    assert_eq!(
        env.control("POST", "/_emulator/faults", arm).await.status,
        204
    );
    assert_eq!(env.emulator.control().armed_faults().faults.len(), 1);
}

/// The page in headless Chromium: it lists the runs, the failed delivery and the armed
/// fault; arming a fault with its button changes what the next API call gets; the
/// reveal button shows the webhook secret; a screenshot is written for review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(semarize_test_browser),
    ignore = "needs Chromium: apt-get install chromium, then set SEMARIZE_TEST_BROWSER=1"
)]
async fn the_page_works_in_a_real_browser() {
    let (env, runs) = busy_emulator().await;
    let url = env.emulator.inspector_url();
    let secret = {
        let control = env.emulator.control();
        let workspace = control.webhook_endpoints()[0].workspace_id.clone();
        control.webhook_secret(&workspace).unwrap()
    };
    let runs_for_browser = runs.clone();
    let browser = tokio::task::spawn_blocking(move || {
        let mut browser = crate::browser::Browser::start(1400, 1000);
        browser.open(&url);
        let listed: Vec<String> = serde_json::from_value(browser.eval(
            "Array.from(document.querySelectorAll('#runs tr.run a')).map(a => a.textContent)",
        ))
        .unwrap();
        for run in &runs_for_browser {
            assert!(listed.contains(run), "{run} in {listed:?}");
        }
        assert_eq!(
            browser.eval("document.querySelectorAll('#deliveries tr.result-failed').length > 0"),
            json!(true),
            "the failed delivery"
        );
        assert_eq!(
            browser.eval("document.querySelector('#faults tr.armed td').textContent"),
            json!("list_runs"),
            "the armed fault"
        );
        // Arm "next creation: 503" from the page, as a user would.
        browser.eval("document.getElementById('arm-create-503').click()");
        browser
            .wait_until("document.getElementById('control-result').textContent.endsWith(': done')");
        browser
    })
    .await
    .unwrap();
    let next = env.create(&create_body(), None).await;
    assert_eq!(next.status, 503, "the fault armed from the page answered");
    assert_eq!(
        env.emulator.control().requests().last().map(|r| r.fault),
        Some(Some("status"))
    );
    // The page shows it live, without a reload; then the screenshot (secret masked), then
    // the reveal control.
    let (png, shown) = tokio::task::spawn_blocking(move || {
        let mut browser = browser;
        browser.wait_until(
            "Array.from(document.querySelectorAll('#requests tr.request')).some(r => r.textContent.includes('create_run') && r.textContent.includes('503'))",
        );
        let png = browser.screenshot();
        browser.eval("document.querySelector('button.reveal').click()");
        browser.wait_until("document.querySelector('code.reveal-shown') !== null");
        let shown = browser.eval("document.querySelector('code.reveal-shown').textContent");
        (png, shown)
    })
    .await
    .unwrap();
    assert_eq!(shown, json!(secret), "the reveal control shows the secret");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("inspector.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());
}
