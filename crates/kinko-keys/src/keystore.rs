//! The encrypted keystore: an [age](https://age-encryption.org/v1) file
//! encrypted to a passphrase (scrypt recipient), holding a small JSON
//! document with the mnemonic.
//!
//! # Opening a backup without kinko
//!
//! The file is a standard age file. With the reference `age` tool (or
//! `rage`), on an offline machine:
//!
//! ```text
//! age -d keystore.age        # asks for the keystore passphrase, prints the JSON
//! ```
//!
//! # The document inside (version 1)
//!
//! ```json
//! {
//!   "version": 1,
//!   "language": "english",
//!   "mnemonic": "abandon abandon … about",
//!   "bip39_passphrase": "",
//!   "registrations": []
//! }
//! ```
//!
//! - `version`: the document format; kinko refuses versions it does not know.
//! - `language`: `"english"` or `"japanese"`, the BIP39 word list.
//! - `mnemonic`: the BIP39 phrase as written on the paper backup (Japanese
//!   words separated by U+3000).
//! - `bip39_passphrase`: the optional BIP39 passphrase ("25th word"), as
//!   typed; empty when none. The seed is PBKDF2 over the NFKD forms of both
//!   (BIP39), so any BIP39 wallet restores the same keys from these two
//!   fields.
//! - `registrations`: multisig wallets registered with the signer, each
//!   `{"name": …, "descriptor": …}`; kept inside the encryption so an
//!   edit is detected (age authenticates the whole file).
//!
//! # What is defended
//!
//! Reading the file without the passphrase (age: scrypt + ChaCha20-Poly1305);
//! undetected edits (any change fails authentication); overwriting an existing
//! keystore ([`Keystore::create_file`] refuses); a half-written file after a
//! crash (temporary file, fsync, link/rename, fsync of the directory); a
//! hostile file demanding unbounded scrypt work (the work factor is capped,
//! [`KeystoreOptions::with_max_work_factor`]). Not defended: a weak
//! passphrase, malware on the machine that opens the keystore, and copies of
//! secrets the operating system makes (swap, core dumps).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use bitcoin::bip32::Fingerprint;
use bitcoin::secp256k1::{Secp256k1, Signing};
use bitcoin::NetworkKind;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::mnemonic::{Language, Mnemonic, MnemonicError};
use crate::path::KeyPath;
use crate::secret::{redacted_fmt, Passphrase, Seed};
use crate::xkey::{origin_xpub, DeriveError, OriginXpub, SecretXpriv};

/// The first line of every age file.
const AGE_MAGIC: &[u8] = b"age-encryption.org/";

/// The document version this code writes and reads.
pub const KEYSTORE_VERSION: u32 = 1;

/// The scrypt work factor (log2 N) new keystores use: 2^18, age's usual
/// value, about a second and 256 MiB.
pub const DEFAULT_WORK_FACTOR: u8 = 18;

/// The lowest work factor kinko writes (2^10). Only tests should go this low.
pub const MIN_WORK_FACTOR: u8 = 10;

/// The highest work factor a keystore may demand by default when opened
/// (2^20, about 1 GiB and a few seconds).
pub const DEFAULT_MAX_WORK_FACTOR: u8 = 20;

/// The highest work factor kinko can be told to accept (2^22, 4 GiB);
/// age's documentation warns that more lets a file cost hours and tens of GiB.
pub const MAX_WORK_FACTOR_LIMIT: u8 = 22;

/// The largest keystore file kinko reads (1 MiB): a keystore is a few hundred
/// bytes plus its registrations.
pub const MAX_KEYSTORE_BYTES: u64 = 1 << 20;

/// How a keystore is encrypted and how much work opening one may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeystoreOptions {
    work_factor: u8,
    max_work_factor: u8,
}

impl Default for KeystoreOptions {
    fn default() -> Self {
        KeystoreOptions {
            work_factor: DEFAULT_WORK_FACTOR,
            max_work_factor: DEFAULT_MAX_WORK_FACTOR,
        }
    }
}

