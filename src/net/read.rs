//! Reading without a buffer per connection: each worker thread owns one read
//! buffer that connections borrow for the duration of a read, and a TCP read that
//! saves the `EAGAIN` round trip.
//!
//! An idle connection then holds no read buffer at all; only the bytes a
//! connection could not consume at once (an unfinished line, an echo a full socket
//! did not take) are copied into memory of its own.
//!
//! tokio keeps a socket marked readable until a read fails with `WouldBlock`, so
//! the usual read loop pays one extra system call per wake-up only to learn that the
//! socket is empty. A read that returns less than the buffer holds has already
//! emptied the socket's queue, so we can clear the readiness ourselves. This is safe
//! against races: tokio only clears it if no new readiness event arrived since the
//! read began, and new data always brings a new event.

use std::cell::RefCell;
use std::io;
use std::os::fd::AsRawFd;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Size of each worker thread's read buffer: the most one read takes.
pub const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Runs `read` with this thread's buffer of [`READ_CHUNK`] bytes. The buffer is
/// lent for this call only (a task may move to another thread between polls), so
/// `read` must copy out whatever it keeps, and must not call this again.
pub fn with_read_buffer<T>(read: impl FnOnce(&mut [u8]) -> T) -> T {
    READ_BUF.with_borrow_mut(|buf| read(buf))
}

/// Reads once into `buf` without waiting. `Ok(0)` is end of stream; `WouldBlock`
/// means nothing is queued.
pub fn read_draining(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let fd = stream.as_raw_fd();
    let capacity = buf.len();
    let mut got = 0;
    let result = stream.try_io(Interest::READABLE, || {
        // SAFETY: `buf` is valid for writes of `capacity` bytes for the whole call.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), capacity, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        got = n as usize;
        if got > 0 && got < capacity {
            // Short read: the queue is empty. Reporting WouldBlock makes tokio
            // clear the readiness; the bytes are returned below.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(got)
    });
    match result {
        Err(err) if err.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        other => other,
    }
}
