//! A run's files, written as one set: every file is staged beside its
//! destination first (`.wprof-<pid>-<n>-<name>`), then all are renamed into
//! place together, with signals held off for those few microseconds, and the
//! previous run's files that the new set does not replace are removed. So a
//! reader sees the old set or the new one, never a mix; a failed write
//! leaves the old set as it was and names what was and was not written.
//!
//! Staged files get the user's umask (they are created as any file is).
//! Ones left by a process that died before committing (SIGKILL) are removed
//! by the next run that writes into the same directory.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Prefix of every staged file.
const PREFIX: &str = ".wprof-";

/// Files staged for one commit.
#[derive(Debug)]
pub struct OutputSet {
    /// (staged file, destination), in the order they were staged.
    staged: Vec<(PathBuf, PathBuf)>,
    /// Destinations whose old file goes if this set does not replace it.
    stale: Vec<PathBuf>,
    /// Files the run read: no output may be one of them.
    inputs: Vec<PathBuf>,
    /// Directories this set created, removed again if it is not committed.
    created: Vec<PathBuf>,
    /// Staged so far, for unique names.
    count: usize,
}

impl OutputSet {
    /// An empty set for a run that read `inputs`.
    pub fn new(inputs: Vec<PathBuf>) -> Self {
        OutputSet {
            staged: Vec::new(),
            stale: Vec::new(),
            inputs,
            created: Vec::new(),
            count: 0,
        }
    }

    /// Stages `dest`, written by `f`. Nothing appears at `dest` until
    /// [`OutputSet::commit`].
    pub fn stage(
        &mut self,
        dest: &Path,
        f: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
    ) -> Result<(), Error> {
        let tmp = self.reserve(dest)?;
        let fail = |cause: String| Error::Output {
            path: dest.to_owned(),
            cause,
        };
        let file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| fail(e.to_string()))?;
        self.staged.push((tmp, dest.to_owned()));
        let mut w = std::io::BufWriter::new(file);
        f(&mut w).map_err(|e| fail(format!("{e:#}")))?;
        w.flush().map_err(|e| fail(e.to_string()))?;
        Ok(())
    }

    /// A staging path for `dest`, for a file written by someone else (a
    /// child process); [`OutputSet::adopt`] then takes it into the set.
    pub fn reserve(&mut self, dest: &Path) -> Result<PathBuf, Error> {
        self.refuse_input(dest)?;
        let dir = parent(dest);
        self.create_dir(dir)?;
        sweep(dir);
        self.count += 1;
        let name = dest
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        Ok(dir.join(format!(
            "{PREFIX}{}-{}-{name}",
            std::process::id(),
            self.count
        )))
    }

    /// Takes a file already written at `tmp` (from [`OutputSet::reserve`])
    /// into the set as `dest`.
    pub fn adopt(&mut self, tmp: PathBuf, dest: &Path) {
        self.staged.push((tmp, dest.to_owned()));
    }

    /// Marks `dest`, a file of the previous run of the same name, for
    /// removal on commit unless the new set writes it.
    pub fn replaces(&mut self, dest: PathBuf) {
        self.stale.push(dest);
    }

    /// Moves every staged file into place and removes the old set's files
    /// it does not replace; returns the paths written.
    pub fn commit(mut self) -> Result<Vec<PathBuf>, Error> {
        // What would stop a rename half-way is found before the first one:
        // a directory where a file goes.
        if let Some((_, dest)) = self.staged.iter().find(|(_, d)| d.is_dir()) {
            let all: Vec<String> = self
                .staged
                .iter()
                .map(|(_, d)| d.display().to_string())
                .collect();
            return Err(Error::Output {
                path: dest.clone(),
                cause: format!(
                    "it is a directory; nothing was written (not written: {})",
                    all.join(", ")
                ),
            });
        }
        let _held = crate::interrupt::hold();
        let mut done = Vec::new();
        let staged = std::mem::take(&mut self.staged);
        for (i, (tmp, dest)) in staged.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, dest) {
                // Rename in one directory fails only if the directory
                // changed under us; say exactly where it stopped.
                for (t, _) in &staged[i..] {
                    let _ = std::fs::remove_file(t);
                }
                let not: Vec<String> = staged[i..]
                    .iter()
                    .map(|(_, d)| d.display().to_string())
                    .collect();
                let was: Vec<String> = done
                    .iter()
                    .map(|d: &PathBuf| d.display().to_string())
                    .collect();
                return Err(Error::Output {
                    path: dest.clone(),
                    cause: format!(
                        "{e}; written: {}; not written: {}",
                        if was.is_empty() {
                            "none".into()
                        } else {
                            was.join(", ")
                        },
                        not.join(", ")
                    ),
                });
            }
            done.push(dest.clone());
        }
        for old in &self.stale {
            if !done.contains(old) {
                let _ = std::fs::remove_file(old);
            }
        }
        self.created.clear();
        Ok(done)
    }

    /// Refuses to write over a file the run read.
    fn refuse_input(&self, dest: &Path) -> Result<(), Error> {
        let Ok(d) = std::fs::metadata(dest) else {
            return Ok(());
        };
        for input in &self.inputs {
            if let Ok(i) = std::fs::metadata(input)
                && (i.dev(), i.ino()) == (d.dev(), d.ino())
            {
                return Err(Error::Output {
                    path: dest.to_owned(),
                    cause: format!(
                        "it is one of the inputs ({}): choose another output",
                        input.display()
                    ),
                });
            }
        }
        Ok(())
    }

    fn create_dir(&mut self, dir: &Path) -> Result<(), Error> {
        let fail = |cause: String| Error::Output {
            path: dir.to_owned(),
            cause,
        };
        if dir.is_dir() {
            return Ok(());
        }
        if dir.exists() {
            return Err(fail("it is a file, not a directory".into()));
        }
        // Remember each level made, deepest last, to remove on failure.
        let mut missing = Vec::new();
        let mut d = Some(dir);
        while let Some(p) = d.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
            missing.push(p.to_owned());
            d = p.parent();
        }
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        missing.reverse();
        self.created.extend(missing);
        Ok(())
    }
}

