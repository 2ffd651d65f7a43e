//! SMGP (placeholder until the codec lands).
