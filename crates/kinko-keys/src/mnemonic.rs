//! BIP39 mnemonics in English and Japanese.
//!
//! Built on the `bip39` crate (word lists, checksum, PBKDF2); this module adds
//! what a custody tool needs around it: the OS random number generator,
//! NFKD normalization into wiped buffers, the ideographic space for Japanese
//! output, error messages that never repeat a word of the phrase, and
//! `[redacted]` formatting.

use std::fmt;
use std::str::FromStr;

use zeroize::{Zeroize, Zeroizing};

use crate::secret::{nfkd_zeroizing, redacted_fmt, Passphrase, Seed};

/// The ideographic space U+3000 that separates Japanese words (BIP39).
pub const IDEOGRAPHIC_SPACE: char = '\u{3000}';

/// A word list kinko supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Language {
    /// The English word list.
    English,
    /// The Japanese word list (words separated by U+3000 when written).
    Japanese,
}

impl Language {
    /// Both supported languages, English first.
    pub const ALL: [Language; 2] = [Language::English, Language::Japanese];

    /// The lowercase name used on the command line and in the keystore.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::English => "english",
            Language::Japanese => "japanese",
        }
    }

    fn to_bip39(self) -> bip39::Language {
        match self {
            Language::English => bip39::Language::English,
            Language::Japanese => bip39::Language::Japanese,
        }
    }

    /// The separator BIP39 uses when writing a phrase in this language.
    pub fn separator(self) -> char {
        match self {
            Language::English => ' ',
            Language::Japanese => IDEOGRAPHIC_SPACE,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not `english` or `japanese`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?}, expected english or japanese")]
pub struct UnknownLanguageError(pub String);

impl FromStr for Language {
    type Err = UnknownLanguageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "english" | "en" => Ok(Language::English),
            "japanese" | "ja" | "jp" => Ok(Language::Japanese),
            _ => Err(UnknownLanguageError(s.to_owned())),
        }
    }
}

/// The number of words of a mnemonic, with its entropy size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WordCount {
    /// 12 words, 128 bits of entropy.
    W12,
    /// 15 words, 160 bits of entropy.
    W15,
    /// 18 words, 192 bits of entropy.
    W18,
    /// 21 words, 224 bits of entropy.
    W21,
    /// 24 words, 256 bits of entropy.
    W24,
}

impl WordCount {
    /// All word counts BIP39 allows, shortest first.
    pub const ALL: [WordCount; 5] = [
        WordCount::W12,
        WordCount::W15,
        WordCount::W18,
        WordCount::W21,
        WordCount::W24,
    ];

    /// The number of words.
    pub fn words(self) -> usize {
        match self {
            WordCount::W12 => 12,
            WordCount::W15 => 15,
            WordCount::W18 => 18,
            WordCount::W21 => 21,
            WordCount::W24 => 24,
        }
    }

    /// The entropy size in bytes (4 bytes for every 3 words).
    pub fn entropy_bytes(self) -> usize {
        self.words() / 3 * 4
    }
}

impl fmt::Display for WordCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.words())
    }
}

/// The number is not 12, 15, 18, 21 or 24.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a mnemonic length, expected 12, 15, 18, 21 or 24 words")]
pub struct WordCountError(pub usize);

impl TryFrom<usize> for WordCount {
    type Error = WordCountError;

    fn try_from(n: usize) -> Result<Self, Self::Error> {
        WordCount::ALL
            .into_iter()
            .find(|w| w.words() == n)
            .ok_or(WordCountError(n))
    }
}

/// Why a phrase is not a valid mnemonic.
///
/// Messages name positions (1-based) and never a word of the phrase: the
/// phrase is a secret and errors end up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MnemonicError {
    /// Nothing but whitespace.
    #[error("the mnemonic is empty")]
    Empty,
    /// Not 12, 15, 18, 21 or 24 words.
    #[error("the mnemonic has {0} words, expected 12, 15, 18, 21 or 24")]
    BadWordCount(usize),
    /// A word is not in the word list.
    #[error("word {position} is not in the {language} word list")]
    UnknownWord {
        /// 1-based position of the word.
        position: usize,
        /// The list it was looked up in.
        language: Language,
    },
    /// The first word is in neither list, so the language is unknown.
    #[error("word 1 is in neither the english nor the japanese word list")]
    UnknownLanguage,
    /// Every word is known but the checksum does not match: a word is wrong
    /// or the words are out of order.
    #[error("the mnemonic checksum does not match (a word is wrong or out of place)")]
    BadChecksum,
}

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system random number generator failed: {0}")]
pub struct GenerateError(getrandom::Error);

