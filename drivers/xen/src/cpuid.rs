//! Finding Xen through CPUID. Xen's leaves sit at 0x40000000 + 0x100·k (k = 0..=0x100): when Xen also
//! offers Viridian (Hyper-V) enlightenments to a Windows guest, Hyper-V's leaves take 0x40000000 and
//! Xen's move up, so a guest must scan rather than look at the first block only.
//!
//! A PV guest's plain CPUID is not intercepted; it must use Xen's forced-emulation prefix
//! (`ud2; .ascii "xen"; cpuid`), which [`PvCpuid`] does.

/// Executes CPUID.
pub trait Cpuid {
    /// `[eax, ebx, ecx, edx]` of `leaf` / `subleaf`.
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4];
}

/// The CPU's own CPUID instruction (HVM, PVH, or any x86_64 machine).
#[derive(Clone, Copy, Debug, Default)]
pub struct NativeCpuid;

#[cfg(target_arch = "x86_64")]
impl Cpuid for NativeCpuid {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        #[allow(unused_unsafe)] // `__cpuid_count` became safe in newer Rust releases.
        // SAFETY: CPUID exists on every x86_64 CPU and only reads.
        let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, subleaf) };
        [r.eax, r.ebx, r.ecx, r.edx]
    }
}

/// CPUID as Xen emulates it for a PV guest (the forced-emulation prefix).
#[derive(Clone, Copy, Debug)]
pub struct PvCpuid(());

impl PvCpuid {
    /// # Safety
    /// Must run in a Xen PV guest: elsewhere the prefix's `ud2` raises #UD.
    pub unsafe fn new() -> Self {
        Self(())
    }
}

#[cfg(target_arch = "x86_64")]
impl Cpuid for PvCpuid {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let (eax, ebx, ecx, edx): (u32, u32, u32, u32);
        // SAFETY: `new`'s contract puts us in a PV guest, where Xen traps the ud2, sees the "xen"
        // signature and emulates the CPUID that follows, then resumes after it. rbx is reserved by
        // LLVM, so it is saved in another register around the instruction.
        unsafe {
            core::arch::asm!(
                "mov {tmp:r}, rbx",
                "ud2",
                ".ascii \"xen\"",
                "cpuid",
                "xchg {tmp:r}, rbx",
                tmp = out(reg) ebx,
                inlateout("eax") leaf => eax,
                inlateout("ecx") subleaf => ecx,
                lateout("edx") edx,
            );
        }
        [eax, ebx, ecx, edx]
    }
}

/// First and last base of the scan, and its step.
pub const LEAF_FIRST: u32 = 0x4000_0000;
pub const LEAF_LAST: u32 = 0x4001_0000;
pub const LEAF_STEP: u32 = 0x100;

/// The signature in ebx, ecx, edx of Xen's first leaf.
pub const SIGNATURE: &[u8; 12] = b"XenVMMXenVMM";

/// What CPUID says about the Xen underneath.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenCpuid {
    /// Xen's first leaf (0x40000000 without Viridian, usually 0x40000100 with it).
    pub base: u32,
    /// The highest Xen leaf.
    pub max_leaf: u32,
    pub major: u16,
    pub minor: u16,
    /// Hypercall pages the guest would set up through [`Self::hypercall_msr`] (unused when calling
    /// directly).
    pub hypercall_pages: u32,
    pub hypercall_msr: u32,
}

/// The CPU vendor string of leaf 0 (ebx, edx, ecx).
pub fn vendor(c: &impl Cpuid) -> [u8; 12] {
    let [_, b, c2, d] = c.cpuid(0, 0);
    let mut v = [0; 12];
    v[..4].copy_from_slice(&b.to_le_bytes());
    v[4..8].copy_from_slice(&d.to_le_bytes());
    v[8..].copy_from_slice(&c2.to_le_bytes());
    v
}

