//! Where an index is read from: [`Source`], random-access bytes (a byte slice, or a
//! [`FileSource`] read with seeks). The mapped open reads through a slice over its mapping.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::encoding::corrupt;
use crate::error::{Error, Result};

/// Random-access bytes to read an index from: a file or a byte slice.
pub trait Source {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Fills `buf` with the bytes at `offset`; the range lies inside `len()`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let start = usize::try_from(offset).map_err(|_| corrupt("offset out of range"))?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or_else(|| corrupt(format!("read of {} bytes at offset {offset} is past the end", buf.len())))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A file opened for reading, with its length taken once at open.
pub struct FileSource {
    pub(crate) file: File,
    len: u64,
    path: String,
}

impl FileSource {
    /// Opens `path`. Anything but a regular file (a FIFO, device, socket or directory) is
    /// refused without blocking: the open itself is non-blocking, since opening a FIFO for
    /// reading would otherwise wait forever for a writer.
    pub fn open(path: &Path) -> Result<FileSource> {
        let shown = path.display().to_string();
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        let file = options.open(path).map_err(|e| Error::Io(format!("cannot open {shown}: {e}")))?;
        let meta = file.metadata().map_err(|e| Error::Io(format!("cannot stat {shown}: {e}")))?;
        if !meta.is_file() {
            return Err(Error::Io(format!("{shown} is not a regular file")));
        }
        // O_NONBLOCK means nothing to reads of a regular file; it is cleared all the same, so
        // the descriptor behaves as a plain open's would.
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            let fd = file.as_raw_fd();
            // SAFETY: fcntl on a descriptor we own, with flag arguments only.
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                if flags >= 0 {
                    libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
                }
            }
        }
        Ok(FileSource { file, len: meta.len(), path: shown })
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(offset)).map_err(|e| Error::Io(format!("cannot seek in {}: {e}", self.path)))?;
        f.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                corrupt(format!("{} became shorter while it was read (at offset {offset})", self.path))
            }
            _ => Error::Io(format!("cannot read {}: {e}", self.path)),
        })
    }
}
