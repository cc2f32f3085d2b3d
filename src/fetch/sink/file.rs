//! Bodies written to files: streamed into `NAME.netkit-part` beside the final
//! name, then renamed to NAME once complete, so a file under its final name is
//! always whole.
//!
//! An interrupted transfer (Ctrl-C, a reset, a timeout) leaves its `.netkit-part`
//! file for `--resume` to continue; a body that can never be kept (over the size
//! limit, a write error) has its part removed.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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

/// A body being written under its temporary name.
#[derive(Debug)]
pub struct PartFile {
    file: File,
    part: PathBuf,
    final_path: PathBuf,
}

impl PartFile {
    /// Opens the part file for `final_path`, creating the directories above it;
    /// `append` keeps what an earlier attempt wrote, otherwise it starts empty.
    pub fn open(final_path: &Path, append: bool) -> io::Result<Self> {
        if let Some(dir) = final_path.parent() {
            fs::create_dir_all(dir)?;
        }
        let part = part_path(final_path);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&part)?;
        Ok(Self {
            file,
            part,
            final_path: final_path.to_path_buf(),
        })
    }

    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk)
    }

    /// Gives the file its final name. Not synced to disk: the rename makes it
    /// appear whole to readers, and an fsync per file would cost more than the
    /// download of a small one.
    pub fn publish(self) -> io::Result<()> {
        drop(self.file);
        fs::rename(&self.part, &self.final_path)
    }

    /// Removes the part file: what it holds can never be completed.
    pub fn discard(self) {
        drop(self.file);
        let _ = fs::remove_file(&self.part);
    }
}
