# Helpers for the guest scripts (sourced). Everything the host parses is a marker line:
#   @@XENPV <role> begin <step> [detail]      a step starts
#   @@XENPV <role> ok <step> [detail]         it passed
#   @@XENPV <role> fail <step> [detail]       it failed (detail: exit code and last output line)
#   @@XENPV <role> skip <step> [detail]       not run (a step it needs failed)
#   @@XENPV <role> done all                   the role finished
# and result blobs (a file, base64, line by line, then its byte count for the host to check):
#   @@XENPV-DATA <name> <base64 line>
#   @@XENPV-BLOB <name> <bytes>
# The host side is xtask/src/vm/markers.rs.

mark() { echo "@@XENPV $ROLE $*"; }

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# step NAME COMMAND...: runs COMMAND with its output indented in the log and reports the outcome.
# Returns COMMAND's status so callers can skip what depends on it.
step() {
	_name=$1
	shift
	mark begin "$_name"
	_t0=$(uptime_s)
	"$@" >/tmp/step.out 2>&1
	_rc=$?
	sed 's/^/    /' /tmp/step.out
	_dt=$(awk -v a="$_t0" -v b="$(uptime_s)" 'BEGIN { printf "%.2fs", b - a }')
	if [ $_rc -eq 0 ]; then
		mark ok "$_name" "$_dt"
	else
		mark fail "$_name" "rc=$_rc after $_dt: $(tail -n 1 /tmp/step.out)"
	fi
	return $_rc
}

skip() { mark skip "$1" "needs $2"; }

# blob NAME FILE: emits FILE's contents as a result blob.
blob() {
	base64 "$2" | sed "s/^/@@XENPV-DATA $1 /"
	echo "@@XENPV-BLOB $1 $(wc -c <"$2")"
}

# wait_for SECONDS COMMAND...: retries COMMAND every 0.2 s until it succeeds or time runs out.
wait_for() {
	_n=$(($1 * 5))
	shift
	while [ $_n -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		_n=$((_n - 1))
	done
	echo "timed out waiting for: $*"
	return 1
}

# Kernel command line value: arg NAME DEFAULT
arg() {
	_v=$(sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline)
	echo "${_v:-$2}"
}
