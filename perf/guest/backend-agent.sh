#!/bin/sh
# Dom0's stand-in for a toolstack that takes one of the domU's backends away and brings it back, on
# the domU's request, so that the domU can check that its fronts drop and reconnect (steps.d).
# Usage: backend-agent.sh DOMID (runs until killed).
#
# Protocol, through the domU's own data/ directory (writable by the domU, watched here):
#   domU writes data/xenpv-backend       "<seq> down|up vif|vbd <devid>"
#   dom0 answers data/xenpv-backend-done "<seq> ok|fail <detail>"
#
# down: the first half of `xl block-detach` / `xl network-detach` (libxl's generic device removal):
#   the backend's online = 0 and state = Closing (5). The front sees Closing and closes; netback and
#   blkback then go Closed and, the device being offline, unregister it (xenbus_dev_remove). The
#   xenstore directories stay, as they would until the toolstack removes them.
# up: an attach with the same directories: state = Initialising (1) and online = 1 make the
#   xen-backend bus probe the device again (it only probes a device whose backend state is
#   Initialising), netback / blkback go to InitWait and the front connects anew. A vif's new backend
#   interface needs the hotplug script (bridge, then hotplug-status = connected, without which
#   netback does not connect), as libxl runs it on attach.
#
# Why not unbind/bind through sysfs: netback and blkback both set allow_rebind (Linux 5.5+), which
# keeps the backend state Connected across an unbind and re-attaches to the same rings on bind: made
# to be invisible to the front, so it cannot show a front dropping and reconnecting.
. /etc/xenpv/lib.sh

DOMID=$1
DATA=/local/domain/$DOMID/data

be_path() { echo "/local/domain/0/backend/$1/$DOMID/$2"; }
be_dev() { echo "/sys/bus/xen-backend/devices/$1-$DOMID-$2"; }

backend_down() {
	be=$(be_path "$1" "$2")
	xenstore-write "$be/online" 0 "$be/state" 5 || return 1
	wait_for 20 sh -c "! test -e $(be_dev "$1" "$2")" || return 1
	echo "$1-$DOMID-$2 unregistered, backend state $(xenstore-read "$be/state")"
}

backend_up() {
	be=$(be_path "$1" "$2")
	xenstore-write "$be/state" 1 "$be/online" 1 || return 1
	wait_for 20 test -e "$(be_dev "$1" "$2")" || return 1
	if [ "$1" = vif ]; then
		wait_for 10 test -e "/sys/class/net/vif$DOMID.$2" || return 1
		vif=vif$DOMID.$2 XENBUS_PATH=$be /etc/xen/scripts/vif-bridge online || return 1
	else
		# blkback has opened the disk (physical-device) once it made these attributes.
		wait_for 10 test -e "$(be_dev "$1" "$2")/physical_device" || {
			ls "$(be_dev "$1" "$2")"
			xenstore-ls -f "$be"
			return 1
		}
	fi
	echo "$1-$DOMID-$2 probed again, backend state $(xenstore-read "$be/state")"
}

serve() {
	case "$2 $3" in
	"down vif" | "down vbd") backend_down "$3" "$4" ;;
	"up vif" | "up vbd") backend_up "$3" "$4" ;;
	*)
		echo "unknown request"
		return 1
		;;
	esac
}

last=
# The watch fires once when set, then on every write; a request is served once (by its seq).
xenstore-watch "$DATA/xenpv-backend" | while read -r _; do
	req=$(xenstore-read "$DATA/xenpv-backend" 2>/dev/null) || continue
	set -- $req
	[ "$1" = "$last" ] && continue
	last=$1
	if out=$(serve "$@" 2>&1); then r=ok; else r=fail; fi
	out=$(echo "$out" | tail -n 1)
	echo "backend-agent: $req: $r: $out"
	xenstore-write "$DATA/xenpv-backend-done" "$1 $r $out"
done
