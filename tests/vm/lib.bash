# Shared set-up of the virtiofs tests: the castore binary, the guest
# probe, the cached guest kernel, and daemons started and stopped by PID.

CASTORE="${CASTORE:-$BATS_TEST_DIRNAME/../../castore}"
VM_PROBE="${VM_PROBE:-$BATS_TEST_DIRNAME/../../build/tests/guest-probe}"
GEN_TREE="$BATS_TEST_DIRNAME/../gen-tree.py"
WALK="$BATS_TEST_DIRNAME/walk.py"
source "$BATS_TEST_DIRNAME/vm.bash"

# start_daemon SOCKET [OPTIONS...]: castore virtiofs in the background,
# waited for through --ready-fd; sets DAEMON_PID.  Its stderr goes to
# $DAEMON_LOG.
start_daemon() {
	local sock="$1" fifo line
	shift
	fifo=$(mktemp -u "${BATS_FILE_TMPDIR:-/tmp}/ready.XXXXXX")
	mkfifo "$fifo"
	"$CASTORE" virtiofs --socket-path "$sock" --ready-fd 9 "$@" \
		9>"$fifo" 3>&- 2>>"$DAEMON_LOG" &
	DAEMON_PID=$!
	if ! read -r -t 20 line < "$fifo" || [ "$line" != ready ]; then
		rm -f "$fifo"
		echo "castore virtiofs on $sock did not become ready" >&2
		return 1
	fi
	rm -f "$fifo"
}

# wait_exit PID SECONDS: wait for a daemon to end by itself; sets
# EXIT_RC.  Fails (and kills it) if it is still there after SECONDS.
wait_exit() {
	local pid="$1" n=$(( $2 * 10 ))
	while kill -0 "$pid" 2>/dev/null && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid"
		echo "daemon $pid did not exit" >&2
		return 1
	fi
	EXIT_RC=0
	wait "$pid" || EXIT_RC=$?
}

# section REPORT NAME: the lines of the guest report under "--- NAME".
section() {
	awk -v s="--- $2" '$0 == s { on = 1; next } /^--- / { on = 0 } on' "$1"
}

# field REPORT NAME KEY: the value after "KEY " in section NAME.
field() {
	section "$1" "$2" | awk -v k="$3" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }'
}
