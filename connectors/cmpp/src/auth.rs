//! The CONNECT authenticators and timestamps.
