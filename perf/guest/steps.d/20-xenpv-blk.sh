# xenpv-blk (drivers/linux): the blkif core on vbd $OURS_VBD against the real blkback, served as the
# kernel's nbd device /dev/nbd0 (see drivers/linux/src/blk.rs for why nbd and not ublk).
BLK_DEV=/dev/nbd0

nbd_connected() { [ "$(cat /sys/block/nbd0/size 2>/dev/null || echo 0)" -gt 0 ]; }

blk_ours() {
	modprobe nbd || return 1
	/opt/xenpv/bin/xenpv-blk "$OURS_VBD" --nbd $BLK_DEV >/tmp/xenpv-blk.log 2>&1 &
	echo $! >/tmp/xenpv-blk.pid
	if ! wait_for 30 nbd_connected; then
		cat /tmp/xenpv-blk.log
		return 1
	fi
	cat /tmp/xenpv-blk.log
	be=$(xenstore-read "device/vbd/$OURS_VBD/backend")
	for k in feature-persistent feature-max-indirect-segments max-ring-page-order feature-flush-cache; do
		echo "backend $k=$(xenstore-read "$be/$k" 2>/dev/null)"
	done
	for k in feature-persistent ring-page-order ring-ref0 event-channel protocol; do
		echo "frontend $k=$(xenstore-read "device/vbd/$OURS_VBD/$k" 2>/dev/null)"
	done
	echo "nbd0: $(cat /sys/block/nbd0/size) sectors"
	verify_disk $BLK_DEV
}

# SIGTERM leaves the vbd Closed (6) and the nbd device disconnected.
blk_ours_closed() {
	pid=$(cat /tmp/xenpv-blk.pid)
	kill -TERM "$pid"
	wait_for 15 sh -c "! kill -0 $pid"
	cat /tmp/xenpv-blk.log
	echo "frontend state=$(xenstore-read "device/vbd/$OURS_VBD/state")"
	[ "$(xenstore-read "device/vbd/$OURS_VBD/state")" = 6 ] && ! nbd_connected
}

if step blk-ours blk_ours; then
	[ "$MODE" = bench ] && step bench-blk-ours bench_blk xenpv $BLK_DEV
	step blk-ours-closed blk_ours_closed
else
	skip blk-ours-closed blk-ours
fi
