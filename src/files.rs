//! Reading the files a user names, bounded: each kind of file has a size
//! cap, and wprof checks what a path is before it opens it, so that a
//! FIFO, a device such as `/dev/zero`, a socket or a directory is refused
//! on one line instead of blocking or growing without end.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::units::fmt_bytes;

/// What a file is for: each has its own cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A module, binary or text (`--plugin`).
    Module,
    /// A precompiled module (`--precompiled`, a `.cwasm`).
    Artifact,
    /// A plugin's input (`--input`), a command's `--stdin`, or an
    /// `--expect-stdout`/`--expect-stderr` file.
    Input,
    /// A run file (`compare`, `report`).
    Run,
}

impl Kind {
    /// The most bytes a file of this kind may hold.
    pub const fn cap(self) -> u64 {
        match self {
            // Larger than any module seen in the wild (sqlite is ~1.5 MB,
            // the largest Sightglass benchmark ~30 MB).
            Kind::Module => 512 << 20,
            // Compiled code is several times the module.
            Kind::Artifact => 2 << 30,
            Kind::Input => 1 << 30,
            // A run keeps at most 1000 samples a phase: even a cold-start
            // ladder of every rung and plugin is a few MB.
            Kind::Run => 256 << 20,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Module => "a module",
            Kind::Artifact => "a precompiled module",
            Kind::Input => "an input",
            Kind::Run => "a run file",
        }
    }
}

/// Refuses `path` unless it is a regular file (after links) of at most
/// `kind`'s cap; the error is a cause on one line, naming the path (the
/// caller adds the plugin and phase). Returns its size.
pub fn check(path: &Path, kind: Kind) -> Result<u64, String> {
    // stat never blocks, where open() on a FIFO waits for a writer.
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    refuse_special(path, &meta.file_type())?;
    let size = meta.len();
    if size > kind.cap() {
        return Err(too_large(path, kind, size));
    }
    Ok(size)
}

/// Reads `path` whole, after [`check`]; a file that grows past the cap
/// while it is read is refused all the same.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, String> {
    let size = check(path, kind)?;
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    // O_NONBLOCK: should the path have become a FIFO since the check, open
    // returns at once instead of waiting for a writer.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(cannot)?;
    refuse_special(path, &file.metadata().map_err(cannot)?.file_type())?;
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(kind.cap() + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > kind.cap() {
        return Err(too_large(path, kind, bytes.len() as u64));
    }
    Ok(bytes)
}

/// A [`read`] error said of an input: `cannot read input <path>: ...`.
pub fn as_input(e: String) -> String {
    match e.strip_prefix("cannot read ") {
        Some(rest) => format!("cannot read input {rest}"),
        None => format!("input {e}"),
    }
}

/// [`read`], as UTF-8 text.
pub fn read_text(path: &Path, kind: Kind) -> Result<String, String> {
    String::from_utf8(read(path, kind)?)
        .map_err(|e| format!("{} is not UTF-8 text: {e}", path.display()))
}

fn refuse_special(path: &Path, t: &std::fs::FileType) -> Result<(), String> {
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(format!(
        "{} is {what}, not a regular file: wprof reads only regular files",
        path.display()
    ))
}

fn too_large(path: &Path, kind: Kind, size: u64) -> String {
    format!(
        "{} is {}, over the {} wprof reads as {}",
        path.display(),
        fmt_bytes(size as f64),
        fmt_bytes(kind.cap() as f64),
        kind.what()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_directories_and_fifos_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(Path::new("/dev/zero"), Kind::Run).unwrap_err();
        assert!(e.contains("is a character device"), "{e}");
        let e = read(dir.path(), Kind::Module).unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
        let fifo = dir.path().join("p");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo, Kind::Input).unwrap_err();
        assert!(e.contains("is a FIFO"), "{e}");
    }

    #[test]
    fn a_regular_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(read(&p, Kind::Input).unwrap(), b"abc");
        assert_eq!(read_text(&p, Kind::Input).unwrap(), "abc");
    }
}
