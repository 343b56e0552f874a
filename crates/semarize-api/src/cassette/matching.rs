//! Which recorded interaction answers a request, and what differs when none does.
//!
//! A request matches an interaction when the operation, method, path, normalized query
//! and JSON body (compared as values, after the cassette's redactions) are equal, and
//! the Idempotency-Keys correspond. Keys are generated afresh by every run of a program,
//! so they match by order of appearance: the first key the replay sends stands for the
//! first key the recording sent, and from then on only for it (a retry resends its key,
//! and must meet the recorded retry's key). Other headers are recorded, not matched.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::format::{Interaction, RecordedRequest};
use super::{NoMatch, Order};

/// The request header whose value matches by order of appearance.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The interactions of a replay and which are used.
#[derive(Debug)]
pub(crate) struct Replayer {
    pub interactions: Vec<Interaction>,
    used: Vec<bool>,
    order: Order,
    /// Unused interactions by everything that must be equal but the Idempotency-Key, in
    /// file order: a batch's thousands of interactions are matched without comparing
    /// each request with each of them.
    buckets: HashMap<String, VecDeque<usize>>,
    /// Key sent by this run -> key in the cassette, and back.
    sent_to_recorded: HashMap<String, String>,
    recorded_to_sent: HashMap<String, String>,
}

impl Replayer {
    pub(crate) fn new(interactions: Vec<Interaction>, order: Order) -> Self {
        let mut buckets: HashMap<String, VecDeque<usize>> = HashMap::new();
        for (index, interaction) in interactions.iter().enumerate() {
            let key = bucket(&interaction.operation_id, &interaction.request);
            buckets.entry(key).or_default().push_back(index);
        }
        Replayer {
            used: vec![false; interactions.len()],
            interactions,
            order,
            buckets,
            sent_to_recorded: HashMap::new(),
            recorded_to_sent: HashMap::new(),
        }
    }

    pub(crate) fn set_order(&mut self, order: Order) {
        self.order = order;
    }

    /// Interactions not yet replayed.
    pub(crate) fn unused(&self) -> usize {
        self.used.iter().filter(|u| !**u).count()
    }

    /// The index of the interaction that answers `request`, now marked used.
    pub(crate) fn take(
        &mut self,
        operation_id: &str,
        request: &RecordedRequest,
    ) -> Result<usize, NoMatch> {
        if self.order == Order::AnyOrder
            && let Some(index) = self.take_from_bucket(operation_id, request)
        {
            return Ok(index);
        }
        // In order: the next unused interaction. Any order and no match: every unused
        // one, to name the nearest.
        let candidates: Vec<usize> = match self.order {
            Order::InOrder => self.used.iter().position(|u| !*u).into_iter().collect(),
            Order::AnyOrder => (0..self.used.len()).filter(|i| !self.used[*i]).collect(),
        };
        let mut nearest: Option<(usize, Vec<String>)> = None;
        for index in candidates {
            let differences = self.differences(&self.interactions[index], operation_id, request);
            if differences.is_empty() {
                self.used[index] = true;
                self.bind(&self.interactions[index].request.clone(), request);
                return Ok(index);
            }
            let closer = nearest
                .as_ref()
                .is_none_or(|(_, best)| differences.len() < best.len());
            if closer {
                nearest = Some((index, differences));
            }
        }
        Err(NoMatch {
            request: describe(operation_id, request),
            nearest: nearest.map(|(index, differences)| {
                let interaction = &self.interactions[index];
                (
                    index,
                    describe(&interaction.operation_id, &interaction.request),
                    differences.into_iter().next().unwrap_or_default(),
                )
            }),
            recorded: self.interactions.len(),
            in_order: self.order == Order::InOrder,
        })
    }

    /// Any order: the first unused interaction of the request's bucket whose
    /// Idempotency-Key corresponds, now used.
    fn take_from_bucket(&mut self, operation_id: &str, request: &RecordedRequest) -> Option<usize> {
        let key = bucket(operation_id, request);
        let candidates = self.buckets.get(&key)?;
        let index = candidates.iter().copied().find(|index| {
            !self.used[*index]
                && self
                    .key_difference(&self.interactions[*index].request, request)
                    .is_none()
        })?;
        self.used[index] = true;
        self.bind(&self.interactions[index].request.clone(), request);
        // Used interactions at the front are dropped, so a bucket is not rescanned.
        let used = &self.used;
        if let Some(candidates) = self.buckets.get_mut(&key) {
            while candidates.front().is_some_and(|front| used[*front]) {
                candidates.pop_front();
            }
        }
        Some(index)
    }

