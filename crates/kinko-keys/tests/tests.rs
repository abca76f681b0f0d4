//! Integration tests of kinko-keys, built into one binary.

mod bip32_vectors;
mod bip39_vectors;
mod keystore_files;
mod properties;
mod redaction;
