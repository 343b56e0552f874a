//! The client and its builder.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::Digest;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::hooks::Hook;
use crate::idempotency::{KeyGenerator, UuidKeys};
use crate::retry::{RetryBudget, RetryPolicy};
use crate::runtime::Runtime;

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://api.semarize.com";

/// An API key (`smz_live_...` or `smz_test_...`). Never printed: `Debug` and `Display`
/// show only its mode. Held in a [`SecretString`], so its memory is wiped when the last
/// copy is dropped.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    /// Validates the key's shape: `smz_live_` or `smz_test_` followed by at least one
    /// letter, digit, `_` or `-`.
    ///
    /// ```
    /// assert!(semarize::ApiKey::new("smz_test_abc123").is_ok());
    /// let err = semarize::ApiKey::new("sk_live_abc").unwrap_err();
    /// assert!(!err.to_string().contains("sk_live_abc"), "the key is not echoed");
    /// ```
    pub fn new(key: impl Into<String>) -> Result<Self, Error> {
        let key = Zeroizing::new(key.into());
        let key = key.trim();
        let rest = key
            .strip_prefix("smz_live_")
            .or_else(|| key.strip_prefix("smz_test_"));
        match rest {
            Some(rest)
                if !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                Ok(ApiKey(SecretString::from(key)))
            }
            _ => Err(Error::config(
                "the API key is malformed: expected smz_live_... or smz_test_... (letters, digits, _ and - only)",
            )),
        }
    }

    /// `live` or `test`.
    pub fn mode(&self) -> &'static str {
        if self.expose().starts_with("smz_live_") {
            "live"
        } else {
            "test"
        }
    }

    /// A short, non-reversible fingerprint (SHA-256 prefix) to tell keys apart in logs.
    pub fn fingerprint(&self) -> String {
        hex::encode(&sha2::Sha256::digest(self.expose().as_bytes())[..4])
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey(smz_{}_[redacted])", self.mode())
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "smz_{}_[redacted]", self.mode())
    }
}

/// The hooks a builder holds, shown by count.
#[derive(Default)]
struct RegisteredHooks(Vec<Arc<dyn Hook>>);

impl std::fmt::Debug for RegisteredHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} hook(s)", self.0.len())
    }
}

/// Builds a [`Client`].
///
/// ```
/// use std::time::Duration;
/// let client = semarize::Client::builder()
///     .api_key("smz_test_abc123")
///     .base_url("http://127.0.0.1:8787")
///     .request_timeout(Duration::from_secs(20))
///     .retry_policy(semarize::RetryPolicy::default().max_attempts(3))
///     .build()
///     .unwrap();
/// assert_eq!(client.base_url(), "http://127.0.0.1:8787");
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    api_key: Option<Result<ApiKey, Error>>,
    base_url: String,
    connect_timeout: Duration,
    request_timeout: Duration,
    sync_grace: Duration,
    user_agent: String,
    http: Option<reqwest::Client>,
    max_response_bytes: usize,
    retry_policy: RetryPolicy,
    budget: Option<Arc<RetryBudget>>,
    /// `None`: the system's time, or virtual time when replaying a cassette.
    runtime: Option<Runtime>,
    keys: Arc<dyn KeyGenerator>,
    hooks: RegisteredHooks,
    #[cfg(feature = "cassette")]
    cassette: Option<semarize_api::cassette::Cassette>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            sync_grace: Duration::from_secs(90),
            user_agent: format!("semarize-rust/{}", env!("CARGO_PKG_VERSION")),
            http: None,
            max_response_bytes: semarize_api::transport::DEFAULT_MAX_RESPONSE_BYTES,
            retry_policy: RetryPolicy::default(),
            budget: None,
            runtime: None,
            keys: Arc::new(UuidKeys),
            hooks: RegisteredHooks::default(),
            #[cfg(feature = "cassette")]
            cassette: None,
        }
    }
}

impl ClientBuilder {
    /// The API key (required). A malformed key fails [`ClientBuilder::build`].
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// The base URL (default `https://api.semarize.com`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// How long to wait for a connection (default 10 s; ignored with [`ClientBuilder::http_client`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take before it counts as a timeout (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Extra time a sync-mode creation may take, since the server holds it while the run
    /// executes (default 90 s on top of the request timeout).
    pub fn sync_grace(mut self, grace: Duration) -> Self {
        self.sync_grace = grace;
        self
    }