/// A work factor outside the allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scrypt work factor {value} is outside {min}..={max}")]
pub struct WorkFactorError {
    /// The rejected value.
    pub value: u8,
    /// Lowest allowed.
    pub min: u8,
    /// Highest allowed.
    pub max: u8,
}

impl KeystoreOptions {
    /// Defaults: write with 2^18, open files demanding up to 2^20.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the scrypt work factor (log2 N) for writing. Lower than the
    /// default only in tests.
    ///
    /// # Errors
    ///
    /// [`WorkFactorError`] unless `MIN_WORK_FACTOR <= log_n <= max_work_factor`.
    pub fn with_work_factor(mut self, log_n: u8) -> Result<Self, WorkFactorError> {
        if !(MIN_WORK_FACTOR..=self.max_work_factor).contains(&log_n) {
            return Err(WorkFactorError {
                value: log_n,
                min: MIN_WORK_FACTOR,
                max: self.max_work_factor,
            });
        }
        self.work_factor = log_n;
        Ok(self)
    }

    /// Sets the highest work factor an opened file may demand. Low values are
    /// allowed (for reading untrusted input cheaply, as the fuzzer does); the
    /// write work factor is lowered to it if needed, and writing then refuses
    /// anything below [`MIN_WORK_FACTOR`].
    ///
    /// # Errors
    ///
    /// [`WorkFactorError`] unless `1 <= log_n <= MAX_WORK_FACTOR_LIMIT`.
    pub fn with_max_work_factor(mut self, log_n: u8) -> Result<Self, WorkFactorError> {
        if !(1..=MAX_WORK_FACTOR_LIMIT).contains(&log_n) {
            return Err(WorkFactorError {
                value: log_n,
                min: 1,
                max: MAX_WORK_FACTOR_LIMIT,
            });
        }
        self.max_work_factor = log_n;
        self.work_factor = self.work_factor.min(log_n);
        Ok(self)
    }

    /// The write work factor.
    pub fn work_factor(&self) -> u8 {
        self.work_factor
    }

    /// The highest work factor accepted when opening.
    pub fn max_work_factor(&self) -> u8 {
        self.max_work_factor
    }
}

/// A multisig wallet registered with the signer (filled in by the signer's
/// `register` command; kinko-keys only stores it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The name the key holder gave the wallet.
    pub name: String,
    /// The output descriptor with checksum, e.g. `wsh(sortedmulti(2,…))#…`.
    pub descriptor: String,
}

impl Registration {
    /// A new registration.
    pub fn new(name: impl Into<String>, descriptor: impl Into<String>) -> Self {
        Registration {
            name: name.into(),
            descriptor: descriptor.into(),
        }
    }
}

