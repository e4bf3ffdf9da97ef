//! Both ends driven only by event channels, each on its own thread: a side works when its port
//! fires, unmasks, and otherwise sleeps. If any notification were lost (a producer skipping a kick
//! the consumer asked for, a consumer sleeping without its final check), a side would sleep with
//! work pending and the run would stall; the long wait below turns that into a failure.
//!
//! With both sides running freely the backend may take transmits faster than the frontend takes
//! receives; like a real vif it then drops at the receive backlog, and counts it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use xenpv_abi::EvtchnPort;
use xenpv_datapath::netif::{EventPorts, OwnedPacket, TxDone, TxOffload, TxRefused, TxStatus};
use xenpv_datapath::platform::EventChannels;
use xenpv_sim::host::{Host, HostConfig, Signal};
use xenpv_sim::netback::pair::{linux_netback, FrontRequest, NetPair};

type Pkt = OwnedPacket<Vec<u8>>;

/// Longer than any honest wait; reaching it means a notification was lost.
const STALL: Duration = Duration::from_secs(10);

/// Waits until any of `signals` fires, returning the ones that did, or until `stop` is set.
fn wait_any(signals: &[(EvtchnPort, Arc<Signal>)], stop: &AtomicBool) -> Vec<EvtchnPort> {
    let start = std::time::Instant::now();
    loop {
        let fired: Vec<EvtchnPort> = signals
            .iter()
            .filter(|(_, s)| s.take())
            .map(|(p, _)| *p)
            .collect();
        if !fired.is_empty() || stop.load(Ordering::Acquire) {
            return fired;
        }
        assert!(
            start.elapsed() < STALL,
            "no event for {STALL:?}: a notification was lost"
        );
        // Block on one port for a while; events on the others are caught on the next round.
        if signals[0].1.wait(Duration::from_millis(2)) {
            return vec![signals[0].0];
        }
    }
}

#[test]
fn traffic_flows_on_events_alone() {
    for split in [true, false] {
        let host = Host::new(HostConfig {
            frames: 1 << 13,
            grant_entries: 1 << 13,
            ports: 64,
        });
        let req = FrontRequest {
            queues: 1,
            split_event_channels: split,
            ctrl_ring: false,
            ..FrontRequest::default()
        };
        let pair: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(1), req).unwrap();
        let NetPair {
            guest,
            mut front,
            mut back,
            ..
        } = pair;
        let stop = Arc::new(AtomicBool::new(false));
        let port = back.port();
        let back_ports: Vec<(EvtchnPort, Arc<Signal>)> = back
            .ports()
            .into_iter()
            .map(|p| (p, host.evtchn.signal(0, p).unwrap()))
            .collect();
        let backend = {
            let (host, stop) = (host.clone(), stop.clone());
            std::thread::spawn(move || {
                // Work once at start (the frontend may have kicked before we waited), then only
                // when kicked.
                back.poll().unwrap();
                while !stop.load(Ordering::Acquire) {
                    let fired = wait_any(&back_ports, &stop);
                    back.poll().unwrap();
                    for p in fired {
                        host.evtchn.unmask(0, p).unwrap();
                    }
                }
                back
            })
        };

        let q = &mut front.queues_mut()[0];
        let front_ports: Vec<EvtchnPort> = match q.keys().ports {
            EventPorts::Shared(p) => vec![p],
            EventPorts::Split { tx, rx } => vec![tx, rx],
        };
        let signals: Vec<(EvtchnPort, Arc<Signal>)> = front_ports
            .iter()
            .map(|&p| (p, host.evtchn.signal(1, p).unwrap()))
            .collect();
        let total = 5000u32;
        let (mut sent, mut completed, mut received) = (0u32, 0u32, 0u32);
        let mut next_tag = 0u32;
        while u64::from(received) + port.dropped() < u64::from(total) || completed < total {
            while sent < total {
                let mut frame = vec![0x42; 64 + (sent as usize * 37) % 9000];
                frame[..4].copy_from_slice(&sent.to_be_bytes());
                match q.send(OwnedPacket {
                    frame,
                    offload: TxOffload::default(),
                }) {
                    Ok(()) => sent += 1,
                    Err((_, TxRefused::Busy)) => break,
                    Err((_, why)) => panic!("refused {why:?}"),
                }
            }
            q.flush(&guest);
            let fired = wait_any(&signals, &AtomicBool::new(false));
            q.poll(
                &guest,
                &mut |d| {
                    assert!(matches!(
                        d,
                        TxDone::Packet {
                            status: TxStatus::Ok,
                            ..
                        }
                    ));
                    completed += 1;
                },
                &mut |_, b| {
                    let tag = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    assert!(tag >= next_tag, "in order, each at most once");
                    assert_eq!(b.len(), 64 + (tag as usize * 37) % 9000, "intact");
                    next_tag = tag + 1;
                    received += 1;
                },
            )
            .unwrap();
            for p in fired {
                guest.unmask(p);
            }
        }
        stop.store(true, Ordering::Release);
        // Wake the backend so it sees the stop flag.
        guest.notify(front_ports[0]);
        let back = backend.join().unwrap();
        assert_eq!(back.stats().tx_packets, u64::from(total));
        assert_eq!(back.stats().rx_packets, u64::from(received));
        assert_eq!(u64::from(received) + port.dropped(), u64::from(total));
        let kicks = host.evtchn.sends();
        assert!(
            kicks < 4 * u64::from(total),
            "notification hold-off batches kicks ({kicks} for {total} packets, split={split})"
        );
    }
}
