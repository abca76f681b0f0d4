//! Property tests: parsers never panic, and what kinko prints it parses back.

use kinko_keys::{decode_xkey, KeyOrigin, KeyPath, Language, Mnemonic, WordCount};
use proptest::prelude::*;

fn arb_language() -> impl Strategy<Value = Language> {
    prop_oneof![Just(Language::English), Just(Language::Japanese)]
}

fn arb_word_count() -> impl Strategy<Value = WordCount> {
    prop::sample::select(WordCount::ALL.to_vec())
}

fn arb_path() -> impl Strategy<Value = Vec<(u32, bool)>> {
    prop::collection::vec((0u32..(1 << 31), any::<bool>()), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mnemonic_parse_never_panics(s in "\\PC{0,200}") {
        let _ = Mnemonic::parse(&s);
        let _ = Mnemonic::parse_in(&s, Language::Japanese);
    }

    #[test]
    fn entropy_round_trips(lang in arb_language(), wc in arb_word_count(), bytes in prop::collection::vec(any::<u8>(), 32)) {
        let entropy = &bytes[..wc.entropy_bytes()];
        let m = Mnemonic::from_entropy(entropy, lang).unwrap();
        let back = Mnemonic::parse(&m.phrase_with_secret()).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(&back.entropy_with_secret()[..], entropy);
        prop_assert_eq!(back.word_count(), wc);
    }

    #[test]
    fn one_changed_word_is_caught_or_still_valid(wc in arb_word_count(), bytes in prop::collection::vec(any::<u8>(), 32), pos in 0usize..24, word in 0usize..2048) {
        // Replacing a word either breaks the checksum or yields another valid
        // mnemonic (1 in 2^(checksum bits)); it never panics or mis-parses.
        let m = Mnemonic::from_entropy(&bytes[..wc.entropy_bytes()], Language::English).unwrap();
        let phrase = m.phrase_with_secret();
        let mut words: Vec<&str> = phrase.split(' ').collect();
        let pos = pos % words.len();
        let list = bip39_word(word);
        words[pos] = list;
        let edited = words.join(" ");
        match Mnemonic::parse(&edited) {
            Ok(other) => {
                let printed = other.phrase_with_secret();
                prop_assert_eq!(printed.as_str(), edited.as_str());
            }
            Err(e) => prop_assert_eq!(e, kinko_keys::MnemonicError::BadChecksum),
        }
    }

    #[test]
    fn paths_round_trip(steps in arb_path(), apostrophe in any::<bool>()) {
        let body: Vec<String> = steps.iter().map(|(i, h)| match (h, apostrophe) {
            (true, true) => format!("{i}'"),
            (true, false) => format!("{i}h"),
            (false, _) => i.to_string(),
        }).collect();
        let text = if body.is_empty() { "m".to_owned() } else { format!("m/{}", body.join("/")) };
        let p = KeyPath::parse(&text).unwrap();
        prop_assert_eq!(p.len(), steps.len());
        let printed = p.to_string();
        prop_assert_eq!(KeyPath::parse(&printed).unwrap(), p.clone());
        let origin = format!("[0badf00d/{}]", p.to_relative_string());
        if !p.is_master() {
            let o: KeyOrigin = origin.parse().unwrap();
            prop_assert_eq!(o.path, p);
        }
    }

    #[test]
    fn path_and_key_parsers_never_panic(s in "\\PC{0,120}") {
        let _ = KeyPath::parse(&s);
        let _ = KeyPath::parse_relative(&s);
        let _ = s.parse::<KeyOrigin>();
        let _ = s.parse::<kinko_keys::OriginXpub>();
        let _ = decode_xkey(&s);
    }

    #[test]
    fn raw_xkey_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 78)) {
        let _ = kinko_keys::decode_xkey_bytes(&bytes);
    }
}

fn bip39_word(i: usize) -> &'static str {
    // The English list through a generated mnemonic would be circular; use
    // the bip39 crate's list, which kinko-keys wraps.
    bip39::Language::English.word_list()[i]
}