/// Why a keystore could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreOpenError {
    /// The file could not be read.
    #[error("cannot read the keystore file")]
    Read(#[source] io::Error),
    /// The file is larger than [`MAX_KEYSTORE_BYTES`].
    #[error("the file is larger than {MAX_KEYSTORE_BYTES} bytes, not a keystore")]
    TooLarge,
    /// Not an age file (or its header is unreadable).
    #[error("not an age-encrypted keystore (no valid age header)")]
    NotAge,
    /// An age file, but encrypted to keys rather than to a passphrase.
    #[error("the age file is not encrypted with a passphrase")]
    NotPassphraseEncrypted,
    /// The passphrase does not decrypt the file key. (A damaged scrypt
    /// stanza looks the same; age cannot tell them apart.)
    #[error("wrong keystore passphrase")]
    WrongPassphrase,
    /// The file demands more scrypt work than allowed.
    #[error("the keystore demands scrypt work factor 2^{required}, more than the allowed 2^{max}")]
    ExcessiveWork {
        /// log2 N the file asks for.
        required: u8,
        /// The cap in force ([`KeystoreOptions::max_work_factor`]).
        max: u8,
    },
    /// The passphrase was right but the rest of the file fails
    /// authentication: it was damaged or edited.
    #[error("the keystore is corrupted or was modified (authentication failed)")]
    Corrupted,
    /// The decrypted document is not valid JSON of the expected shape.
    /// Only the position is reported: the document holds the mnemonic.
    #[error("the decrypted keystore is not a valid document ({kind} error at line {line} column {column})")]
    Document {
        /// `syntax`, `data` or `eof`.
        kind: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A document version this code does not know.
    #[error("keystore document version {0} is not supported (this kinko reads version {KEYSTORE_VERSION})")]
    UnsupportedVersion(u32),
    /// The `language` field is not a known word list.
    #[error("the keystore names an unknown mnemonic language")]
    UnknownLanguage,
    /// The stored mnemonic is invalid.
    #[error("the keystore holds an invalid mnemonic")]
    Mnemonic(#[source] MnemonicError),
}

/// Why a keystore could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreWriteError {
    /// [`Keystore::create_file`] found a file at the path.
    #[error("{} already exists; kinko never overwrites a keystore", .0.display())]
    AlreadyExists(PathBuf),
    /// [`Keystore::replace_file`] found no keystore to replace.
    #[error("{} does not exist; nothing to replace", .0.display())]
    NotFound(PathBuf),
    /// The keystore passphrase is empty.
    #[error("the keystore passphrase is empty")]
    EmptyPassphrase,
    /// The options ask for a scrypt work factor below [`MIN_WORK_FACTOR`].
    #[error("refusing to write a keystore with a weak scrypt work factor")]
    WorkFactor(#[source] WorkFactorError),
    /// Reading, writing or syncing failed.
    #[error("cannot write the keystore file")]
    Io(#[source] io::Error),
    /// age refused to encrypt.
    #[error("age encryption failed")]
    Encrypt(#[source] age::EncryptError),
}

/// A decrypted keystore: the mnemonic, the BIP39 passphrase and the
/// registered wallets.
///
/// Secret; wiped on drop (each field wipes itself); prints `[redacted]`.
#[derive(Clone)]
pub struct Keystore {
    mnemonic: Mnemonic,
    bip39_passphrase: Passphrase,
    registrations: Vec<Registration>,
}

redacted_fmt!(Keystore);

/// The JSON document, borrowed for writing.
#[derive(Serialize)]
struct DocumentOut<'a> {
    version: u32,
    language: &'static str,
    mnemonic: &'a str,
    bip39_passphrase: &'a str,
    registrations: &'a [Registration],
}

/// The JSON document as read. Its secret strings are wiped on drop. (When a
/// string holds JSON escapes, serde_json unescapes it through a scratch buffer
/// kinko cannot wipe; the mnemonic never needs escapes.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentIn {
    version: u32,
    language: String,
    mnemonic: String,
    bip39_passphrase: String,
    registrations: Vec<Registration>,
}

impl Drop for DocumentIn {
    fn drop(&mut self) {
        self.mnemonic.zeroize();
        self.bip39_passphrase.zeroize();
    }
}

impl Keystore {
    /// A keystore for `mnemonic` with the given BIP39 passphrase (empty for
    /// none) and no registrations.
    pub fn new(mnemonic: Mnemonic, bip39_passphrase: Passphrase) -> Self {
        Keystore {
            mnemonic,
            bip39_passphrase,
            registrations: Vec::new(),
        }
    }

    /// The mnemonic.
    pub fn mnemonic(&self) -> &Mnemonic {
        &self.mnemonic
    }

    /// The BIP39 passphrase.
    pub fn bip39_passphrase(&self) -> &Passphrase {
        &self.bip39_passphrase
    }

    /// The registered wallets.
    pub fn registrations(&self) -> &[Registration] {
        &self.registrations
    }

    /// The registered wallets, to add or remove one (then
    /// [`Keystore::replace_file`]).
    pub fn registrations_mut(&mut self) -> &mut Vec<Registration> {
        &mut self.registrations
    }

    /// The BIP39 seed.
    pub fn seed(&self) -> Seed {
        self.mnemonic.to_seed(&self.bip39_passphrase)
    }

    /// The BIP32 master key for mainnet or the test networks.
    ///
    /// # Errors
    ///
    /// [`DeriveError::InvalidKey`] in BIP32's probability-2^-127 case.
    pub fn master_key(&self, network: impl Into<NetworkKind>) -> Result<SecretXpriv, DeriveError> {
        SecretXpriv::new_master(network, &self.seed())
    }

    /// The master key fingerprint (the same on every network).
    ///
    /// # Errors
    ///
    /// [`DeriveError::InvalidKey`] in BIP32's probability-2^-127 case.
    pub fn master_fingerprint<C: Signing>(
        &self,
        secp: &Secp256k1<C>,
    ) -> Result<Fingerprint, DeriveError> {
        Ok(self.master_key(NetworkKind::Main)?.fingerprint(secp))
    }

    /// The xpub at `path` with its origin, e.g. the BIP48 account key
    /// `[fp/48h/0h/0h/2h]xpub…` ([`KeyPath::bip48`]).
    ///
    /// # Errors
    ///
    /// [`DeriveError`] from the derivation.
    pub fn account_xpub<C: Signing>(
        &self,
        secp: &Secp256k1<C>,
        network: impl Into<NetworkKind>,
        path: &KeyPath,
    ) -> Result<OriginXpub, DeriveError> {
        let master = self.master_key(network)?;
        origin_xpub(secp, &master, path)
    }

    /// The age ciphertext of this keystore.
    ///
    /// # Errors
    ///
    /// [`KeystoreWriteError::EmptyPassphrase`],
    /// [`KeystoreWriteError::WorkFactor`], or age's error.
    pub fn encrypt(
        &self,
        passphrase: &Passphrase,
        options: &KeystoreOptions,
    ) -> Result<Vec<u8>, KeystoreWriteError> {
        if passphrase.is_empty() {
            return Err(KeystoreWriteError::EmptyPassphrase);
        }
        if options.work_factor < MIN_WORK_FACTOR {
            // Reachable through a low `with_max_work_factor` (meant for
            // reading hostile input cheaply); never write that weak a file.
            return Err(KeystoreWriteError::WorkFactor(WorkFactorError {
                value: options.work_factor,
                min: MIN_WORK_FACTOR,
                max: options.max_work_factor,
            }));
        }
        let plaintext = self.to_document_with_secret();
        let mut recipient = age::scrypt::Recipient::new(secret_string(passphrase));
        recipient.set_work_factor(options.work_factor);
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(KeystoreWriteError::Encrypt)?;
        let mut out = Vec::with_capacity(plaintext.len() + 256);
        let mut writer = encryptor
            .wrap_output(&mut out)
            .map_err(KeystoreWriteError::Io)?;
        writer
            .write_all(&plaintext)
            .map_err(KeystoreWriteError::Io)?;
        writer.finish().map_err(KeystoreWriteError::Io)?;
        Ok(out)
    }

    /// Decrypts and decodes an age keystore.
    ///
    /// # Errors
    ///
    /// [`KeystoreOpenError`]: wrong passphrase, corrupted file, excessive
    /// work factor and malformed document are distinct variants.
    pub fn decrypt(
        ciphertext: &[u8],
        passphrase: &Passphrase,
        options: &KeystoreOptions,
    ) -> Result<Keystore, KeystoreOpenError> {
        if ciphertext.len() as u64 > MAX_KEYSTORE_BYTES {
            return Err(KeystoreOpenError::TooLarge);
        }
        let decryptor = age::Decryptor::new_buffered(ciphertext).map_err(|_| {
            // With age's magic line the file is an age file whose header is
            // damaged; without it, something else entirely.
            if ciphertext.starts_with(AGE_MAGIC) {
                KeystoreOpenError::Corrupted
            } else {
                KeystoreOpenError::NotAge
            }
        })?;
        if !decryptor.is_scrypt() {
            return Err(KeystoreOpenError::NotPassphraseEncrypted);
        }
        let mut identity = age::scrypt::Identity::new(secret_string(passphrase));
        identity.set_max_work_factor(options.max_work_factor);
        let reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
                    KeystoreOpenError::WrongPassphrase
                }
                age::DecryptError::ExcessiveWork { required, .. } => {
                    KeystoreOpenError::ExcessiveWork {
                        required,
                        max: options.max_work_factor,
                    }
                }
                age::DecryptError::NoMatchingKeys => KeystoreOpenError::NotPassphraseEncrypted,
                _ => KeystoreOpenError::Corrupted,
            })?;
        let plaintext = read_to_end_zeroizing(reader, MAX_KEYSTORE_BYTES as usize)
            .map_err(|_| KeystoreOpenError::Corrupted)?;
        Self::from_document(&plaintext)
    }

    /// The plaintext JSON document (the format is in the [module
    /// documentation](self)), in a buffer wiped on drop. This is what the age
    /// file encrypts.
    pub fn to_document_with_secret(&self) -> Zeroizing<Vec<u8>> {
        let phrase = self.mnemonic.phrase_with_secret();
        let doc = DocumentOut {
            version: KEYSTORE_VERSION,
            language: self.mnemonic.language().as_str(),
            mnemonic: &phrase,
            bip39_passphrase: self.bip39_passphrase.expose_secret(),
            registrations: &self.registrations,
        };
        let mut plaintext = ZeroizingBuf::with_capacity(512);
        serde_json::to_writer_pretty(&mut plaintext, &doc)
            .expect("serializing strings and a vector of strings into memory cannot fail");
        plaintext
            .write_all(b"\n")
            .expect("writing to memory cannot fail");
        std::mem::take(&mut plaintext.0)
    }

    /// Decodes a plaintext JSON document, for example one decrypted with
    /// `age -d` by hand.
    ///
    /// # Errors
    ///
    /// [`KeystoreOpenError::Document`], [`KeystoreOpenError::UnsupportedVersion`],
    /// [`KeystoreOpenError::UnknownLanguage`] or [`KeystoreOpenError::Mnemonic`].
    pub fn from_document(plaintext: &[u8]) -> Result<Keystore, KeystoreOpenError> {
        let mut doc: DocumentIn = serde_json::from_slice(plaintext).map_err(|e| {
            use serde_json::error::Category;
            KeystoreOpenError::Document {
                kind: match e.classify() {
                    Category::Io => "io",
                    Category::Syntax => "syntax",
                    Category::Data => "data",
                    Category::Eof => "eof",
                },
                line: e.line(),
                column: e.column(),
            }
        })?;
        if doc.version != KEYSTORE_VERSION {
            return Err(KeystoreOpenError::UnsupportedVersion(doc.version));
        }
        let language: Language = doc
            .language
            .parse()
            .map_err(|_| KeystoreOpenError::UnknownLanguage)?;
        let mnemonic =
            Mnemonic::parse_in(&doc.mnemonic, language).map_err(KeystoreOpenError::Mnemonic)?;
        Ok(Keystore {
            mnemonic,
            bip39_passphrase: Passphrase::new(std::mem::take(&mut doc.bip39_passphrase)),
            registrations: std::mem::take(&mut doc.registrations),
        })
    }

    /// Writes a new keystore file at `path`; never overwrites.
    ///
    /// The ciphertext goes to a temporary file in the same directory (mode
    /// 0600 on Unix), which is fsynced, then hard-linked to `path` — the link
    /// fails if `path` exists, so nothing is ever overwritten — and the
    /// directory is fsynced. On file systems without hard links (FAT on a USB
    /// stick) the file is created with `O_EXCL` and written in place instead.
    ///
    /// # Errors
    ///
    /// [`KeystoreWriteError::AlreadyExists`] if anything exists at `path`;
    /// I/O and encryption errors.
    pub fn create_file(
        &self,
        path: &Path,
        passphrase: &Passphrase,
        options: &KeystoreOptions,
    ) -> Result<(), KeystoreWriteError> {
        if path.symlink_metadata().is_ok() {
            return Err(KeystoreWriteError::AlreadyExists(path.to_owned()));
        }
        let bytes = self.encrypt(passphrase, options)?;
        write_new_atomic(path, &bytes)
    }

    /// Atomically replaces the keystore at `path` (which must exist) with
    /// this one: temporary file, fsync, rename over, fsync the directory. A
    /// crash leaves either the old or the new file, never a mix.
    ///
    /// Use [`Keystore::update_file`] to make sure the caller knew the old
    /// file's passphrase.
    ///
    /// # Errors
    ///
    /// [`KeystoreWriteError::NotFound`] if there is no file at `path`; I/O and
    /// encryption errors.
    pub fn replace_file(
        &self,
        path: &Path,
        passphrase: &Passphrase,
        options: &KeystoreOptions,
    ) -> Result<(), KeystoreWriteError> {
        match path.metadata() {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(KeystoreWriteError::Io(io::Error::other(
                    "not a regular file",
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(KeystoreWriteError::NotFound(path.to_owned()))
            }
            Err(e) => return Err(KeystoreWriteError::Io(e)),
        }
        let bytes = self.encrypt(passphrase, options)?;
        let (tmp, _file) = write_temp(path, &bytes).map_err(KeystoreWriteError::Io)?;
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(KeystoreWriteError::Io(e));
        }
        sync_parent(path).map_err(KeystoreWriteError::Io)
    }

    /// Opens the keystore at `path`.
    ///
    /// # Errors
    ///
    /// See [`Keystore::decrypt`]; [`KeystoreOpenError::Read`] when the file
    /// cannot be read.
    pub fn open_file(
        path: &Path,
        passphrase: &Passphrase,
        options: &KeystoreOptions,
    ) -> Result<Keystore, KeystoreOpenError> {
        let file = File::open(path).map_err(KeystoreOpenError::Read)?;
        let mut bytes = Vec::new();
        file.take(MAX_KEYSTORE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(KeystoreOpenError::Read)?;
        Self::decrypt(&bytes, passphrase, options)
    }

    /// Opens the keystore at `path`, lets `edit` change it, and atomically
    /// replaces the file with the result (same passphrase, new salt).
    ///
    /// # Errors
    ///
    /// [`UpdateError`]: opening, the edit's own error, or writing.
    pub fn update_file<E>(
        path: &Path,
        passphrase: &Passphrase,
        options: &KeystoreOptions,
        edit: impl FnOnce(&mut Keystore) -> Result<(), E>,
    ) -> Result<Keystore, UpdateError<E>> {
        let mut ks = Self::open_file(path, passphrase, options).map_err(UpdateError::Open)?;
        edit(&mut ks).map_err(UpdateError::Edit)?;
        ks.replace_file(path, passphrase, options)
            .map_err(UpdateError::Write)?;
        Ok(ks)
    }
}

/// Why [`Keystore::update_file`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError<E> {
    /// The keystore could not be opened.
    #[error("cannot open the keystore")]
    Open(#[source] KeystoreOpenError),
    /// The edit refused.
    #[error("the keystore edit failed")]
    Edit(#[source] E),
    /// The new keystore could not be written.
    #[error("cannot write the keystore")]
    Write(#[source] KeystoreWriteError),
}

fn secret_string(p: &Passphrase) -> SecretString {
    SecretString::from(p.expose_secret().to_owned())
}

/// A growable byte buffer that wipes every buffer it abandons, and itself on
/// drop. Hand-written: `Zeroizing<Vec<u8>>` alone would leave the old
/// allocation unwiped each time the vector grows.
struct ZeroizingBuf(Zeroizing<Vec<u8>>);

impl ZeroizingBuf {
    fn with_capacity(n: usize) -> Self {
        ZeroizingBuf(Zeroizing::new(Vec::with_capacity(n)))
    }

    fn reserve_wiping(&mut self, additional: usize) {
        let needed = self.0.len().saturating_add(additional);
        if needed > self.0.capacity() {
            let mut grown = Zeroizing::new(Vec::with_capacity(needed.max(self.0.capacity() * 2)));
            grown.extend_from_slice(&self.0);
            // The old buffer is wiped when `grown` replaces it.
            self.0 = grown;
        }
    }
}

impl Write for ZeroizingBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.reserve_wiping(buf.len());
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads everything into a wiped buffer, failing past `limit` bytes.
fn read_to_end_zeroizing(mut r: impl Read, limit: usize) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut out = ZeroizingBuf::with_capacity(1024);
    let mut chunk = Zeroizing::new([0u8; 1024]);
    loop {
        let n = match r.read(&mut chunk[..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if out.0.len() + n > limit {
            return Err(io::Error::other("plaintext too large"));
        }
        out.write_all(&chunk[..n])?;
    }
    Ok(std::mem::take(&mut out.0))
}

/// Creates a uniquely named temporary file next to `dest`, writes `bytes`,
/// fsyncs it and returns its path (and the open file).
fn write_temp(dest: &Path, bytes: &[u8]) -> io::Result<(PathBuf, File)> {
    let dir = parent_dir(dest);
    let name = dest
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    for _ in 0..16 {
        let mut rnd = [0u8; 8];
        getrandom::getrandom(&mut rnd).map_err(io::Error::other)?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", u64::from_le_bytes(rnd)));
        let tmp = dir.join(tmp_name);
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = match opts.open(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        return Ok((tmp, file));
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "could not pick a temporary file name",
    ))
}

fn write_new_atomic(dest: &Path, bytes: &[u8]) -> Result<(), KeystoreWriteError> {
    let (tmp, file) = write_temp(dest, bytes).map_err(KeystoreWriteError::Io)?;
    drop(file);
    let linked = fs::hard_link(&tmp, dest);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => sync_parent(dest).map_err(KeystoreWriteError::Io),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(KeystoreWriteError::AlreadyExists(dest.to_owned()))
        }
        // No hard links here (FAT, some network file systems): create the
        // destination exclusively and write it in place.
        Err(_) => write_exclusive(dest, bytes),
    }
}

fn write_exclusive(dest: &Path, bytes: &[u8]) -> Result<(), KeystoreWriteError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = match opts.open(dest) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeystoreWriteError::AlreadyExists(dest.to_owned()))
        }
        Err(e) => return Err(KeystoreWriteError::Io(e)),
    };
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = fs::remove_file(dest);
        return Err(KeystoreWriteError::Io(e));
    }
    sync_parent(dest).map_err(KeystoreWriteError::Io)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes the directory entry durable (a no-op where directories cannot be
/// opened, such as Windows).
fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(parent_dir(path))?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnemonic::WordCount;

    fn fast() -> KeystoreOptions {
        KeystoreOptions::new()
            .with_work_factor(MIN_WORK_FACTOR)
            .unwrap()
    }

    fn sample() -> Keystore {
        Keystore::new(
            Mnemonic::generate(WordCount::W12, Language::English).unwrap(),
            Passphrase::from("TREZOR"),
        )
    }

    #[test]
    fn options_are_checked() {
        assert!(KeystoreOptions::new().with_work_factor(9).is_err());
        assert!(KeystoreOptions::new().with_work_factor(21).is_err());
        assert!(KeystoreOptions::new().with_max_work_factor(0).is_err());
        assert!(KeystoreOptions::new().with_max_work_factor(23).is_err());
        let o = KeystoreOptions::new().with_max_work_factor(4).unwrap();
        assert_eq!((o.work_factor(), o.max_work_factor()), (4, 4));
        let ks = sample();
        assert!(matches!(
            ks.encrypt(&Passphrase::from("pw"), &o),
            Err(KeystoreWriteError::WorkFactor(_))
        ));
    }

    #[test]
    fn round_trip_and_errors_in_memory() {
        let mut ks = sample();
        ks.registrations_mut()
            .push(Registration::new("cold", "wsh(sortedmulti(2,...))"));
        let pw = Passphrase::from("correct horse");
        let ct = ks.encrypt(&pw, &fast()).unwrap();
        let back = Keystore::decrypt(&ct, &pw, &fast()).unwrap();
        assert_eq!(back.mnemonic(), ks.mnemonic());
        assert_eq!(back.bip39_passphrase(), ks.bip39_passphrase());
        assert_eq!(back.registrations(), ks.registrations());

        let wrong = Keystore::decrypt(&ct, &Passphrase::from("wrong"), &fast()).unwrap_err();
        assert!(
            matches!(wrong, KeystoreOpenError::WrongPassphrase),
            "{wrong:?}"
        );

        let mut damaged = ct.clone();
        let last = damaged.len() - 5;
        damaged[last] ^= 1;
        let err = Keystore::decrypt(&damaged, &pw, &fast()).unwrap_err();
        assert!(matches!(err, KeystoreOpenError::Corrupted), "{err:?}");

        let capped = KeystoreOptions::new().with_max_work_factor(9).unwrap();
        let err = Keystore::decrypt(&ct, &pw, &capped).unwrap_err();
        assert!(
            matches!(
                err,
                KeystoreOpenError::ExcessiveWork {
                    required: 10,
                    max: 9
                }
            ),
            "{err:?}"
        );

        let err = Keystore::decrypt(b"not age", &pw, &fast()).unwrap_err();
        assert!(matches!(err, KeystoreOpenError::NotAge), "{err:?}");
        assert!(matches!(
            ks.encrypt(&Passphrase::empty(), &fast()),
            Err(KeystoreWriteError::EmptyPassphrase)
        ));
    }

    #[test]
    fn document_errors_do_not_echo_content() {
        let secret = "abandon abandon abandon";
        let doc = format!(
            r#"{{"version":1,"language":"english","mnemonic":{secret:?},"bip39_passphrase":5,"registrations":[]}}"#
        );
        let err = Keystore::from_document(doc.as_bytes()).unwrap_err();
        assert!(matches!(
            err,
            KeystoreOpenError::Document { kind: "data", .. }
        ));
        assert!(!err.to_string().contains("abandon"));
        let doc = format!(
            r#"{{"version":1,"language":"english","mnemonic":{secret:?},"bip39_passphrase":"","registrations":[]}}"#
        );
        let err = Keystore::from_document(doc.as_bytes()).unwrap_err();
        assert!(matches!(
            err,
            KeystoreOpenError::Mnemonic(MnemonicError::BadWordCount(3))
        ));
        let doc = r#"{"version":2,"language":"english","mnemonic":"","bip39_passphrase":"","registrations":[]}"#;
        assert!(matches!(
            Keystore::from_document(doc.as_bytes()),
            Err(KeystoreOpenError::UnsupportedVersion(2))
        ));
        let doc = r#"{"version":1,"language":"french","mnemonic":"","bip39_passphrase":"","registrations":[]}"#;
        assert!(matches!(
            Keystore::from_document(doc.as_bytes()),
            Err(KeystoreOpenError::UnknownLanguage)
        ));
    }

    #[test]
    fn files_are_created_once_and_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.age");
        let pw = Passphrase::from("pw");
        let ks = sample();
        ks.create_file(&path, &pw, &fast()).unwrap();
        let before = fs::read(&path).unwrap();
        let err = sample().create_file(&path, &pw, &fast()).unwrap_err();
        assert!(matches!(err, KeystoreWriteError::AlreadyExists(_)));
        assert_eq!(fs::read(&path).unwrap(), before, "untouched");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let updated = Keystore::update_file(&path, &pw, &fast(), |k| {
            k.registrations_mut().push(Registration::new("a", "b"));
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap();
        assert_eq!(updated.registrations().len(), 1);
        let reopened = Keystore::open_file(&path, &pw, &fast()).unwrap();
        assert_eq!(reopened.registrations(), updated.registrations());
        assert_eq!(reopened.mnemonic(), ks.mnemonic());

        let missing = dir.path().join("missing.age");
        assert!(matches!(
            ks.replace_file(&missing, &pw, &fast()),
            Err(KeystoreWriteError::NotFound(_))
        ));
        assert!(matches!(
            Keystore::update_file(&path, &Passphrase::from("bad"), &fast(), |_| Ok::<(), ()>(
                ()
            )),
            Err(UpdateError::Open(KeystoreOpenError::WrongPassphrase))
        ));
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("k.age")]);
    }

    #[test]
    fn zeroizing_buf_keeps_content_across_growth() {
        let mut b = ZeroizingBuf::with_capacity(1);
        for i in 0..1000u32 {
            b.write_all(&i.to_le_bytes()).unwrap();
        }
        assert_eq!(b.0.len(), 4000);
        let back = read_to_end_zeroizing(&b.0[..], 4000).unwrap();
        assert_eq!(&back[..], &b.0[..]);
        assert!(read_to_end_zeroizing(&b.0[..], 3999).is_err());
    }
}
