//! What a simulated disk is stored in: memory or a file.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use xenpv_abi::blkif::BLKIF_SECTOR_SIZE;

const SECTOR: u64 = BLKIF_SECTOR_SIZE as u64;

/// A backing store addressed in 512-byte sectors. Ranges are checked by the backend before they
/// get here.
pub trait Storage: Send {
    /// Size in 512-byte sectors.
    fn sectors(&self) -> u64;
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> io::Result<()>;
    fn write(&mut self, sector: u64, buf: &[u8]) -> io::Result<()>;
    /// Makes completed writes durable.
    fn flush(&mut self) -> io::Result<()>;
    /// Forgets the sectors' contents; they read back as zeros (also what a secure discard needs).
    fn discard(&mut self, sector: u64, sectors: u64) -> io::Result<()>;
}

/// A disk held in memory.
pub struct MemDisk {
    data: Vec<u8>,
    flushes: u64,
}

impl MemDisk {
    pub fn new(sectors: u64) -> Self {
        Self {
            data: vec![0; (sectors * SECTOR) as usize],
            flushes: 0,
        }
    }

    /// Grows or shrinks the disk (what an administrator's `lvresize` does under blkback).
    pub fn resize(&mut self, sectors: u64) {
        self.data.resize((sectors * SECTOR) as usize, 0);
    }

    /// Cache flushes seen so far.
    pub fn flushes(&self) -> u64 {
        self.flushes
    }

    fn range(&self, sector: u64, len: usize) -> io::Result<std::ops::Range<usize>> {
        let start = sector.checked_mul(SECTOR).map(|s| s as usize);
        match start.and_then(|s| Some(s..s.checked_add(len)?)) {
            Some(r) if r.end <= self.data.len() => Ok(r),
            _ => Err(io::Error::from(io::ErrorKind::InvalidInput)),
        }
    }
}

impl Storage for MemDisk {
    fn sectors(&self) -> u64 {
        self.data.len() as u64 / SECTOR
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> io::Result<()> {
        let r = self.range(sector, buf.len())?;
        buf.copy_from_slice(&self.data[r]);
        Ok(())
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> io::Result<()> {
        let r = self.range(sector, buf.len())?;
        self.data[r].copy_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flushes += 1;
        Ok(())
    }

    fn discard(&mut self, sector: u64, sectors: u64) -> io::Result<()> {
        let len = sectors
            .checked_mul(SECTOR)
            .ok_or(io::ErrorKind::InvalidInput)?;
        let r = self.range(sector, len as usize)?;
        self.data[r].fill(0);
        Ok(())
    }
}

/// A disk image in a file.
pub struct FileDisk {
    file: File,
    sectors: u64,
}

impl FileDisk {
    /// Opens (creating if needed) `path` with room for `sectors` sectors.
    pub fn create(path: &Path, sectors: u64) -> io::Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        file.set_len(sectors * SECTOR)?;
        Ok(Self { file, sectors })
    }
}

impl Storage for FileDisk {
    fn sectors(&self) -> u64 {
        self.sectors
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, sector * SECTOR)
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> io::Result<()> {
        self.file.write_all_at(buf, sector * SECTOR)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn discard(&mut self, sector: u64, sectors: u64) -> io::Result<()> {
        // Zeroes rather than punching a hole: portable, and a secure discard needs no more.
        let zeros = [0u8; 64 * 1024];
        let (mut at, end) = (sector * SECTOR, (sector + sectors) * SECTOR);
        while at < end {
            let n = (end - at).min(zeros.len() as u64) as usize;
            self.file.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(disk: &mut dyn Storage) {
        assert_eq!(disk.sectors(), 16);
        disk.write(3, &[7u8; 1024]).unwrap();
        let mut buf = [0u8; 1536];
        disk.read(2, &mut buf).unwrap();
        assert!(buf[..512].iter().all(|&b| b == 0));
        assert!(buf[512..].iter().all(|&b| b == 7));
        disk.discard(4, 1).unwrap();
        disk.read(3, &mut buf[..1024]).unwrap();
        assert!(buf[..512].iter().all(|&b| b == 7) && buf[512..1024].iter().all(|&b| b == 0));
        disk.flush().unwrap();
    }

    #[test]
    fn memory_and_file_disks_store_sectors() {
        round_trip(&mut MemDisk::new(16));
        let dir = std::env::temp_dir().join(format!("xenpv-blkback-{}", std::process::id()));
        round_trip(&mut FileDisk::create(&dir, 16).unwrap());
        std::fs::remove_file(dir).unwrap();
    }

    #[test]
    fn memory_disk_refuses_out_of_range() {
        let mut d = MemDisk::new(2);
        assert!(d.write(2, &[0; 512]).is_err());
        assert!(d.read(u64::MAX, &mut [0; 512]).is_err());
        assert!(d.discard(1, u64::MAX).is_err());
    }
}
