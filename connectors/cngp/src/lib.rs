//! CNGP (placeholder until the codec lands).
