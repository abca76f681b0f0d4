//! Durable policy state and a hash-chained audit log on SQLite or PostgreSQL for kinko.

#![forbid(unsafe_code)]
