//! Small durable files in a partition dir: atomic whole-file writes (temp + fsync + rename + dir
//! fsync), the single-number checkpoints `recovery-point` and `log-start-offset`, and removing a
//! file that may already be gone.
//!
//! Knows nothing about what the numbers mean; PartitionLog decides when to write and how to react
//! to an unreadable file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::error::StorageError;

pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point";
pub(crate) const LOG_START_OFFSET_FILE: &str = "log-start-offset";
/// Suffix of half-written files; any left over from a crash are removed when a log opens.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// Replaces `path` with `contents` so that a crash leaves either the old or the new file whole.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(TMP_SUFFIX);
    let tmp = Path::new(&tmp_name);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    fs::rename(tmp, path)?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Makes renames, creations and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes `path`; a file that is already gone is not an error (open and cleaning remove
/// leftovers a crash may or may not have left).
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub(crate) fn write_offset(path: &Path, offset: i64) -> io::Result<()> {
    write_atomic(path, format!("{offset}\n").as_bytes())
}

/// `Ok(None)` when the file does not exist, `Corrupt` when it does not hold one decimal i64.
pub(crate) fn read_offset(path: &Path) -> Result<Option<i64>, StorageError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            return Err(StorageError::Corrupt(format!(
                "{}: not valid UTF-8",
                path.display()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    text.trim()
        .parse::<i64>()
        .map(Some)
        .map_err(|e| StorageError::Corrupt(format!("{}: {e} in {:?}", path.display(), text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_round_trip_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cp");
        assert_eq!(read_offset(&p).unwrap(), None);
        write_offset(&p, 42).unwrap();
        assert_eq!(read_offset(&p).unwrap(), Some(42));
        write_offset(&p, -1).unwrap();
        assert_eq!(read_offset(&p).unwrap(), Some(-1));
        fs::write(&p, "garbage").unwrap();
        assert!(matches!(read_offset(&p), Err(StorageError::Corrupt(_))));
    }
}
