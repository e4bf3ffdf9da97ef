//! The ioctl numbers and struct sizes of `xenpv_linux::sys` against Linux's own uapi headers
//! (installed by linux-libc-dev: /usr/include/xen/{gntalloc,evtchn}.h, /usr/include/linux/nbd.h),
//! compiled with the system C compiler.

// The ioctl numbers are `c_ulong`, which is u64 only on 64-bit targets.
#![allow(clippy::unnecessary_cast)]

use std::process::Command;

use xenpv_linux::nbd;
use xenpv_linux::sys::*;

fn c_values() -> Vec<(String, u64)> {
    let dir = std::env::temp_dir().join(format!("xenpv-linux-uapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    std::fs::write(
        &src,
        r#"
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
typedef uint16_t domid_t;
#include <xen/gntalloc.h>
#include <xen/evtchn.h>
#include <linux/nbd.h>
#include <linux/if_tun.h>
#include <net/if.h>
#define P(x) printf(#x " %llu\n", (unsigned long long)(x))
int main(void) {
    P(IOCTL_GNTALLOC_ALLOC_GREF); P(IOCTL_GNTALLOC_DEALLOC_GREF); P(GNTALLOC_FLAG_WRITABLE);
    P(sizeof(struct ioctl_gntalloc_alloc_gref)); P(sizeof(struct ioctl_gntalloc_dealloc_gref));
    P(offsetof(struct ioctl_gntalloc_alloc_gref, gref_ids));
    P(IOCTL_EVTCHN_BIND_UNBOUND_PORT); P(IOCTL_EVTCHN_UNBIND); P(IOCTL_EVTCHN_NOTIFY);
    P(NBD_SET_SOCK); P(NBD_SET_BLKSIZE); P(NBD_DO_IT); P(NBD_CLEAR_SOCK); P(NBD_CLEAR_QUE);
    P(NBD_SET_SIZE_BLOCKS); P(NBD_DISCONNECT); P(NBD_SET_TIMEOUT); P(NBD_SET_FLAGS);
    P(TUNSETIFF); P(TUNSETOFFLOAD); P(IFF_TAP); P(IFF_NO_PI); P(IFF_VNET_HDR);
    P(IFF_MULTI_QUEUE); P(NBD_FLAG_CAN_MULTI_CONN); P(NBD_FLAG_SEND_TRIM);
    P(TUN_F_CSUM); P(TUN_F_TSO4); P(TUN_F_TSO6); P(sizeof(struct ifreq));
    P(offsetof(struct ifreq, ifr_flags));
    return 0;
}
"#,
    )
    .unwrap();
    let exe = dir.join("probe");
    let out = Command::new("cc")
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&exe).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn numbers_and_sizes_match_the_c_headers() {
    let ours: Vec<(&str, u64)> = vec![
        (
            "IOCTL_GNTALLOC_ALLOC_GREF",
            IOCTL_GNTALLOC_ALLOC_GREF as u64,
        ),
        (
            "IOCTL_GNTALLOC_DEALLOC_GREF",
            IOCTL_GNTALLOC_DEALLOC_GREF as u64,
        ),
        ("GNTALLOC_FLAG_WRITABLE", GNTALLOC_FLAG_WRITABLE as u64),
        (
            "sizeof(struct ioctl_gntalloc_alloc_gref)",
            size_of::<GntallocAllocGref>() as u64,
        ),
        (
            "sizeof(struct ioctl_gntalloc_dealloc_gref)",
            size_of::<GntallocDeallocGref>() as u64,
        ),
        (
            "offsetof(struct ioctl_gntalloc_alloc_gref, gref_ids)",
            GNTALLOC_GREF_IDS_OFFSET as u64,
        ),
        (
            "IOCTL_EVTCHN_BIND_UNBOUND_PORT",
            IOCTL_EVTCHN_BIND_UNBOUND_PORT as u64,
        ),
        ("IOCTL_EVTCHN_UNBIND", IOCTL_EVTCHN_UNBIND as u64),
        ("IOCTL_EVTCHN_NOTIFY", IOCTL_EVTCHN_NOTIFY as u64),
        ("NBD_SET_SOCK", NBD_SET_SOCK as u64),
        ("NBD_SET_BLKSIZE", NBD_SET_BLKSIZE as u64),
        ("NBD_DO_IT", NBD_DO_IT as u64),
        ("NBD_CLEAR_SOCK", NBD_CLEAR_SOCK as u64),
        ("NBD_CLEAR_QUE", NBD_CLEAR_QUE as u64),
        ("NBD_SET_SIZE_BLOCKS", NBD_SET_SIZE_BLOCKS as u64),
        ("NBD_DISCONNECT", NBD_DISCONNECT as u64),
        ("NBD_SET_TIMEOUT", NBD_SET_TIMEOUT as u64),
        ("NBD_SET_FLAGS", NBD_SET_FLAGS as u64),
        ("TUNSETIFF", TUNSETIFF as u64),
        ("TUNSETOFFLOAD", TUNSETOFFLOAD as u64),
        ("IFF_TAP", IFF_TAP as u64),
        ("IFF_NO_PI", IFF_NO_PI as u64),
        ("IFF_VNET_HDR", IFF_VNET_HDR as u64),
        ("IFF_MULTI_QUEUE", IFF_MULTI_QUEUE as u64),
        ("NBD_FLAG_CAN_MULTI_CONN", nbd::FLAG_CAN_MULTI_CONN),
        ("NBD_FLAG_SEND_TRIM", nbd::FLAG_SEND_TRIM),
        ("TUN_F_CSUM", TUN_F_CSUM as u64),
        ("TUN_F_TSO4", TUN_F_TSO4 as u64),
        ("TUN_F_TSO6", TUN_F_TSO6 as u64),
        ("sizeof(struct ifreq)", size_of::<IfreqFlags>() as u64),
        ("offsetof(struct ifreq, ifr_flags)", 16),
    ];
    let c = c_values();
    assert_eq!(c.len(), ours.len());
    for ((cn, cv), (on, ov)) in c.iter().zip(&ours) {
        assert_eq!(cn, on);
        assert_eq!(cv, ov, "{cn}");
    }
}
