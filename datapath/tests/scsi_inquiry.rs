//! INQUIRY: standard data and VPD pages against the SPC-4 / SBC-3 layouts.

mod scsi_common;
use scsi_common::*;
use xenpv_datapath::scsi::Identity;

#[test]
fn standard_inquiry_as_windows_asks_for_it() {
    let d = disk(params());
    let r = data_in(&d, &[0x12, 0x00, 0x00, 0x00, 0x24, 0x00], 255);
    assert_eq!(r.len(), 36);
    assert_eq!(r[0], 0x00, "qualifier 0, direct access block device");
    assert_eq!(r[1] & 0x80, 0, "not removable");
    assert_eq!(r[2], 0x06, "SPC-4");
    assert_eq!(r[3] & 0x0F, 0x02, "response data format 2");
    assert_eq!(usize::from(r[4]), 36 - 5, "additional length");
    assert_eq!(r[7] & 0x02, 0x02, "CMDQUE");
    assert_eq!(&r[8..16], b"XENSRC  ");
    assert_eq!(&r[16..32], b"PVDISK          ");
    assert_eq!(&r[32..36], b"2.0 ");
}

#[test]
fn allocation_length_truncates_but_keeps_the_length_field() {
    let d = disk(params());
    let r = data_in(&d, &[0x12, 0, 0, 0, 5, 0], 255);
    assert_eq!(r, [0x00, 0x00, 0x06, 0x02, 31]);
    assert!(
        data_in(&d, &[0x12, 0, 0, 0, 0, 0], 255).is_empty(),
        "0 is not an error"
    );
    // A buffer smaller than the allocation length limits the transfer too.
    assert_eq!(data_in(&d, &[0x12, 0, 0, 0, 0x24, 0], 8).len(), 8);
    // The 16-bit allocation length of SPC-4 (bytes 3-4).
    assert_eq!(data_in(&d, &[0x12, 0, 0, 0x01, 0x00, 0], 1024).len(), 36);
}

#[test]
fn removable_and_cdrom_set_rmb() {
    for p in [
        Spec {
            removable: true,
            ..params()
        },
        Spec {
            cdrom: true,
            ..params()
        },
    ] {
        let r = data_in(&disk(p), &[0x12, 0, 0, 0, 0x24, 0], 36);
        assert_eq!(r[1] & 0x80, 0x80);
        assert_eq!(r[0], 0x00);
    }
}

#[test]
fn page_code_without_evpd_is_an_invalid_field() {
    let s = sense(no_data(
        &disk(params()),
        &[0x12, 0x00, 0x80, 0x00, 0xFF, 0x00],
    ));
    assert_eq!(key_asc(&s), INVALID_FIELD_IN_CDB);
    let f = s.to_fixed();
    assert_eq!(f[15], 0xC0, "SKSV, C/D = CDB, no bit pointer");
    assert_eq!(be16(&f[16..18]), 2, "field pointer: PAGE CODE");
}

#[test]
fn supported_vpd_pages() {
    let r = data_in(&disk(params()), &[0x12, 0x01, 0x00, 0x00, 0xFF, 0x00], 255);
    assert_eq!(&r[..4], &[0x00, 0x00, 0x00, 6]);
    assert_eq!(&r[4..], &[0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2]);
}

#[test]
fn unsupported_vpd_page() {
    for page in [0x01u8, 0x86, 0x89, 0xB3, 0xFF] {
        let s = sense(no_data(
            &disk(params()),
            &[0x12, 0x01, page, 0x00, 0xFF, 0x00],
        ));
        assert_eq!(key_asc(&s), INVALID_FIELD_IN_CDB, "page {page:#x}");
        assert_eq!(be16(&s.to_fixed()[16..18]), 2);
    }
}

#[test]
fn derived_serial_and_identification() {
    let d = disk(params());
    let r = data_in(&d, &[0x12, 0x01, 0x80, 0x00, 0xFF, 0x00], 255);
    assert_eq!(&r[..4], &[0x00, 0x80, 0x00, 5]);
    assert_eq!(&r[4..], b"51712");

    let r = data_in(&d, &[0x12, 0x01, 0x83, 0x00, 0xFF, 0x00], 255);
    assert_eq!(r[1], 0x83);
    assert_eq!(usize::from(be16(&r[2..4])), r.len() - 4);
    // One designation descriptor: code set ASCII, association LU, type T10 vendor ID.
    assert_eq!(r[4] & 0x0F, 0x2);
    assert_eq!(r[5] & 0x30, 0x00, "association: logical unit");
    assert_eq!(r[5] & 0x0F, 0x1, "T10 vendor ID based");
    assert_eq!(usize::from(r[7]), r.len() - 8);
    assert_eq!(&r[8..16], b"XENSRC  ", "T10 VENDOR IDENTIFICATION");
    assert_eq!(&r[16..], b"51712");
}

#[test]
fn backend_vpd_pages_are_served_with_our_peripheral_byte() {
    let mut id = Identity::derived(1);
    // As decoded from sm-data/scsi/0x12/0x80 of a physical LUN whose type byte is not ours.
    id.set_vpd_page(b"\x1f\x80\x00\x08ABCD1234").unwrap();
    let naa: [u8; 20] = [
        0x01, 0x03, 0x00, 0x10, 0x60, 0x00, 0xA0, 0xB8, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
    ];
    let mut p83 = vec![0x1f, 0x83, 0x00, naa.len() as u8];
    p83.extend_from_slice(&naa);
    id.set_vpd_page(&p83).unwrap();
    let d = disk_with(params(), id);
    assert_eq!(
        data_in(&d, &[0x12, 1, 0x80, 0, 0xFF, 0], 255),
        b"\x00\x80\x00\x08ABCD1234"
    );
    let r = data_in(&d, &[0x12, 1, 0x83, 0, 0xFF, 0], 255);
    assert_eq!(&r[..4], &[0x00, 0x83, 0x00, 20]);
    assert_eq!(&r[4..], &naa);
}

