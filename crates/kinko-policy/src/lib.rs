//! A pure custody policy engine: hot cap, limits, velocity, allowlist, approvals, circuit breaker.

#![forbid(unsafe_code)]
