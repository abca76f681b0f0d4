//! kinko-ledger's integration tests, in one binary (one link on two cores).
//!
//! PostgreSQL runs need `DATABASE_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test makes and drops its
//! own schema. Without it they say so on stderr and pass.

#[macro_use]
mod common;
mod cosign;
mod crash;
mod model;
mod race;
mod signed;
mod suite;
