//! The ledger's URL: a PostgreSQL URL whose own parameters tokio-postgres parses, plus
//! libpq's parameters it does not know (`sslmode`'s verifying modes, `sslrootcert`) and
//! this crate's `pool_size`, which are taken out, percent-decoded and honoured here.

use percent_encoding::percent_decode_str;

/// A ledger URL split into what the driver parses and what this crate honours.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct LedgerUrl {
    /// The URL as tokio-postgres takes it: without `sslmode`, `sslrootcert` and
    /// `pool_size`.
    pub(super) driver_url: String,
    /// libpq's `sslmode`, decoded.
    pub(super) sslmode: Option<String>,
    /// libpq's `sslrootcert` (a PEM file, or `system`), decoded.
    pub(super) sslrootcert: Option<String>,
    /// `pool_size`, decoded.
    pub(super) pool_size: Option<String>,
}

/// Parameters taken out of the URL for this crate to honour.
const OURS: [&str; 3] = ["sslmode", "sslrootcert", "pool_size"];

/// libpq's client-certificate parameters: refused by name, rather than left to the
/// driver's "unknown option", so nobody believes a client certificate was presented.
const CLIENT_CERTIFICATE: [&str; 3] = ["sslcert", "sslkey", "sslpassword"];

impl LedgerUrl {
    /// Splits `url`. A parameter given twice counts once, the last (as in libpq).
    pub(super) fn parse(url: &str) -> Result<Self, String> {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut parsed = LedgerUrl {
            driver_url: base.to_owned(),
            sslmode: None,
            sslrootcert: None,
            pool_size: None,
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(raw_key)?;
            if CLIENT_CERTIFICATE.contains(&key.as_str()) {
                return Err(format!(
                    "{key}: client certificates are not supported; authenticate with a \
                     password (or remove {key} from the URL)"
                ));
            }
            if !OURS.contains(&key.as_str()) {
                kept.push(pair);
                continue;
            }
            let value = Some(decode(raw_value).map_err(|e| format!("{key}: {e}"))?);
            match key.as_str() {
                "sslmode" => parsed.sslmode = value,
                "sslrootcert" => parsed.sslrootcert = value,
                _ => parsed.pool_size = value,
            }
        }
        if !kept.is_empty() {
            parsed.driver_url.push('?');
            parsed.driver_url.push_str(&kept.join("&"));
        }
        Ok(parsed)
    }
}

/// A percent-encoded URL component as text.
fn decode(raw: &str) -> Result<String, String> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| format!("{raw:?} is not UTF-8 once percent-decoded"))
}

/// The URL without credentials, for messages: no user information, and no parameter
/// whose name ends in `password` (`password`, `sslpassword`), however it is encoded.
pub(super) fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://{}", &base[..scheme], &base[at + 1..])
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let raw_key = pair.split_once('=').map_or(*pair, |(key, _)| key);
                let key = percent_decode_str(raw_key).decode_utf8_lossy();
                !key.to_ascii_lowercase().ends_with("password")
            })
            .collect();
        if !kept.is_empty() {
            redacted.push('?');
            redacted.push_str(&kept.join("&"));
        }
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_parameters_are_taken_out_and_decoded() {
        let url = LedgerUrl::parse(
            "postgres://u@h/db?sslmode=verify%2Dca&x=1&sslrootcert=/certs/my%20ca.pem&pool_size=%38",
        )
        .unwrap();
        assert_eq!(
            url,
            LedgerUrl {
                driver_url: "postgres://u@h/db?x=1".to_owned(),
                sslmode: Some("verify-ca".to_owned()),
                sslrootcert: Some("/certs/my ca.pem".to_owned()),
                pool_size: Some("8".to_owned()),
            }
        );
        let plain = LedgerUrl::parse("postgres://h/db").unwrap();
        assert_eq!(plain.driver_url, "postgres://h/db");
        assert_eq!(plain.sslmode, None);
        let last = LedgerUrl::parse("postgres://h/db?sslmode=disable&sslmode=require").unwrap();
        assert_eq!(last.sslmode.as_deref(), Some("require"));
        assert_eq!(last.driver_url, "postgres://h/db");
    }

    #[test]
    fn client_certificates_and_undecodable_values_are_refused_by_name() {
        let error = LedgerUrl::parse("postgres://h/db?sslpassword=hunter2").unwrap_err();
        assert!(
            error.starts_with("sslpassword: client certificates"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        let error = LedgerUrl::parse("postgres://h/db?sslrootcert=%FF").unwrap_err();
        assert!(error.starts_with("sslrootcert: "), "{error}");
    }

    #[test]
    fn credentials_never_reach_messages() {
        assert_eq!(
            redact("postgres://u:secret@db.example:5432/ledger?sslmode=require"),
            "postgres://db.example:5432/ledger?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://db/ledger?user=u&password=secret&sslmode=require"),
            "postgresql://db/ledger?user=u&sslmode=require"
        );
        assert_eq!(
            redact("postgres://db/ledger?PASSWORD=secret"),
            "postgres://db/ledger"
        );
        assert_eq!(
            redact("postgres://db/ledger?sslpassword=secret&pass%77ord=secret&x=1"),
            "postgres://db/ledger?x=1"
        );
    }
}
