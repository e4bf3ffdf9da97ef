# xenpv-net (drivers/linux): the netif core on vif $OURS_VIF against the real netback, exposed as
# the TAP interface xenpv0 with the vif's MAC and $OURS_IP (dom0 is $OURS_PEER on that subnet).
NET_DEV=xenpv0

net_ours() {
	modprobe tun || return 1
	/opt/xenpv/bin/xenpv-net "$OURS_VIF" --tap $NET_DEV >/tmp/xenpv-net.log 2>&1 &
	echo $! >/tmp/xenpv-net.pid
	if ! wait_for 30 grep -q connected /tmp/xenpv-net.log; then
		cat /tmp/xenpv-net.log
		return 1
	fi
	ip link set $NET_DEV address "$(xenstore-read "device/vif/$OURS_VIF/mac")" &&
		ip addr add "$OURS_IP/24" dev $NET_DEV && ip link set $NET_DEV up || return 1
	be=$(xenstore-read "device/vif/$OURS_VIF/backend")
	for k in feature-gso-tcpv4 feature-gso-tcpv6 multi-queue-max-queues feature-split-event-channels; do
		echo "backend $k=$(xenstore-read "$be/$k" 2>/dev/null)"
	done
	for k in tx-ring-ref rx-ring-ref event-channel-tx event-channel-rx request-rx-copy feature-gso-tcpv4; do
		echo "frontend $k=$(xenstore-read "device/vif/$OURS_VIF/$k" 2>/dev/null)"
	done
	ping -c 3 -W 5 -I "$OURS_IP" "$OURS_PEER"
	_rc=$?
	cat /tmp/xenpv-net.log
	return $_rc
}

# SIGTERM leaves the vif Closed (6).
net_ours_closed() {
	pid=$(cat /tmp/xenpv-net.pid)
	kill -TERM "$pid"
	wait_for 15 sh -c "! kill -0 $pid"
	cat /tmp/xenpv-net.log
	echo "frontend state=$(xenstore-read "device/vif/$OURS_VIF/state")"
	[ "$(xenstore-read "device/vif/$OURS_VIF/state")" = 6 ]
}

if step net-ours net_ours; then
	[ "$MODE" = bench ] && step bench-net-ours bench_net xenpv "$OURS_IP" "$OURS_PEER"
	step net-ours-closed net_ours_closed
else
	skip net-ours-closed net-ours
fi