    fn bind(&mut self, recorded: &RecordedRequest, sent: &RecordedRequest) {
        if let (Some(recorded), Some(sent)) = (
            recorded.headers.get(IDEMPOTENCY_KEY),
            sent.headers.get(IDEMPOTENCY_KEY),
        ) {
            self.sent_to_recorded.insert(sent.clone(), recorded.clone());
            self.recorded_to_sent.insert(recorded.clone(), sent.clone());
        }
    }

    /// What differs between a recorded interaction and a request, most telling first.
    fn differences(
        &self,
        interaction: &Interaction,
        operation_id: &str,
        request: &RecordedRequest,
    ) -> Vec<String> {
        let recorded = &interaction.request;
        let mut out = Vec::new();
        if interaction.operation_id != operation_id {
            out.push(format!(
                "operation_id (recorded {}, sent {operation_id})",
                interaction.operation_id
            ));
        }
        if !recorded.method.eq_ignore_ascii_case(&request.method) {
            out.push(format!(
                "request.method (recorded {}, sent {})",
                recorded.method, request.method
            ));
        }
        if recorded.path != request.path {
            out.push(format!(
                "request.path (recorded {}, sent {})",
                recorded.path, request.path
            ));
        }
        if recorded.query != request.query {
            out.push(format!(
                "request.query (recorded {:?}, sent {:?})",
                recorded.query.as_deref().unwrap_or(""),
                request.query.as_deref().unwrap_or("")
            ));
        }
        if let Some(difference) = self.key_difference(recorded, request) {
            out.push(difference);
        }
        match (&recorded.body, &request.body) {
            (Some(a), Some(b)) => {
                if let Some(pointer) = first_difference(a, b, String::new()) {
                    out.push(format!("request.body at {:?}", pointer_or_root(&pointer)));
                }
            }
            (None, None) => {
                if recorded.body_text != request.body_text {
                    out.push("request.body (text)".to_owned());
                }
            }
            (Some(_), None) => out.push("request.body (recorded, none sent)".to_owned()),
            (None, Some(_)) => out.push("request.body (none recorded, one sent)".to_owned()),
        }
        out
    }

    fn key_difference(&self, recorded: &RecordedRequest, sent: &RecordedRequest) -> Option<String> {
        let recorded = recorded.headers.get(IDEMPOTENCY_KEY);
        let sent = sent.headers.get(IDEMPOTENCY_KEY);
        match (recorded, sent) {
            (None, None) => None,
            (Some(_), None) => Some("request.headers.idempotency-key (recorded, none sent)".into()),
            (None, Some(_)) => {
                Some("request.headers.idempotency-key (none recorded, one sent)".into())
            }
            (Some(recorded), Some(sent)) => {
                let fits = match self.sent_to_recorded.get(sent) {
                    Some(bound) => bound == recorded,
                    None => !self.recorded_to_sent.contains_key(recorded),
                };
                (!fits).then(|| {
                    "request.headers.idempotency-key (the key sent before with this one's \
                     place in the recording was another)"
                        .to_owned()
                })
            }
        }
    }
}

/// Everything a match compares except the Idempotency-Key, as one string: the
/// operation, method, path, query and body (JSON text with sorted keys).
fn bucket(operation_id: &str, request: &RecordedRequest) -> String {
    let body = match (&request.body, &request.body_text) {
        (Some(body), _) => body.to_string(),
        (None, Some(text)) => format!("text:{text}"),
        (None, None) => String::new(),
    };
    format!(
        "{operation_id} {} {}?{} {body}",
        request.method.to_ascii_uppercase(),
        request.path,
        request.query.as_deref().unwrap_or("")
    )
}

fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

/// `METHOD path?query (operation)`, for messages. Bodies are never shown: they may hold
/// conversation text.
pub(crate) fn describe(operation_id: &str, request: &RecordedRequest) -> String {
    match &request.query {
        Some(query) => format!(
            "{} {}?{query} ({operation_id})",
            request.method, request.path
        ),
        None => format!("{} {} ({operation_id})", request.method, request.path),
    }
}

