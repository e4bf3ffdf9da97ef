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
	show_queue_keys "device/vif/$OURS_VIF" request-rx-copy feature-gso-tcpv4 multi-queue-num-queues \
		-- tx-ring-ref rx-ring-ref event-channel-tx event-channel-rx
	echo "$NET_DEV queues: $(ls /sys/class/net/$NET_DEV/queues | tr '\n' ' ')"
	ping -c 3 -W 5 -I "$OURS_IP" "$OURS_PEER"
	_rc=$?
	cat /tmp/xenpv-net.log
	return $_rc
}

# The backend goes away and comes back (dom0's backend-agent.sh: a toolstack detach and attach): the
# front logs the drop, nothing answers through the TAP meanwhile, and once the backend is back the
# front reconnects and ping answers again.
net_ours_reconnect() {
	backend_request down vif "$OURS_VIF" || return 1
	wait_for 10 grep -q "backend gone" /tmp/xenpv-net.log || return 1
	if ping -c 1 -W 1 -I "$OURS_IP" "$OURS_PEER" >/dev/null 2>&1; then
		echo "ping answered while the backend was away"
		return 1
	fi
	echo "no answer while the backend is away"
	backend_request up vif "$OURS_VIF" || return 1
	wait_for 20 grep -q reconnected /tmp/xenpv-net.log || return 1
	grep -E "gone|reconnected|->" /tmp/xenpv-net.log | tail -n 6
	ping -c 3 -W 5 -I "$OURS_IP" "$OURS_PEER"
}

if step net-ours net_ours; then
	[ "$MODE" = bench ] && step bench-net-ours bench_net xenpv "$OURS_IP" "$OURS_PEER"
	step net-ours-reconnect net_ours_reconnect
	step net-ours-closed stop_front net "device/vif/$OURS_VIF"
else
	skip net-ours-reconnect net-ours
	skip net-ours-closed net-ours
fi