#[test]
fn block_limits_without_discard() {
    let d = disk(params());
    let r = data_in(&d, &[0x12, 0x01, 0xB0, 0x00, 0xFF, 0x00], 255);
    assert_eq!(r.len(), 64);
    assert_eq!(&r[..4], &[0x00, 0xB0, 0x00, 0x3C]);
    assert_eq!(r[4] & 0x01, 1, "WSNZ");
    assert_eq!(
        be16(&r[6..8]),
        8,
        "optimal granularity: one 4 KiB physical block"
    );
    // 11 segments of 4 KiB pages in 512-byte blocks.
    assert_eq!(be32(&r[8..12]), 88, "MAXIMUM TRANSFER LENGTH");
    assert_eq!(be32(&r[12..16]), 88, "OPTIMAL TRANSFER LENGTH");
    assert_eq!(be32(&r[20..24]), 0, "MAXIMUM UNMAP LBA COUNT: no UNMAP");
    assert_eq!(be32(&r[24..28]), 0, "MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT");
    assert_eq!(be64(&r[36..44]), 0, "MAXIMUM WRITE SAME LENGTH");
}

#[test]
fn block_limits_with_discard_and_indirect_segments() {
    let p = Spec {
        sector_size: 4096,
        physical_sector_size: 4096,
        sectors: 1 << 24,
        indirect_segments: 256,
        ..with_discard(params(), 1 << 20, 64 * 1024)
    };
    let r = data_in(&disk(p), &[0x12, 0x01, 0xB0, 0x00, 0xFF, 0x00], 255);
    assert_eq!(be16(&r[6..8]), 1);
    assert_eq!(
        be32(&r[8..12]),
        256,
        "256 pages of 4 KiB = 256 blocks of 4 KiB"
    );
    assert_eq!(be32(&r[20..24]), 0xFFFF_FFFF, "no maximum");
    assert_eq!(be32(&r[24..28]), 32);
    assert_eq!(be32(&r[28..32]), 256, "1 MiB granularity in 4 KiB blocks");
    assert_eq!(r[32] & 0x80, 0x80, "UGAVALID");
    assert_eq!(
        be32(&r[32..36]) & 0x7FFF_FFFF,
        16,
        "64 KiB alignment in 4 KiB blocks"
    );
    assert_eq!(be64(&r[36..44]), 0xFFFF_FFFF);
}

#[test]
fn block_device_characteristics_reports_nothing_it_does_not_know() {
    let r = data_in(&disk(params()), &[0x12, 0x01, 0xB1, 0x00, 0xFF, 0x00], 255);
    assert_eq!(&r[..4], &[0x00, 0xB1, 0x00, 0x3C]);
    assert_eq!(be16(&r[4..6]), 0, "rotation rate not reported");
    assert!(r[4..].iter().all(|&b| b == 0));
}

#[test]
fn provisioning_page_follows_discard() {
    let cdb = [0x12, 0x01, 0xB2, 0x00, 0xFF, 0x00];
    let r = data_in(&disk(params()), &cdb, 255);
    assert_eq!(&r, &[0x00, 0xB2, 0x00, 0x04, 0, 0, 0, 0]);
    let r = data_in(&disk(with_discard(params(), 0, 0)), &cdb, 255);
    assert_eq!(&r[..4], &[0x00, 0xB2, 0x00, 0x04]);
    assert_eq!(r[5] & 0x80, 0x80, "LBPU: UNMAP");
    assert_eq!(r[5] & 0x40, 0x40, "LBPWS: WRITE SAME (16) with UNMAP");
    assert_eq!(r[5] & 0x20, 0x20, "LBPWS10");
    assert_eq!(r[5] & 0x1C, 0, "LBPRZ 0: blkif does not promise zeros");
    assert_eq!(r[5] & 0x02, 0, "ANC_SUP 0");
    assert_eq!(r[6] & 0x07, 0x02, "thin provisioned");
}

#[test]
fn sm_data_pages_and_vdi_uuid_as_xenserver_provides_them() {
    let mut id = Identity::derived(51712);
    // sm-data/scsi/0x12/0x80 = base64 of 00 80 00 0a "SER0000042".
    id.set_sm_data_page("AIAAClNFUjAwMDAwNDI=").unwrap();
    // sm-data/scsi/0x12/0x83 = base64 of a page with one NAA designator (01 03 00 08 + 8 bytes).
    id.set_sm_data_page("AIMADAEDAAhgFKOBAgMEBQ==").unwrap();
    id.set_vdi_uuid("d4c2e6c8-8d3b-4c1a-9f5e-0123456789ab")
        .unwrap();
    let d = disk_with(params(), id);
    assert_eq!(
        data_in(&d, &[0x12, 1, 0x80, 0, 0xFF, 0], 255),
        b"\x00\x80\x00\x0aSER0000042"
    );
    let r = data_in(&d, &[0x12, 1, 0x83, 0, 0xFF, 0], 255);
    assert_eq!(usize::from(be16(&r[2..4])), 12 + 40);
    assert_eq!(
        &r[4..16],
        &[0x01, 0x03, 0x00, 0x08, 0x60, 0x14, 0xA3, 0x81, 2, 3, 4, 5]
    );
    // Then the VDI: ASCII, vendor specific, 36 bytes.
    assert_eq!(&r[16..20], &[0x02, 0x00, 0x00, 36]);
    assert_eq!(&r[20..], b"d4c2e6c8-8d3b-4c1a-9f5e-0123456789ab");
}
