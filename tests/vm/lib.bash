# Shared set-up of the virtiofs tests: the castore binary, the guest
# probe, the cached guest kernel, and daemons started and stopped by PID.

CASTORE="${CASTORE:-$BATS_TEST_DIRNAME/../../castore}"
VM_PROBE="${VM_PROBE:-$BATS_TEST_DIRNAME/../../build/tests/guest-probe}"
GEN_TREE="$BATS_TEST_DIRNAME/../gen-tree.py"
WALK="$BATS_TEST_DIRNAME/walk.py"
source "$BATS_TEST_DIRNAME/vm.bash"
source "$BATS_TEST_DIRNAME/../lib/common.bash"

# start_daemon SOCKET [OPTIONS...]: castore virtiofs in the background,
# waited for through --ready-fd (a daemon that ends first closes it: no
# waiting out the bound); sets DAEMON_PID.  Its stderr goes to
# $DAEMON_LOG.
start_daemon() {
	local sock="$1" fifo line
	shift
	fifo=$(mktemp -u "${BATS_FILE_TMPDIR:-/tmp}/ready.XXXXXX")
	mkfifo "$fifo"
	"$CASTORE" virtiofs --socket-path "$sock" --ready-fd 9 "$@" \
		9>"$fifo" 3>&- 2>>"$DAEMON_LOG" &
	DAEMON_PID=$!
	if ! read -r -t 60 line < "$fifo" || [ "$line" != ready ]; then
		rm -f "$fifo"
		echo "castore virtiofs on $sock did not become ready:" >&2
		tail -20 "$DAEMON_LOG" >&2
		return 1
	fi
	rm -f "$fifo"
}

# wait_exit PID SECONDS [WANT]: wait for castore virtiofs to end (by
# itself when QEMU goes, or on a signal the test sent) and judge its end
# (tests/lib/common.bash: exit WANT, default 0, and no sanitizer report);
# sets EXIT_RC.  Fails, saying why, if it ended otherwise or is still
# there after SECONDS (then it is killed).
wait_exit() {
	local pid="$1" secs="$2" want="${3:-0}"
	[ "$pid" != "${DAEMON_PID:-}" ] || DAEMON_PID=
	EXIT_RC=
	if ! gone_within "$secs" "$pid"; then
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		echo "castore virtiofs (pid $pid) did not exit within $secs s"
		tail -20 "$DAEMON_LOG"
		return 1
	fi
	if ! wait_ended "castore virtiofs" "$pid" "$want"; then
		EXIT_RC=$ENDED_RC
		tail -20 "$DAEMON_LOG"
		return 1
	fi
	EXIT_RC=$ENDED_RC
}

# qemu_pid CONSOLE: the PID of the QEMU that vm_boot started with console
# file CONSOLE (from its -pidfile), once QEMU has written it.
qemu_pid() {
	[ -s "$1.pid" ] && cat "$1.pid"
}

# section REPORT NAME: the lines of the guest report under "--- NAME".
section() {
	awk -v s="--- $2" '$0 == s { on = 1; next } /^--- / { on = 0 } on' "$1"
}

# field REPORT NAME KEY: the value after "KEY " in section NAME.
field() {
	section "$1" "$2" | awk -v k="$3" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }'
}
