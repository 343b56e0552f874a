//! Record real responses once, replay them offline, and check them against the spec.
//!
//! A [`Cassette`] sits at the transport, under everything that sends requests: set on a
//! [`RequestContext`](crate::RequestContext) it serves the raw client, and the
//! `semarize` crate's builder and the `semarize` command pass it down the same way. In
//! **record** mode every request goes to the server and each complete response is
//! written down with its request; in **replay** mode nothing is sent: each request is
//! answered by the recorded interaction it matches, and a request that matches none
//! fails with a [`NoMatch`] naming the nearest interaction and the field that differs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use semarize_api::cassette::Cassette;
//! use semarize_api::{Client, RequestContext};
//!
//! // Once, against the real API:
//! let cassette = Cassette::record("tests/cassettes/runs.json").redact_transcripts(true);
//! let context = RequestContext::new().with_bearer("smz_test_...")?.with_cassette(cassette.clone());
//! let client = Client::new("https://api.semarize.com", context);
//! client.list_runs().send().await?;
//! cassette.save()?;
//!
//! // In every test afterwards: no network, no key.
//! let cassette = Cassette::replay("tests/cassettes/runs.json")?;
//! let context = RequestContext::new().with_cassette(cassette.clone());
//! let client = Client::new("https://api.semarize.com", context);
//! client.list_runs().send().await?;
//! assert!(cassette.problems().is_empty(), "{:?}", cassette.problems());
//! # Ok(()) }
//! ```
//!
//! **The file** ([below](#the-file)) is one pretty JSON document with sorted keys and a
//! format version. Secrets never reach it (see [`Cassette::redact_transcripts`] for what
//! else may be left out). Only requests that got a complete response are recorded.
//!
//! **Matching**: operation, method, path, normalized query and JSON body must be equal;
//! Idempotency-Keys match by order of appearance (each run of a program generates new
//! ones). [`Order::InOrder`] (the default) answers each request with the next unused
//! interaction; [`Order::AnyOrder`] with any unused one that matches, for concurrent
//! callers.
//!
//! **Checked against the spec**: every response is validated against the spec's schema
//! for its operation and status when it is recorded and when it is replayed; what does
//! not fit is logged and kept in [`Cassette::problems`]. [`check_file`] checks a whole
//! cassette against any spec (after a regeneration, say), line by line.
//!
//! # The file
//!
//! ```json
//! {
//!   "format": "semarize-cassette",
//!   "interactions": [
//!     {
//!       "elapsed_ms": 0,
//!       "operation_id": "create_run",
//!       "request": {
//!         "body": {"input": {"transcript": "..."}, "kit_code": "A1B2C3D4"},
//!         "headers": {"authorization": "[redacted]", "idempotency-key": "..."},
//!         "method": "POST",
//!         "path": "/v1/runs"
//!       },
//!       "response": {
//!         "body": {"run_id": "...", "status": "queued"},
//!         "headers": {"content-type": "application/json", "retry-after": "2"},
//!         "status": 202
//!       }
//!     }
//!   ],
//!   "redactions": {"transcripts": false},
//!   "version": 1
//! }
//! ```
//!
//! `elapsed_ms` is the time from the first recorded response; `query` (normalized: pairs
//! sorted) and `body` are left out when empty; a body that is not JSON is kept as
//! `body_text`.

mod check;
mod format;
mod matching;
mod redact;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};

pub use check::{CheckReport, check_file, check_text};
/// The spec type cassettes are checked against (from `semarize-spec`).
pub use semarize_spec::Spec;

use format::{CassetteFile, Interaction, RecordedRequest, RecordedResponse, Redactions};
use matching::Replayer;
use redact::Redactor;

/// Whether a cassette writes down or answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Requests go to the server; responses are recorded.
    Record,
    /// Nothing is sent; recorded responses answer.
    Replay,
}

/// How replay picks the interaction that answers a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// The next unused interaction, and only it (each is used once).
    #[default]
    InOrder,
    /// Any unused interaction that matches (each is used once): for concurrent callers.
    AnyOrder,
}

