//! Every secret type prints `[redacted]`, never its secret, in `Debug`
//! (plain and pretty) and `Display`.

use bitcoin::hex::DisplayHex;
use bitcoin::NetworkKind;
use kinko_keys::{ExtendedKey, Keystore, Language, Mnemonic, Passphrase, SecretXpriv, Seed};

/// Formats `value` four ways and checks each is `[redacted]` and contains
/// none of `secrets`.
fn assert_redacted<T: std::fmt::Debug + std::fmt::Display>(
    what: &str,
    value: &T,
    secrets: &[&str],
) {
    let outputs = [
        format!("{value:?}"),
        format!("{value:#?}"),
        format!("{value}"),
        format!("{value:>40}"),
    ];
    for out in &outputs {
        assert_eq!(out.trim(), "[redacted]", "{what}");
        for s in secrets {
            assert!(!s.is_empty());
            assert!(!out.contains(s), "{what} leaks its secret");
        }
    }
}

#[test]
fn every_secret_type_is_redacted() {
    let phrase = "legal winner thank year wave sausage worth useful legal winner thank yellow";
    let mnemonic = Mnemonic::parse(phrase).unwrap();
    assert_redacted(
        "Mnemonic",
        &mnemonic,
        &[phrase, "legal", "winner", "yellow"],
    );

    let japanese = Mnemonic::generate(kinko_keys::WordCount::W12, Language::Japanese).unwrap();
    let jp_phrase = japanese.phrase_with_secret();
    let jp_words: Vec<&str> = jp_phrase.split(kinko_keys::IDEOGRAPHIC_SPACE).collect();
    assert_redacted("Mnemonic (japanese)", &japanese, &jp_words);

    let passphrase = Passphrase::from("hunter2-very-secret");
    assert_redacted("Passphrase", &passphrase, &["hunter2-very-secret"]);

    let seed = mnemonic.to_seed(&passphrase);
    let seed_hex = seed.expose_bytes().to_lower_hex_string();
    assert_redacted("Seed", &seed, &[&seed_hex, &seed_hex[..16]]);
    let raw = Seed::from_bytes(&[0x42; 32]).unwrap();
    assert_redacted("Seed (from bytes)", &raw, &["4242424242"]);

    let xprv = SecretXpriv::new_master(NetworkKind::Main, &seed).unwrap();
    let xprv_str = xprv.to_string_with_secret();
    let chain_code = xprv.expose_xpriv().chain_code.to_string();
    let secret_key = xprv
        .expose_xpriv()
        .private_key
        .secret_bytes()
        .to_lower_hex_string();
    assert_redacted(
        "SecretXpriv",
        &xprv,
        &[&xprv_str, &chain_code, &secret_key, &xprv_str[4..20]],
    );
    // rust-bitcoin's own Debug would leak the chain code: that is why the wrapper exists.
    assert!(format!("{:?}", xprv.expose_xpriv()).contains(&chain_code));

    let decoded = kinko_keys::decode_xkey(&xprv_str).unwrap();
    let dbg = format!("{decoded:?}");
    assert!(matches!(decoded, ExtendedKey::Private(_)));
    assert!(
        !dbg.contains(xprv_str.as_str()) && !dbg.contains(&chain_code),
        "ExtendedKey leaks"
    );

    let keystore = Keystore::new(mnemonic.clone(), passphrase.clone());
    assert_redacted(
        "Keystore",
        &keystore,
        &[phrase, "legal", "hunter2-very-secret"],
    );
}

#[test]
fn errors_never_carry_secrets() {
    // A mnemonic with one word replaced: the error names the position only.
    let phrase = "legal winner thank year wave sausage worth useful legal winner thank zzzzzz";
    let err = Mnemonic::parse(phrase).unwrap_err();
    let text = format!("{err} {err:?}");
    for w in ["legal", "winner", "zzzzzz"] {
        assert!(!text.contains(w), "{text}");
    }
    // A wrong passphrase does not echo either passphrase.
    let ks = Keystore::new(
        Mnemonic::parse(
            "legal winner thank year wave sausage worth useful legal winner thank yellow",
        )
        .unwrap(),
        Passphrase::empty(),
    );
    let opts = kinko_keys::KeystoreOptions::new()
        .with_work_factor(10)
        .unwrap();
    let ct = ks.encrypt(&Passphrase::from("right-one"), &opts).unwrap();
    let err = Keystore::decrypt(&ct, &Passphrase::from("wrong-one"), &opts).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("right-one") && !text.contains("wrong-one") && !text.contains("legal"));
}
