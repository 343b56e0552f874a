//! What every request of one client carries: the `Authorization` header, an optional
//! `User-Agent`, the limit of a response body, and the hooks run around each attempt.
//!
//! The generated client applies it in a pre-request hook, so authorization travels with
//! the [`Client`](crate::Client) rather than with a particular `reqwest::Client`: a caller
//! may supply any reqwest client (proxies, TLS settings, middleware) and stay
//! authenticated. The header is marked sensitive and never appears in `Debug` output.
//! (`http::HeaderValue` cannot wipe its bytes when dropped; the copies this module makes
//! on the way to it are wiped.)

use reqwest::header::{AUTHORIZATION, HeaderValue, InvalidHeaderValue, USER_AGENT};

/// Headers applied to every request of a client.
#[derive(Clone)]
pub struct RequestContext {
    authorization: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    max_response_bytes: usize,
    hooks: crate::hooks::HookList,
    #[cfg(feature = "cassette")]
    cassette: Option<crate::cassette::Cassette>,
}

impl Default for RequestContext {
    fn default() -> Self {
        RequestContext {
            authorization: None,
            user_agent: None,
            max_response_bytes: crate::transport::DEFAULT_MAX_RESPONSE_BYTES,
            hooks: crate::hooks::HookList::default(),
            #[cfg(feature = "cassette")]
            cassette: None,
        }
    }
}

impl RequestContext {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `Authorization: Bearer <api_key>` (marked sensitive).
    ///
    /// ```
    /// let context = semarize_api::RequestContext::new().with_bearer("smz_test_abc").unwrap();
    /// assert!(!format!("{context:?}").contains("smz_test_abc"));
    /// ```
    pub fn with_bearer(mut self, api_key: &str) -> Result<Self, InvalidHeaderValue> {
        // The formatted copy of the key is wiped once the header value holds it.
        let header = zeroize::Zeroizing::new(format!("Bearer {api_key}"));
        let mut value = HeaderValue::from_str(&header)?;
        value.set_sensitive(true);
        self.authorization = Some(value);
        Ok(self)
    }

    /// Sends this `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: &str) -> Result<Self, InvalidHeaderValue> {
        self.user_agent = Some(HeaderValue::from_str(user_agent)?);
        Ok(self)
    }

    /// Reads at most `bytes` of a response body (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`](crate::transport::DEFAULT_MAX_RESPONSE_BYTES)); a
    /// longer body fails with [`BodyTooLarge`](crate::transport::BodyTooLarge) in the error's
    /// source chain instead of filling memory.
    ///
    /// ```
    /// let context = semarize_api::RequestContext::new().with_max_response_bytes(1 << 20);
    /// assert_eq!(context.max_response_bytes(), 1 << 20);
    /// ```
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The response body limit.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// Runs `hook` around every attempt of every request, after the hooks already added
    /// (see [`hooks`](crate::hooks)).
    pub fn with_hook(mut self, hook: impl crate::hooks::Hook + 'static) -> Self {
        self.hooks = self.hooks.with(std::sync::Arc::new(hook));
        self
    }

    /// The hooks, in order.
    pub(crate) fn hooks(&self) -> &crate::hooks::HookList {
        &self.hooks
    }

    /// Records every request and response into `cassette`, or answers every request from
    /// it without sending anything (see [`cassette`](crate::cassette)).
    #[cfg(feature = "cassette")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cassette")))]
    pub fn with_cassette(mut self, cassette: crate::cassette::Cassette) -> Self {
        self.cassette = Some(cassette);
        self
    }

    /// The cassette requests go through, if any.
    #[cfg(feature = "cassette")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cassette")))]
    pub fn cassette(&self) -> Option<&crate::cassette::Cassette> {
        self.cassette.as_ref()
    }

    /// Whether an `Authorization` header is set.
    pub fn has_authorization(&self) -> bool {
        self.authorization.is_some()
    }
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[redacted]"),
            )
            .field("user_agent", &self.user_agent)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

/// The pre-request hook of the generated client.
pub(crate) fn apply(context: &RequestContext, request: &mut reqwest::Request) {
    let headers = request.headers_mut();
    if let Some(value) = &context.authorization {
        headers.insert(AUTHORIZATION, value.clone());
    }
    if let Some(value) = &context.user_agent {
        headers.insert(USER_AGENT, value.clone());
    }
}