/// The JSON pointer of the first place where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, pointer: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut names: Vec<&String> = x.keys().chain(y.keys()).collect();
            names.sort();
            names.dedup();
            names.into_iter().find_map(|name| {
                let child = format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1"));
                match (x.get(name), y.get(name)) {
                    (Some(p), Some(q)) => first_difference(p, q, child),
                    _ => Some(child),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(pointer);
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| first_difference(p, q, format!("{pointer}/{i}")))
        }
        _ => (a != b).then_some(pointer),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::cassette::format::RecordedResponse;

    fn interaction(op: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Interaction {
        let mut headers = BTreeMap::new();
        if let Some(key) = key {
            headers.insert(IDEMPOTENCY_KEY.to_owned(), key.to_owned());
        }
        Interaction {
            elapsed_ms: 0,
            operation_id: op.to_owned(),
            request: RecordedRequest {
                method: if body.is_some() { "POST" } else { "GET" }.to_owned(),
                path: path.to_owned(),
                query: None,
                headers,
                body,
                body_text: None,
            },
            response: RecordedResponse {
                status: 200,
                headers: BTreeMap::new(),
                body: None,
                body_text: None,
            },
        }
    }

    #[test]
    fn keys_match_by_order_of_appearance() {
        let body = json!({"kit_code": "A1B2C3D4", "input": {"transcript": "t"}});
        let recorded = vec![
            interaction("create_run", "/v1/runs", Some("r1"), Some(body.clone())),
            interaction("create_run", "/v1/runs", Some("r1"), Some(body.clone())),
            interaction("create_run", "/v1/runs", Some("r2"), Some(body.clone())),
        ];
        let mut replay = Replayer::new(recorded, Order::InOrder);
        let sent = |key: &str| {
            interaction("create_run", "/v1/runs", Some(key), Some(body.clone())).request
        };
        assert_eq!(replay.take("create_run", &sent("s1")).unwrap(), 0);
        // The retry resends s1, which now stands for r1.
        assert_eq!(replay.take("create_run", &sent("s1")).unwrap(), 1);
        // A new key where the recording had r2: fine. Resending s1 there would not be.
        let mut wrong = Replayer::new(replay.interactions.clone(), Order::InOrder);
        wrong.take("create_run", &sent("s1")).unwrap();
        wrong.take("create_run", &sent("s1")).unwrap();
        let miss = wrong.take("create_run", &sent("s1")).unwrap_err();
        assert!(miss.to_string().contains("idempotency-key"), "{miss}");
        assert_eq!(replay.take("create_run", &sent("s2")).unwrap(), 2);
        let done = replay.take("create_run", &sent("s3")).unwrap_err();
        assert!(
            done.to_string()
                .contains("all 3 recorded interactions are used"),
            "{done}"
        );
    }

    #[test]
    fn any_order_finds_each_of_many_alike_interactions_once() {
        // A batch: many creations on one path, each with its own body and key, retried
        // once each; replayed in reverse.
        let body =
            |i: usize| json!({"kit_code": "A1B2C3D4", "input": {"transcript": i.to_string()}});
        let mut recorded = Vec::new();
        for i in 0..500 {
            let key = format!("r{i}");
            recorded.push(interaction(
                "create_run",
                "/v1/runs",
                Some(&key),
                Some(body(i)),
            ));
            recorded.push(interaction(
                "create_run",
                "/v1/runs",
                Some(&key),
                Some(body(i)),
            ));
        }
        let mut replay = Replayer::new(recorded, Order::AnyOrder);
        for i in (0..500).rev() {
            let sent = interaction(
                "create_run",
                "/v1/runs",
                Some(&format!("s{i}")),
                Some(body(i)),
            );
            let first = replay.take("create_run", &sent.request).unwrap();
            let retry = replay.take("create_run", &sent.request).unwrap();
            assert_eq!((first, retry), (2 * i, 2 * i + 1));
        }
        assert_eq!(replay.unused(), 0);
    }

    #[test]
    fn a_miss_names_the_nearest_interaction_and_the_field() {
        let recorded = vec![
            interaction("get_run", "/v1/runs/a", None, None),
            interaction(
                "create_run",
                "/v1/runs",
                None,
                Some(json!({"kit_code": "A1B2C3D4", "input": {"transcript": "t"}})),
            ),
        ];
        let mut replay = Replayer::new(recorded, Order::AnyOrder);
        let sent = interaction(
            "create_run",
            "/v1/runs",
            None,
            Some(json!({"kit_code": "ZZZZZZZZ", "input": {"transcript": "t"}})),
        );
        let miss = replay
            .take("create_run", &sent.request)
            .unwrap_err()
            .to_string();
        assert!(miss.contains("nearest is interaction 1"), "{miss}");
        assert!(miss.contains("request.body at \"/kit_code\""), "{miss}");
        assert!(!miss.contains("ZZZZ"), "bodies are never shown: {miss}");
        // Any order: the second can be taken first.
        let get = interaction("get_run", "/v1/runs/a", None, None);
        let mut replay = Replayer::new(replay.interactions.clone(), Order::AnyOrder);
        let create = replay.interactions[1].request.clone();
        assert_eq!(replay.take("create_run", &create).unwrap(), 1);
        assert_eq!(replay.take("get_run", &get.request).unwrap(), 0);
        assert_eq!(replay.unused(), 0);
    }
}
