//! Mnemonic parsing in both languages: never panics; what parses prints and
//! parses back to the same mnemonic.
//!
//! First byte 0: the rest is a phrase (UTF-8). First byte 1: the rest is
//! entropy for a valid mnemonic whose separators are replaced by whitespace
//! drawn from the input, which must still parse to the same mnemonic.

#![no_main]

use kinko_keys::{Language, Mnemonic, WordCount};
use libfuzzer_sys::fuzz_target;

fn check_round_trip(m: &Mnemonic) {
    let phrase = m.phrase_with_secret();
    let back = Mnemonic::parse(&phrase).expect("a printed phrase parses");
    assert_eq!(&back, m);
    let again = Mnemonic::from_entropy(&m.entropy_with_secret(), m.language())
        .expect("entropy of a mnemonic is a valid size");
    assert_eq!(&again, m);
}

fn do_test(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 2 {
        0 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(m) = Mnemonic::parse(s) {
                check_round_trip(&m);
            }
            for lang in Language::ALL {
                if let Ok(m) = Mnemonic::parse_in(s, lang) {
                    assert_eq!(m.language(), lang);
                    check_round_trip(&m);
                }
            }
        }
        _ => {
            let Some((&sel, rest)) = rest.split_first() else {
                return;
            };
            let wc = WordCount::ALL[usize::from(sel) % 5];
            let lang = Language::ALL[usize::from(sel / 5) % 2];
            let n = wc.entropy_bytes();
            if rest.len() < n {
                return;
            }
            let (entropy, seps) = rest.split_at(n);
            let m = Mnemonic::from_entropy(entropy, lang).expect("valid entropy size");
            let phrase = m.phrase_with_secret();
            let whitespace = [' ', '\u{3000}', '\t', '\n', '\r', '\u{2003}'];
            let mut edited = String::new();
            for (i, w) in phrase.split(lang.separator()).enumerate() {
                if i > 0 {
                    let k = seps.get(i).copied().unwrap_or(0);
                    for _ in 0..=(k >> 6) {
                        edited.push(whitespace[usize::from(k) % whitespace.len()]);
                    }
                }
                edited.push_str(w);
            }
            assert_eq!(
                Mnemonic::parse(&edited).expect("whitespace variants parse"),
                m
            );
        }
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
