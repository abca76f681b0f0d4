//! Integration tests of the `kinko-signer` binary, built into one binary.

mod init_xpub;
