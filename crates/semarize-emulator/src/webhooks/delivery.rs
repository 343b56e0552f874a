//! Webhook delivery: one signed event per terminal run, delivered at least once with the
//! documented backoff (1m, 2m, 4m, ... capped at 1h; at most 10 attempts within 24h, then
//! dead), scaled by `time_scale`, with injectable duplicates, delays, reordering and
//! failures.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use semarize_api::types::{RunStatus, WebhookEventType};
use semarize_api::webhook_signature as sig;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::Job;
use crate::ids;
use crate::inspect::DeliveryRecord;
use crate::lock;
use crate::state::Core;

/// Most attempts per event.
const MAX_ATTEMPTS: u32 = 10;
/// Window within which attempts are made.
const DELIVERY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Receivers get this long to answer an attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The documented delay after failed attempt `attempt` (1-based): 1m, 2m, 4m, ... 1h.
pub(super) fn backoff(attempt: u32) -> Duration {
    let minutes = 1u64 << (attempt.saturating_sub(1)).min(6);
    Duration::from_secs(minutes * 60).min(Duration::from_secs(3600))
}

/// One event on its way to the endpoint.
#[derive(Debug, Clone)]
struct Delivery {
    workspace_id: Arc<str>,
    run_id: String,
    event_id: String,
    event_type: String,
    /// The event body without `delivery_id`, which is set per attempt.
    event: Value,
    thin: bool,
    attempt: u32,
    first_attempt: Instant,
}

#[derive(Debug)]
enum Task {
    Emit {
        workspace_id: Arc<str>,
        run_id: String,
    },
    Deliver(Delivery),
}

/// Runs the dispatcher until `shutdown` flips.
pub(crate) async fn run(
    core: Arc<Core>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = semarize_api::tls::client_builder()
        .timeout(ATTEMPT_TIMEOUT)
        .build()
        .expect("an HTTP client with a timeout builds");
    let mut queue: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut tasks: HashMap<u64, Task> = HashMap::new();
    let mut seq = 0u64;
    let mut attempts: JoinSet<(Delivery, After)> = JoinSet::new();
    let mut held: Vec<Delivery> = Vec::new();

    let mut schedule = |queue: &mut BinaryHeap<Reverse<(Instant, u64)>>,
                        tasks: &mut HashMap<u64, Task>,
                        at,
                        task| {
        seq += 1;
        tasks.insert(seq, task);
        queue.push(Reverse((at, seq)));
    };

    loop {
        let next_due = queue.peek().map(|Reverse((at, _))| *at);
        tokio::select! {
            _ = shutdown.changed() => break,
            job = jobs.recv() => match job {
                Some(Job::Emit { workspace_id, run_id, at }) => {
                    schedule(&mut queue, &mut tasks, at, Task::Emit { workspace_id, run_id });
                }
                None => break,
            },
            _ = sleep_until(next_due), if next_due.is_some() => {
                let now = Instant::now();
                while let Some(Reverse((at, id))) = queue.peek().copied() {
                    if at > now {
                        break;
                    }
                    queue.pop();
                    match tasks.remove(&id) {
                        Some(Task::Emit { workspace_id, run_id }) => {
                            match emit(&core, &workspace_id, &run_id) {
                                Emitted::Event(delivery) => {
                                    let reorder = lock(&core.faults).webhook.reorder;
                                    if reorder > 0 {
                                        held.push(delivery);
                                        if held.len() as u32 >= reorder {
                                            lock(&core.faults).webhook.reorder = 0;
                                            for delivery in held.drain(..).rev() {
                                                attempts.spawn(attempt(core.clone(), client.clone(), delivery));
                                            }
                                        }
                                    } else {
                                        attempts.spawn(attempt(core.clone(), client.clone(), delivery));
                                    }
                                }
                                Emitted::NotYet(at) => schedule(&mut queue, &mut tasks, at, Task::Emit { workspace_id, run_id }),
                                Emitted::Nothing => {}
                            }
                        }
                        Some(Task::Deliver(delivery)) => {
                            attempts.spawn(attempt(core.clone(), client.clone(), delivery));
                        }
                        None => {}
                    }
                }
            },
            Some(done) = attempts.join_next(), if !attempts.is_empty() => {
                let Ok((delivery, after)) = done else { continue };
                match after {
                    After::Done => {}
                    After::Dead => record(&core, &delivery, "", false, "dead", Sent::nothing()),
                    After::Retry(at) => {
                        let next = Delivery { attempt: delivery.attempt + 1, ..delivery };
                        schedule(&mut queue, &mut tasks, at, Task::Deliver(next));
                    }
                }
            }
        }
    }
}