/// Scans for Xen's leaves; `None` when not running on Xen.
pub fn detect(c: &impl Cpuid) -> Option<XenCpuid> {
    (LEAF_FIRST..=LEAF_LAST)
        .step_by(LEAF_STEP as usize)
        .find_map(|base| {
            let [max_leaf, b, c2, d] = c.cpuid(base, 0);
            let mut sig = [0; 12];
            sig[..4].copy_from_slice(&b.to_le_bytes());
            sig[4..8].copy_from_slice(&c2.to_le_bytes());
            sig[8..].copy_from_slice(&d.to_le_bytes());
            // Xen always has at least leaves base+1 (version) and base+2 (hypercall page).
            (&sig == SIGNATURE && max_leaf >= base + 2).then_some((base, max_leaf))
        })
        .map(|(base, max_leaf)| {
            let [version, ..] = c.cpuid(base + 1, 0);
            let [pages, msr, ..] = c.cpuid(base + 2, 0);
            XenCpuid {
                base,
                max_leaf,
                major: (version >> 16) as u16,
                minor: version as u16,
                hypercall_pages: pages,
                hypercall_msr: msr,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A CPU answering from a table, zeros elsewhere (as real CPUs do above their max leaf, roughly).
    struct Table(BTreeMap<u32, [u32; 4]>);

    impl Cpuid for Table {
        fn cpuid(&self, leaf: u32, _: u32) -> [u32; 4] {
            self.0.get(&leaf).copied().unwrap_or_default()
        }
    }

    fn sig(s: &[u8; 12]) -> [u32; 3] {
        let w = |i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap());
        [w(0), w(4), w(8)]
    }

    fn xen_at(base: u32, max: u32) -> Vec<(u32, [u32; 4])> {
        let [b, c, d] = sig(SIGNATURE);
        vec![
            (base, [max, b, c, d]),
            (base + 1, [4 << 16 | 17, 0, 0, 0]),
            (base + 2, [1, 0x4000_0000, 0, 0]),
        ]
    }

    use std::vec;
    use std::vec::Vec;

    #[test]
    fn finds_xen_at_the_first_base() {
        let t = Table(xen_at(0x4000_0000, 0x4000_0005).into_iter().collect());
        assert_eq!(
            detect(&t),
            Some(XenCpuid {
                base: 0x4000_0000,
                max_leaf: 0x4000_0005,
                major: 4,
                minor: 17,
                hypercall_pages: 1,
                hypercall_msr: 0x4000_0000,
            })
        );
    }

    #[test]
    fn finds_xen_behind_viridian() {
        let [b, c, d] = sig(b"Microsoft Hv");
        let mut t: BTreeMap<_, _> = xen_at(0x4000_0100, 0x4000_0105).into_iter().collect();
        t.insert(0x4000_0000, [0x4000_0006, b, c, d]);
        let found = detect(&Table(t)).unwrap();
        assert_eq!((found.base, found.major, found.minor), (0x4000_0100, 4, 17));
    }

    #[test]
    fn finds_xen_at_the_last_base_only_when_in_range() {
        let t = Table(xen_at(LEAF_LAST, LEAF_LAST + 2).into_iter().collect());
        assert_eq!(detect(&t).map(|x| x.base), Some(LEAF_LAST));
        let t = Table(
            xen_at(LEAF_LAST + 0x100, LEAF_LAST + 0x102)
                .into_iter()
                .collect(),
        );
        assert_eq!(detect(&t), None);
    }

    #[test]
    fn a_signature_without_its_leaves_or_another_hypervisor_is_not_xen() {
        let t = Table(xen_at(0x4000_0000, 0x4000_0001).into_iter().collect());
        assert_eq!(detect(&t), None);
        let [b, c, d] = sig(b"KVMKVMKVM\0\0\0");
        let t = Table(
            [(0x4000_0000, [0x4000_0001, b, c, d])]
                .into_iter()
                .collect(),
        );
        assert_eq!(detect(&t), None);
    }

    #[test]
    fn vendor_reads_ebx_edx_ecx() {
        let [b, c, d] = sig(b"GenuineIntel");
        // Leaf 0 returns the string in ebx, edx, ecx order.
        let t = Table([(0, [0x16, b, d, c])].into_iter().collect());
        assert_eq!(&vendor(&t), b"GenuineIntel");
    }
}
