//! A body held for printing: in memory while small, in an unnamed temporary file
//! once it grows, so a large response never sits whole in memory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;

/// Bodies up to this size stay in memory. With `-j 64` that bounds the spooled
/// bytes in memory to 16 MiB; bigger bodies go to a temporary file.
const MEMORY_LIMIT: usize = 256 << 10;

#[derive(Debug, Default)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    len: u64,
}

impl Spool {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.file.is_none() && self.memory.len() + chunk.len() > MEMORY_LIMIT {
            let mut file = unnamed_temp_file()?;
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write_all(chunk)?,
            None => self.memory.extend_from_slice(chunk),
        }
        self.len += chunk.len() as u64;
        Ok(())
    }

    /// Forgets what was written, for a new attempt.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether the body's last byte is a newline (empty bodies: false).
    pub fn ends_with_newline(&mut self) -> io::Result<bool> {
        match &mut self.file {
            None => Ok(self.memory.last() == Some(&b'\n')),
            Some(_) if self.len == 0 => Ok(false),
            Some(file) => {
                let mut last = [0];
                file.seek(SeekFrom::Start(self.len - 1))?;
                file.read_exact(&mut last)?;
                Ok(last[0] == b'\n')
            }
        }
    }

    /// Copies the whole body to `out`.
    pub fn copy_to(&mut self, out: &mut impl Write) -> io::Result<()> {
        match &mut self.file {
            None => out.write_all(&self.memory),
            Some(file) => {
                file.seek(SeekFrom::Start(0))?;
                io::copy(file, out).map(drop)
            }
        }
    }
}

/// A file in the temporary directory with no name (O_TMPFILE), so nothing is
/// left behind whatever happens to the process; where the file system does not
/// support that, a named file removed at once.
fn unnamed_temp_file() -> io::Result<File> {
    let dir = std::env::temp_dir();
    let unnamed = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(&dir);
    if let Ok(file) = unnamed {
        return Ok(file);
    }
    let path = dir.join(format!(
        ".netkit-spool-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_bodies_come_back_whole() {
        for size in [0, 10, MEMORY_LIMIT, MEMORY_LIMIT + 1, 3 * MEMORY_LIMIT + 7] {
            let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut spool = Spool::default();
            for chunk in body.chunks(10_000) {
                spool.write(chunk).unwrap();
            }
            assert_eq!(spool.len(), size as u64);
            let mut out = Vec::new();
            spool.copy_to(&mut out).unwrap();
            assert_eq!(out, body, "size {size}");
            assert_eq!(
                spool.ends_with_newline().unwrap(),
                body.last() == Some(&b'\n')
            );
        }
    }
}
