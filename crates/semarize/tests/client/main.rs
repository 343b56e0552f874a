//! The `semarize` client against the in-process emulator and its fault injection.

mod errors;
mod harness;
mod hooks;
mod hostile;
mod resources;
mod retries;
mod waiting;
mod webhooks;
