//! TLS to the shared ledger: when a connection may be plaintext, and how the server is
//! verified (rustls).
//!
//! libpq's `sslmode=prefer`, its default, falls back to plaintext when the server (or
//! anything in between) answers "no TLS". Here that fallback is kept only where nothing
//! travels over a network: a loopback server, and no `sslrootcert` (which names a CA
//! because the server is meant to be verified). Anything else requires TLS.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};

/// Whether a ledger connection uses TLS, resolved from the URL by [`TlsPolicy::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TlsPolicy {
    /// `sslmode=disable`: plaintext, asked for by name.
    Off,
    /// TLS when the server offers it, plaintext (with a warning) when it does not: only
    /// for a loopback server without `sslrootcert`.
    Preferred,
    /// TLS or no connection. The chain is always verified; `check_host: false` is
    /// libpq's `verify-ca`, which does not compare the certificate's names with the
    /// host (so a server reached by an address its certificate does not name works).
    Required { check_host: bool },
}

/// Where trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Roots {
    /// The platform's verifier and trust store (no `sslrootcert`, or `system`).
    Platform,
    /// The PEM file `sslrootcert` names.
    File(String),
}

impl TlsPolicy {
    /// The policy for a URL's `sslmode` and `sslrootcert`, connecting to `hosts` (and
    /// `hostaddrs`, when given).
    ///
    /// - `disable`: no TLS (refused with a `sslrootcert`, which asks for a verified
    ///   server).
    /// - `prefer` (the default) and `allow`: TLS required when there is a `sslrootcert`
    ///   or a host that is not loopback; otherwise [`TlsPolicy::Preferred`].
    /// - `require` and `verify-full`: TLS, chain and host verified (`require` verifies
    ///   more than libpq's, which checks nothing without a root certificate).
    /// - `verify-ca`: TLS, the chain verified and the host name not compared.
    /// - `sslrootcert=system`: the platform's roots; as in libpq, only with
    ///   `verify-full` (the default then), since any public CA would do.
    pub(super) fn resolve(
        sslmode: Option<&str>,
        sslrootcert: Option<&str>,
        hosts: &[Host],
        hostaddrs: &[IpAddr],
    ) -> Result<(TlsPolicy, Roots), String> {
        let roots = match sslrootcert {
            None | Some("system") => Roots::Platform,
            Some(path) => Roots::File(path.to_owned()),
        };
        if sslrootcert == Some("system") && !matches!(sslmode, None | Some("verify-full")) {
            return Err(format!(
                "sslrootcert=system needs sslmode=verify-full, not {}: any public CA \
                 can sign a certificate, so the host name must be checked too",
                sslmode.unwrap_or_default()
            ));
        }
        let local = hosts.iter().all(is_loopback_host) && hostaddrs.iter().all(IpAddr::is_loopback);
        let policy = match sslmode {
            None | Some("prefer" | "allow") if sslrootcert.is_some() || !local => {
                TlsPolicy::Required { check_host: true }
            }
            None | Some("prefer" | "allow") => TlsPolicy::Preferred,
            Some("disable") if sslrootcert.is_some() => {
                return Err(
                    "sslmode=disable turns TLS off, but sslrootcert asks for a verified \
                     server: remove one of them"
                        .to_owned(),
                );
            }
            Some("disable") => TlsPolicy::Off,
            Some("require" | "verify-full") => TlsPolicy::Required { check_host: true },
            Some("verify-ca") => TlsPolicy::Required { check_host: false },
            Some(other) => {
                return Err(format!(
                    "sslmode={other} is not one of disable, allow, prefer, require, \
                     verify-ca, verify-full"
                ));
            }
        };
        Ok((policy, roots))
    }

    /// The driver's mode for this policy.
    pub(super) fn ssl_mode(self) -> SslMode {
        match self {
            TlsPolicy::Off => SslMode::Disable,
            TlsPolicy::Preferred => SslMode::Prefer,
            TlsPolicy::Required { .. } => SslMode::Require,
        }
    }
}

/// Loopback: `localhost`, a loopback address, or a Unix socket.
fn is_loopback_host(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => {
            let bare = name.trim_start_matches('[').trim_end_matches(']');
            name.eq_ignore_ascii_case("localhost")
                || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    }
}

