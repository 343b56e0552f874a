//! The guard in front of `/_emulator`: a browser may reach it only from the emulator's own
//! page, at an address no other site can make its own.
//!
//! Tests and scripts (curl, the SDKs) send no `Origin` and pass. A browser request is
//! told apart by its `Origin` (sent with every `fetch` that changes state, and with every
//! cross-site request), its `Sec-Fetch-Mode` (sent with every request by current
//! browsers), or by being a page load (`GET /_emulator/`): it must name a `Host`
//! that is an IP address or `localhost`, since a DNS name could be rebound by another site
//! to this loopback address; and its `Origin`, when sent, must be this very host. With the
//! control bodies being `application/json` (which a cross-site form cannot send), another
//! site's page can neither arm a fault nor read this one.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses a browser request that does not come from the emulator's own page.
pub(super) async fn guard(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    // The page, whether reached through the nested router (which sees its path without
    // the `/_emulator` prefix) or the route with the slash.
    let is_page = matches!(req.uri().path(), "" | "/" | "/_emulator" | "/_emulator/");
    // Browsers mark every request with `Sec-Fetch-Mode` (scripts do not): a same-origin
    // read from a rebound name carries no `Origin`, but this.
    let from_browser = origin.is_some() || headers.contains_key("sec-fetch-mode");
    if from_browser || is_page {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let Err(why) = allowed(host, origin) {
            return (
                StatusCode::FORBIDDEN,
                axum::Json(serde_json::json!({
                    "error": "forbidden",
                    "detail": why,
                })),
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Whether a browser request naming `host`, from `origin`, may reach the control surface.
fn allowed(host: &str, origin: Option<&str>) -> Result<(), String> {
    if !local_address(host) {
        return Err(format!(
            "open the inspector at an IP address or localhost, not {host:?}"
        ));
    }
    match origin {
        Some(origin)
            if origin != format!("http://{host}") && origin != format!("https://{host}") =>
        {
            Err(format!(
                "requests from {origin:?} may not use the control surface"
            ))
        }
        _ => Ok(()),
    }
}

/// `host` (with its port) is an IP literal or `localhost`: not a name a DNS rebinding
/// could point here.
fn local_address(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        // `[::1]:8787`, `127.0.0.1:8787`, `localhost:8787`; a bare IPv6 address has colons.
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    !name.is_empty()
        && (name.parse::<std::net::IpAddr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || name.to_ascii_lowercase().ends_with(".localhost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_and_localhost_are_local() {
        for host in [
            "127.0.0.1:8787",
            "localhost:8787",
            "[::1]:8787",
            "10.0.0.5:80",
            "app.localhost:1",
        ] {
            assert!(local_address(host), "{host}");
        }
        for host in [
            "evil.example:8787",
            "",
            "127.0.0.1.evil.example:8787",
            "localhost.evil:1",
        ] {
            assert!(!local_address(host), "{host}");
        }
    }

    #[test]
    fn an_origin_must_be_the_host_itself() {
        assert!(allowed("127.0.0.1:8787", None).is_ok());
        assert!(allowed("127.0.0.1:8787", Some("http://127.0.0.1:8787")).is_ok());
        assert!(allowed("127.0.0.1:8787", Some("http://evil.example")).is_err());
        assert!(allowed("127.0.0.1:8787", Some("null")).is_err());
        assert!(allowed("evil.example:8787", Some("http://evil.example:8787")).is_err());
    }
}
