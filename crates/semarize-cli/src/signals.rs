//! Stopping a batch by signal: the first SIGINT or SIGTERM drains it, a second one stops
//! the process at once; either way it exits 128 + the signal's number.

use std::sync::Arc;

/// The signal that stopped a batch: it exits 128 + the signal's number, the shell's
/// convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C): exit 130.
    Interrupt,
    /// SIGTERM: exit 143.
    Terminate,
}

impl StopSignal {
    pub fn exit_code(self) -> u8 {
        match self {
            StopSignal::Interrupt => 130,
            StopSignal::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM, after noting which in `stopped_by`.
/// A second one ends the process at once with that second signal's code, which is safe:
/// the ledger resumes without duplicates. The handlers are installed when this is called,
/// before any work starts, so no signal falls between starting and listening.
pub fn shutdown_signal(
    stopped_by: Arc<std::sync::OnceLock<StopSignal>>,
) -> impl std::future::Future<Output = ()> {
    let mut signals = Signals::install();
    async move {
        let first = signals.next().await;
        let _ = stopped_by.set(first);
        eprintln!(
            "stopping on {}: finishing the requests in flight (send a signal again to stop at once)",
            first.name()
        );
        tokio::spawn(async move {
            let second = signals.next().await;
            std::process::exit(i32::from(second.exit_code()));
        });
    }
}

/// SIGINT and SIGTERM, listened to from the moment of installation.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next signal; never, when no handler could be installed.
    async fn next(&mut self) -> StopSignal {
        #[cfg(unix)]
        {
            async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = recv(&mut self.interrupt) => StopSignal::Interrupt,
                () = recv(&mut self.terminate) => StopSignal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => StopSignal::Interrupt,
                Err(_) => std::future::pending().await,
            }
        }
    }
}
