//! Behaviour of the emulator against the Semarize documentation, over real HTTP on an
//! ephemeral loopback port.

mod api;
mod binary;
#[cfg(feature = "cassette")]
mod cassette;
mod catalogue;
mod conformance;
mod faults;
mod support;
mod webhooks;
