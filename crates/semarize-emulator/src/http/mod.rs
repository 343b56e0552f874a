//! HTTP framing: the router, the request-id and gate middleware, JSON bodies and the
//! error envelope. Behaviour lives in the core (`crate::state`); handlers translate.

mod control;
mod inspector;
mod same_origin;
mod v1;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use semarize_api::types::ErrorCode;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::faults::{FaultAction, RawResponse};
use crate::inspect::{CreateAttempt, RequestRecord};
use crate::lock;
use crate::routes;
use crate::server::ConnectionKiller;
use crate::state::Core;
use crate::workspace::Workspace;

/// Handler state.
#[derive(Clone, Debug)]
pub(crate) struct App {
    pub core: Arc<Core>,
}

/// What the gate hands to a /v1 handler: the authenticated workspace.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub workspace: Arc<Mutex<Workspace>>,
}

/// Marks a request whose connection is dropped once the handler has done its work.
#[derive(Clone, Copy)]
pub(crate) struct DropAfterCommit;

const REQUEST_ID: &str = "x-request-id";

/// Whether the emulator has a handler for `operation_id`.
pub(crate) fn has_handler(operation_id: &str) -> bool {
    v1::route(MethodFilter::GET, operation_id).is_some()
}

/// The whole router: /v1 from the spec's operations table, the control surface, and JSON
/// fallbacks.
pub(crate) fn router(app: App) -> Router {
    let mut v1 = Router::new();
    let served: Vec<&semarize_api::operations::Operation> = routes::served().collect();
    let mut paths: Vec<&str> = served.iter().map(|operation| operation.path).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let here = || {
            served
                .iter()
                .filter(move |operation| operation.path == path)
        };
        let methods = here().fold(MethodRouter::new(), |methods, operation| {
            let filter = MethodFilter::try_from(
                Method::from_bytes(operation.method.as_bytes()).expect("valid method"),
            )
            .expect("a standard method");
            match v1::route(filter, operation.id) {
                Some(route) => methods.merge(route),
                None => methods,
            }
        });
        // The spec's contract choice: a method the path does not list is 405 with the
        // error envelope and an `Allow` header naming the methods it does.
        let allowed: Vec<&str> = here().map(|operation| operation.method).collect();
        let allow = HeaderValue::from_str(&allowed.join(", ")).expect("method names are ASCII");
        v1 = v1.route(
            path,
            methods.fallback(move || async move {
                let mut response = method_not_allowed().await;
                response.headers_mut().insert(header::ALLOW, allow);
                response
            }),
        );
    }
    let v1 = v1.route_layer(middleware::from_fn_with_state(app.clone(), gate));
    Router::new()
        .merge(v1)
        .nest(
            "/_emulator",
            control::router().layer(middleware::from_fn(same_origin::guard)),
        )
        // The page's address with its slash, as the emulator prints it.
        .route(
            "/_emulator/",
            axum::routing::get(control::page).layer(middleware::from_fn(same_origin::guard)),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), request_id))
        .with_state(app)
}

async fn not_found() -> Response {
    error_response(
        &ApiError::not_found(ErrorCode::NotFound).detail("no such route"),
        false,
    )
}

async fn method_not_allowed() -> Response {
    error_response(
        &ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed)
            .detail("this route does not accept this method"),
        false,
    )
}

