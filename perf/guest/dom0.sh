#!/bin/sh
# Dom0: brings up the Xen back ends and toolstack, starts the test domU from the data disk, relays its
# console, waits for it to finish and writes what it reported to the results disk.
#
# Host disks (virtio): /dev/vda = data (tar: vmlinux, domU.img, domU.cfg), /dev/vdb = results (a tar
# written here). Kernel command line: xdomu_timeout=<seconds> bounds the wait for the domU.
. /etc/xenpv/lib.sh

DISK_MIB=128 # size of each brd ram disk behind the domU's twin vbds
CONSOLE=/var/log/xen/console/guest-domU.log
RESULTS=/tmp/results

modules() {
	# Two queues per vif and vbd: dom0's one vCPU would otherwise cap both back ends at one.
	modprobe xen-netback max_queues=2 && modprobe xen-blkback max_queues=2 || return 1
	for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-netback xen-blkback \
		virtio_blk bridge; do
		modprobe $m || return 1
	done
	modprobe brd rd_nr=2 rd_size=$((DISK_MIB * 1024))
}

xenfs() {
	mkdir -p /proc/xen
	mount -t xenfs xenfs /proc/xen && grep -q control_d /proc/xen/capabilities
}

toolstack() {
	mkdir -p /var/run/xenstored /var/lib/xenstored /var/log/xen/console /var/lib/xen
	xenstored --pid-file /run/xenstored.pid || return 1
	wait_for 10 xenstore-list / || return 1
	xen-init-dom0 || return 1
	xenconsoled --log=guest --log-dir=/var/log/xen/console --pid-file=/run/xenconsoled.pid || return 1
	xl info | grep -E 'xen_version|xen_caps|nr_cpus|total_memory|free_memory|xen_commandline'
}

backends() {
	ls /sys/bus/xen-backend/drivers
	[ -d /sys/bus/xen-backend/drivers/vif ] && [ -d /sys/bus/xen-backend/drivers/vbd ]
}

# One bridge for both vifs, with an address in each front's subnet: the kernel's vif uses
# 10.9.0.0/24 and ours 10.9.1.0/24, so the domU routes each front's traffic through its own device.
bridge() {
	brctl addbr xenbr0 &&
		ip addr add 10.9.0.1/24 dev xenbr0 &&
		ip addr add 10.9.1.1/24 dev xenbr0 &&
		ip link set xenbr0 up
}

data() {
	wait_for 10 test -b /dev/vda || return 1
	tar -xf /dev/vda -C /data && ls -l /data
}

# The domU's console log, as it grows, on our console (so on the serial log), without result blobs.
relay() {
	wait_for 30 test -f $CONSOLE || return
	tail -n +1 -f $CONSOLE | while IFS= read -r line; do
		case $line in
		*@@XENPV-DATA*) ;;
		*) echo "[domU] $line" ;;
		esac
	done
}

# backend_ready DOMID DEV: the backend is ready for a front (InitWait or later) — or the domU is
# gone, which a short-lived guest (the metal kernel) may be before dom0 looks: no point waiting.
backend_ready() {
	[ "$(xenstore-read /local/domain/0/backend/$2/state)" -ge 2 ] 2>/dev/null ||
		! xenstore-exists /local/domain/$1
}

domu_backends() {
	domid=$(xl domid domU) || return 1
	for be in vif/$domid/0 vif/$domid/1 vbd/$domid/51712 vbd/$domid/51728; do
		wait_for 20 backend_ready $domid $be || return 1
		if ! xenstore-exists /local/domain/$domid; then
			echo "domain $domid already gone"
			return 0
		fi
		echo "backend/$be state=$(xenstore-read /local/domain/0/backend/$be/state)" \
			"hotplug=$(xenstore-read /local/domain/0/backend/$be/hotplug-status)"
	done
}

# metal_ready DOMID N: the metal guest says it waits for suspend request N (or it has ended).
metal_ready() {
	wait_for 120 sh -c "[ \"\$(xenstore-read /local/domain/$1/data/metal-suspend)\" = 'ready $2' ] ||
		! xenstore-exists /local/domain/$1" || return 1
	xenstore-exists /local/domain/$1 || { echo "domain $1 ended before it was ready"; return 1; }
}

# Metal mode: a checkpoint (xl save -c: the guest suspends, the save is written, the guest's
# suspend returns "cancelled" and it carries on), then xl save + xl restore (it resumes in a new
# domain). The guest says when it is ready and answers each control/shutdown request itself.
metal_save_restore() {
	domid=$(xl domid domU) || return 1
	metal_ready $domid 1 || return 1
	xl save -c domU /tmp/metal.ckpt || return 1
	echo "checkpoint of domain $domid: $(wc -c </tmp/metal.ckpt) bytes, domain $(xl domid domU) runs on"
	rm -f /tmp/metal.ckpt
	metal_ready $domid 2 || return 1
	xl save domU /tmp/metal.save || return 1
	echo "saved domain $domid: $(wc -c </tmp/metal.save) bytes"
	xl restore /tmp/metal.save || return 1
	echo "restored as domain $(xl domid domU)"
	rm -f /tmp/metal.save
}

domu_finished() {
	_limit=$(arg xdomu_timeout 600)
	_n=0
	while xl domid domU >/dev/null 2>&1; do
		if [ $_n -ge "$_limit" ]; then
			echo "domU still running after ${_limit}s:"
			xl list
			return 1
		fi
		sleep 1
		_n=$((_n + 1))
	done
	echo "domU gone after ${_n}s"
}

collect() {
	mkdir -p $RESULTS
	cp $CONSOLE $RESULTS/domU-console.log 2>/dev/null
	cp /var/log/xen/hotplug.log $RESULTS/ 2>/dev/null
	cp /var/log/xen/xl-domU.log $RESULTS/ 2>/dev/null
	xl dmesg >$RESULTS/xl-dmesg.log 2>&1
	dmesg >$RESULTS/dom0-dmesg.log
	tar -cf /dev/vdb -C $RESULTS . && sync
}

main() {
	step modules modules || return
	step xenfs xenfs || return
	step toolstack toolstack || return
	step backends backends || return
	step bridge bridge || return
	step data data || return
	step iperf3-server iperf3 -s -D
	step xl-create xl create /data/domU.cfg || return
	relay &
	RELAY=$!
	step domu-backends domu_backends
	# Takes a backend away and back when the domU asks (its reconnect steps).
	sh /etc/xenpv/backend-agent.sh "$(xl domid domU)" &
	AGENT=$!
	[ -f /data/metal ] && step metal-save-restore metal_save_restore
	step domu-finished domu_finished
	sleep 1 # let the relay print the last lines
	kill $RELAY $AGENT 2>/dev/null
}

main
step collect collect
