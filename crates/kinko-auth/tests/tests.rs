//! Integration tests of kinko-auth, built into one binary (one link).

mod bip340;
mod common;
mod encoding_table;
mod fuzz_regressions;
mod vectors;
