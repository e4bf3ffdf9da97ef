#!/bin/sh
# The test domU. Checks the Xen devices with the kernel's fronts, keeping them off the second vif and
# vbd of each twin pair (see /data/domU.cfg in dom0, perf/guest/domU.cfg in the repository), which
# the user-space fronts' steps (steps.d/*.sh, run after the kernel steps) take over.
#
# Kernel command line: xmode=smoke (functional steps) or xmode=bench (also iperf3 and fio).
. /etc/xenpv/lib.sh

MODE=$(arg xmode smoke)
# Each vif has its own subnet (dom0's bridge has an address in both), so that traffic between a
# front's address and its peer cannot take the other front's interface.
KERNEL_VIF=0 KERNEL_VBD=51712 KERNEL_IP=10.9.0.2 KERNEL_PEER=10.9.0.1 # the kernel fronts' devices
OURS_VIF=1 OURS_VBD=51728 OURS_IP=10.9.1.2 OURS_PEER=10.9.1.1         # left for steps.d (our fronts)
export MODE OURS_VIF OURS_VBD OURS_IP OURS_PEER

state() { xenstore-read "device/$1/state"; }
backend_state() { xenstore-read "$(xenstore-read "device/$1/backend")/state"; }

xen_detected() {
	echo "hypervisor: $(cat /sys/hypervisor/type) $(cat /sys/hypervisor/version/major).$(cat /sys/hypervisor/version/minor)"
	[ "$(cat /sys/hypervisor/type)" = xen ]
}

devices_enumerated() {
	vifs=$(xenstore-list device/vif | tr '\n' ' ')
	vbds=$(xenstore-list device/vbd | tr '\n' ' ')
	echo "device/vif: $vifs device/vbd: $vbds"
	[ "$vifs" = "0 1 " ] && [ "$vbds" = "51712 51728 " ]
}

# Reads, writes and watches through /dev/xen/xenbus (the xenstore-* tools use it in a domU).
xenstore_user() {
	domid=$(xenstore-read domid) || return 1
	echo "domid=$domid name=$(xenstore-read name)"
	xenstore-write data/xenpv-smoke "hello from domU $domid" || return 1
	[ "$(xenstore-read data/xenpv-smoke)" = "hello from domU $domid" ] || return 1
	# A watch fires once when set and once per change: expect both events.
	timeout 10 xenstore-watch -n 2 data/xenpv-watch >/tmp/watch.out 2>&1 &
	w=$!
	sleep 1
	xenstore-write data/xenpv-watch changed
	wait $w
	cat /tmp/watch.out
	[ "$(grep -c data/xenpv-watch /tmp/watch.out)" -ge 2 ]
}

user_devices() {
	# gntalloc allows 1024 grants by default; user-space fronts with full rings want more.
	modprobe xen-gntalloc limit=65536 && modprobe xen-evtchn && modprobe xen-gntdev || return 1
	echo "gntalloc limit: $(cat /sys/module/xen_gntalloc/parameters/limit)"
	ls -l /dev/xen
	[ -c /dev/xen/xenbus ] && [ -c /dev/xen/evtchn ] && [ -c /dev/xen/gntalloc ]
}

# The kernel fronts are modules: with the xen bus's autoprobe off, loading them binds nothing, and
# binding by name puts them on exactly the kernel's devices of each pair.
kernel_fronts() {
	echo 0 >/sys/bus/xen/drivers_autoprobe || return 1
	modprobe xen-netfront && modprobe xen-blkfront || return 1
	echo vif-$KERNEL_VIF >/sys/bus/xen/drivers/vif/bind || return 1
	echo vbd-$KERNEL_VBD >/sys/bus/xen/drivers/vbd/bind || return 1
	wait_for 20 sh -c "[ \"\$(xenstore-read device/vif/$KERNEL_VIF/state)\" = 4 ]" || return 1
	wait_for 20 sh -c "[ \"\$(xenstore-read device/vbd/$KERNEL_VBD/state)\" = 4 ]" || return 1
	for d in vif/$KERNEL_VIF vbd/$KERNEL_VBD; do
		echo "device/$d state=$(state $d) backend-state=$(backend_state $d)"
	done
}

# The twins must stay Initialising (1) with the back end waiting (InitWait, 2) and no driver bound.
twins_unbound() {
	ok=0
	for d in vif/$OURS_VIF vbd/$OURS_VBD; do
		dev=$(echo $d | tr / -)
		drv=$(basename "$(readlink /sys/bus/xen/devices/$dev/driver 2>/dev/null)" 2>/dev/null)
		echo "device/$d state=$(state $d) backend-state=$(backend_state $d) driver=${drv:-none}"
		[ "$(state $d)" = 1 ] && [ "$(backend_state $d)" = 2 ] && [ -z "$drv" ] || ok=1
	done
	return $ok
}

# backend_request down|up vif|vbd DEVID: asks dom0 (perf/guest/backend-agent.sh) to take one of our
# backends away as a toolstack detach does, or to bring it back, and waits for the answer.
backend_request() {
	_seq=$(($(cat /tmp/backend.seq 2>/dev/null || echo 0) + 1))
	echo $_seq >/tmp/backend.seq
	xenstore-write data/xenpv-backend "$_seq $*" || return 1
	wait_for 30 sh -c "xenstore-read data/xenpv-backend-done | grep -q '^$_seq '" || return 1
	_answer=$(xenstore-read data/xenpv-backend-done)
	echo "dom0 $*: ${_answer#$_seq }"
	case $_answer in "$_seq ok"*) return 0 ;; esac
	return 1
}

