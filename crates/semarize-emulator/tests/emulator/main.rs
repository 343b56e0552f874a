//! Behaviour of the emulator against the Semarize documentation, over real HTTP on an
//! ephemeral loopback port.

mod api;
mod binary;
mod browser;
#[cfg(feature = "cassette")]
mod cassette;
mod catalogue;
mod conformance;
mod faults;
mod inspector;
mod support;
mod webhooks;
