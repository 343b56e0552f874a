//! `semarize` processes against an in-process emulator, as a fleet runs them: shared by
//! the PostgreSQL tests and the batch bench (`#[path]`-included by both).

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use semarize::runtime::{Clock, SystemClock};
use semarize_emulator::Emulator;

/// The `semarize` command with `args`, talking to `emulator`, its output discarded.
pub fn semarize(emulator: &Emulator, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_semarize"));
    command
        .args(args)
        .env("SEMARIZE_API_KEY", emulator.api_key())
        .env("SEMARIZE_BASE_URL", emulator.base_url())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Registers `http://127.0.0.1:<a free port>/semarize` as the emulator workspace's
/// webhook endpoint and starts `semarize webhooks listen --ledger url` there with its
/// secret. Returns once the receiver listens: a delivery refused before that would come
/// back only after the workers' grace. The ledger must exist (the receiver refuses a
/// database without one).
pub async fn start_receiver(emulator: &Emulator, url: &str) -> Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = semarize::Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .build()
        .unwrap();
    let endpoint = client
        .webhook_endpoints()
        .upsert(format!("http://127.0.0.1:{port}/semarize"))
        .send()
        .await
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    let receiver = semarize(
        emulator,
        &["webhooks", "listen", "--addr", &addr, "--ledger", url],
    )
    .env("SEMARIZE_WEBHOOK_SECRET", endpoint.secret.expose_secret())
    .spawn()
    .expect("the receiver starts");
    let deadline = SystemClock.now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(SystemClock.now() < deadline, "the receiver never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver
}

/// How long [`wait_all`] waits for a fleet before it kills what is left and fails.
pub const FLEET_DEADLINE: Duration = Duration::from_secs(300);

/// Waits for every process in `children` (off the async runtime) for at most
/// [`FLEET_DEADLINE`]; their exit statuses. Past it, every process still running is killed
/// and the caller fails: a worker that never ends is a failure, not a hang.
pub async fn wait_all(mut children: Vec<Child>) -> Vec<ExitStatus> {
    tokio::task::spawn_blocking(move || {
        let deadline = SystemClock.now() + FLEET_DEADLINE;
        let mut statuses: Vec<Option<ExitStatus>> = vec![None; children.len()];
        while statuses.iter().any(Option::is_none) {
            for (child, status) in children.iter_mut().zip(&mut statuses) {
                if status.is_none() {
                    *status = child.try_wait().expect("a child can be waited for");
                }
            }
            if SystemClock.now() >= deadline {
                let running = statuses.iter().filter(|s| s.is_none()).count();
                for child in &mut children {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                panic!("{running} process(es) still ran after {FLEET_DEADLINE:?}; killed");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        statuses.into_iter().flatten().collect()
    })
    .await
    .unwrap()
}