/// A BIP39 mnemonic in English or Japanese, with a valid checksum.
///
/// Not `Copy`; wiped on drop (the `bip39` crate's `zeroize` feature);
/// `Debug` and `Display` print `[redacted]`. The phrase is available only
/// through [`Mnemonic::phrase_with_secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct Mnemonic {
    inner: bip39::Mnemonic,
    language: Language,
}

redacted_fmt!(Mnemonic);

impl Mnemonic {
    /// Makes a new mnemonic from the operating system's random number
    /// generator (`getrandom`).
    ///
    /// # Errors
    ///
    /// [`GenerateError`] when the random number generator fails; never a
    /// weak fallback.
    pub fn generate(words: WordCount, language: Language) -> Result<Self, GenerateError> {
        let mut entropy = Zeroizing::new([0u8; 32]);
        let entropy = &mut entropy[..words.entropy_bytes()];
        getrandom::getrandom(entropy).map_err(GenerateError)?;
        Ok(Self::from_entropy(entropy, language)
            .expect("entropy_bytes() is 16, 20, 24, 28 or 32, all valid BIP39 sizes"))
    }

    /// The mnemonic for the given entropy (16, 20, 24, 28 or 32 bytes).
    ///
    /// # Errors
    ///
    /// [`WordCountError`] (with the word count the length would give, rounded
    /// down) when the entropy is not one of the five BIP39 sizes.
    pub fn from_entropy(entropy: &[u8], language: Language) -> Result<Self, WordCountError> {
        match bip39::Mnemonic::from_entropy_in(language.to_bip39(), entropy) {
            Ok(inner) => Ok(Mnemonic { inner, language }),
            Err(_) => Err(WordCountError(entropy.len() * 3 / 4)),
        }
    }

    /// Parses a phrase, detecting its language from the first word.
    ///
    /// The phrase is NFKD-normalized first (BIP39), so Japanese may be
    /// separated by U+3000 or ASCII spaces, and kana may be composed or
    /// decomposed. Any run of Unicode whitespace separates words.
    ///
    /// # Errors
    ///
    /// [`MnemonicError`]; the message never contains a word of the phrase.
    pub fn parse(phrase: &str) -> Result<Self, MnemonicError> {
        let normalized = nfkd_zeroizing(phrase);
        let first = normalized
            .split_whitespace()
            .next()
            .ok_or(MnemonicError::Empty)?;
        let language = Language::ALL
            .into_iter()
            .find(|l| l.to_bip39().find_word(first).is_some())
            .ok_or(MnemonicError::UnknownLanguage)?;
        Self::parse_normalized_in(&normalized, language)
    }

    /// Parses a phrase in the given language (see [`Mnemonic::parse`]).
    ///
    /// # Errors
    ///
    /// [`MnemonicError`]; the message never contains a word of the phrase.
    pub fn parse_in(phrase: &str, language: Language) -> Result<Self, MnemonicError> {
        let normalized = nfkd_zeroizing(phrase);
        Self::parse_normalized_in(&normalized, language)
    }

    fn parse_normalized_in(normalized: &str, language: Language) -> Result<Self, MnemonicError> {
        let count = normalized.split_whitespace().count();
        if count == 0 {
            return Err(MnemonicError::Empty);
        }
        if WordCount::try_from(count).is_err() {
            return Err(MnemonicError::BadWordCount(count));
        }
        match bip39::Mnemonic::parse_in_normalized(language.to_bip39(), normalized) {
            Ok(inner) => Ok(Mnemonic { inner, language }),
            Err(bip39::Error::UnknownWord(i)) => Err(MnemonicError::UnknownWord {
                position: i + 1,
                language,
            }),
            Err(bip39::Error::BadWordCount(n)) => Err(MnemonicError::BadWordCount(n)),
            Err(bip39::Error::InvalidChecksum) => Err(MnemonicError::BadChecksum),
            // Entropy and language ambiguity errors come only from other
            // constructors; report them as the closest user-facing cause.
            Err(bip39::Error::BadEntropyBitCount(_)) => Err(MnemonicError::BadWordCount(count)),
            Err(bip39::Error::AmbiguousLanguages(_)) => Err(MnemonicError::UnknownLanguage),
        }
    }

    /// The language of the word list.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The number of words.
    pub fn word_count(&self) -> WordCount {
        WordCount::try_from(self.inner.word_count())
            .expect("bip39::Mnemonic holds only 12, 15, 18, 21 or 24 words")
    }