/// A cassette could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    /// The file could not be read or written.
    #[error("cassette {path}: {source}")]
    Io {
        /// The cassette's path.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a cassette this build reads.
    #[error("cassette {path} is not valid: {reason}")]
    Invalid {
        /// The cassette's path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// In replay, a request that no recorded interaction answers. It is the source of the
/// transport error the call returns (the request was not sent anywhere).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoMatch {
    request: String,
    /// Index, description and first differing field of the nearest interaction.
    nearest: Option<(usize, String, String)>,
    recorded: usize,
    in_order: bool,
}

impl NoMatch {
    /// The nearest recorded interaction (its index in the file) and the first field in
    /// which it differs, when any interaction was left to compare with.
    pub fn nearest(&self) -> Option<(usize, &str)> {
        self.nearest
            .as_ref()
            .map(|(index, _, field)| (*index, field.as_str()))
    }
}

impl std::fmt::Display for NoMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no recorded interaction matches {}: ", self.request)?;
        match &self.nearest {
            None => write!(f, "all {} recorded interactions are used", self.recorded),
            Some((index, described, field)) if self.in_order => write!(
                f,
                "the next one in order, interaction {index} ({described}), differs in {field}"
            ),
            Some((index, described, field)) => write!(
                f,
                "nearest is interaction {index} ({described}), which differs in {field}"
            ),
        }
    }
}

impl std::error::Error for NoMatch {}

/// A recording or a replay, shared by every client it is set on (cheap to clone).
///
/// See the [module documentation](self).
#[derive(Clone)]
pub struct Cassette {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    mode: Mode,
    state: Mutex<State>,
}

struct State {
    redactor: Redactor,
    /// Record mode: what was recorded so far.
    recorded: Vec<Interaction>,
    /// Replay mode: the interactions and which are used (none in record mode).
    replayer: Replayer,
    problems: Vec<String>,
    started: Option<Instant>,
    /// Record mode: something was recorded since the last save.
    unsaved: bool,
}

impl State {
    fn new(redactor: Redactor, replayed: Vec<Interaction>) -> Self {
        State {
            redactor,
            recorded: Vec::new(),
            replayer: Replayer::new(replayed, Order::InOrder),
            problems: Vec::new(),
            started: None,
            unsaved: false,
        }
    }
}

impl std::fmt::Debug for Cassette {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cassette")
            .field("path", &self.shared.path)
            .field("mode", &self.shared.mode)
            .field("interactions", &self.len())
            .finish_non_exhaustive()
    }
}

/// The spec this crate was generated from ([`SPEC_YAML`](crate::SPEC_YAML)), parsed once:
/// what recorded and replayed responses are checked against, and the default of
/// [`check_file`]'s callers. `None` only if that text does not read as a [`Spec`], which
/// the crate's build rules out.
pub fn generated_spec() -> Option<&'static Spec> {
    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
    SPEC.get_or_init(|| Spec::parse(crate::SPEC_YAML).ok())
        .as_ref()
}

impl Cassette {
    /// Records into `path` (written by [`Cassette::save`], and when the last clone is
    /// dropped): every request is sent and each complete response kept.
    pub fn record(path: impl Into<PathBuf>) -> Cassette {
        Cassette::new(
            path.into(),
            Mode::Record,
            State::new(Redactor::default(), Vec::new()),
        )
    }

