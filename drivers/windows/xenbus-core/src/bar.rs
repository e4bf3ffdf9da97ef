//! The platform PCI device's memory BAR is guest-physical space nobody else uses: XENBUS asks Xen
//! to put shared_info and the grant table frames there (XENMEM_add_to_physmap), page by page. Its
//! line interrupt is where Xen raises event upcalls.

use xenpv_abi::PAGE_SIZE;
use xenpv_wdm::resources::Resource;

/// What the start resources say about the platform device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformDevice {
    /// Its memory BAR, as the processor sees it (translated); on x86 that is also the guest
    /// physical address Xen is given.
    pub bar_start: u64,
    pub bar_length: u64,
    /// The GSI of its line interrupt: the bus-relative (raw) interrupt, for HVM_PARAM_CALLBACK_IRQ.
    pub gsi: u32,
}

/// Picks the first memory BAR and the first line interrupt from the start resources (raw and
/// translated lists, in the same order); `None` without either (the device cannot work).
pub fn platform_device(raw: &[Resource], translated: &[Resource]) -> Option<PlatformDevice> {
    let mut bar = None;
    let mut gsi = None;
    for (raw, translated) in raw.iter().zip(translated) {
        match (raw, translated) {
            (_, Resource::Memory { start, length }) if bar.is_none() => {
                bar = Some((*start, *length))
            }
            (
                Resource::Interrupt {
                    level,
                    message: false,
                    ..
                },
                _,
            ) if gsi.is_none() => gsi = Some(*level),
            _ => {}
        }
    }
    let (bar_start, bar_length) = bar?;
    Some(PlatformDevice {
        bar_start,
        bar_length,
        gsi: gsi?,
    })
}

/// Where each Xen page goes, as guest frame numbers inside the BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarPlan {
    /// The BAR's first frame.
    pub base_gfn: u64,
    /// shared_info's frame (the BAR's first page).
    pub shared_info_gfn: u64,
    /// The first grant table frame; the table's frames follow contiguously.
    pub grant_gfn: u64,
    /// Grant table frames placed.
    pub grant_frames: u32,
}

impl BarPlan {
    /// The guest frame of grant table frame `i`.
    pub fn grant_frame_gfn(&self, i: u32) -> u64 {
        self.grant_gfn + u64::from(i)
    }

    /// Byte offset in the BAR of grant table frame `i` (for the driver's mapping of the BAR).
    pub fn grant_frame_offset(&self, i: u32) -> usize {
        (self.grant_frame_gfn(i) - self.base_gfn) as usize * PAGE_SIZE
    }

    /// Bytes of the BAR in use, from its start.
    pub fn used_bytes(&self) -> usize {
        (1 + self.grant_frames as usize) * PAGE_SIZE
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarError {
    /// The BAR does not start on a page boundary.
    Misaligned(u64),
    /// Room for shared_info and fewer than `MIN_GRANT_FRAMES` grant frames.
    TooSmall(u64),
    /// Xen allows no grant frames at all.
    NoGrantFrames,
}

/// Fewer grant frames than this cannot carry even one device's rings and buffers.
pub const MIN_GRANT_FRAMES: u32 = 1;

/// Lays out a BAR of `length` bytes at physical address `start`: shared_info in the first page,
/// then as many grant frames as fit, at most `wanted` and at most Xen's `max_frames`.
pub fn plan(start: u64, length: u64, wanted: u32, max_frames: u32) -> Result<BarPlan, BarError> {
    if start % PAGE_SIZE as u64 != 0 {
        return Err(BarError::Misaligned(start));
    }
    let pages = length / PAGE_SIZE as u64;
    let room = pages.saturating_sub(1);
    let limit = wanted.min(max_frames);
    if limit == 0 {
        return Err(BarError::NoGrantFrames);
    }
    let frames = u32::try_from(room).unwrap_or(u32::MAX).min(limit);
    if frames < MIN_GRANT_FRAMES {
        return Err(BarError::TooSmall(length));
    }
    let base_gfn = start / PAGE_SIZE as u64;
    Ok(BarPlan {
        base_gfn,
        shared_info_gfn: base_gfn,
        grant_gfn: base_gfn + 1,
        grant_frames: frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_info_first_then_grant_frames_bounded_by_room_wish_and_xen() {
        // QEMU's platform device: a 16 MiB BAR.
        let p = plan(0xF100_0000, 16 << 20, 64, 32).unwrap();
        assert_eq!(p.shared_info_gfn, 0xF1000);
        assert_eq!(p.grant_gfn, 0xF1001);
        assert_eq!(p.grant_frames, 32, "Xen's max");
        assert_eq!(p.grant_frame_gfn(31), 0xF1020);
        assert_eq!(p.grant_frame_offset(0), PAGE_SIZE);
        assert_eq!(p.used_bytes(), 33 * PAGE_SIZE);
        assert_eq!(plan(0xF100_0000, 16 << 20, 8, 32).unwrap().grant_frames, 8);
        assert_eq!(
            plan(0xF100_0000, 5 * 4096, 64, 32).unwrap().grant_frames,
            4,
            "room"
        );
    }

    #[test]
    fn the_bar_and_the_line_interrupt_are_found_among_the_resources() {
        let line = |level| Resource::Interrupt {
            level,
            vector: level,
            affinity: 1,
            latched: false,
            message: false,
        };
        let raw = [
            Resource::Port {
                start: 0xc000,
                length: 0x100,
            },
            Resource::Memory {
                start: 0xf100_0000,
                length: 16 << 20,
            },
            line(28),
        ];
        let translated = [
            raw[0],
            raw[1],
            Resource::Interrupt {
                level: 9,
                vector: 0x81,
                affinity: 0xf,
                latched: false,
                message: false,
            },
        ];
        assert_eq!(
            platform_device(&raw, &translated),
            Some(PlatformDevice {
                bar_start: 0xf100_0000,
                bar_length: 16 << 20,
                gsi: 28,
            }),
            "the GSI is the raw interrupt, not the translated vector"
        );
        assert_eq!(
            platform_device(&raw[..2], &translated[..2]),
            None,
            "no interrupt"
        );
        assert_eq!(platform_device(&raw[2..], &translated[2..]), None, "no BAR");
        let msi = [Resource::Interrupt {
            level: 0,
            vector: 0x60,
            affinity: 1,
            latched: true,
            message: true,
        }];
        assert_eq!(
            platform_device(&[raw[1], msi[0]], &[raw[1], msi[0]]),
            None,
            "a message interrupt is not a line Xen can raise"
        );
    }

    #[test]
    fn bars_that_cannot_hold_the_layout() {
        assert_eq!(
            plan(0xF100_0800, 1 << 20, 8, 32),
            Err(BarError::Misaligned(0xF100_0800))
        );
        assert_eq!(
            plan(0xF100_0000, 4096, 8, 32),
            Err(BarError::TooSmall(4096))
        );
        assert_eq!(
            plan(0xF100_0000, 4095 + 4096, 8, 32),
            Err(BarError::TooSmall(8191))
        );
        assert_eq!(
            plan(0xF100_0000, 1 << 20, 8, 0),
            Err(BarError::NoGrantFrames)
        );
        assert_eq!(plan(0xF100_0000, !0xfff, 8, 32).unwrap().grant_frames, 8);
    }
}
