//! A verifying workload (fio `--verify` style) over a disk: writes carry patterns with their sector
//! numbers and a per-write seed; the expected seed of every block is remembered, so any read can be
//! checked, including across reconnects that replay writes.

use xenpv_abi::blkif::BLKIF_SECTOR_SIZE;
use xenpv_datapath::blkif::verify::{self, Mismatch};
use xenpv_datapath::blkif::BlockRequest;

/// Expected contents of a disk, block by block.
pub struct Verifier {
    block_sectors: u64,
    /// Seed of the last write of each block; 0 = never written (reads as zeros).
    seeds: Vec<u64>,
    next_seed: u64,
    rng: u64,
}

impl Verifier {
    /// Tracks `disk_sectors` sectors in blocks of `block_bytes` (a multiple of 512).
    pub fn new(disk_sectors: u64, block_bytes: usize, seed: u64) -> Self {
        let block_sectors = (block_bytes / BLKIF_SECTOR_SIZE) as u64;
        Self {
            block_sectors,
            seeds: vec![0; (disk_sectors / block_sectors) as usize],
            next_seed: 1,
            rng: seed | 1,
        }
    }

    /// Blocks tracked.
    pub fn blocks(&self) -> u64 {
        self.seeds.len() as u64
    }

    /// Sectors per block.
    pub fn block_sectors(&self) -> u64 {
        self.block_sectors
    }

    /// A pseudo-random block below `below` (xorshift64: reproducible from the seed).
    pub fn random_block(&mut self, below: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % below.max(1)
    }

    /// A write of `n` blocks from `block` with a fresh seed, into `buf` (resized to fit). The
    /// blocks are expected to hold it from now on: the caller must not have another write to them
    /// in flight and must treat a failed completion as a verification failure.
    pub fn write(
        &mut self,
        tag: u64,
        block: u64,
        n: u64,
        mut buf: Vec<u8>,
    ) -> BlockRequest<Vec<u8>> {
        let seed = self.next_seed;
        self.next_seed += 1;
        let sector = block * self.block_sectors;
        buf.resize((n * self.block_sectors) as usize * BLKIF_SECTOR_SIZE, 0);
        verify::fill(&mut buf, sector, seed);
        for b in block..block + n {
            self.seeds[b as usize] = seed;
        }
        BlockRequest::write(tag, sector, buf)
    }

    /// A read of `n` blocks from `block` into `buf` (resized to fit).
    pub fn read(&self, tag: u64, block: u64, n: u64, mut buf: Vec<u8>) -> BlockRequest<Vec<u8>> {
        buf.resize((n * self.block_sectors) as usize * BLKIF_SECTOR_SIZE, 0);
        BlockRequest::read(tag, block * self.block_sectors, buf)
    }

    /// Checks what a read from `sector` returned.
    pub fn check(&self, sector: u64, data: &[u8]) -> Result<(), Mismatch> {
        let sectors = (data.len() / BLKIF_SECTOR_SIZE) as u64;
        for s in sector..sector + sectors {
            let seed = self.seeds[(s / self.block_sectors) as usize];
            let at = (s - sector) as usize * BLKIF_SECTOR_SIZE;
            let one = &data[at..at + BLKIF_SECTOR_SIZE];
            if seed == 0 {
                if one.iter().any(|&b| b != 0) {
                    return Err(Mismatch {
                        sector: s,
                        found_sector: u64::from_le_bytes(one[..8].try_into().expect("8 bytes")),
                        found_seed: u64::from_le_bytes(one[8..16].try_into().expect("8 bytes")),
                        body: false,
                    });
                }
            } else {
                verify::check(one, s, seed)?;
            }
        }
        Ok(())
    }

    /// Writes done so far.
    pub fn writes(&self) -> u64 {
        self.next_seed - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked_against_the_last_write_of_each_block() {
        let mut v = Verifier::new(64, 4096, 9);
        assert_eq!(v.blocks(), 8);
        let w1 = v.write(1, 2, 2, Vec::new());
        let w2 = v.write(2, 3, 1, Vec::new());
        let mut disk = vec![0u8; 64 * 512];
        for w in [&w1, &w2] {
            let at = w.sector as usize * 512;
            disk[at..at + w.buf.len()].copy_from_slice(&w.buf);
        }
        assert_eq!(v.check(0, &disk), Ok(()));
        // A lost second write shows the first write's seed in block 3.
        let at = 16 * 512;
        let stale = w1.buf[4096..8192].to_vec();
        disk[at + 4096..at + 8192].copy_from_slice(&stale);
        let e = v.check(0, &disk).unwrap_err();
        assert_eq!((e.sector, e.found_seed), (24, 1));
        // Garbage where nothing was written.
        disk[0] = 1;
        assert_eq!(v.check(0, &disk[..512]).unwrap_err().sector, 0);
    }
}
