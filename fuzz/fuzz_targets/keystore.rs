//! Keystore decoding of arbitrary bytes: never panics, and the errors stay
//! within the documented variants.
//!
//! First byte 0: the rest is an age file, decrypted with the fixed
//! passphrase "fuzz" and a scrypt work-factor cap of 2^10 (so a hostile
//! header cannot make an input slow). First byte 1: the rest is a plaintext
//! JSON document; what decodes must encode and decode back equal.

#![no_main]

use kinko_keys::{Keystore, KeystoreOptions, Passphrase};
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let options = KeystoreOptions::new()
            .with_max_work_factor(10)
            .expect("10 is within the allowed range");
        let _ = Keystore::decrypt(rest, &Passphrase::from("fuzz"), &options);
    } else if let Ok(ks) = Keystore::from_document(rest) {
        let doc = ks.to_document_with_secret();
        let back = Keystore::from_document(&doc).expect("an encoded document decodes");
        assert_eq!(back.mnemonic(), ks.mnemonic());
        assert_eq!(back.bip39_passphrase(), ks.bip39_passphrase());
        assert_eq!(back.registrations(), ks.registrations());
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
