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
    use std::process::Command;

    #[test]
    fn gnu_cpio_extracts_what_we_write_even_when_concatenated() {
        let dir = std::env::temp_dir().join(format!("xtask-cpio-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("out")).unwrap();
        let src = dir.join("src.bin");
        fs::write(&src, b"abcde").unwrap(); // odd size: exercises padding

        let mut first = Writer::new(Vec::new());
        first.dir("etc", 0o755).unwrap();
        first.data("etc/hello", 0o644, b"hi\n").unwrap();
        first.file("etc/tool", 0o755, &src).unwrap();
        first.symlink("etc/link", "hello").unwrap();
        let (mut bytes, size) = first.finish().unwrap();
        assert_eq!(size as usize, bytes.len());
        assert_eq!(bytes.len() % 512, 0);
        let mut second = Writer::new(Vec::new());
        second.data("etc/hello", 0o600, b"replaced\n").unwrap();
        bytes.extend(second.finish().unwrap().0);
        let archive = dir.join("a.cpio");
        fs::write(&archive, &bytes).unwrap();

        // GNU cpio reads one archive per invocation, as the kernel reads one after another.
        let extract = || {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "cd {} && cpio -idmu --quiet < {}",
                    dir.join("out").display(),
                    archive.display()
                ))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        extract();
        let out = dir.join("out/etc");
        assert_eq!(fs::read(out.join("hello")).unwrap(), b"hi\n");
        assert_eq!(fs::read(out.join("tool")).unwrap(), b"abcde");
        assert_eq!(
            fs::read_link(out.join("link")).unwrap().to_str(),
            Some("hello")
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(out.join("tool")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);

        // The second archive starts right after the first one's 512-byte padding.
        fs::write(&archive, &bytes[size as usize..]).unwrap();
        extract();
        assert_eq!(fs::read(out.join("hello")).unwrap(), b"replaced\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_paths_are_refused() {
        let mut w = Writer::new(Vec::new());
        assert!(w.data("/abs", 0o644, b"").is_err());
        assert!(w.data("", 0o644, b"").is_err());
    }
}
