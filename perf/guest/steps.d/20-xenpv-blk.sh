# xenpv-blk (drivers/linux): the blkif core on vbd $OURS_VBD against the real blkback, served as the
# ublk device /dev/ublkb0 (ublk_drv), then once more as the nbd device /dev/nbd0, the fallback for
# kernels without ublk (see drivers/linux/src/blk.rs for the choice). xenpv-blk asks for a queue per
# vCPU (dom0's blkback offers two): one in smoke and bench, two with `--vcpus 2`, where blk-mq feeds
# each ublk queue, and so each blkif ring, from its own vCPU.
BLK_DEV=/dev/ublkb0

# blk_start DEV: starts xenpv-blk on DEV and waits until DEV has a size.
blk_start() {
	/opt/xenpv/bin/xenpv-blk "$OURS_VBD" --dev "$1" >/tmp/xenpv-blk.log 2>&1 &
	echo $! >/tmp/xenpv-blk.pid
	if ! wait_for 30 dev_sized "$1"; then
		cat /tmp/xenpv-blk.log
		return 1
	fi
	cat /tmp/xenpv-blk.log
}

dev_sized() { [ "$(cat "/sys/block/${1#/dev/}/size" 2>/dev/null || echo 0)" -gt 0 ]; }

# blk_stop DEV: SIGTERM leaves the vbd Closed (6) and DEV gone or disconnected.
blk_stop() { stop_front blk "device/vbd/$OURS_VBD" && ! dev_sized "$1"; }

blk_ours() {
	modprobe ublk_drv || return 1
	blk_start $BLK_DEV || return 1
	be=$(xenstore-read "device/vbd/$OURS_VBD/backend")
	for k in feature-persistent feature-max-indirect-segments max-ring-page-order feature-flush-cache \
		multi-queue-max-queues; do
		echo "backend $k=$(xenstore-read "$be/$k" 2>/dev/null)"
	done
	show_queue_keys "device/vbd/$OURS_VBD" feature-persistent ring-page-order protocol \
		multi-queue-num-queues -- ring-ref0 event-channel
	echo "ublkb0 hardware queues: $(ls /sys/block/ublkb0/mq | wc -l)"
	echo "ublkb0: $(cat /sys/block/ublkb0/size) sectors, max $(cat /sys/block/ublkb0/queue/max_sectors_kb) KiB per request"
	verify_disk $BLK_DEV || return 1
	# A writer on each further vCPU, so that every hardware queue carries requests.
	_cpu=1
	while [ $_cpu -lt "$(nproc)" ]; do
		taskset -c $_cpu dd if=/dev/zero of=$BLK_DEV bs=4k seek=$((16384 + _cpu * 1024)) count=256 \
			oflag=direct 2>&1 | tail -n 1 || return 1
		_cpu=$((_cpu + 1))
	done
}

# A ring per vCPU, and every ring carried requests (the counts the front logs on exit).
blk_ours_queues_used() {
	grep "queue .*requests completed" /tmp/xenpv-blk.log
	[ "$(grep -c "queue .*requests completed" /tmp/xenpv-blk.log)" = "$(nproc)" ] &&
		! grep -q "queue .*: 0 requests completed" /tmp/xenpv-blk.log
}

# The backend goes away while a write is in flight and comes back (dom0's backend-agent.sh does what
# a toolstack detach and attach do): the front logs the drop, reconnects, replays the requests the
# old backend never answered, and the write lands whole.
blk_ours_reconnect() {
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=16 2>/dev/null || return 1
	# At 32 MiB into the disk, away from verify_disk's region; 4 KiB at a time, so that the write
	# lasts long enough (seconds) to be caught in flight.
	dd if=/tmp/pattern of=$BLK_DEV bs=4k seek=8192 oflag=direct conv=fsync 2>/tmp/dd.err &
	dd_pid=$!
	# Writes have reached the device before the backend is taken away.
	wait_for 10 sh -c "read -r _ w </sys/block/${BLK_DEV#/dev/}/inflight && [ \"\$w\" -gt 0 ]" || return 1
	backend_request down vbd "$OURS_VBD" || return 1
	wait_for 10 grep -q "backend gone" /tmp/xenpv-blk.log || return 1
	if ! kill -0 $dd_pid 2>/dev/null; then
		echo "the write finished before the backend went away: nothing was in flight"
		return 1
	fi
	echo "the write is in flight while the backend is away"
	backend_request up vbd "$OURS_VBD" || return 1
	if ! wait_for 20 grep -q reconnected /tmp/xenpv-blk.log; then
		cat /tmp/xenpv-blk.log
		xenstore-ls -f "$(xenstore-read "device/vbd/$OURS_VBD/backend")"
		echo "frontend state=$(xenstore-read "device/vbd/$OURS_VBD/state")"
		return 1
	fi
	grep -E "gone|reconnected|->" /tmp/xenpv-blk.log | tail -n 8
	wait $dd_pid || {
		cat /tmp/dd.err
		return 1
	}
	tail -n 1 /tmp/dd.err
	echo 3 >/proc/sys/vm/drop_caches
	want=$(sha256sum </tmp/pattern)
	got=$(dd if=$BLK_DEV bs=1M skip=32 count=16 2>/dev/null | sha256sum)
	rm -f /tmp/pattern
	echo "wrote $want"
	echo "read  $got"
	[ "$want" = "$got" ]
}

# SIGTERM while the backend is away with a write in flight: the front does not wait for a backend
# that may never come back; the write fails, the device goes, the vbd is left Closed.
blk_ours_stop_away() {
	blk_start $BLK_DEV || return 1
	dd if=/dev/zero of=$BLK_DEV bs=4k count=4096 oflag=direct 2>/tmp/dd.err &
	dd_pid=$!
	wait_for 10 sh -c "read -r _ w </sys/block/${BLK_DEV#/dev/}/inflight && [ \"\$w\" -gt 0 ]" || return 1
	backend_request down vbd "$OURS_VBD" || return 1
	wait_for 10 grep -q "backend gone" /tmp/xenpv-blk.log || return 1
	blk_stop $BLK_DEV
	_rc=$?
	backend_request up vbd "$OURS_VBD" || return 1
	if wait $dd_pid; then
		echo "the write succeeded without a backend"
		return 1
	fi
	tail -n 1 /tmp/dd.err
	return $_rc
}

# The nbd fallback on the same vbd, once ublk has let it go.
blk_ours_nbd() {
	modprobe nbd || return 1
	blk_start /dev/nbd0 || return 1
	echo "nbd0 hardware queues: $(ls /sys/block/nbd0/mq | wc -l)"
	verify_disk /dev/nbd0
}

# A device that cannot be set up (nbd99 is beyond the nbd module's 16): xenpv-blk says why, exits
# non-zero and leaves the vbd Closed, not half connected.
blk_ours_bad_dev() {
	if /opt/xenpv/bin/xenpv-blk "$OURS_VBD" --dev /dev/nbd99 >/tmp/xenpv-blk.log 2>&1; then
		cat /tmp/xenpv-blk.log
		return 1
	fi
	cat /tmp/xenpv-blk.log
	echo "frontend state=$(xenstore-read "device/vbd/$OURS_VBD/state")"
	grep -q "nbd connect" /tmp/xenpv-blk.log && [ "$(xenstore-read "device/vbd/$OURS_VBD/state")" = 6 ]
}

if step blk-ours blk_ours; then
	[ "$MODE" = bench ] && step bench-blk-ours bench_blk xenpv $BLK_DEV
	step blk-ours-reconnect blk_ours_reconnect
	step blk-ours-closed blk_stop $BLK_DEV
	step blk-ours-queues-used blk_ours_queues_used
	step blk-ours-stop-away blk_ours_stop_away
else
	for s in blk-ours-reconnect blk-ours-closed blk-ours-queues-used blk-ours-stop-away; do
		skip $s blk-ours
	done
fi
if step blk-ours-nbd blk_ours_nbd; then
	[ "$MODE" = bench ] && step bench-blk-ours-nbd bench_blk xenpv-nbd /dev/nbd0
	step blk-ours-nbd-closed blk_stop /dev/nbd0
	step blk-ours-bad-dev blk_ours_bad_dev
else
	skip blk-ours-nbd-closed blk-ours-nbd
	skip blk-ours-bad-dev blk-ours-nbd
fi
