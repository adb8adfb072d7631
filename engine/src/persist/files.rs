//! The data directory: file names, and creating files so that a crash at
//! any moment leaves either the old state or the new one.
//!
//! ```text
//! DIR/LOCK                     held (flock) while a store has DIR open
//! DIR/snapshot-<gen>.snap      the store as it was when log <gen> began
//! DIR/log-<gen>.aof            records since then, in order
//! DIR/snapshot-<gen>.tmp       a snapshot being written (ignored, removed)
//! DIR/log-<gen>.aof.damaged    what `--repair` set aside
//! ```
//!
//! Generations are zero-padded to 20 digits so that names sort in order.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::format::{FileKind, file_header};

/// The log file being appended to: the flusher's, or recovery's to hand
/// over to it.
pub(crate) struct LogFile {
    pub(crate) file: File,
    pub(crate) generation: u64,
    /// Bytes of whole records (and header) in the file.
    pub(crate) len: u64,
}

/// The log file of a generation.
pub(crate) fn log_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("log-{generation:020}.aof"))
}

/// The snapshot file of a generation.
pub(crate) fn snapshot_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("snapshot-{generation:020}.snap"))
}

/// Where a snapshot is written before it is renamed into place.
pub(crate) fn snapshot_tmp_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("snapshot-{generation:020}.tmp"))
}

/// The generations of the snapshots and logs in `dir`, each sorted; and
/// the leftover temporary files.
pub(crate) struct Listing {
    pub(crate) snapshots: Vec<u64>,
    pub(crate) logs: Vec<u64>,
    pub(crate) temporary: Vec<PathBuf>,
}

pub(crate) fn list(dir: &Path) -> io::Result<Listing> {
    let mut listing = Listing {
        snapshots: Vec::new(),
        logs: Vec::new(),
        temporary: Vec::new(),
    };
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let generation = |prefix: &str, suffix: &str| {
            name.strip_prefix(prefix)?
                .strip_suffix(suffix)?
                .parse::<u64>()
                .ok()
        };
        if let Some(g) = generation("snapshot-", ".snap") {
            listing.snapshots.push(g);
        } else if let Some(g) = generation("log-", ".aof") {
            listing.logs.push(g);
        } else if generation("snapshot-", ".tmp").is_some() {
            listing.temporary.push(entry.path());
        }
    }
    listing.snapshots.sort_unstable();
    listing.logs.sort_unstable();
    Ok(listing)
}

/// Creates the log of a generation with its header; with `durable`, the
/// header and the directory entry are on disk before it returns.
pub(crate) fn create_log(dir: &Path, generation: u64, durable: bool) -> io::Result<LogFile> {
    let path = log_path(dir, generation);
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)?;
    let header = file_header(FileKind::Log, generation);
    file.write_all(&header)?;
    if durable {
        file.sync_all()?;
        sync_dir(dir)?;
    }
    Ok(LogFile {
        file,
        generation,
        len: header.len() as u64,
    })
}

/// Opens an existing log to append after its first `len` bytes (whatever
/// follows, a torn record, is cut off).
pub(crate) fn reopen_log(dir: &Path, generation: u64, len: u64) -> io::Result<LogFile> {
    let path = log_path(dir, generation);
    let file = OpenOptions::new().append(true).open(&path)?;
    if file.metadata()?.len() != len {
        file.set_len(len)?;
        file.sync_all()?;
    }
    Ok(LogFile {
        file,
        generation,
        len,
    })
}

/// Makes a directory's entries (created, renamed, removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Takes the directory's lock, so that two stores never write one
/// directory. Held until the returned file is dropped.
pub(crate) fn lock(dir: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "another sessiond has this data directory open",
        )),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}
