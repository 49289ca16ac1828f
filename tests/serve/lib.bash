# Shared set-up of the serve, push and S3 tests: the closure, keys and
# Nix-written caches of tests/net (nginx too), and castore serve started
# by the tests on a free loopback port and stopped by its PID.

source "$BATS_TEST_DIRNAME/../net/lib.bash"

# serve_start STORE LOG [serve options...]: castore serve on 127.0.0.1
# (any free port) in the background; sets SERVE_PID and SERVE_URL once it
# listens.
serve_start() {
	local store="$1" log="$2" i
	shift 2
	CASTORE_STORE="$store" "$CASTORE" serve --listen 127.0.0.1:0 "$@" 2> "$log" 3>&- &
	SERVE_PID=$!
	for i in $(seq 1 100); do
		SERVE_URL=$(sed -n 's/^castore serve: listening on \(http[^ ]*\).*/\1/p' "$log")
		[ -n "$SERVE_URL" ] && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "castore serve did not start:" >&2
	cat "$log" >&2
	return 1
}

# serve_stop: SIGTERM, and wait; sets SERVE_RC to its exit status.
serve_stop() {
	SERVE_RC=0
	[ -n "${SERVE_PID:-}" ] || return 0
	kill -TERM "$SERVE_PID" 2>/dev/null || true
	wait "$SERVE_PID" || SERVE_RC=$?
	SERVE_PID=
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