    /// The `User-Agent` (default `semarize-rust/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Use this reqwest client (proxies, TLS, middleware). Authorization is still added to
    /// every request.
    ///
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`: this crate follows
    /// same-origin `GET` redirects itself and refuses the rest, so that a run's transcript
    /// and its Idempotency-Key are never re-sent to another address. A client that follows
    /// redirects on its own bypasses that rule.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The most bytes one response body may have (default 32 MiB). A longer body, or one
    /// that never ends, fails the call with [`ErrorKind::Decode`](crate::ErrorKind)
    /// instead of filling memory.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The default retry policy of every call (per-call overrides exist).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// The retry budget shared by all calls of this client (and of clients given the same
    /// `Arc`). Default: [`RetryBudget::default`].
    pub fn retry_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The clock, sleeper and jitter (for tests). Default: the system's clock and
    /// Tokio's timer; when replaying a cassette, virtual time (delays return at once).
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Records every attempt's request and response into `cassette`, or answers every
    /// attempt from it without sending anything (see [`cassette`](crate::cassette)).
    /// Retries, waiting and sync fallback run as usual over what it answers.
    ///
    /// When replaying, no API key is needed (none is sent) and, unless
    /// [`ClientBuilder::runtime`] says otherwise, delays run on virtual time: a replayed
    /// `Retry-After: 30` returns at once.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use semarize::cassette::Cassette;
    /// let cassette = Cassette::replay("tests/cassettes/create.json")?;
    /// let client = semarize::Client::builder().cassette(cassette.clone()).build()?;
    /// let run = client.runs().get("run-from-the-recording").send().await?;
    /// assert!(cassette.problems().is_empty());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "cassette")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cassette")))]
    pub fn cassette(mut self, cassette: semarize_api::cassette::Cassette) -> Self {
        self.cassette = Some(cassette);
        self
    }

    /// Runs `hook` once per attempt of every call, after the hooks added before it: its
    /// `on_request` may add or replace headers, its `on_response` sees each attempt's
    /// status, headers, latency and whether a retry follows (see [`hooks`](crate::hooks)).
    /// Hooks never see the API key. [`Client::raw`] calls run them too, as attempt 1.
    ///
    /// ```
    /// use semarize::hooks::{Hook, RequestParts};
    ///
    /// struct TraceContext;
    ///
    /// impl Hook for TraceContext {
    ///     fn on_request(&self, request: &mut RequestParts<'_>) {
    ///         let value = format!("00-{:032x}-{:016x}-01", 1u128, request.attempt());
    ///         request.headers_mut().insert("traceparent", value.parse().unwrap());
    ///     }
    /// }
    ///
    /// let client = semarize::Client::builder()
    ///     .api_key("smz_test_abc123")
    ///     .hook(TraceContext)
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn hook(mut self, hook: impl Hook + 'static) -> Self {
        self.hooks.0.push(Arc::new(hook));
        self
    }

    /// How Idempotency-Keys are made when a creation has none.
    pub fn key_generator(mut self, keys: impl KeyGenerator + 'static) -> Self {
        self.keys = Arc::new(keys);
        self
    }

    /// Builds the client, checking the key and base URL.
    pub fn build(self) -> Result<Client, Error> {
        #[cfg(feature = "cassette")]
        let replaying = self
            .cassette
            .as_ref()
            .is_some_and(|c| c.mode() == semarize_api::cassette::Mode::Replay);
        #[cfg(not(feature = "cassette"))]
        let replaying = false;
        let api_key = match self.api_key {
            Some(key) => Some(key?),
            None if replaying => None,
            None => {
                return Err(Error::config(
                    "no API key: call .api_key(...) or set SEMARIZE_API_KEY",
                ));
            }
        };
        let base_url = self.base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|e| Error::config(format!("the base URL {base_url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.host().is_none() {
            return Err(Error::config(format!(
                "the base URL {base_url:?} must be an http(s) URL with a host"
            )));
        }
        let http = match self.http {
            Some(http) => http,
            None if parsed.scheme() == "https" && !semarize_api::tls::HTTPS => {
                return Err(Error::config(format!(
                    "the base URL {base_url:?} is HTTPS, and this build has no TLS: enable \
                     the semarize feature `rustls`, `rustls-ring` or `native-tls`"
                )));
            }
            None => semarize_api::tls::client_builder()
                .connect_timeout(self.connect_timeout)
                // Redirects are decided per request by semarize-api (same-origin GETs only).
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::config("cannot build the HTTP client").with_source(e))?,
        };
        let mut context = semarize_api::RequestContext::new();
        if let Some(key) = &api_key {
            context = context
                .with_bearer(key.expose())
                .map_err(|_| Error::config("the API key cannot be sent as a header"))?;
        }
        let context = context
            .with_user_agent(&self.user_agent)
            .map_err(|_| Error::config("the user agent is not a valid header value"))?
            .with_max_response_bytes(self.max_response_bytes);
        let context = self
            .hooks
            .0
            .into_iter()
            .fold(context, |context, hook| context.with_hook(hook));
        #[cfg(feature = "cassette")]
        let context = match self.cassette {
            Some(cassette) => context.with_cassette(cassette),
            None => context,
        };
        let runtime = match self.runtime {
            Some(runtime) => runtime,
            None if replaying => Runtime::virtual_time(
                crate::runtime::VirtualTime::new(),
                crate::runtime::RandomJitter,
            ),
            None => Runtime::default(),
        };
        let workspace = match &api_key {
            Some(key) => format!("smz_{} key {}", key.mode(), key.fingerprint()),
            None => "a replayed cassette".to_owned(),
        };
        let raw = semarize_api::Client::new_with_client(&base_url, http, context);
        Ok(Client {
            inner: Arc::new(ClientInner {
                workspace,
                raw,
                base_url,
                request_timeout: self.request_timeout,
                sync_grace: self.sync_grace,
                retry_policy: self.retry_policy,
                budget: self.budget.unwrap_or_default(),
                runtime,
                keys: self.keys,
            }),
        })
    }
}