# show_queue_keys DIR KEY... -- QUEUE_KEY...: prints a front's top-level keys, then each queue's
# (under queue-N/ with several queues, at the top level with one).
show_queue_keys() {
	_dir=$1
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		echo "frontend $1=$(xenstore-read "$_dir/$1" 2>/dev/null)"
		shift
	done
	shift
	_queues=$(xenstore-list "$_dir" | grep '^queue-')
	for _q in ${_queues:-.}; do
		for _k in "$@"; do
			echo "frontend $_q/$_k=$(xenstore-read "$_dir/$_q/$_k" 2>/dev/null)"
		done
	done
}

# The network interface and block device that a front created for a xen bus device.
netdev_of() { ls /sys/bus/xen/devices/vif-$1/net/; }
blkdev_of() { ls /sys/bus/xen/devices/vbd-$1/block/; }

net_kernel() {
	ifc=$(netdev_of $KERNEL_VIF) || return 1
	ip addr add $KERNEL_IP/24 dev "$ifc" && ip link set "$ifc" up || return 1
	ping -c 3 -W 5 -I $KERNEL_IP $KERNEL_PEER
}

# Writes 16 MiB of random data, drops the page cache, reads it back and compares checksums.
verify_disk() {
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=16 2>/dev/null || return 1
	dd if=/tmp/pattern of="$1" bs=1M seek=8 conv=fsync 2>&1 || return 1
	sync
	echo 3 >/proc/sys/vm/drop_caches
	want=$(sha256sum </tmp/pattern)
	got=$(dd if="$1" bs=1M skip=8 count=16 2>/dev/null | sha256sum)
	echo "wrote $want"
	echo "read  $got"
	rm -f /tmp/pattern
	[ "$want" = "$got" ]
}

# stop_front NAME FRONTEND_DIR: SIGTERM to xenpv-NAME (/tmp/xenpv-NAME.pid); true when it exited
# and left its device Closed (6).
stop_front() {
	pid=$(cat "/tmp/xenpv-$1.pid")
	kill -TERM "$pid"
	wait_for 15 sh -c "! kill -0 $pid"
	cat "/tmp/xenpv-$1.log"
	echo "frontend state=$(xenstore-read "$2/state")"
	! kill -0 "$pid" 2>/dev/null && [ "$(xenstore-read "$2/state")" = 6 ]
}

blk_kernel() {
	dev=/dev/$(blkdev_of $KERNEL_VBD) || return 1
	echo "$dev: $(cat /sys/block/${dev#/dev/}/size) sectors"
	verify_disk "$dev"
}

# Benchmarks shared by all fronts: bench_net FRONT LOCAL_IP PEER_IP, bench_blk FRONT DEVICE. Each
# result becomes a blob named <test>.<front>, which the host puts in column <front> of the table.
bench_net() {
	iperf3 -c "$3" -B "$2" -t 10 -J >/tmp/tx.json &&
		iperf3 -c "$3" -B "$2" -t 10 -R -J >/tmp/rx.json || return 1
	blob "iperf3-tx.$1" /tmp/tx.json
	blob "iperf3-rx.$1" /tmp/rx.json
}

bench_blk() {
	common="--filename=$2 --ioengine=libaio --direct=1 --output-format=json"
	fio --name=randread --rw=randread --bs=4k --iodepth=32 --runtime=10 --time_based \
		--size=120M $common --output=/tmp/randread.json &&
		fio --name=randwrite --rw=randwrite --bs=4k --iodepth=32 --size=64M \
			--verify=crc32c --do_verify=1 $common --output=/tmp/randwrite.json &&
		fio --name=seqread --rw=read --bs=1M --iodepth=8 --runtime=10 --time_based \
			--size=120M $common --output=/tmp/seqread.json || return 1
	for t in randread randwrite seqread; do blob "fio-$t.$1" /tmp/$t.json; done
}

main() {
	step xen-detected xen_detected
	step devices-enumerated devices_enumerated
	step xenstore-user xenstore_user
	step user-devices user_devices
	if step kernel-fronts kernel_fronts; then
		step twins-unbound twins_unbound
		step net-kernel net_kernel && net=ok
		step blk-kernel blk_kernel && blk=ok
	else
		for s in twins-unbound net-kernel blk-kernel; do skip $s kernel-fronts; done
	fi
	if [ "$MODE" = bench ]; then
		if [ "$net" = ok ]; then step bench-net-kernel bench_net kernel $KERNEL_IP $KERNEL_PEER; else skip bench-net-kernel net-kernel; fi
		if [ "$blk" = ok ]; then step bench-blk-kernel bench_blk kernel "/dev/$(blkdev_of $KERNEL_VBD)"; else skip bench-blk-kernel blk-kernel; fi
	fi
	# Our fronts' steps plug in here; they see MODE, OURS_* and the functions above.
	for f in /etc/xenpv/steps.d/*.sh; do
		[ -f "$f" ] && . "$f"
	done
}

main
# The kernel log (the console shows only critical messages, see domU.cfg): perf/work/<mode>/results.
dmesg | gzip -9 >/tmp/dmesg.gz
blob log.dmesg.gz /tmp/dmesg.gz
