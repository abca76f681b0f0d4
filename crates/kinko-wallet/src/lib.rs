//! m-of-n P2WSH multisig wallets, fast addresses and PSBTs with one analysis for kinko.

#![forbid(unsafe_code)]