impl Drop for OutputSet {
    /// A set never committed leaves nothing behind: not its staged files,
    /// not the directories it made.
    fn drop(&mut self) {
        for (tmp, _) in &self.staged {
            let _ = std::fs::remove_file(tmp);
        }
        for dir in self.created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Where `path` lies (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Removes staged files in `dir` left by processes that are gone (a run
/// killed before it committed), and by wprof versions before pids were in
/// the names once they are an hour old.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest
            .split('-')
            .next()
            .and_then(|p| p.parse::<libc::pid_t>().ok());
        let gone = match pid {
            // SAFETY: kill with signal 0 sends nothing; it only checks.
            Some(pid) => {
                pid != std::process::id() as libc::pid_t
                    && unsafe { libc::kill(pid, 0) } == -1
                    && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
            }
            None => e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 3600),
        };
        if gone {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Checks before a run that `dir` can take its files, creating nothing: it
/// is a directory, or can be made in the nearest one that exists, and that
/// one is writable.
pub fn check_dir(dir: &Path) -> Result<(), Error> {
    let fail = |cause: String| Error::Output {
        path: dir.to_owned(),
        cause,
    };
    let mut d = dir;
    loop {
        match std::fs::metadata(d) {
            Ok(m) if m.is_dir() => break,
            Ok(_) if d == dir => return Err(fail("it is a file, not a directory".into())),
            Ok(_) => return Err(fail(format!("{} is a file, not a directory", d.display()))),
            Err(_) => match d.parent() {
                Some(p) if !p.as_os_str().is_empty() => d = p,
                _ => {
                    d = Path::new(".");
                    break;
                }
            },
        }
    }
    let c = std::ffi::CString::new(d.as_os_str().as_encoded_bytes())
        .map_err(|_| fail("the path holds a NUL byte".into()))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(fail(format!(
            "{} is not writable: {}",
            d.display(),
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}
