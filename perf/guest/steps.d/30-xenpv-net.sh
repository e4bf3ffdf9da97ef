# xenpv-net (drivers/linux): the netif core on vif $OURS_VIF against the real netback, exposed as
# the TAP interface xenpv0 with the vif's MAC and $OURS_IP (dom0 is $OURS_PEER on that subnet).
# Two queues (dom0's netback offers two): the domU has one vCPU, so they share it, but each has its
# own rings, event channels and TAP queue, and flows spread over them both ways.
NET_DEV=xenpv0
NET_QUEUES=2

net_ours() {
	modprobe tun || return 1
	/opt/xenpv/bin/xenpv-net "$OURS_VIF" --tap $NET_DEV --queues $NET_QUEUES >/tmp/xenpv-net.log 2>&1 &
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
	[ "$(xenstore-read "device/vif/$OURS_VIF/multi-queue-num-queues")" = $NET_QUEUES ] &&
		[ "$(ls -d /sys/class/net/$NET_DEV/queues/tx-* | wc -l)" = $NET_QUEUES ] && return $_rc
}

# Sixteen TCP flows both ways: the TAP spreads them over its queues by flow hash, netback over its
# own; one flow leaving a queue idle has a chance of 2^-15.
net_ours_flows() {
	iperf3 -c "$OURS_PEER" -B "$OURS_IP" -P 16 -t 2 | tail -n 3 &&
		iperf3 -c "$OURS_PEER" -B "$OURS_IP" -P 16 -t 2 -R | tail -n 3
}

# Every queue moved packets both ways since the last connect (the counts the front logs on exit).
net_ours_queues_used() {
	grep "queue .*since the last connect" /tmp/xenpv-net.log
	[ "$(grep -c "queue .*since the last connect" /tmp/xenpv-net.log)" = $NET_QUEUES ] &&
		! grep -E "queue .*: (tx 0 |.*rx 0 )" /tmp/xenpv-net.log
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
	step net-ours-flows net_ours_flows
	step net-ours-closed stop_front net "device/vif/$OURS_VIF"
	step net-ours-queues-used net_ours_queues_used
else
	for s in net-ours-reconnect net-ours-flows net-ours-closed net-ours-queues-used; do skip $s net-ours; done
fi