/// The Semarize client: cheap to clone, safe to share across tasks.
///
/// Every operation of the API is a method of a resource: [`Client::runs`],
/// [`Client::kits`], [`Client::bricks`], [`Client::webhook_endpoints`].
///
/// ```no_run
/// # async fn demo() -> Result<(), semarize::Error> {
/// use std::time::Duration;
/// let client = semarize::Client::from_env()?;
/// let created = client.runs().create_with_kit_code("A1B2C3D4").transcript("Rep: ...").send().await?;
/// let outcome = created.wait(&client, Duration::from_secs(120)).await?;
/// println!("{:?}", outcome.run().output);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    pub(crate) raw: semarize_api::Client,
    pub(crate) base_url: String,
    pub(crate) workspace: String,
    pub(crate) request_timeout: Duration,
    pub(crate) sync_grace: Duration,
    pub(crate) retry_policy: RetryPolicy,
    pub(crate) budget: Arc<RetryBudget>,
    pub(crate) runtime: Runtime,
    pub(crate) keys: Arc<dyn KeyGenerator>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("workspace", &self.inner.workspace)
            .field("retry_policy", &self.inner.retry_policy)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client from `SEMARIZE_API_KEY` and, when set, `SEMARIZE_BASE_URL`.
    pub fn from_env() -> Result<Client, Error> {
        let key = std::env::var("SEMARIZE_API_KEY")
            .map_err(|_| Error::config("SEMARIZE_API_KEY is not set (or not valid UTF-8)"))?;
        let mut builder = Client::builder().api_key(key);
        if let Ok(url) = std::env::var("SEMARIZE_BASE_URL")
            && !url.trim().is_empty()
        {
            builder = builder.base_url(url);
        }
        builder.build()
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The generated client underneath: this client's base URL, authorization, redirect
    /// rule and response size limit, but none of its retries, idempotency keys or typed
    /// errors. Each raw call is traced as a `semarize.http` span (operation, method,
    /// path, status), like the requests this client sends itself.
    ///
    /// Use it for what the thin layer does not cover, or to see a response exactly as
    /// the service sent it:
    ///
    /// ```no_run
    /// # async fn demo(client: &semarize::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let response = client
    ///     .raw()
    ///     .create_run()
    ///     .idempotency_key("order-1234")
    ///     .body(semarize::serde_json::json!({
    ///         "kit_code": "A1B2C3D4",
    ///         "input": { "transcript": "Rep: Hello. Prospect: Hi." },
    ///     }))
    ///     .send()
    ///     .await?;
    /// println!("HTTP {}: run {}", response.status(), response.run_id);
    /// # Ok(()) }
    /// ```
    pub fn raw(&self) -> &semarize_api::Client {
        &self.inner.raw
    }

    /// The clock, sleeper and jitter this client's calls use (set with
    /// [`ClientBuilder::runtime`]). Work you layer on the client (a scheduler of your own
    /// polls, a progress display, a batch runner) should take its time from here too, so
    /// that one injected clock drives all of it and tests run it on virtual time:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), semarize::Error> {
    /// use std::time::Duration;
    /// use semarize::runtime::{FixedJitter, Runtime, VirtualTime};
    ///
    /// let time = VirtualTime::new();
    /// let client = semarize::Client::builder()
    ///     .api_key("smz_test_example")
    ///     .runtime(Runtime::virtual_time(time, FixedJitter(1.0)))
    ///     .build()?;
    /// let runtime = client.runtime();
    /// let started = runtime.clock().now();
    /// runtime.sleeper().sleep(Duration::from_secs(30)).await; // returns at once
    /// assert_eq!(runtime.clock().now() - started, Duration::from_secs(30));
    /// # Ok(()) }
    /// ```
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The retry budget shared by this client's calls.
    pub fn retry_budget(&self) -> &RetryBudget {
        &self.inner.budget
    }
}
