//! Data patterns for verifying a disk end to end (like fio's `--verify`): every 512-byte sector
//! written carries its own sector number and the write's seed, followed by bytes derived from both,
//! so a read that returns the wrong sector, a stale write, or torn data is told apart.

use xenpv_abi::blkif::BLKIF_SECTOR_SIZE;

/// A sector read back that is not what was written there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The sector that was checked.
    pub sector: u64,
    /// The sector number found in it.
    pub found_sector: u64,
    /// The seed found in it (a stale write shows an older seed).
    pub found_seed: u64,
    /// Whether the header matched but the body did not (torn or corrupted data).
    pub body: bool,
}

/// splitmix64: a cheap, well-mixed stream for the sector body.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn body_word(sector: u64, seed: u64, i: usize) -> u64 {
    mix(sector ^ seed.rotate_left(32) ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407))
}

/// Fills `buf` (a whole number of sectors) with the pattern of `seed` for sectors from `sector`.
pub fn fill(buf: &mut [u8], sector: u64, seed: u64) {
    for (n, s) in buf.chunks_exact_mut(BLKIF_SECTOR_SIZE).enumerate() {
        let sector = sector + n as u64;
        s[..8].copy_from_slice(&sector.to_le_bytes());
        s[8..16].copy_from_slice(&seed.to_le_bytes());
        for (i, w) in s[16..].chunks_exact_mut(8).enumerate() {
            w.copy_from_slice(&body_word(sector, seed, i).to_le_bytes());
        }
    }
}

/// Checks `buf` against the pattern of `seed` from `sector`; the first bad sector is reported.
pub fn check(buf: &[u8], sector: u64, seed: u64) -> Result<(), Mismatch> {
    for (n, s) in buf.chunks_exact(BLKIF_SECTOR_SIZE).enumerate() {
        let sector = sector + n as u64;
        let word = |at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
        let (found_sector, found_seed) = (word(0), word(8));
        let header_ok = found_sector == sector && found_seed == seed;
        let body_ok = header_ok
            && s[16..]
                .chunks_exact(8)
                .enumerate()
                .all(|(i, w)| w == body_word(sector, seed, i).to_le_bytes());
        if !body_ok {
            return Err(Mismatch {
                sector,
                found_sector,
                found_seed,
                body: header_ok,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn a_pattern_checks_only_where_and_as_written() {
        let mut buf = vec![0u8; 4 * 512];
        fill(&mut buf, 100, 7);
        assert_eq!(check(&buf, 100, 7), Ok(()));
        let e = check(&buf, 101, 7).unwrap_err();
        assert_eq!(
            (e.sector, e.found_sector, e.body),
            (101, 100, false),
            "shifted by a sector"
        );
        let e = check(&buf, 100, 8).unwrap_err();
        assert_eq!((e.found_seed, e.body), (7, false), "a stale write");
        buf[3 * 512 + 300] ^= 1;
        let e = check(&buf, 100, 7).unwrap_err();
        assert_eq!(
            (e.sector, e.body),
            (103, true),
            "torn data in the last sector"
        );
    }
}
