//! Bodies written to files: streamed into `NAME.netkit-part` beside the final
//! name, then renamed to NAME once complete, so a file under its final name is
//! always whole.
//!
//! An interrupted transfer (Ctrl-C, a reset, a timeout) leaves its `.netkit-part`
//! file for `--resume` to continue; a body that can never be kept (over the size
//! limit, a write error) has its part removed.
//!
//! Speed: with many small files the kernel's side (creating, writing and renaming
//! files) is most of the work, so files are created and renamed relative to an
//! open handle on their directory (`openat`/`renameat`): no path walk from the
//! root per call, and no `mkdir` + `stat` per file for a directory already made
//! ([`DirCache`]). Measured on 10,000 files of 1-8 KiB from a local nginx into
//! tmpfs (fetcher on one CPU): 8.4 syscalls per URL down to 6.4, and 10-16%
//! less CPU per URL over three side-by-side runs.
//!
//! A small body (a known length of at most [`UNNAMED_MAX`]) going into a
//! directory this run created is written to an unnamed file (`O_TMPFILE`) and
//! linked under its final name when complete: one directory entry made instead
//! of two (create, then rename): 1-9% less CPU per URL on the same corpus over
//! five side-by-side runs, about 6% typically.
//! The guarantees stay: nothing appears under the final name before the body is
//! whole, and a transfer that ends early (Ctrl-C, a reset, a timeout) still
//! leaves its `.netkit-part` for `--resume`, linked when the transfer stops.
//! Only a crash loses such a part, which is at most [`UNNAMED_MAX`] bytes. In a
//! directory that existed before, a stale part of an earlier run may sit beside
//! the final name; the rename of a named part replaces it, so that path is used.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// What a partial download's name ends with.
pub const PART_SUFFIX: &str = ".netkit-part";

/// Where the partial download for `final_path` is kept.
pub fn part_path(final_path: &Path) -> PathBuf {
    let mut name = OsString::from(final_path.as_os_str());
    name.push(PART_SUFFIX);
    PathBuf::from(name)
}

/// Bytes already downloaded for `final_path` by an interrupted run (0 if none).
pub fn partial_len(final_path: &Path) -> u64 {
    fs::metadata(part_path(final_path)).map_or(0, |meta| meta.len())
}

/// Largest body (by its Content-Length) written to an unnamed file.
pub const UNNAMED_MAX: u64 = 64 << 10;

/// Set once unnamed files turn out not to work here (a file system without
/// `O_TMPFILE`, or no way to link one): named part files from then on.
static UNNAMED_UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// An open handle on a directory, to create and rename files in it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    /// No `.netkit-part` file can be in it: this run created it and has named
    /// no part file in it since.
    clean: AtomicBool,
}

