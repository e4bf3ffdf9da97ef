//! A writer for the "newc" cpio format, the one the Linux kernel unpacks as an initramfs. Writing it
//! here (instead of staging a directory tree for `cpio -o`) keeps file modes and owners exact without
//! root-owned scratch trees, and lets an image be several archives concatenated: the kernel unpacks
//! them in order, later files replacing earlier ones.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

pub struct Writer<W: Write> {
    out: W,
    next_ino: u32,
    written: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Writer<W> {
        Writer {
            out,
            next_ino: 1,
            written: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self, align: u64) -> io::Result<()> {
        let n = (align - self.written % align) % align;
        self.put(&vec![0; n as usize])
    }

    /// One header and name; `path` is relative to the archive root ("bin/sh").
    fn header(&mut self, path: &str, mode: u32, size: u64) -> io::Result<()> {
        if path.is_empty() || path.starts_with('/') || path.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad cpio path {path:?}"),
            ));
        }
        let size = u32::try_from(size).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{path}: over 4 GiB"))
        })?;
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let name_size = path.len() as u32 + 1;
        // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
        let fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, name_size, 0];
        let mut h = String::from("070701");
        for f in fields {
            h.push_str(&format!("{f:08x}"));
        }
        self.put(h.as_bytes())?;
        self.put(path.as_bytes())?;
        self.put(&[0])?;
        self.pad(4)
    }

    pub fn dir(&mut self, path: &str, perm: u32) -> io::Result<()> {
        self.header(path, S_IFDIR | perm, 0)
    }

    pub fn data(&mut self, path: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        self.header(path, S_IFREG | perm, data.len() as u64)?;
        self.put(data)?;
        self.pad(4)
    }

    /// A regular file with the contents of `src` (symlinks followed).
    pub fn file(&mut self, path: &str, perm: u32, src: &Path) -> io::Result<()> {
        let mut f = File::open(src)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", src.display())))?;
        let len = f.metadata()?.len();
        self.header(path, S_IFREG | perm, len)?;
        let copied = io::copy(&mut f, &mut self.out)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} changed size while archived", src.display()),
            ));
        }
        self.written += copied;
        self.pad(4)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        self.header(path, S_IFLNK | 0o777, target.len() as u64)?;
        self.put(target.as_bytes())?;
        self.pad(4)
    }

    /// Writes the trailer and pads to 512 bytes, so another archive can follow; returns the size.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.header("TRAILER!!!", 0, 0)?;
        self.pad(512)?;
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// One entry as read back by a reader written from the newc format description (the kernel's
    /// initramfs unpacker is the real consumer; `vm smoke` covers that).
    #[derive(Debug, PartialEq)]
    struct Read {
        name: String,
        mode: u32,
        nlink: u32,
        data: Vec<u8>,
    }

    fn read_archive(mut b: &[u8]) -> (Vec<Read>, usize) {
        let start = b.len();
        let mut out = Vec::new();
        loop {
            let consumed = start - b.len();
            assert_eq!(consumed % 4, 0, "headers are 4-byte aligned");
            assert_eq!(&b[..6], b"070701", "newc magic at {consumed}");
            let field = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                    .unwrap()
            };
            let (mode, nlink, size, namesize) = (field(1), field(4), field(6), field(11));
            let name_end = 110 + namesize as usize;
            assert_eq!(b[name_end - 1], 0, "name is NUL-terminated");
            let name = String::from_utf8(b[110..name_end - 1].to_vec()).unwrap();
            let data_start = name_end.next_multiple_of(4);
            let data_end = data_start + size as usize;
            let data = b[data_start..data_end].to_vec();
            b = &b[data_end.next_multiple_of(4)..];
            if name == "TRAILER!!!" {
                return (out, start - b.len());
            }
            out.push(Read {
                name,
                mode,
                nlink,
                data,
            });
        }
    }

    #[test]
    fn entries_follow_the_newc_layout_and_archives_concatenate() {
        let dir = std::env::temp_dir().join(format!("xtask-cpio-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("src.bin");
        fs::write(&src, b"abcde").unwrap(); // odd sizes exercise the padding

        let mut first = Writer::new(Vec::new());
        first.dir("etc", 0o755).unwrap();
        first.data("etc/hello", 0o644, b"hi\n").unwrap();
        first.file("etc/tool", 0o755, &src).unwrap();
        first.symlink("etc/link", "hello").unwrap();
        let (mut bytes, size) = first.finish().unwrap();
        assert_eq!(size as usize, bytes.len());
        assert_eq!(bytes.len() % 512, 0, "padded so another archive can follow");
        let mut second = Writer::new(Vec::new());
        second.data("etc/hello", 0o600, b"replaced\n").unwrap();
        bytes.extend(second.finish().unwrap().0);

        let (entries, used) = read_archive(&bytes);
        let e = |name: &str, mode: u32, nlink: u32, data: &[u8]| Read {
            name: name.into(),
            mode,
            nlink,
            data: data.to_vec(),
        };
        assert_eq!(
            entries,
            vec![
                e("etc", 0o040755, 2, b""),
                e("etc/hello", 0o100644, 1, b"hi\n"),
                e("etc/tool", 0o100755, 1, b"abcde"),
                e("etc/link", 0o120777, 1, b"hello"),
            ]
        );
        // The second archive starts right after the first one's padding.
        let (rest, _) = read_archive(&bytes[used.next_multiple_of(512)..]);
        assert_eq!(rest, vec![e("etc/hello", 0o100600, 1, b"replaced\n")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_paths_are_refused() {
        let mut w = Writer::new(Vec::new());
        assert!(w.data("/abs", 0o644, b"").is_err());
        assert!(w.data("", 0o644, b"").is_err());
        assert!(w.file("x", 0o644, Path::new("/nonexistent/file")).is_err());
    }
}
