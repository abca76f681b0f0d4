//! Combine two decoded PSBTs: an error or a PSBT that round-trips, never a
//! panic; a PSBT combines with itself into itself.
#![no_main]

use kinko_wallet::{combine, decode_psbt, encode_psbt, PsbtEncoding};
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = (usize::from(split) * rest.len()) / 256;
    let (a, b) = rest.split_at(at);
    let (Ok((pa, _)), b) = (decode_psbt(a), decode_psbt(b)) else {
        return;
    };
    let same = combine(vec![pa.clone(), pa.clone()]).expect("a psbt combines with itself");
    assert_eq!(same, pa);
    let Ok((pb, _)) = b else {
        return;
    };
    if let Ok(c) = combine(vec![pa, pb]) {
        let bytes = encode_psbt(&c, PsbtEncoding::Binary);
        let (back, _) = decode_psbt(&bytes).expect("combined psbt round-trips");
        assert_eq!(back, c);
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
