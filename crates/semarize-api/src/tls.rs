//! The TLS stack HTTPS requests go through, chosen by this crate's features.
//!
//! | feature | TLS | crypto | builds |
//! |---|---|---|---|
//! | `rustls` (default) | rustls | aws-lc-rs | a C library with CMake (`aws-lc-sys`) |
//! | `rustls-ring` | rustls | ring | a few C and assembly files, no CMake |
//! | `native-tls` | the platform's (OpenSSL on Linux, Secure Transport, SChannel) | the platform's | links the system library (`libssl-dev` on Debian) |
//!
//! With none of them the client speaks plain HTTP only (an emulator on loopback). When
//! several are on (`--all-features`), the first in the table wins. The certificate of the
//! server is verified against the platform's roots in every case.
//!
//! [`client_builder`] is a `reqwest::ClientBuilder` set up for the chosen stack; the
//! `semarize` crate builds its client from it. progenitor's own `Client::new` builds a
//! plain `reqwest::Client`: with `rustls-ring` call [`client_builder`] once before it (it
//! installs ring as the process's rustls provider when none is installed), or pass your
//! own client to `Client::new_with_client`.
//!
//! ```
//! let http = semarize_api::tls::client_builder().build().unwrap();
//! let client = semarize_api::Client::new_with_client(
//!     "https://api.semarize.com",
//!     http,
//!     semarize_api::RequestContext::new(),
//! );
//! # let _ = client;
//! println!("HTTPS through {}", semarize_api::tls::BACKEND);
//! ```

/// The TLS stack in use, for diagnostics: `"rustls (aws-lc-rs)"`, `"rustls (ring)"`,
/// `"native-tls"`, or `"none"` (plain HTTP only).
pub const BACKEND: &str = if cfg!(feature = "rustls") {
    "rustls (aws-lc-rs)"
} else if cfg!(feature = "rustls-ring") {
    "rustls (ring)"
} else if cfg!(feature = "native-tls") {
    "native-tls"
} else {
    "none"
};

/// Whether this build can speak HTTPS at all.
pub const HTTPS: bool = cfg!(any(
    feature = "rustls",
    feature = "rustls-ring",
    feature = "native-tls"
));

/// A `reqwest::ClientBuilder` that uses [`BACKEND`].
pub fn client_builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    #[cfg(any(feature = "rustls", feature = "rustls-ring"))]
    {
        let _ = rustls_provider();
        builder.tls_backend_rustls()
    }
    #[cfg(all(
        feature = "native-tls",
        not(any(feature = "rustls", feature = "rustls-ring"))
    ))]
    {
        builder.tls_backend_native()
    }
    #[cfg(not(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls")))]
    {
        builder
    }
}

/// The rustls crypto provider of this build: the process default when the application
/// installed one, else the feature's (aws-lc-rs or ring), which is then installed as the
/// process default so that every rustls user in the process agrees.
#[cfg(any(feature = "rustls", feature = "rustls-ring"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "rustls", feature = "rustls-ring"))))]
pub fn rustls_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    if let Some(installed) = rustls::crypto::CryptoProvider::get_default() {
        return installed.clone();
    }
    #[cfg(feature = "rustls")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(not(feature = "rustls"))]
    let provider = rustls::crypto::ring::default_provider();
    // Another thread may have installed one in the meantime: that one wins.
    let _ = provider.install_default();
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .expect("a provider was just installed")
}