/// Echoes a usable X-Request-Id or makes one, and sets it on every response.
async fn request_id(State(_app): State<App>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 200
                && v.to_str()
                    .is_ok_and(|s| s.chars().all(|c| c.is_ascii_graphic()))
        })
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&crate::ids::prefixed("req")).expect("ids are header-safe")
        });
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let mut response = next.run(req).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The run a response concerns, when its path does not name it (a creation's new run):
/// set by the handler for the request log.
#[derive(Clone)]
pub(crate) struct RunRef(pub String);

/// The armed fault that answered or changed a response, by kind, for the request log.
#[derive(Clone, Copy)]
struct AnsweredBy(&'static str);

/// A response never to be sent: its connection is closed once the request is logged.
#[derive(Clone)]
struct CloseConnection(ConnectionKiller);

/// Per /v1 call: the request log around [`gate_call`].
async fn gate(State(app): State<App>, matched: MatchedPath, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let at = chrono::Utc::now();
    let operation =
        routes::operation_id(req.method().as_str(), matched.as_str()).unwrap_or("unknown");
    let method = req.method().to_string();
    // What a client sent is kept only up to a bound, so the log's size is bounded too
    // (valid keys are at most 254 characters; longer ones are refused, and logged cut).
    let path = inspector::clip(req.uri().path(), 1024);
    let idempotency_key = header_str(req.headers(), "idempotency-key")
        .map(|key| Arc::from(inspector::clip(key, 256).as_str()));
    // Set on the request by the `request_id` layer around this one.
    let request_id = header_str(req.headers(), REQUEST_ID).map(str::to_owned);
    // The path's run id: the segment where the route template has `{runId}`.
    let path_run = matched
        .as_str()
        .split('/')
        .zip(path.split('/'))
        .find(|(template, _)| *template == "{runId}")
        .map(|(_, id)| id.to_owned());
    let mut response = gate_call(&app, operation, req, next).await;
    let close = response.extensions_mut().remove::<CloseConnection>();
    app.core.record_request(RequestRecord {
        at,
        operation,
        method,
        path,
        status: if close.is_some() {
            0
        } else {
            response.status().as_u16()
        },
        latency_ms: started.elapsed().as_micros() as f64 / 1000.0,
        idempotency_key,
        request_id,
        run_id: path_run.or_else(|| response.extensions().get::<RunRef>().map(|r| r.0.clone())),
        fault: response.extensions().get::<AnsweredBy>().map(|a| a.0),
    });
    match close {
        Some(CloseConnection(killer)) => {
            killer.kill();
            // The connection is being closed; this response is never sent.
            std::future::pending::<Response>().await
        }
        None => response,
    }
}

/// One /v1 call: injected latency and faults, authentication, rate limiting.
async fn gate_call(app: &App, operation: &'static str, mut req: Request, next: Next) -> Response {
    app.core.count_call(operation);
    let is_create = operation == "create_run";
    let additive = app.core.settings().additive;
    let latency = lock(&app.core.faults).latency(operation);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let fault = lock(&app.core.faults).take(operation);
    let answered_by = fault.as_ref().map(|f| AnsweredBy(f.kind()));
    let mark = |mut response: Response| {
        if let Some(answered_by) = answered_by {
            response.extensions_mut().insert(answered_by);
        }
        response
    };
    // An armed fault answers first; then the served cassette; then the emulator.
    #[cfg(feature = "cassette")]
    if let (None, Some(cassette)) = (&fault, &app.core.cassette) {
        req = match from_cassette(cassette, req, app.core.max_body_bytes).await {
            Ok(recorded) => return recorded,
            Err(req) => req,
        };
    }
    let record_refusal = |status: StatusCode, outcome: &str| {
        if is_create {
            app.core.record_create(CreateAttempt {
                at: chrono::Utc::now(),
                workspace_id: None,
                idempotency_key: header_str(req.headers(), "idempotency-key").map(Arc::from),
                status: status.as_u16(),
                outcome: outcome.to_owned(),
                run_id: None,
            });
        }
    };
    let mut drop_after = false;
    let mut raw_after = None;
    let mut extra_headers = None;
    match fault {
        Some(FaultAction::Status {
            status,
            retry_after,
            error,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = error
                .map(ErrorCode::from)
                .unwrap_or_else(|| default_code(status));
            record_refusal(status, "injected_fault");
            let err = ApiError {
                status,
                code,
                detail: Some("injected by the emulator".into()),
                retry_after,
            };
            return mark(error_response(&err, additive));
        }
        Some(FaultAction::DropAfterCommit) => drop_after = true,
        Some(FaultAction::Raw(raw)) if !raw.after_commit => {
            record_refusal(
                StatusCode::from_u16(raw.status).unwrap_or(StatusCode::BAD_GATEWAY),
                "injected_fault",
            );
            return mark(raw_response(&raw));
        }
        Some(FaultAction::Raw(raw)) => raw_after = Some(raw),
        Some(FaultAction::Headers { headers }) => extra_headers = Some(headers),
        None => {}
    }
    let workspace = match app
        .core
        .authenticate(header_str(req.headers(), "authorization"))
    {
        Ok(ws) => ws,
        Err(err) => {
            record_refusal(err.status, err.code.as_str());
            return error_response(&err, additive);
        }
    };
    if let Err(err) = app.core.admit(&workspace, is_create) {
        record_refusal(err.status, err.code.as_str());
        return error_response(&err, additive);
    }
    req.extensions_mut().insert(Ctx { workspace });
    let killer = req.extensions().get::<ConnectionKiller>().cloned();
    if drop_after {
        req.extensions_mut().insert(DropAfterCommit);
    }
    let mut response = next.run(req).await;
    if let Some(extra) = extra_headers {
        insert_headers(response.headers_mut(), &extra);
    }
    if let Some(raw) = raw_after {
        // The work is done (a run committed); the client gets the hostile answer instead,
        // with the run it made (for the request log) and the request id.
        let mut hostile = raw_response(&raw);
        if let Some(run) = response.extensions_mut().remove::<RunRef>() {
            hostile.extensions_mut().insert(run);
        }
        return mark(hostile);
    }
    if let (true, Some(killer)) = (drop_after, killer) {
        response.extensions_mut().insert(CloseConnection(killer));
    }
    mark(response)
}

/// The recorded answer to `req` when the served cassette holds one; otherwise the request
/// back, whole, for the emulator to handle as usual.
#[cfg(feature = "cassette")]
async fn from_cassette(
    cassette: &semarize_api::cassette::Cassette,
    req: Request,
    limit: usize,
) -> Result<Response, Request> {
    let (parts, body) = req.into_parts();
    // A body over the limit is left to the handler, which refuses it as usual.
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Err(Request::from_parts(parts, Body::empty()));
    };
    match cassette.respond(&parts.method, &parts.uri, &parts.headers, &bytes) {
        Ok(recorded) => Ok(recorded.map(Body::from)),
        Err(miss) => {
            tracing::debug!("not from the cassette: {miss}");
            Err(Request::from_parts(parts, Body::from(bytes)))
        }
    }
}

/// Adds a fault's headers, replacing any of the same name; a name or value HTTP cannot
/// carry is left out.
fn insert_headers(
    headers: &mut header::HeaderMap,
    extra: &std::collections::BTreeMap<String, String>,
) {
    for (name, value) in extra {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
}

/// The response of a [`FaultAction::Raw`] fault, sent as it is.
fn raw_response(raw: &RawResponse) -> Response {
    let status = StatusCode::from_u16(raw.status)
        .ok()
        .filter(|s| !s.is_informational())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let bytes = Bytes::from(raw.body.clone().into_bytes());
    let declared = bytes.len();
    let drip = Duration::from_millis(raw.drip_ms);
    let truncate = raw.truncate;
    let body = if drip.is_zero() && !truncate {
        Body::from(bytes)
    } else {
        // Byte by byte when dripping; a final error when truncating, which makes hyper
        // close the connection short of the declared length.
        let chunks: Vec<Bytes> = if drip.is_zero() {
            vec![bytes]
        } else {
            (0..bytes.len()).map(|i| bytes.slice(i..i + 1)).collect()
        };
        let stream = chunk_stream(chunks, drip, truncate);
        Body::from_stream(stream)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let content_type = raw.content_type.as_deref().unwrap_or("text/html");
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    insert_headers(headers, &raw.headers);
    if truncate {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(declared * 2 + 16));
    } else if !drip.is_zero() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    }
    response
}

/// The chunks, one every `delay`, then an error when `fail_at_end`.
fn chunk_stream(
    chunks: Vec<Bytes>,
    delay: Duration,
    fail_at_end: bool,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    use futures::StreamExt;
    let cut = fail_at_end.then(|| {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "truncated",
        ))
    });
    futures::stream::iter(chunks.into_iter().map(Ok).chain(cut)).then(move |item| async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        item
    })
}

