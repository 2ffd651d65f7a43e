//! What the Chinese operators' protocols share (placeholder until it is filled).
