//! Reading the small files a DSN names (CAFile). A DSN may name anything: a FIFO, which
//! would block an open or a read forever, `/dev/zero` or `/dev/urandom`, which never end,
//! or a huge file. Only a regular file of at most MAX_FILE_LEN bytes is read, and it is
//! opened non-blocking so that opening a FIFO cannot hang the host.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};

/// The most a file named by a key may hold: a CA bundle of a few hundred certificates
/// is well under this.
pub const MAX_FILE_LEN: u64 = 1024 * 1024;

/// Opens `path` for reading without blocking (O_NONBLOCK; O_NOCTTY so a terminal
/// cannot become the host's controlling one).
pub fn open_nonblocking(path: &str) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// The contents of the regular file `path`, refused when it is anything else or larger
/// than `MAX_FILE_LEN`.
pub fn read_small_regular_file(path: &str) -> io::Result<Vec<u8>> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "it is not a regular file"));
    }
    let too_big = || io::Error::new(io::ErrorKind::InvalidData, format!("it is larger than {MAX_FILE_LEN} bytes"));
    if meta.len() > MAX_FILE_LEN {
        return Err(too_big());
    }
    let mut contents = Vec::new();
    // Bounded even if the file grows while it is read.
    file.take(MAX_FILE_LEN + 1).read_to_end(&mut contents)?;
    if contents.len() as u64 > MAX_FILE_LEN {
        return Err(too_big());
    }
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("tf-files-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_small_regular_file_is_read_whole() {
        let path = temp("small");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(read_small_regular_file(path.to_str().unwrap()).unwrap(), b"abc");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn devices_that_never_end_are_refused_at_once() {
        for device in ["/dev/zero", "/dev/urandom", "/dev/null"] {
            let begun = Instant::now();
            let e = read_small_regular_file(device).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{device}: {e}");
            assert!(begun.elapsed() < Duration::from_secs(2));
        }
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let path = temp("big");
        std::fs::write(&path, vec![b'x'; MAX_FILE_LEN as usize + 1]).unwrap();
        let e = read_small_regular_file(path.to_str().unwrap()).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
        std::fs::remove_file(path).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_without_a_writer_neither_blocks_nor_is_read() {
        let path = temp("fifo");
        let status = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(status.success());
        let begun = Instant::now();
        let e = read_small_regular_file(path.to_str().unwrap()).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(begun.elapsed() < Duration::from_secs(2));
        std::fs::remove_file(path).unwrap();
    }
}
