# Shared set-up of the serve, push and S3 tests: the closure, keys and
# Nix-written caches of tests/net (nginx too), and castore serve started
# by the tests on a free loopback port and stopped by its PID.

source "$BATS_TEST_DIRNAME/../net/lib.bash"

# serve_start STORE LOG [serve options...]: castore serve on 127.0.0.1
# (any free port) in the background; sets SERVE_PID and SERVE_URL once it
# says it listens.  Fails, with its log, if it ends first or does not
# listen within $SERVE_START_SECONDS (default 60).
serve_start() {
	local store="$1" log="$2" deadline
	shift 2
	: > "$log"
	CASTORE_STORE="$store" "$CASTORE" serve --listen 127.0.0.1:0 "$@" 2> "$log" 3>&- &
	SERVE_PID=$!
	deadline=$(( $(date +%s) + ${SERVE_START_SECONDS:-60} ))
	while :; do
		SERVE_URL=$(sed -n 's/^castore serve: listening on \(http[^ ]*\).*/\1/p' "$log")
		[ -z "$SERVE_URL" ] || return 0
		if ! kill -0 "$SERVE_PID" 2>/dev/null; then
			echo "castore serve ended before it listened:" >&2
			break
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "castore serve did not listen within ${SERVE_START_SECONDS:-60} s:" >&2
			break
		fi
		sleep 0.05
	done
	cat "$log" >&2
	return 1
}

# serve_stop: SIGTERM, wait, and judge its end (tests/lib/common.bash):
# castore serve exits 0 on SIGTERM and leaves no sanitizer report; fails
# otherwise.  Sets SERVE_RC to its exit status.
serve_stop() {
	local pid="${SERVE_PID:-}"
	SERVE_RC=0
	[ -n "$pid" ] || return 0
	SERVE_PID=
	kill -TERM "$pid" 2>/dev/null || true
	# (and on, should a failed test have left it stopped)
	kill -CONT "$pid" 2>/dev/null || true
	wait_ended "castore serve" "$pid" 0 || { SERVE_RC=$ENDED_RC; return 1; }
	SERVE_RC=$ENDED_RC
}

# serve_killed: castore serve was sent SIGKILL by the test: wait for it
# (exit 137) and judge its end as serve_stop does.
serve_killed() {
	local pid="$SERVE_PID"
	SERVE_PID=
	wait_ended "castore serve (SIGKILLed)" "$pid" 137
}

# A store holding the closure, fetched from the signed xz cache.
serve_store_make() {
	local store="$1"
	CASTORE_STORE="$store" "$CASTORE" fetch -r --no-nix-conf \
		--substituter "file://$F/cache-xz" --trusted-public-key "$PK" "$TOP" > /dev/null
}

# nix_realise DIR URL KEY: Nix 2.8 substitutes $TOP into a chroot store
# (with a narinfo cache of its own: Nix keeps narinfos it uploaded or read
# for a month, keyed by the cache's URL).
nix_realise() {
	XDG_CACHE_HOME="$1.cache" nix-store --store "$1" --realise "$TOP" \
		--option substituters "$2" --option trusted-public-keys "$3"
}

# same_as_nix DIR PATH...: each path in Nix store DIR dumps as the
# system Nix's copy does.
same_as_nix() {
	local dir="$1" p
	shift
	for p in "$@"; do
		cmp <(nix-store --store "$dir" --dump "$p") <(nix-store --dump "$p")
	done
}

# hash_of PATH: the 32-character hash of a store path.
hash_of() {
	local b=${1#/nix/store/}
	echo "${b%%-*}"
}

# raw_request TEXT: send TEXT (printf escapes) to castore serve on one
# connection; print the status line of the reply ("" if it closed).
raw_request() {
	printf "$1" | timeout 10 python3 -c '
import socket, sys
host, port = sys.argv[1].split("//")[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(sys.stdin.buffer.read())
data = b""
while b"\r\n" not in data:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode("latin-1").split("\r\n")[0])' "$SERVE_URL"
}
