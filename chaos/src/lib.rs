//! Fault scenarios against real Tern processes, with a checker of the invariants over the
//! histories every party recorded. It drives Tern only from the outside (processes, wire
//! protocols, the admin API through `tern ctl`), never by linking its internals.

pub mod checker;
pub mod cluster;
pub mod customer;
pub mod env;
pub mod history;
pub mod proxy;
pub mod report;
pub mod scenario;
pub mod support;