/// The rustls side of a connection for `roots`, checking host names or not.
pub(super) fn connector(
    roots: &Roots,
    check_host: bool,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::pem::PemObject;
    // A provider the application installed wins; else the one this build's TLS feature
    // chose for HTTPS, so one process has one rustls provider.
    #[cfg(any(feature = "rustls", feature = "rustls-ring"))]
    let provider = semarize_api::tls::rustls_provider();
    #[cfg(not(any(feature = "rustls", feature = "rustls-ring")))]
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or_else(|| {
            "TLS to PostgreSQL needs a rustls crypto provider: build with the `rustls` or \
             `rustls-ring` feature, install one with CryptoProvider::install_default, or \
             connect with sslmode=disable"
                .to_owned()
        })?;
    let tls_error = |e: rustls::Error| format!("TLS: {e}");
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        Roots::File(path) => {
            let unreadable = |e: &dyn std::fmt::Display| format!("sslrootcert {path}: {e}");
            let mut store = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                store
                    .add(certificate.map_err(|e| unreadable(&e))?)
                    .map_err(|e| unreadable(&e))?;
            }
            if store.is_empty() {
                return Err(unreadable(&"no certificate in the file"));
            }
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(store),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("sslrootcert {path}: {e}"))?
        }
        Roots::Platform => {
            Arc::new(rustls_platform_verifier::Verifier::new(provider.clone()).map_err(tls_error)?)
        }
    };
    let verifier = match check_host {
        true => verifier,
        false => Arc::new(ChainOnly(verifier)),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// libpq's `verify-ca`: the inner verifier's answer, except that a certificate whose
/// only fault is not naming the host is accepted. rustls's verifiers check the chain
/// (signatures, validity, trust anchor) before the name, so a name error means the
/// chain was sound; every other error stands.
#[derive(Debug)]
struct ChainOnly(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(name: &str) -> Vec<Host> {
        vec![Host::Tcp(name.to_owned())]
    }

    fn resolve(mode: Option<&str>, root: Option<&str>, host: &str) -> Result<TlsPolicy, String> {
        TlsPolicy::resolve(mode, root, &tcp(host), &[]).map(|(policy, _)| policy)
    }

    const VERIFIED: TlsPolicy = TlsPolicy::Required { check_host: true };

    #[test]
    fn plaintext_is_possible_only_to_loopback_without_a_ca_or_by_name() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.0.0.2",
            "::1",
            "[::1]",
        ] {
            assert_eq!(
                resolve(None, None, host),
                Ok(TlsPolicy::Preferred),
                "{host}"
            );
            assert_eq!(
                resolve(Some("prefer"), None, host),
                Ok(TlsPolicy::Preferred)
            );
            assert_eq!(resolve(Some("allow"), None, host), Ok(TlsPolicy::Preferred));
        }
        for host in [
            "db.example.com",
            "10.0.0.5",
            "localhost.evil.example",
            "::2",
        ] {
            assert_eq!(resolve(None, None, host), Ok(VERIFIED), "{host}");
            assert_eq!(resolve(Some("prefer"), None, host), Ok(VERIFIED), "{host}");
        }
        assert_eq!(resolve(None, Some("/ca.pem"), "127.0.0.1"), Ok(VERIFIED));
        assert_eq!(
            resolve(Some("disable"), None, "db.example.com"),
            Ok(TlsPolicy::Off)
        );
        // A host name that is not loopback counts, whatever address it is sent to.
        let via_loopback = TlsPolicy::resolve(
            None,
            None,
            &tcp("db.internal"),
            &["127.0.0.1".parse().unwrap()],
        );
        assert_eq!(via_loopback.unwrap().0, VERIFIED);
        let several = [
            Host::Tcp("localhost".into()),
            Host::Tcp("db.example".into()),
        ];
        assert_eq!(
            TlsPolicy::resolve(None, None, &several, &[]).unwrap().0,
            VERIFIED
        );
        #[cfg(unix)]
        assert_eq!(
            TlsPolicy::resolve(None, None, &[Host::Unix("/run/postgresql".into())], &[])
                .unwrap()
                .0,
            TlsPolicy::Preferred
        );
    }

    #[test]
    fn each_verifying_mode_checks_what_libpq_checks() {
        assert_eq!(resolve(Some("require"), None, "localhost"), Ok(VERIFIED));
        assert_eq!(
            resolve(Some("verify-full"), None, "localhost"),
            Ok(VERIFIED)
        );
        assert_eq!(
            resolve(Some("verify-ca"), Some("/ca.pem"), "10.0.0.5"),
            Ok(TlsPolicy::Required { check_host: false })
        );
        assert_eq!(
            TlsPolicy::resolve(None, Some("/ca.pem"), &tcp("h"), &[])
                .unwrap()
                .1,
            Roots::File("/ca.pem".to_owned())
        );
    }

    #[test]
    fn contradictions_are_refused_with_a_reason() {
        let error = resolve(Some("disable"), Some("/ca.pem"), "localhost").unwrap_err();
        assert!(error.contains("remove one of them"), "{error}");
        let error = resolve(Some("verify-ca"), Some("system"), "db.example").unwrap_err();
        assert!(
            error.contains("sslrootcert=system needs sslmode=verify-full"),
            "{error}"
        );
        let error = resolve(Some("strict"), None, "localhost").unwrap_err();
        assert!(error.starts_with("sslmode=strict is not one of"), "{error}");
        assert_eq!(
            TlsPolicy::resolve(None, Some("system"), &tcp("db.example"), &[]),
            Ok((VERIFIED, Roots::Platform))
        );
    }
}
