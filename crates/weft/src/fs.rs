//! Files for green threads: every operation runs on the [`blocking`](crate::blocking())
//! pool, so a slow disk parks only the calling green thread.
//!
//! Regular files are always "ready" to epoll, so a reactor cannot make their reads wait
//! without blocking; weft hands each file operation to a pool kernel thread instead (as
//! Go's runtime and tokio's `fs` do). The shapes follow `std::fs`. The data of a read or
//! write crosses to the pool thread in a buffer of its own (at most [`CHUNK`] bytes per
//! call; `read_exact`/`write_all` loop as usual), because the caller's buffer is
//! borrowed and the pool thread needs owned data.
//!
//! On a kernel thread every call simply runs there, as std's would.
//!
//! ```
//! use std::io::{Read, Write};
//!
//! let dir = std::env::temp_dir().join(format!("weft-fs-doc-{}", std::process::id()));
//! let path = dir.join("hello.txt");
//! let p = path.clone();
//! weft::spawn(move || -> std::io::Result<()> {
//!     weft::fs::create_dir_all(p.parent().unwrap())?;
//!     let mut f = weft::fs::File::create(&p)?; // each call parks this green thread only
//!     f.write_all(b"hello, world")?;
//!     let mut rest = String::new();
//!     weft::fs::File::open(&p)?.read_to_string(&mut rest)?;
//!     assert_eq!(rest, "hello, world");
//!     Ok(())
//! })
//! .join()
//! .unwrap()?;
//! assert_eq!(std::fs::read(&path)?, b"hello, world");
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::blocking;

/// The most bytes one `read` or `write` call moves (a larger buffer is served in part,
/// as `Read` and `Write` allow).
pub const CHUNK: usize = 1 << 20;

/// Reads a whole file, as [`std::fs::read`].
///
/// # Errors
///
/// As [`std::fs::read`].
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let p = path.as_ref().to_owned();
    blocking(move || std::fs::read(p))
}

/// Reads a whole file as UTF-8, as [`std::fs::read_to_string`].
///
/// # Errors
///
/// As [`std::fs::read_to_string`] (`InvalidData` when it is not UTF-8).
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let p = path.as_ref().to_owned();
    blocking(move || std::fs::read_to_string(p))
}

/// Writes a whole file, creating or truncating it, as [`std::fs::write`].
///
/// # Errors
///
/// As [`std::fs::write`].
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let p = path.as_ref().to_owned();
    let data = contents.as_ref().to_vec();
    blocking(move || std::fs::write(p, data))
}

/// A file's metadata, as [`std::fs::metadata`].
///
/// # Errors
///
/// As [`std::fs::metadata`].
pub fn metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    let p = path.as_ref().to_owned();
    blocking(move || std::fs::metadata(p))
}

/// Removes a file, as [`std::fs::remove_file`].
///
/// # Errors
///
/// As [`std::fs::remove_file`].
pub fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let p = path.as_ref().to_owned();
    blocking(move || std::fs::remove_file(p))
}

/// Creates a directory and its missing parents, as [`std::fs::create_dir_all`].
///
/// # Errors
///
/// As [`std::fs::create_dir_all`].
pub fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let p = path.as_ref().to_owned();
    blocking(move || std::fs::create_dir_all(p))
}

/// Renames a file or directory, as [`std::fs::rename`].
///
/// # Errors
///
/// As [`std::fs::rename`].
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (a, b) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    blocking(move || std::fs::rename(a, b))
}

/// Copies a file's contents and permissions, as [`std::fs::copy`]; the bytes copied.
///
/// # Errors
///
/// As [`std::fs::copy`].
pub fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (a, b) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    blocking(move || std::fs::copy(a, b))
}

/// An open file whose every operation runs on the blocking pool (see the module docs).
///
/// `Read`, `Write` and `Seek` are implemented for `File` and `&File`, as std's are; the
/// file position is the descriptor's, shared by every handle to it.
pub struct File {
    inner: Arc<std::fs::File>,
    path: Option<PathBuf>,
}

impl File {
    /// Opens a file for reading, as [`std::fs::File::open`].
    ///
    /// # Errors
    ///
    /// As std's (`NotFound`, `PermissionDenied`, ...).
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let p = path.as_ref().to_owned();
        let q = p.clone();
        let f = blocking(move || std::fs::File::open(q))?;
        Ok(File::with_path(f, Some(p)))
    }

    /// Creates (or truncates) a file for writing, as [`std::fs::File::create`].
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let p = path.as_ref().to_owned();
        let q = p.clone();
        let f = blocking(move || std::fs::File::create(q))?;
        Ok(File::with_path(f, Some(p)))
    }

    /// Opens a file with `options`, as [`std::fs::OpenOptions::open`].
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn open_with(path: impl AsRef<Path>, options: &std::fs::OpenOptions) -> io::Result<File> {
        let p = path.as_ref().to_owned();
        let (q, o) = (p.clone(), options.clone());
        let f = blocking(move || o.open(q))?;
        Ok(File::with_path(f, Some(p)))
    }

    /// Wraps an open std file.
    pub fn from_std(f: std::fs::File) -> File {
        File::with_path(f, None)
    }

    fn with_path(f: std::fs::File, path: Option<PathBuf>) -> File {
        File {
            inner: Arc::new(f),
            path,
        }
    }

    /// The file's metadata.
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.run(|f| f.metadata())
    }

    /// Flushes data and metadata to the device, as [`std::fs::File::sync_all`].
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn sync_all(&self) -> io::Result<()> {
        self.run(|f| f.sync_all())
    }

    /// Flushes data to the device, as [`std::fs::File::sync_data`].
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn sync_data(&self) -> io::Result<()> {
        self.run(|f| f.sync_data())
    }

    /// Truncates or extends the file, as [`std::fs::File::set_len`].
    ///
    /// # Errors
    ///
    /// As std's.
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        self.run(move |f| f.set_len(size))
    }

    /// Runs `op` on the file on the blocking pool.
    fn run<R: Send + 'static>(&self, op: impl FnOnce(&std::fs::File) -> R + Send + 'static) -> R {
        let f = self.inner.clone();
        blocking(move || op(&f))
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = buf.len().min(CHUNK);
        let (r, data) = self.run(move |mut f| {
            let mut data = vec![0u8; len];
            let r = f.read(&mut data);
            (r, data)
        });
        let n = r?;
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let (r, data) = self.run(|mut f| {
            let mut data = Vec::new();
            let r = f.read_to_end(&mut data);
            (r, data)
        });
        let n = data.len();
        buf.extend_from_slice(&data);
        r.map(|_| n)
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let data = buf[..buf.len().min(CHUNK)].to_vec();
        self.run(move |mut f| f.write(&data))
    }

    fn flush(&mut self) -> io::Result<()> {
        // std's `File` has no buffer of its own to flush.
        Ok(())
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.run(move |mut f| f.seek(pos))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

impl std::os::fd::AsRawFd for File {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("path", &self.path)
            .field("fd", &std::os::fd::AsRawFd::as_raw_fd(&*self.inner))
            .finish()
    }
}
