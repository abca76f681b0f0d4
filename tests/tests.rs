//! End-to-end tests across kinko's crates, built into one binary.
