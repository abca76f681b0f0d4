//! BIP39 mnemonics (English, Japanese), BIP32 keys, key origins and an encrypted age keystore for kinko.

#![forbid(unsafe_code)]