/// What follows an attempt.
enum After {
    /// Delivered (or dropped: nothing to retry).
    Done,
    /// Failed, and another attempt is due then.
    Retry(Instant),
    /// Failed for the last time: the delivery is dead.
    Dead,
}

/// When the attempt after a failed `delivery` is due, or `None` when it was the last
/// (ten attempts, or beyond the delivery window).
fn retry_at(core: &Core, delivery: &Delivery, now: Instant) -> Option<Instant> {
    let settings = core.settings();
    let next_at = now + settings.scaled(backoff(delivery.attempt));
    let within = next_at.saturating_duration_since(delivery.first_attempt)
        <= settings.scaled(DELIVERY_WINDOW);
    (delivery.attempt < MAX_ATTEMPTS && within).then_some(next_at)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

enum Emitted {
    Event(Delivery),
    NotYet(Instant),
    Nothing,
}

/// Builds the terminal event of a run, once; thin when the payload exceeds the limit.
fn emit(core: &Core, workspace_id: &Arc<str>, run_id: &str) -> Emitted {
    let Some(workspace) = core.workspace(workspace_id) else {
        return Emitted::Nothing;
    };
    let mut ws = lock(&workspace);
    let now = Instant::now();
    let Some(run) = ws.runs.get(run_id) else {
        return Emitted::Nothing;
    };
    if !run.is_terminal(now) {
        return Emitted::NotYet(run.finishes());
    }
    let detail = run.detail(now);
    let no_endpoint = ws.webhook.is_none();
    if !ws.runs.get_mut(run_id).is_some_and(|run| run.claim_event()) {
        return Emitted::Nothing;
    }
    let event_type = match detail.status {
        RunStatus::Succeeded => WebhookEventType::RunSucceeded,
        RunStatus::Failed => WebhookEventType::RunFailed,
        _ => WebhookEventType::RunCancelled,
    };
    if no_endpoint {
        // Said in the inspection log, so a test (or a puzzled user) can see that the run's
        // event had its turn and went nowhere, instead of waiting for an absence.
        drop(ws);
        core.record_delivery(DeliveryRecord {
            at: ids::rfc3339(chrono::Utc::now()),
            workspace_id: workspace_id.to_string(),
            event_id: String::new(),
            delivery_id: String::new(),
            event_type: event_type.as_str().to_owned(),
            run_id: run_id.to_owned(),
            attempt: 0,
            url: String::new(),
            duplicate: false,
            thin: false,
            result: "no_endpoint".to_owned(),
            status: None,
            headers: Default::default(),
            latency_ms: None,
            next_retry_at: None,
        });
        return Emitted::Nothing;
    }
    let settings = core.settings();
    let mut data = serde_json::to_value(&detail).expect("runs serialize");
    let mut event = json!({
        "id": ids::prefixed("evt"),
        "type": event_type.as_str(),
        "created_at": ids::rfc3339(chrono::Utc::now()),
        "workspace_id": workspace_id,
        "data": data.clone(),
    });
    let thin = serde_json::to_vec(&event).map(|b| b.len()).unwrap_or(0)
        > settings.webhook_payload_limit_bytes;
    if thin {
        data = json!({
            "run_id": detail.run_id,
            "status": detail.status.as_str(),
            "error_code": detail.error_code.as_ref().map(|c| c.as_str()),
            "duration_ms": detail.duration_ms,
        });
        event["data"] = data;
    }
    if settings.additive {
        crate::additive::decorate(&mut event);
    }
    Emitted::Event(Delivery {
        workspace_id: workspace_id.clone(),
        run_id: run_id.to_owned(),
        event_id: event["id"].as_str().unwrap_or_default().to_owned(),
        event_type: event_type.as_str().to_owned(),
        event,
        thin,
        attempt: 1,
        first_attempt: now,
    })
}

/// What one attempt sent and got back, for its record.
struct Sent {
    headers: BTreeMap<String, String>,
    status: Option<u16>,
    latency_ms: Option<f64>,
    next_retry_at: Option<Instant>,
}

impl Sent {
    /// Nothing was sent.
    fn nothing() -> Self {
        Sent {
            headers: BTreeMap::new(),
            status: None,
            latency_ms: None,
            next_retry_at: None,
        }
    }
}

fn record(core: &Core, d: &Delivery, delivery_id: &str, duplicate: bool, result: &str, sent: Sent) {
    let url = core
        .workspace(&d.workspace_id)
        .and_then(|ws| lock(&ws).webhook.as_ref().map(|w| w.url.clone()))
        .unwrap_or_default();
    let now = chrono::Utc::now();
    let next_retry_at = sent.next_retry_at.map(|at| {
        let wait = at.saturating_duration_since(Instant::now());
        ids::rfc3339(now + chrono::Duration::from_std(wait).unwrap_or_default())
    });
    core.record_delivery(DeliveryRecord {
        at: ids::rfc3339(now),
        workspace_id: d.workspace_id.to_string(),
        event_id: d.event_id.clone(),
        delivery_id: delivery_id.to_owned(),
        event_type: d.event_type.clone(),
        run_id: d.run_id.clone(),
        attempt: d.attempt,
        url,
        duplicate,
        thin: d.thin,
        result: result.to_owned(),
        status: sent.status,
        headers: sent.headers,
        latency_ms: sent.latency_ms,
        next_retry_at,
    });
}

/// One delivery attempt (sent twice when a duplicate is injected), recorded with its
/// headers, the receiver's answer and, when it failed, the next attempt's time.
async fn attempt(
    core: Arc<Core>,
    client: reqwest::Client,
    delivery: Delivery,
) -> (Delivery, After) {
    let endpoint = core
        .workspace(&delivery.workspace_id)
        .and_then(|ws| lock(&ws).webhook.clone());
    let Some(endpoint) = endpoint else {
        record(&core, &delivery, "", false, "dropped", Sent::nothing());
        return (delivery, After::Done);
    };
    let (duplicate, delay, fail) = {
        let mut faults = lock(&core.faults);
        let w = &mut faults.webhook;
        let take = |n: &mut u32| {
            let on = *n > 0;
            *n = n.saturating_sub(1);
            on
        };
        let duplicate = take(&mut w.duplicate);
        let delay = take(&mut w.delay).then_some(Duration::from_millis(w.delay_ms));
        (duplicate, delay, take(&mut w.fail))
    };
    let failed = |delivery: Delivery| {
        let retry = retry_at(&core, &delivery, Instant::now());
        let after = retry.map_or(After::Dead, After::Retry);
        (delivery, after, retry)
    };
    let delivery_id = ids::prefixed("dlv");
    if fail {
        let (delivery, after, retry) = failed(delivery);
        let sent = Sent {
            next_retry_at: retry,
            ..Sent::nothing()
        };
        record(&core, &delivery, &delivery_id, false, "failed", sent);
        return (delivery, after);
    }
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut event = delivery.event.clone();
    event["delivery_id"] = Value::from(delivery_id.clone());
    let body = serde_json::to_vec(&event).expect("events serialize");
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let secrets = endpoint.signing_secrets(Instant::now());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let signature = sig::signature_header(&secrets, &timestamp, &body);
    let headers: BTreeMap<String, String> = [
        ("content-type", "application/json"),
        (sig::HEADER_EVENT_ID, delivery.event_id.as_str()),
        (sig::HEADER_DELIVERY_ID, delivery_id.as_str()),
        (sig::HEADER_EVENT_TYPE, delivery.event_type.as_str()),
        (sig::HEADER_TIMESTAMP, timestamp.as_str()),
        (sig::HEADER_SIGNATURE, signature.as_str()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
    .collect();

    let mut answers = Vec::new();
    for _copy in 0..if duplicate { 2 } else { 1 } {
        let sent_at = Instant::now();
        let mut request = client.post(&endpoint.url).body(body.clone());
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let status = request.send().await.ok().map(|r| r.status());
        answers.push((status, sent_at.elapsed().as_micros() as f64 / 1000.0));
    }
    let delivered = answers
        .iter()
        .any(|(status, _)| status.is_some_and(|s| s.is_success()));
    let (delivery, after, retry) = if delivered {
        (delivery, After::Done, None)
    } else {
        failed(delivery)
    };
    for (copy, (status, latency_ms)) in answers.into_iter().enumerate() {
        let result = if status.is_some_and(|s| s.is_success()) {
            "delivered"
        } else {
            "failed"
        };
        let sent = Sent {
            headers: headers.clone(),
            status: status.map(|s| s.as_u16()),
            latency_ms: Some(latency_ms),
            next_retry_at: retry,
        };
        record(&core, &delivery, &delivery_id, copy == 1, result, sent);
    }
    (delivery, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_minute_and_caps_at_an_hour() {
        let minutes: Vec<u64> = (1..=10).map(|a| backoff(a).as_secs() / 60).collect();
        assert_eq!(minutes, vec![1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    }
}
