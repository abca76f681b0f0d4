//! `kinko-signer init`: create a keystore from a new or imported mnemonic.

use std::io::Write;

use anyhow::Context;
use kinko_keys::bitcoin::secp256k1::Secp256k1;
use kinko_keys::{Keystore, KeystoreWriteError, Language, Mnemonic, WordCount};

use crate::cli::InitArgs;
use crate::input;
use kinko_cmd::{CliError, CliResult};

/// Runs `init`.
pub fn run(args: &InitArgs) -> CliResult {
    // Refuse before asking for anything: kinko never overwrites a keystore.
    if args.keystore.symlink_metadata().is_ok() {
        return Err(refuse_existing(&args.keystore));
    }
    let options = input::keystore_options(true)?;

    let mnemonic = if args.import {
        let phrase = input::mnemonic_from_stdin()?;
        let parsed = match args.language {
            Some(lang) => Mnemonic::parse_in(&phrase, lang),
            None => Mnemonic::parse(&phrase),
        };
        parsed.context("invalid mnemonic on stdin")?
    } else {
        let words = args.words.unwrap_or(WordCount::W24);
        let language = args.language.unwrap_or(Language::English);
        Mnemonic::generate(words, language).context("cannot generate a mnemonic")?
    };
    let bip39_passphrase = input::bip39_passphrase()?;
    let passphrase = input::keystore_passphrase(true)?;

    let keystore = Keystore::new(mnemonic, bip39_passphrase);
    let secp = Secp256k1::new();
    let fingerprint = keystore
        .master_fingerprint(&secp)
        .context("cannot derive the master key")?;
    match keystore.create_file(&args.keystore, &passphrase, &options) {
        Ok(()) => {}
        Err(KeystoreWriteError::AlreadyExists(_)) => return Err(refuse_existing(&args.keystore)),
        Err(KeystoreWriteError::EmptyPassphrase) => {
            return Err(CliError::Refused {
                rule: "empty-passphrase".into(),
                detail: "the keystore passphrase must not be empty".into(),
            })
        }
        Err(e) => {
            return Err(CliError::Other(
                anyhow::Error::new(e).context(format!("cannot create {}", args.keystore.display())),
            ))
        }
    }

    // Printed only once the keystore is safely on disk.
    let mut out = std::io::stdout().lock();
    if !args.import {
        let m = keystore.mnemonic();
        writeln!(
            out,
            "Write down these {} words ({}) in order. They are shown only now, and they are the backup of this key:",
            m.word_count(),
            m.language()
        )?;
        let phrase = m.phrase_with_secret();
        for (i, word) in phrase.split(m.language().separator()).enumerate() {
            writeln!(out, "{:>4}. {word}", i + 1)?;
        }
        if !keystore.bip39_passphrase().is_empty() {
            writeln!(
                out,
                "A BIP39 passphrase (from {}) is also needed to restore; keep it apart from the words.",
                kinko_cmd::ENV_BIP39_PASSPHRASE
            )?;
        }
    }
    writeln!(out, "keystore: {}", args.keystore.display())?;
    writeln!(out, "master fingerprint: {fingerprint}")?;
    out.flush()?;
    Ok(())
}

fn refuse_existing(path: &std::path::Path) -> CliError {
    CliError::Refused {
        rule: crate::cmd::RULE_NO_OVERWRITE.into(),
        detail: format!(
            "{} already exists; kinko never overwrites a keystore",
            path.display()
        ),
    }
}
