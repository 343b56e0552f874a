//! Create a run and wait for it.
//!
//! ```sh
//! # against the local emulator:
//! cargo run -p semarize-emulator -- --addr 127.0.0.1:8787 --api-key smz_test_example &
//! SEMARIZE_API_KEY=smz_test_example SEMARIZE_BASE_URL=http://127.0.0.1:8787 \
//!     cargo run -p semarize --example create_and_wait
//! ```

use std::process::ExitCode;
use std::time::Duration;

use semarize::{Client, RunOutcome, RunOutputExt};

#[tokio::main]
async fn main() -> ExitCode {
    let client = match Client::from_env() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let transcript =
        "Rep: What drove the urgency? Prospect: We are losing 3 hours a week on manual reporting.";
    let result = client
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript(transcript)
        // Derive the key from your own record so a restarted job reuses it.
        .idempotency_key("example-call-1-kit-A1B2C3D4")
        .send_and_wait(Duration::from_secs(300))
        .await;
    match result {
        Ok(RunOutcome::Succeeded(run)) => {
            for (key, _) in run.output.iter().flat_map(|o| o.bricks.iter()) {
                let brick = run.brick(key).expect("listed");
                println!(
                    "{key}: {} (confidence {:?})",
                    brick.value(),
                    brick.confidence()
                );
            }
            ExitCode::SUCCESS
        }
        Ok(RunOutcome::Failed(failure)) => {
            eprintln!(
                "run failed: {:?} {:?}",
                failure.error_code(),
                failure.error_user_message()
            );
            ExitCode::FAILURE
        }
        Ok(RunOutcome::Cancelled(_)) => {
            eprintln!("run cancelled");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}\n\nfor support:\n{}", e.support_summary());
            ExitCode::FAILURE
        }
    }
}
