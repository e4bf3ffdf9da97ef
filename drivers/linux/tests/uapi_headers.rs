//! The ioctl numbers and struct sizes of `xenpv_linux::sys` against Linux's own uapi headers
//! (installed by linux-libc-dev: /usr/include/xen/{gntalloc,evtchn}.h, /usr/include/linux/nbd.h,
//! if_tun.h, io_uring.h, ublk_cmd.h),
//! compiled with the system C compiler.

// The ioctl numbers are `c_ulong`, which is u64 only on 64-bit targets.
#![allow(clippy::unnecessary_cast)]

use std::process::Command;

use xenpv_linux::sys::*;
use xenpv_linux::{nbd, ublk, uring};

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
#include <errno.h>
#include <linux/io_uring.h>
#include <linux/ublk_cmd.h>
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
    P(sizeof(struct io_uring_params)); P(offsetof(struct io_uring_params, sq_off));
    P(offsetof(struct io_uring_params, cq_off)); P(sizeof(struct io_uring_cqe));
    P(sizeof(struct io_uring_sqe)); P(offsetof(struct io_uring_sqe, cmd_op));
    P(offsetof(struct io_uring_sqe, addr)); P(offsetof(struct io_uring_sqe, len));
    P(offsetof(struct io_uring_sqe, user_data)); P(offsetof(struct io_uring_sqe, cmd));
    P(IORING_SETUP_SQE128); P(IORING_FEAT_SINGLE_MMAP); P(IORING_OFF_CQ_RING); P(IORING_OFF_SQES);
    P(IORING_ENTER_GETEVENTS); P(IORING_OP_READ); P(IORING_OP_URING_CMD);
    P(sizeof(struct ublksrv_ctrl_cmd)); P(sizeof(struct ublksrv_ctrl_dev_info));
    P(sizeof(struct ublk_param_basic)); P(sizeof(struct ublk_param_discard));
    P(offsetof(struct ublk_params, basic)); P(offsetof(struct ublk_params, discard));
    P(sizeof(struct ublksrv_io_desc)); P(sizeof(struct ublksrv_io_cmd));
    P(UBLK_CMD_ADD_DEV); P(UBLK_CMD_DEL_DEV); P(UBLK_CMD_START_DEV); P(UBLK_CMD_STOP_DEV);
    P(UBLK_CMD_SET_PARAMS); P(UBLK_IO_FETCH_REQ); P(UBLK_IO_COMMIT_AND_FETCH_REQ);
    P(UBLK_IO_RES_ABORT); P(UBLK_MAX_QUEUE_DEPTH); P(UBLK_IO_F_FUA);
    P(UBLK_ATTR_READ_ONLY); P(UBLK_ATTR_VOLATILE_CACHE); P(UBLK_ATTR_FUA);
    P(UBLK_PARAM_TYPE_BASIC); P(UBLK_PARAM_TYPE_DISCARD);
    P(UBLK_IO_OP_READ); P(UBLK_IO_OP_WRITE); P(UBLK_IO_OP_FLUSH); P(UBLK_IO_OP_DISCARD);
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
        // io_uring.h: the layout `uring::Sqe::encode` writes is pinned by its unit test.
        (
            "sizeof(struct io_uring_params)",
            size_of::<uring::Params>() as u64,
        ),
        ("offsetof(struct io_uring_params, sq_off)", 40),
        ("offsetof(struct io_uring_params, cq_off)", 80),
        (
            "sizeof(struct io_uring_cqe)",
            size_of::<uring::Cqe>() as u64,
        ),
        ("sizeof(struct io_uring_sqe)", uring::SQE_LEN as u64),
        ("offsetof(struct io_uring_sqe, cmd_op)", 8),
        ("offsetof(struct io_uring_sqe, addr)", 16),
        ("offsetof(struct io_uring_sqe, len)", 24),
        ("offsetof(struct io_uring_sqe, user_data)", 32),
        (
            "offsetof(struct io_uring_sqe, cmd)",
            uring::SQE_CMD_OFFSET as u64,
        ),
        ("IORING_SETUP_SQE128", uring::IORING_SETUP_SQE128 as u64),
        (
            "IORING_FEAT_SINGLE_MMAP",
            uring::IORING_FEAT_SINGLE_MMAP as u64,
        ),
        ("IORING_OFF_CQ_RING", uring::IORING_OFF_CQ_RING as u64),
        ("IORING_OFF_SQES", uring::IORING_OFF_SQES as u64),
        (
            "IORING_ENTER_GETEVENTS",
            uring::IORING_ENTER_GETEVENTS as u64,
        ),
        ("IORING_OP_READ", uring::IORING_OP_READ as u64),
        ("IORING_OP_URING_CMD", uring::IORING_OP_URING_CMD as u64),
        // ublk_cmd.h (the installed headers may predate the ioctl-encoded names, so the command
        // numbers are checked as the encodings' low byte).
        (
            "sizeof(struct ublksrv_ctrl_cmd)",
            size_of::<ublk::CtrlCmd>() as u64,
        ),
        (
            "sizeof(struct ublksrv_ctrl_dev_info)",
            size_of::<ublk::DevInfo>() as u64,
        ),
        (
            "sizeof(struct ublk_param_basic)",
            size_of::<ublk::ParamBasic>() as u64,
        ),
        (
            "sizeof(struct ublk_param_discard)",
            size_of::<ublk::ParamDiscard>() as u64,
        ),
        ("offsetof(struct ublk_params, basic)", 8),
        ("offsetof(struct ublk_params, discard)", 40),
        (
            "sizeof(struct ublksrv_io_desc)",
            size_of::<ublk::IoDesc>() as u64,
        ),
        (
            "sizeof(struct ublksrv_io_cmd)",
            size_of::<ublk::IoCmd>() as u64,
        ),
        ("UBLK_CMD_ADD_DEV", (ublk::UBLK_U_CMD_ADD_DEV & 0xff) as u64),
        ("UBLK_CMD_DEL_DEV", (ublk::UBLK_U_CMD_DEL_DEV & 0xff) as u64),
        (
            "UBLK_CMD_START_DEV",
            (ublk::UBLK_U_CMD_START_DEV & 0xff) as u64,
        ),
        (
            "UBLK_CMD_STOP_DEV",
            (ublk::UBLK_U_CMD_STOP_DEV & 0xff) as u64,
        ),
        (
            "UBLK_CMD_SET_PARAMS",
            (ublk::UBLK_U_CMD_SET_PARAMS & 0xff) as u64,
        ),
        (
            "UBLK_IO_FETCH_REQ",
            (ublk::UBLK_U_IO_FETCH_REQ & 0xff) as u64,
        ),
        (
            "UBLK_IO_COMMIT_AND_FETCH_REQ",
            (ublk::UBLK_U_IO_COMMIT_AND_FETCH_REQ & 0xff) as u64,
        ),
        ("UBLK_IO_RES_ABORT", ublk::UBLK_IO_RES_ABORT as i64 as u64),
        ("UBLK_MAX_QUEUE_DEPTH", ublk::MAX_QUEUE_DEPTH as u64),
        ("UBLK_IO_F_FUA", ublk::UBLK_IO_F_FUA as u64),
        ("UBLK_ATTR_READ_ONLY", ublk::UBLK_ATTR_READ_ONLY as u64),
        (
            "UBLK_ATTR_VOLATILE_CACHE",
            ublk::UBLK_ATTR_VOLATILE_CACHE as u64,
        ),
        ("UBLK_ATTR_FUA", ublk::UBLK_ATTR_FUA as u64),
        ("UBLK_PARAM_TYPE_BASIC", ublk::UBLK_PARAM_TYPE_BASIC as u64),
        (
            "UBLK_PARAM_TYPE_DISCARD",
            ublk::UBLK_PARAM_TYPE_DISCARD as u64,
        ),
        ("UBLK_IO_OP_READ", ublk::UBLK_IO_OP_READ as u64),
        ("UBLK_IO_OP_WRITE", ublk::UBLK_IO_OP_WRITE as u64),
        ("UBLK_IO_OP_FLUSH", ublk::UBLK_IO_OP_FLUSH as u64),
        ("UBLK_IO_OP_DISCARD", ublk::UBLK_IO_OP_DISCARD as u64),
    ];
    let c = c_values();
    assert_eq!(c.len(), ours.len());
    for ((cn, cv), (on, ov)) in c.iter().zip(&ours) {
        assert_eq!(cn, on);
        assert_eq!(cv, ov, "{cn}");
    }
}
