//! The /v1 routes: the spec's operations table (`semarize_api::operations`), served where
//! the emulator has a handler.
//!
//! A route comes only from the spec, so the emulator cannot invent one; `cargo xtask spec
//! check` names every operation of the spec it has no handler for, so it cannot silently
//! miss one either.

use semarize_api::operations::{self, Operation};

/// The operations this emulator serves: those of the spec it has a handler for, in the
/// table's order.
pub fn served() -> impl Iterator<Item = &'static Operation> {
    operations::ALL
        .iter()
        .filter(|operation| crate::http::has_handler(operation.id))
}

/// The operationId of a route (its method and path template).
pub fn operation_id(method: &str, path: &str) -> Option<&'static str> {
    operations::ALL
        .iter()
        .find(|operation| operation.method == method && operation.path == path)
        .map(|operation| operation.id)
}
