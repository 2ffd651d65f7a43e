//! SGIP (placeholder until the codec lands).
