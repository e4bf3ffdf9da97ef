//! The bare-metal proof: a Xen PV guest with no OS underneath that runs drivers/xen against real
//! Xen and reports each step as a `metal: …` line on its PV console, ending with `metal: PASS` or
//! `metal: FAIL <step>: <why>`, then powers itself off.
#![no_std]
#![no_main]

extern crate alloc;

mod blk;
mod boot;
mod console;
mod events;
mod fifo_events;
mod front;
mod grants;
mod heap;
mod net;
mod pages;
mod resume;
mod steps;
mod store;
mod upcall;

use core::panic::PanicInfo;

use xenpv_abi::shared_info::StartInfo;
use xenpv_xen::ops::ShutdownReason;
use xenpv_xen::{pv, Xen};

/// Entered from `_start` with Xen's start_info page.
#[no_mangle]
extern "C" fn metal_main(si: *const StartInfo) -> ! {
    boot::keep_start_info(si);
    // SAFETY: Xen passes the start_info page in rsi, mapped and owned by the guest for good.
    let si = unsafe { &*si };
    let xen = Xen::new(boot::hypercalls());
    if pv::check(si).is_err() || open_console(si).is_err() {
        // Nowhere to say why: crash, which dom0 sees in `xl list` / xl's log.
        let _ = xen.shutdown(ShutdownReason::Crash);
        halt();
    }
    say!("hello from a xenpv PV guest");
    match steps::run(&xen, si) {
        Ok(()) => say!("PASS"),
        Err(f) => say!("FAIL {}: {}", f.step, f.why),
    }
    console::drain();
    let _ = xen.shutdown(ShutdownReason::Poweroff);
    halt()
}

/// Finds the console ring page (named by machine frame) in the boot mapping.
fn open_console(si: &StartInfo) -> Result<(), pv::StartError> {
    let pfn = pv::pfn_of(steps::p2m(si), si.console.mfn)?;
    let ring = pv::virt_of(boot::VIRT_BASE, pfn) as *const xenpv_xen::console::ConsoleInterface;
    // SAFETY: the domain builder maps every boot-area page, the console ring among them, at
    // VIRT_BASE + pfn * 4096 (xen.h "start of day" layout) and it stays mapped: we never change the
    // page tables.
    unsafe { console::init(ring, si.console.evtchn) };
    Ok(())
}

fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    say!("FAIL panic: {}", info.message());
    console::drain();
    let _ = Xen::new(boot::hypercalls()).shutdown(ShutdownReason::Crash);
    halt()
}
