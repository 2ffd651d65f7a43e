//! Multi-process cluster scenarios with injected faults and invariant checks. It drives
//! Tern only from the outside (processes, wire protocols, gRPC), never by linking its
//! internals.

pub mod cluster;
pub mod proxy;