impl Dir {
    /// Opens `path`, which must be a directory.
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, created: bool) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(path)?;
        Ok(Self {
            fd: OwnedFd::from(file),
            clean: AtomicBool::new(created),
        })
    }

    /// An unnamed file in this directory, for reading and writing.
    fn create_unnamed(&self) -> io::Result<File> {
        let flags = libc::O_RDWR | libc::O_TMPFILE | libc::O_CLOEXEC;
        // SAFETY: a valid C string and an open handle; the descriptor returned
        // is owned by the File.
        let fd = unsafe { libc::openat(self.fd.as_raw_fd(), c".".as_ptr(), flags, 0o666) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Gives the unnamed `file` the name `to`; fails with `AlreadyExists` if
    /// the name is taken.
    fn link(&self, file: &File, to: &CString) -> io::Result<()> {
        let dir = self.fd.as_raw_fd();
        // SAFETY: valid C strings and open descriptors.
        let linked = unsafe {
            libc::linkat(
                file.as_raw_fd(),
                c"".as_ptr(),
                dir,
                to.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        if linked == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ENOENT) {
            return Err(err);
        }
        // Before Linux 6.10 AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the way
        // open(2) documents for everyone else goes through /proc.
        let proc_path = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
        // SAFETY: as above.
        let linked = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc_path.as_ptr(),
                dir,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if linked != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Creates (or, with `append`, opens) `name` for writing.
    fn create(&self, name: &CString, append: bool) -> io::Result<File> {
        let mode = if append {
            libc::O_APPEND
        } else {
            libc::O_TRUNC
        };
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | mode;
        // SAFETY: `name` is a valid C string and the directory handle is open for
        // as long as `self` lives; the returned descriptor is owned by the File.
        let fd = unsafe { libc::openat(self.fd.as_raw_fd(), name.as_ptr(), flags, 0o666) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn rename(&self, from: &CString, to: &CString) -> io::Result<()> {
        let dir = self.fd.as_raw_fd();
        // SAFETY: both names are valid C strings; the handle is open.
        if unsafe { libc::renameat(dir, from.as_ptr(), dir, to.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn remove(&self, name: &CString) -> io::Result<()> {
        // SAFETY: `name` is a valid C string; the handle is open.
        if unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Directories with at most this many handles kept open; past it the cache
/// starts over (handles in use stay open until their files are done).
const MAX_OPEN_DIRS: usize = 64;

/// The directories already created, each with an open handle: a file in one of
/// them costs no `mkdir` (which fails with EEXIST) and no `stat`.
#[derive(Debug, Default)]
pub struct DirCache {
    /// By the path's bytes, which hash several times faster than a `Path`
    /// (component by component); paths here are all built the same way.
    open: Mutex<HashMap<OsString, Arc<Dir>>>,
}

impl DirCache {
    /// The handle on `dir`, creating the directory (and those above it) the
    /// first time.
    pub fn get(&self, dir: &Path) -> io::Result<Arc<Dir>> {
        if let Some(handle) = self.lock().get(dir.as_os_str()) {
            return Ok(handle.clone());
        }
        // Not under the lock: another task may create the same directory
        // meanwhile, which is harmless. A directory made here holds no part
        // file of an earlier run (it is "clean").
        let created = match fs::create_dir(dir) {
            Ok(()) => true,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => false,
            Err(_) => {
                fs::create_dir_all(dir)?;
                true
            }
        };
        let handle = Arc::new(Dir::open_with(dir, created)?);
        let mut open = self.lock();
        if open.len() >= MAX_OPEN_DIRS {
            open.clear();
        }
        open.insert(dir.as_os_str().to_owned(), handle.clone());
        Ok(handle)
    }

    /// Drops the handle on `dir` (it was removed under us).
    pub fn forget(&self, dir: &Path) {
        self.lock().remove(dir.as_os_str());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OsString, Arc<Dir>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A body being written under its temporary name, or unnamed.
#[derive(Debug)]
pub struct PartFile {
    file: File,
    dir: Arc<Dir>,
    part: CString,
    name: CString,
    /// Written to an unnamed file: if it is dropped before `publish` or
    /// `discard`, it is linked as the part file.
    unnamed: bool,
}

impl PartFile {
    /// Opens the part file for `final_path`, creating the directories above it;
    /// `append` keeps what an earlier attempt wrote, otherwise it starts empty.
    pub fn open(final_path: &Path, append: bool) -> io::Result<Self> {
        let dir = final_path.parent().unwrap_or(Path::new("."));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        fs::create_dir_all(dir)?;
        let name = final_path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        Self::open_in(Arc::new(Dir::open(dir)?), name, append)
    }

    /// Opens the part file for `name` in `dir`; `append` as for [`Self::open`].
    pub fn open_in(dir: Arc<Dir>, name: &OsStr, append: bool) -> io::Result<Self> {
        Self::open_sized(dir, name, append, None)
    }

    /// As [`Self::open_in`], for a body of `len` bytes if known: a small one
    /// in a clean directory is written unnamed (see the module's notes).
    pub fn open_sized(
        dir: Arc<Dir>,
        name: &OsStr,
        append: bool,
        len: Option<u64>,
    ) -> io::Result<Self> {
        let mut part = Vec::with_capacity(name.len() + PART_SUFFIX.len() + 1);
        part.extend_from_slice(name.as_bytes());
        part.extend_from_slice(PART_SUFFIX.as_bytes());
        let part = CString::new(part)?;
        let name = CString::new(name.as_bytes())?;
        let small = len.is_some_and(|len| len <= UNNAMED_MAX);
        if small && !append && dir.clean.load(Relaxed) && !UNNAMED_UNAVAILABLE.load(Relaxed) {
            match dir.create_unnamed() {
                Ok(file) => {
                    return Ok(Self {
                        file,
                        dir,
                        part,
                        name,
                        unnamed: true,
                    });
                }
                // Not supported by this file system (or failing): named parts
                // from now on, which work everywhere.
                Err(_) => UNNAMED_UNAVAILABLE.store(true, Relaxed),
            }
        }
        dir.clean.store(false, Relaxed);
        let file = dir.create(&part, append)?;
        Ok(Self {
            file,
            dir,
            part,
            name,
            unnamed: false,
        })
    }

    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk)
    }

    /// Gives the file its final name. Not synced to disk: the rename makes it
    /// appear whole to readers, and an fsync per file would cost more than the
    /// download of a small one.
    pub fn publish(mut self) -> io::Result<()> {
        if !self.unnamed {
            return self.dir.rename(&self.part, &self.name);
        }
        match self.dir.link(&self.file, &self.name) {
            Ok(()) => {
                self.unnamed = false;
                Ok(())
            }
            // Replacing a file must be atomic too: name the part, rename it.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                self.name_part()?;
                self.dir.rename(&self.part, &self.name)
            }
            // No way to link it: keep the body by copying it to a named part.
            Err(_) => {
                UNNAMED_UNAVAILABLE.store(true, Relaxed);
                self.name_part()?;
                self.dir.rename(&self.part, &self.name)
            }
        }
    }

    /// Removes the part file: what it holds can never be completed.
    pub fn discard(mut self) {
        if std::mem::take(&mut self.unnamed) {
            return; // Nothing named: closing the file frees it.
        }
        let _ = self.dir.remove(&self.part);
    }

    /// Gives an unnamed file its part name, replacing a stale part; it is then
    /// a named part file like any other.
    fn name_part(&mut self) -> io::Result<()> {
        self.unnamed = false;
        self.dir.clean.store(false, Relaxed);
        let linked = match self.dir.link(&self.file, &self.part) {
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                self.dir.remove(&self.part)?;
                self.dir.link(&self.file, &self.part)
            }
            linked => linked,
        };
        if linked.is_ok() {
            return Ok(());
        }
        // Linking is impossible here: copy what was written into a new part.
        let mut copy = self.dir.create(&self.part, false)?;
        let mut source = &self.file;
        io::Seek::seek(&mut source, io::SeekFrom::Start(0))?;
        io::copy(&mut source, &mut copy)?;
        self.file = copy;
        Ok(())
    }
}

impl Drop for PartFile {
    /// A transfer that stopped before its end (an error, a timeout, Ctrl-C)
    /// keeps what it wrote under the part name, for a retry or `--resume`.
    fn drop(&mut self) {
        if self.unnamed {
            let _ = self.name_part();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A directory the cache creates, so it is clean.
    fn fresh(root: &tempfile::TempDir) -> (DirCache, PathBuf, Arc<Dir>) {
        let cache = DirCache::default();
        let path = root.path().join("host/sub");
        let dir = cache.get(&path).unwrap();
        (cache, path, dir)
    }

    #[test]
    fn a_small_body_appears_only_whole_under_its_final_name() {
        let root = tempfile::tempdir().unwrap();
        let (_cache, path, dir) = fresh(&root);
        let mut part = PartFile::open_sized(dir, OsStr::new("a"), false, Some(5)).unwrap();
        part.write(b"hello").unwrap();
        assert!(names(&path).is_empty(), "nothing named before the end");
        part.publish().unwrap();
        assert_eq!(names(&path), ["a"]);
        assert_eq!(fs::read(path.join("a")).unwrap(), b"hello");
    }

    #[test]
    fn a_small_body_cut_short_keeps_its_part_for_resume() {
        let root = tempfile::tempdir().unwrap();
        let (_cache, path, dir) = fresh(&root);
        let mut part = PartFile::open_sized(dir.clone(), OsStr::new("a"), false, Some(9)).unwrap();
        part.write(b"hal").unwrap();
        drop(part); // as when a transfer fails or is cancelled
        assert_eq!(names(&path), ["a.netkit-part"]);
        assert_eq!(partial_len(&path.join("a")), 3);
        // --resume appends to it and publishes the whole.
        let mut part = PartFile::open_sized(dir, OsStr::new("a"), true, Some(6)).unwrap();
        part.write(b"f way").unwrap();
        part.publish().unwrap();
        assert_eq!(names(&path), ["a"]);
        assert_eq!(fs::read(path.join("a")).unwrap(), b"half way");
    }

    #[test]
    fn publishing_replaces_a_file_of_the_same_name() {
        let root = tempfile::tempdir().unwrap();
        let (_cache, path, dir) = fresh(&root);
        fs::write(path.join("a"), b"old").unwrap();
        let mut part = PartFile::open_sized(dir, OsStr::new("a"), false, Some(3)).unwrap();
        part.write(b"new").unwrap();
        part.publish().unwrap();
        assert_eq!(names(&path), ["a"]);
        assert_eq!(fs::read(path.join("a")).unwrap(), b"new");
    }

    #[test]
    fn in_a_directory_made_earlier_a_stale_part_is_replaced() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("host");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("a.netkit-part"), b"stale").unwrap();
        let cache = DirCache::default();
        let dir = cache.get(&path).unwrap();
        let mut part = PartFile::open_sized(dir, OsStr::new("a"), false, Some(3)).unwrap();
        part.write(b"new").unwrap();
        part.publish().unwrap();
        assert_eq!(names(&path), ["a"]);
        assert_eq!(fs::read(path.join("a")).unwrap(), b"new");
    }

    #[test]
    fn a_discarded_body_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let (_cache, path, dir) = fresh(&root);
        for len in [Some(3), None] {
            let mut part = PartFile::open_sized(dir.clone(), OsStr::new("a"), false, len).unwrap();
            part.write(b"big").unwrap();
            part.discard();
            assert!(names(&path).is_empty(), "{len:?}");
        }
    }

    #[test]
    fn a_removed_directory_is_noticed() {
        let root = tempfile::tempdir().unwrap();
        let (cache, path, dir) = fresh(&root);
        fs::remove_dir_all(root.path().join("host")).unwrap();
        let err = PartFile::open_sized(dir, OsStr::new("a"), false, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        cache.forget(&path);
        let part = PartFile::open_sized(cache.get(&path).unwrap(), OsStr::new("a"), false, None);
        part.unwrap().publish().unwrap();
        assert_eq!(names(&path), ["a"]);
    }
}
