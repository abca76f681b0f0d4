//! Reading and writing PSBT files: binary (BIP174) or base64 text.

use bitcoin::base64::engine::general_purpose::STANDARD;
use bitcoin::base64::Engine as _;
use bitcoin::psbt::Psbt;

/// Largest PSBT file read: 64 MiB (a 2,000-input PSBT with full previous
/// transactions is a few MiB). Caps the work a file can demand.
pub const MAX_PSBT_FILE: usize = 64 << 20;

/// The form a PSBT file was in; written back in the same form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsbtEncoding {
    /// Raw BIP174 bytes (`psbt\xff…`).
    Binary,
    /// Base64 text (`cHNidP8…`), as Bitcoin Core and Sparrow write it.
    Base64,
}

/// Why bytes are not a PSBT.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodePsbtError {
    /// Larger than [`MAX_PSBT_FILE`].
    #[error("psbt file larger than {MAX_PSBT_FILE} bytes")]
    TooLarge,
    /// Text that is not base64.
    #[error("psbt text is not valid base64")]
    Base64,
    /// Bytes that are not a valid BIP174 PSBT.
    #[error("invalid psbt")]
    Psbt(#[source] bitcoin::psbt::Error),
}

const MAGIC: &[u8] = b"psbt\xff";

/// Decodes a PSBT file's bytes, binary or base64 text (surrounding white
/// space allowed), and says which form it was in.
///
/// # Errors
///
/// [`DecodePsbtError`] for oversized, non-base64 or invalid input.
pub fn decode_psbt(bytes: &[u8]) -> Result<(Psbt, PsbtEncoding), DecodePsbtError> {
    if bytes.len() > MAX_PSBT_FILE {
        return Err(DecodePsbtError::TooLarge);
    }
    if bytes.starts_with(MAGIC) {
        let psbt = Psbt::deserialize(bytes).map_err(DecodePsbtError::Psbt)?;
        return Ok((psbt, PsbtEncoding::Binary));
    }
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let raw = STANDARD
        .decode(&text)
        .map_err(|_| DecodePsbtError::Base64)?;
    let psbt = Psbt::deserialize(&raw).map_err(DecodePsbtError::Psbt)?;
    Ok((psbt, PsbtEncoding::Base64))
}

/// Encodes a PSBT in `encoding` (base64 text ends with a newline).
pub fn encode_psbt(psbt: &Psbt, encoding: PsbtEncoding) -> Vec<u8> {
    match encoding {
        PsbtEncoding::Binary => psbt.serialize(),
        PsbtEncoding::Base64 => {
            let mut s = STANDARD.encode(psbt.serialize());
            s.push('\n');
            s.into_bytes()
        }
    }
}