    /// Replays the cassette at `path`: nothing is sent, no API key is needed.
    pub fn replay(path: impl AsRef<Path>) -> Result<Cassette, CassetteError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CassetteError::Io {
            path: path.to_owned(),
            source,
        })?;
        let file = CassetteFile::parse(path, &text)?;
        let redactor = Redactor {
            api_key: None,
            transcripts: file.redactions.transcripts,
        };
        let state = State::new(redactor, file.interactions);
        Ok(Cassette::new(path.to_owned(), Mode::Replay, state))
    }

    fn new(path: PathBuf, mode: Mode, state: State) -> Cassette {
        Cassette {
            shared: Arc::new(Shared {
                path,
                mode,
                state: Mutex::new(state),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Record mode: replaces conversation text (the strings under a creation's `input`,
    /// and evidence spans in responses) by placeholders derived from the text, so the
    /// file holds no transcript and still replays (requests are matched on their
    /// redacted form). The file says so, and replay redacts the same way. No effect in
    /// replay mode, where the file decides.
    pub fn redact_transcripts(self, redact: bool) -> Cassette {
        if self.shared.mode == Mode::Record {
            self.state().redactor.transcripts = redact;
        }
        self
    }

    /// Replay mode: how requests pick their interaction (default [`Order::InOrder`]).
    pub fn order(self, order: Order) -> Cassette {
        self.state().replayer.set_order(order);
        self
    }

    /// Record or replay.
    pub fn mode(&self) -> Mode {
        self.shared.mode
    }

    /// The cassette's file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Interactions recorded so far, or held by the replayed file.
    pub fn len(&self) -> usize {
        let state = self.state();
        match self.shared.mode {
            Mode::Replay => state.replayer.interactions.len(),
            Mode::Record => state.recorded.len(),
        }
    }

    /// Whether there are no interactions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replay mode: interactions not used yet (0 in record mode).
    pub fn unused(&self) -> usize {
        self.state().replayer.unused()
    }

    /// Responses recorded or replayed so far that do not fit the spec, one line each:
    /// `interaction N (operation status) /pointer: what was expected`.
    pub fn problems(&self) -> Vec<String> {
        self.state().problems.clone()
    }

    /// Record mode: writes the file (pretty JSON, keys sorted) through a temporary file
    /// renamed into place, so a reader never sees half a cassette. Nothing to do in
    /// replay mode.
    pub fn save(&self) -> Result<(), CassetteError> {
        if self.shared.mode != Mode::Record {
            return Ok(());
        }
        let text = {
            let mut state = self.state();
            state.unsaved = false;
            state.file().to_text()
        };
        write_atomically(&self.shared.path, &text)
    }

    /// Replay mode: the recorded response that answers a request a server received,
    /// matched exactly as a client's request would be (the operation is found from the
    /// method and path in the spec). This is how a server serves a cassette: the
    /// emulator's `--serve-cassette` answers from it and handles every request that gets
    /// `Err` as usual. A recording cassette answers nothing.
    ///
    /// ```
    /// # fn demo(cassette: &semarize_api::cassette::Cassette) {
    /// let request = http::Request::get("/v1/runs?limit=5").body(Vec::new()).unwrap();
    /// match cassette.respond(request.method(), request.uri(), request.headers(), request.body()) {
    ///     Ok(response) => println!("recorded: HTTP {}", response.status()),
    ///     Err(miss) => println!("{miss}"),
    /// }
    /// # }
    /// ```
    pub fn respond(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<http::Response<Vec<u8>>, NoMatch> {
        let path = uri.path();
        let operation = generated_spec()
            .and_then(|spec| spec.operation_for(method.as_str(), path))
            .map(|operation| operation.id);
        let mut state = self.state();
        let recorded = match (&operation, self.shared.mode) {
            (Some(operation_id), Mode::Replay) => {
                let sent = capture_parts(
                    operation_id,
                    method.as_str(),
                    path,
                    uri.query(),
                    headers,
                    body,
                    &state.redactor,
                );
                let index = state.replayer.take(operation_id, &sent)?;
                (index, state.replayer.interactions[index].response.clone())
            }
            _ => {
                return Err(NoMatch {
                    request: format!(
                        "{method} {path} ({})",
                        operation.as_deref().unwrap_or("no operation of the spec")
                    ),
                    nearest: None,
                    recorded: state.replayer.interactions.len(),
                    in_order: false,
                });
            }
        };
        drop(state);
        let (index, recorded) = recorded;
        if let Some(operation_id) = &operation {
            self.check_against_spec(index, operation_id, &recorded);
        }
        let mut response = http::Response::new(recorded.body_bytes());
        *response.status_mut() =
            StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        *response.headers_mut() = recorded_headers(&recorded);
        Ok(response)
    }

    /// Validates a replayed response against the spec (outside the state's lock: a
    /// concurrent replay validates in parallel) and keeps what does not fit.
    fn check_against_spec(&self, index: usize, operation_id: &str, recorded: &RecordedResponse) {
        let violations = violations(operation_id, recorded);
        if !violations.is_empty() {
            self.state()
                .note_problems(index, operation_id, recorded, violations);
        }
    }

    /// Executes one request through the cassette (the generated client's `exec`).
    pub(crate) async fn execute(
        &self,
        http: &reqwest::Client,
        request: reqwest::Request,
        operation_id: &str,
        limit: usize,
    ) -> reqwest::Result<reqwest::Response> {
        match self.shared.mode {
            Mode::Record => self.record_one(http, request, operation_id, limit).await,
            Mode::Replay => self.replay_one(request, operation_id, limit).await,
        }
    }

    async fn record_one(
        &self,
        http: &reqwest::Client,
        request: reqwest::Request,
        operation_id: &str,
        limit: usize,
    ) -> reqwest::Result<reqwest::Response> {
        let redactor = {
            let mut state = self.state();
            if state.redactor.api_key.is_none() {
                state.redactor.api_key = bearer(request.headers());
            }
            state.redactor.clone()
        };
        let sent = capture_request(operation_id, &request, &redactor);
        let response = crate::transport::execute(http, request, limit).await?;
        let status = response.status();
        let version = response.version();
        let url = response.url().clone();
        let headers = response.headers().clone();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => {
                // No complete response: nothing to record; the caller sees the same error
                // (a body over the limit stays recognisable in its source chain).
                let body = futures::stream::once(async move {
                    Err::<Vec<u8>, _>(Box::new(error) as Box<dyn std::error::Error + Send + Sync>)
                });
                return Ok(crate::transport::rebuild(
                    status,
                    version,
                    url,
                    headers,
                    reqwest::Body::wrap_stream(body),
                ));
            }
        };
        let (mut body, body_text) = format::split_body(&bytes);
        if let Some(body) = body.as_mut() {
            redactor.response_body(operation_id, body);
        }
        let recorded = RecordedResponse {
            status: status.as_u16(),
            headers: response_headers(&headers, &redactor),
            body,
            body_text: body_text.map(|text| redactor.text(&text)),
        };
        let violations = violations(operation_id, &recorded);
        let mut state = self.state();
        let index = state.recorded.len();
        state.note_problems(index, operation_id, &recorded, violations);
        let now = crate::clock::now();
        let started = *state.started.get_or_insert(now);
        state.recorded.push(Interaction {
            elapsed_ms: u64::try_from(now.saturating_duration_since(started).as_millis())
                .unwrap_or(u64::MAX),
            operation_id: operation_id.to_owned(),
            request: sent,
            response: recorded,
        });
        state.unsaved = true;
        drop(state);
        Ok(crate::transport::rebuild(
            status,
            version,
            url,
            headers,
            reqwest::Body::from(bytes),
        ))
    }

    async fn replay_one(
        &self,
        request: reqwest::Request,
        operation_id: &str,
        limit: usize,
    ) -> reqwest::Result<reqwest::Response> {
        let taken = {
            let mut state = self.state();
            let sent = capture_request(operation_id, &request, &state.redactor);
            state
                .replayer
                .take(operation_id, &sent)
                .map(|index| (index, state.replayer.interactions[index].response.clone()))
        };
        match taken {
            Ok((index, recorded)) => {
                self.check_against_spec(index, operation_id, &recorded);
                let response = replayed_response(&recorded, request.url().clone());
                crate::transport::keep_head(&response);
                Ok(crate::transport::limit_body(response, limit))
            }
            Err(miss) => {
                tracing::warn!(cassette = %self.shared.path.display(), "{miss}");
                no_match_error(miss).await
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if self.mode == Mode::Record
            && state.unsaved
            && let Err(e) = write_atomically(&self.path, &state.file().to_text())
        {
            tracing::warn!("the cassette was not saved: {e}");
        }
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<(), CassetteError> {
    let io = |source| CassetteError::Io {
        path: path.to_owned(),
        source,
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

/// The API key of a `Bearer` authorization header, to find it wherever it appears.
fn bearer(headers: &HeaderMap) -> Option<zeroize::Zeroizing<String>> {
    let value = headers.get(reqwest::header::AUTHORIZATION)?.to_str().ok()?;
    let key = value.strip_prefix("Bearer ")?.trim();
    (!key.is_empty()).then(|| zeroize::Zeroizing::new(key.to_owned()))
}

/// Request headers that are per-attempt noise or transport detail: not recorded.
const UNRECORDED_REQUEST_HEADERS: [&str; 8] = [
    "host",
    "content-length",
    "user-agent",
    "x-request-id",
    "accept-encoding",
    "connection",
    "transfer-encoding",
    "te",
];

/// Response headers that change on every recording or describe the transport.
const UNRECORDED_RESPONSE_HEADERS: [&str; 6] = [
    "date",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "server",
];

/// A request as recorded and as matched: secrets redacted, query normalized.
fn capture_request(
    operation_id: &str,
    request: &reqwest::Request,
    redactor: &Redactor,
) -> RecordedRequest {
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .unwrap_or_default();
    let url = request.url();
    capture_parts(
        operation_id,
        request.method().as_str(),
        url.path(),
        url.query(),
        request.headers(),
        body,
        redactor,
    )
}

/// [`capture_request`] from the parts of any request (a server's too).
fn capture_parts(
    operation_id: &str,
    method: &str,
    path: &str,
    query: Option<&str>,
    request_headers: &HeaderMap,
    body: &[u8],
    redactor: &Redactor,
) -> RecordedRequest {
    let mut pairs: Vec<(String, String)> = query
        .map(|q| {
            reqwest::Url::parse(&format!("http://query.invalid/?{q}"))
                .map(|u| u.query_pairs().into_owned().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    pairs.sort();
    let query = (!pairs.is_empty()).then(|| {
        let mut normalized = Url::parse("http://query.invalid/").expect("a valid URL");
        normalized.query_pairs_mut().extend_pairs(&pairs);
        normalized.query().unwrap_or_default().to_owned()
    });
    let mut headers = std::collections::BTreeMap::new();
    for (name, value) in request_headers {
        let name = name.as_str();
        if UNRECORDED_REQUEST_HEADERS.contains(&name) {
            continue;
        }
        let value = if value.is_sensitive() || redact::secret_header(name) {
            redact::SECRET.to_owned()
        } else {
            redactor.text(&String::from_utf8_lossy(value.as_bytes()))
        };
        headers.insert(name.to_owned(), value);
    }
    let (mut body, body_text) = format::split_body(body);
    if let Some(body) = body.as_mut() {
        redactor.request_body(operation_id, body);
    }
    RecordedRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query,
        headers,
        body,
        body_text: body_text.map(|text| redactor.text(&text)),
    }
}

fn response_headers(
    headers: &HeaderMap,
    redactor: &Redactor,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        if UNRECORDED_RESPONSE_HEADERS.contains(&name) {
            continue;
        }
        let value = if value.is_sensitive() || redact::secret_header(name) || name == "set-cookie" {
            redact::SECRET.to_owned()
        } else {
            redactor.text(&String::from_utf8_lossy(value.as_bytes()))
        };
        // Repeated headers are joined, as HTTP allows for list-valued fields.
        out.entry(name.to_owned())
            .and_modify(|joined: &mut String| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

/// The headers of a recorded response (a recorded value that is no longer a valid
/// header, after hand-editing, is left out).
fn recorded_headers(recorded: &RecordedResponse) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in &recorded.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// The response a recorded interaction answers with.
fn replayed_response(recorded: &RecordedResponse, url: Url) -> reqwest::Response {
    let status = StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    crate::transport::rebuild(
        status,
        reqwest::Version::HTTP_11,
        url,
        recorded_headers(recorded),
        reqwest::Body::from(recorded.body_bytes()),
    )
}

/// A transport error whose source is `miss`: the generated client's `exec` can only
/// fail with a `reqwest::Error`, which has no public constructor, so the error is made
/// by reading a body that fails with `miss`.
async fn no_match_error(miss: NoMatch) -> reqwest::Result<reqwest::Response> {
    let message = miss.to_string();
    let body = futures::stream::once(async move {
        Err::<Vec<u8>, _>(Box::new(miss) as Box<dyn std::error::Error + Send + Sync>)
    });
    let url = Url::parse("http://cassette.invalid/").expect("a valid URL");
    let response = crate::transport::rebuild(
        StatusCode::OK,
        reqwest::Version::HTTP_11,
        url.clone(),
        HeaderMap::new(),
        reqwest::Body::wrap_stream(body),
    );
    response.bytes().await?;
    // A body that yields only an error cannot be read; should reqwest ever accept it, the
    // miss still fails the call, as a 421 Misdirected Request.
    crate::transport::rebuild(
        StatusCode::MISDIRECTED_REQUEST,
        reqwest::Version::HTTP_11,
        url,
        HeaderMap::new(),
        reqwest::Body::from(message),
    )
    .error_for_status()
}

/// What a response's body breaks of the spec, unlocated in the file (the caller knows the
/// interaction).
fn violations(operation_id: &str, response: &RecordedResponse) -> Vec<String> {
    let Some(spec) = generated_spec() else {
        return vec!["not checked: the generated spec does not parse".to_owned()];
    };
    match spec.response_violations(operation_id, response.status, response.body.as_ref()) {
        Ok(violations) => violations.iter().map(ToString::to_string).collect(),
        Err(e) => vec![e.to_string()],
    }
}

impl State {
    /// Keeps and logs the violations of interaction `index`.
    fn note_problems(
        &mut self,
        index: usize,
        operation_id: &str,
        response: &RecordedResponse,
        violations: Vec<String>,
    ) {
        for violation in violations {
            let line = format!(
                "interaction {index} ({operation_id} {}) {violation}",
                response.status
            );
            tracing::warn!("cassette response does not fit the spec: {line}");
            self.problems.push(line);
        }
    }

    /// The cassette file of what was recorded.
    fn file(&self) -> CassetteFile {
        let mut file = CassetteFile::new(Redactions {
            transcripts: self.redactor.transcripts,
        });
        file.interactions = self.recorded.clone();
        file
    }
}
