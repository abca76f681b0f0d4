//! Paths, key origins, origin-qualified xpubs and strict xpub/xprv decoding:
//! never panic; what parses prints and parses back equal.
//!
//! First byte 0: the rest is text for every string parser. First byte 1:
//! the rest is a raw 78-byte extended key for `decode_xkey_bytes`, which must
//! re-encode to the same bytes when accepted.

#![no_main]

use kinko_keys::bitcoin::base58;
use kinko_keys::{decode_xkey, decode_xkey_bytes, ExtendedKey, KeyOrigin, KeyPath, OriginXpub};
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        if let Ok(key) = decode_xkey_bytes(rest) {
            let encoded = match &key {
                ExtendedKey::Public(x) => x.encode(),
                ExtendedKey::Private(x) => x.expose_xpriv().encode(),
            };
            assert_eq!(&encoded[..], rest);
            // And through base58 the same key comes back.
            let s = base58::encode_check(rest);
            assert!(decode_xkey(&s).is_ok());
        }
        return;
    }
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(p) = KeyPath::parse(s) {
        assert_eq!(
            KeyPath::parse(&p.to_string()).expect("printed path parses"),
            p
        );
    }
    if let Ok(p) = KeyPath::parse_relative(s) {
        assert_eq!(
            KeyPath::parse(&p.to_string()).expect("printed path parses"),
            p
        );
    }
    if let Ok(o) = s.parse::<KeyOrigin>() {
        assert_eq!(
            o.to_string()
                .parse::<KeyOrigin>()
                .expect("printed origin parses"),
            o
        );
    }
    if let Ok(ox) = s.parse::<OriginXpub>() {
        assert_eq!(
            ox.to_string()
                .parse::<OriginXpub>()
                .expect("printed key parses"),
            ox
        );
    }
    match decode_xkey(s) {
        Ok(ExtendedKey::Public(x)) => {
            let back = decode_xkey(&x.to_string()).expect("printed xpub parses");
            assert!(matches!(back, ExtendedKey::Public(y) if y == x));
        }
        Ok(ExtendedKey::Private(x)) => {
            let printed = x.to_string_with_secret();
            match decode_xkey(&printed).expect("printed xprv parses") {
                ExtendedKey::Private(y) => assert_eq!(y.expose_xpriv(), x.expose_xpriv()),
                ExtendedKey::Public(_) => panic!("xprv came back public"),
            }
        }
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