    /// The phrase as written on the paper backup: words separated by a space
    /// in English and by U+3000 in Japanese. The returned buffer is wiped on
    /// drop.
    pub fn phrase_with_secret(&self) -> Zeroizing<String> {
        let sep = self.language.separator();
        let len: usize = self.inner.words().map(str::len).sum::<usize>()
            + sep.len_utf8() * (self.inner.word_count() - 1);
        let mut out = Zeroizing::new(String::with_capacity(len));
        for (i, w) in self.inner.words().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            out.push_str(w);
        }
        out
    }

    /// The entropy the mnemonic encodes, in a wiped buffer.
    pub fn entropy_with_secret(&self) -> Zeroizing<Vec<u8>> {
        let (mut arr, len) = self.inner.to_entropy_array();
        let out = Zeroizing::new(arr[..len].to_vec());
        arr.zeroize();
        out
    }

    /// The BIP39 seed: PBKDF2-HMAC-SHA512 over the NFKD phrase with salt
    /// `"mnemonic" + NFKD(passphrase)`, 2048 rounds.
    pub fn to_seed(&self, passphrase: &Passphrase) -> Seed {
        let normalized = nfkd_zeroizing(passphrase.expose_secret());
        let mut bytes = self.inner.to_seed_normalized(&normalized);
        Seed::from_array_wiping(&mut bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn parse_errors_are_typed_and_do_not_leak_words() {
        assert_eq!(Mnemonic::parse(""), Err(MnemonicError::Empty));
        assert_eq!(Mnemonic::parse(" \t\n\u{3000}"), Err(MnemonicError::Empty));
        assert_eq!(
            Mnemonic::parse("abandon abandon"),
            Err(MnemonicError::BadWordCount(2))
        );
        let wrong = ABANDON.replace("about", "zebraword");
        let err = Mnemonic::parse(&wrong).unwrap_err();
        assert_eq!(
            err,
            MnemonicError::UnknownWord {
                position: 12,
                language: Language::English
            }
        );
        assert!(!err.to_string().contains("zebraword"));
        let bad_sum = ABANDON.replace("about", "abandon");
        assert_eq!(Mnemonic::parse(&bad_sum), Err(MnemonicError::BadChecksum));
        assert_eq!(
            Mnemonic::parse("qwerty abandon"),
            Err(MnemonicError::UnknownLanguage)
        );
        // English words parsed as Japanese.
        assert_eq!(
            Mnemonic::parse_in(ABANDON, Language::Japanese),
            Err(MnemonicError::UnknownWord {
                position: 1,
                language: Language::Japanese
            })
        );
    }

    #[test]
    fn generate_every_length_and_language_round_trips() {
        for lang in Language::ALL {
            for wc in WordCount::ALL {
                let m = Mnemonic::generate(wc, lang).unwrap();
                assert_eq!(m.word_count(), wc);
                assert_eq!(m.language(), lang);
                let phrase = m.phrase_with_secret();
                assert_eq!(phrase.split(lang.separator()).count(), wc.words());
                let back = Mnemonic::parse(&phrase).unwrap();
                assert_eq!(back, m);
                assert_eq!(
                    Mnemonic::from_entropy(&m.entropy_with_secret(), lang).unwrap(),
                    m
                );
            }
        }
    }

    #[test]
    fn japanese_accepts_ascii_spaces() {
        let m = Mnemonic::generate(WordCount::W12, Language::Japanese).unwrap();
        let ascii = m.phrase_with_secret().replace(IDEOGRAPHIC_SPACE, " ");
        assert_eq!(Mnemonic::parse(&ascii).unwrap(), m);
        assert_eq!(Mnemonic::parse_in(&ascii, Language::Japanese).unwrap(), m);
    }

    #[test]
    fn entropy_size_is_checked() {
        assert_eq!(
            Mnemonic::from_entropy(&[0; 15], Language::English),
            Err(WordCountError(11))
        );
        assert!(Mnemonic::from_entropy(&[0; 16], Language::English).is_ok());
    }

    #[test]
    fn word_count_and_language_parse() {
        assert_eq!(WordCount::try_from(18), Ok(WordCount::W18));
        assert_eq!(WordCount::try_from(13), Err(WordCountError(13)));
        assert_eq!("japanese".parse::<Language>(), Ok(Language::Japanese));
        assert!("klingon".parse::<Language>().is_err());
    }
}