fn default_code(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        400 => ErrorCode::InvalidRequest,
        401 => ErrorCode::InvalidApiKey,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::IdempotencyKeyConflict,
        422 => ErrorCode::RunRequestFailed,
        429 => ErrorCode::RateLimited,
        _ => ErrorCode::InternalError,
    }
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Serializes `body` as the response, decorated in additive mode.
pub(crate) fn json_response<T: Serialize>(
    status: StatusCode,
    body: &T,
    additive: bool,
) -> Response {
    let bytes = if additive {
        let mut value = serde_json::to_value(body).expect("API types serialize");
        crate::additive::decorate(&mut value);
        serde_json::to_vec(&value)
    } else {
        serde_json::to_vec(body)
    }
    .expect("API types serialize");
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

/// The flat error envelope, with Retry-After when the error advises a delay.
pub(crate) fn error_response(err: &ApiError, additive: bool) -> Response {
    let mut response = json_response(err.status, &err.body(), additive);
    if let Some(seconds) = err.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Reads a JSON object body: `application/json` required, size limited, parse errors
/// reported with their position.
pub(crate) async fn read_json_object(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let content_type = header_str(headers, "content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        // 400 rather than 415 (and 400 rather than 413 below): the documentation names 400
        // for any invalid request, so every status a client sees is a documented one.
        return Err(ApiError::bad_request(
            ErrorCode::UnsupportedMediaType,
            "send the body as Content-Type: application/json",
        ));
    }
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::bad_request(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            ErrorCode::InvalidRequest,
            "the body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self, false)
    }
}
