//! A headless Chromium driven over the DevTools protocol: enough to load a page, run
//! script in it, and take a screenshot. The browser is the Debian package `chromium`
//! (`.ci/run` installs it); `SEMARIZE_TEST_CHROMIUM` names another binary.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long the browser may take to start, a page to load, a script to answer.
const DEADLINE: Duration = Duration::from_secs(30);

/// A headless browser with one page open; closed when dropped.
pub struct Browser {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    process: Process,
}

/// The browser's process and its profile directory: killed and removed when dropped, so
/// a test failing at any step (even before the page is attached) leaves nothing behind.
struct Process {
    child: Child,
    profile: std::path::PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    /// Closes the browser the polite way first, so that its helper processes (renderer,
    /// GPU, zygote) go with it; killed if it has not exited within five seconds.
    fn drop(&mut self) {
        self.next_id += 1;
        let close = json!({"id": self.next_id, "method": "Browser.close"}).to_string();
        let _ = self.socket.send(Message::text(close));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // `Process` kills it.
    }
}

impl Browser {
    /// Starts the browser (headless, on an ephemeral DevTools port) and attaches to its
    /// page. Blocking: call it from a blocking thread.
    pub fn start(width: u32, height: u32) -> Browser {
        let binary = std::env::var("SEMARIZE_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let profile =
            std::env::temp_dir().join(format!("semarize-inspector-browser-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let child = Command::new(&binary)
            .args([
                "--headless",
                // CI runs as root in a container, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                &format!("--window-size={width},{height}"),
                &format!("--user-data-dir={}", profile.display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary:?} (apt-get install chromium): {e}"));
        let mut process = Process { child, profile };
        // The DevTools address is announced on stderr; the rest of stderr is drained so
        // the browser never blocks on a full pipe.
        let stderr = process.child.stderr.take().expect("piped stderr");
        let (found, announced) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(url.trim().to_owned());
                }
            }
        });
        let browser_url = announced.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            panic!("{binary} announced no DevTools address within {DEADLINE:?}")
        });
        let port = browser_url
            .trim_start_matches("ws://")
            .split(['/', ':'])
            .nth(1)
            .expect("ws://HOST:PORT/...")
            .to_owned();
        let page_url = page_target(&port);
        let (mut socket, _) = tungstenite::connect(page_url.as_str())
            .unwrap_or_else(|e| panic!("cannot attach to the page at {page_url}: {e}"));
        // The debugging port is plain TCP on loopback; a read never waits past the deadline.
        if let MaybeTlsStream::Plain(stream) = socket.get_mut() {
            stream
                .set_read_timeout(Some(DEADLINE))
                .expect("a read timeout");
        }
        let mut browser = Browser {
            socket,
            next_id: 0,
            process,
        };
        browser.call("Page.enable", json!({}));
        browser
    }

    /// Sends one DevTools command and returns its result, skipping events.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket
            .send(Message::text(message))
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < DEADLINE,
                "{method}: no answer within {DEADLINE:?}"
            );
            let frame = self
                .socket
                .read()
                .unwrap_or_else(|e| panic!("{method}: {e}"));
            let Message::Text(text) = frame else { continue };
            let reply: Value = serde_json::from_str(text.as_str()).expect("DevTools sends JSON");
            if reply["id"] == id {
                if let Some(error) = reply.get("error") {
                    panic!("{method}: {error}");
                }
                return reply["result"].clone();
            }
        }
    }

    /// Loads `url` and waits for its load event.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_until("document.readyState === 'complete'");
    }

    /// The value of a script expression (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits (at most [`DEADLINE`]) until `condition`, a script expression, is true.
    pub fn wait_until(&mut self, condition: &str) {
        let started = Instant::now();
        while self.eval(condition) != json!(true) {
            assert!(
                started.elapsed() < DEADLINE,
                "not true within {DEADLINE:?}: {condition}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A PNG of the whole page.
    pub fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine;
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("base64 data"))
            .expect("a base64 PNG")
    }
}

/// The WebSocket address of the browser's first page, from `/json/list`.
fn page_target(port: &str) -> String {
    let started = Instant::now();
    loop {
        let listed = http_get(port, "/json/list");
        let pages: Value = serde_json::from_str(&listed).unwrap_or(Value::Null);
        if let Some(url) = pages
            .as_array()
            .into_iter()
            .flatten()
            .find(|target| target["type"] == "page")
            .and_then(|page| page["webSocketDebuggerUrl"].as_str())
        {
            return url.to_owned();
        }
        assert!(started.elapsed() < DEADLINE, "no page target: {listed}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A plain HTTP GET on loopback: the DevTools discovery endpoint. Read up to the
/// declared length (the browser may keep the connection open, or reset it).
fn http_get(port: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("DevTools port");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(usize::MAX);
            if body.len() >= length {
                return body.to_owned();
            }
        }
        match stream.read(&mut chunk) {
            Ok(n) if n > 0 => response.extend_from_slice(&chunk[..n]),
            _ => {
                return text
                    .split_once("\r\n\r\n")
                    .map(|(_, b)| b.to_owned())
                    .unwrap_or_default();
            }
        }
    }
}
