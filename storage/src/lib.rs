//! The message and CDR store behind one trait, with an embedded backend for a single node
//! and a ScyllaDB backend for a cluster. It knows nothing about actors or wire protocols.
