//! The TLS feature of this build is the one HTTPS goes through: an `https://` base URL
//! opens with a TLS ClientHello (no panic for a missing crypto provider, no plain-text
//! request), and a build without any TLS feature refuses an `https://` base URL when the
//! client is built, naming the features. CI runs this file once per TLS feature.

const KEY: &str = "smz_test_0123456789abcdef";

#[cfg(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls"))]
#[tokio::test]
async fn an_https_base_url_opens_with_a_tls_client_hello() {
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 6];
        socket.read_exact(&mut head).await.unwrap();
        head
        // The socket closes here: the handshake cannot finish.
    });
    let client = semarize::Client::builder()
        .api_key(KEY)
        .base_url(format!("https://localhost:{port}"))
        .build()
        .expect("an https base URL builds with a TLS feature");
    let error = client
        .runs()
        .get("run-1")
        .no_retries()
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect_err("the server never finishes the handshake");
    let head = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the client connected")
        .unwrap();
    // A TLS record of type handshake (22), TLS major version 3, then a ClientHello (1).
    assert_eq!(head[0], 0x16, "not a TLS record: {head:?}");
    assert_eq!(head[1], 0x03, "not TLS: {head:?}");
    assert_eq!(head[5], 0x01, "not a ClientHello: {head:?}");
    assert!(
        error.is_retryable(),
        "a broken handshake is transient: {error}"
    );
    println!("HTTPS through {}", semarize_api::tls::BACKEND);
}

#[cfg(not(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls")))]
#[test]
fn without_a_tls_feature_an_https_base_url_is_refused_by_name() {
    let error = semarize::Client::builder()
        .api_key(KEY)
        .base_url("https://api.semarize.com")
        .build()
        .expect_err("no TLS in this build");
    let message = error.to_string();
    for feature in ["rustls", "rustls-ring", "native-tls"] {
        assert!(message.contains(feature), "{message}");
    }
    // Plain HTTP (an emulator on loopback) still works.
    semarize::Client::builder()
        .api_key(KEY)
        .base_url("http://127.0.0.1:8787")
        .build()
        .expect("plain HTTP needs no TLS");
}
