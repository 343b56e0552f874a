//! Webhook delivery: one signed event per terminal run, delivered at least once with the
//! documented backoff (1m, 2m, 4m, ... capped at 1h; at most 10 attempts within 24h, then
//! dead), scaled by `time_scale`, with injectable duplicates, delays, reordering and
//! failures.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
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
    let mut attempts: JoinSet<(Delivery, bool)> = JoinSet::new();
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
                let Ok((delivery, delivered)) = done else { continue };
                if delivered {
                    continue;
                }
                let settings = core.settings();
                let window = settings.scaled(DELIVERY_WINDOW);
                let delay = settings.scaled(backoff(delivery.attempt));
                let next_at = Instant::now() + delay;
                if delivery.attempt >= MAX_ATTEMPTS || next_at.duration_since(delivery.first_attempt) > window {
                    record(&core, &delivery, "", false, "dead", None);
                    continue;
                }
                let next = Delivery { attempt: delivery.attempt + 1, ..delivery };
                schedule(&mut queue, &mut tasks, next_at, Task::Deliver(next));
            }
        }
    }
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

fn record(
    core: &Core,
    d: &Delivery,
    delivery_id: &str,
    duplicate: bool,
    result: &str,
    status: Option<u16>,
) {
    let url = core
        .workspace(&d.workspace_id)
        .and_then(|ws| lock(&ws).webhook.as_ref().map(|w| w.url.clone()))
        .unwrap_or_default();
    core.record_delivery(DeliveryRecord {
        at: ids::rfc3339(chrono::Utc::now()),
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
        status,
    });
}

/// One delivery attempt (sent twice when a duplicate is injected); true when delivered.
async fn attempt(core: Arc<Core>, client: reqwest::Client, delivery: Delivery) -> (Delivery, bool) {
    let endpoint = core
        .workspace(&delivery.workspace_id)
        .and_then(|ws| lock(&ws).webhook.clone());
    let Some(endpoint) = endpoint else {
        record(&core, &delivery, "", false, "dropped", None);
        return (delivery, true);
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
    let delivery_id = ids::prefixed("dlv");
    if fail {
        record(&core, &delivery, &delivery_id, false, "failed", None);
        return (delivery, false);
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

    let mut delivered = false;
    for copy in 0..if duplicate { 2 } else { 1 } {
        let sent = client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header(sig::HEADER_EVENT_ID, &delivery.event_id)
            .header(sig::HEADER_DELIVERY_ID, &delivery_id)
            .header(sig::HEADER_EVENT_TYPE, &delivery.event_type)
            .header(sig::HEADER_TIMESTAMP, &timestamp)
            .header(sig::HEADER_SIGNATURE, &signature)
            .body(body.clone())
            .send()
            .await;
        let (result, status) = match sent {
            Ok(response) if response.status().is_success() => {
                ("delivered", Some(response.status().as_u16()))
            }
            Ok(response) => ("failed", Some(response.status().as_u16())),
            Err(_) => ("failed", None),
        };
        delivered |= result == "delivered";
        record(&core, &delivery, &delivery_id, copy == 1, result, status);
    }
    (delivery, delivered)
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
