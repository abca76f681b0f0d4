//! Reading a file the user names, with a size cap: every binary of kinko
//! reads keystores, PSBTs, set-ups, policies and signed actions this way,
//! so a huge or endless file (`/dev/zero`) is refused rather than read.

use std::io::Read;
use std::path::Path;

/// Why [`read_capped`] did not return the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadCappedError {
    /// The file could not be opened or read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than the cap (nothing past the cap was read).
    #[error("{path} is larger than {cap} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// The cap.
        cap: usize,
    },
}

/// The bytes of `path`, refusing a file larger than `cap` bytes after
/// reading at most `cap + 1`.
///
/// # Errors
/// [`ReadCappedError`].
pub fn read_capped(path: &Path, cap: usize) -> Result<Vec<u8>, ReadCappedError> {
    let io = |source| ReadCappedError::Io {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    f.take(u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > cap {
        return Err(ReadCappedError::TooLarge {
            path: path.display().to_string(),
            cap,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_capped(&p, 5).unwrap(), b"12345");
        assert!(matches!(
            read_capped(&p, 4),
            Err(ReadCappedError::TooLarge { cap: 4, .. })
        ));
        assert!(matches!(
            read_capped(&dir.path().join("missing"), 4),
            Err(ReadCappedError::Io { .. })
        ));
    }
}
