#!/usr/bin/env bats
# A hostile cache: only NarHash, NarSize and the references of a narinfo
# are signed, so a mirror or a man in the middle controls the NAR stream
# of a legitimately signed path, and the pace of every answer.  castore
# must stop each attack quickly, with a clear error, storing nothing.
# The caches are real (written by Nix); the server misbehaving is
# hostile-cache.py, started here on loopback and stopped by its PID.

load ../net/lib

setup_file() {
	net_setup_file
	nginx_stop # this suite's server is the hostile one
	cp -r "$F/cache-xz" "$F/cache-bigdict"
	for x in "$F"/cache-bigdict/nar/*.xz; do
		python3 "$BATS_TEST_DIRNAME/hostile-cache.py" patch-xz "$x"
	done
	python3 "$BATS_TEST_DIRNAME/hostile-cache.py" serve "$F" "$F/port" 3>&- &
	echo $! > "$F/server.pid"
	wait_for 30 "hostile-cache.py to write its port to $F/port" test -s "$F/port"
	export HOSTILE="http://127.0.0.1:$(cat "$F/port")"
}

teardown_file() {
	kill "$(cat "$F/server.pid")" 2>/dev/null || true
}

setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
}

# hostile_fetch MODE CACHE PATH [ARGS]: fetch, bounded in time so that a
# castore that hangs fails the test instead of hanging it
hostile_fetch() {
	local mode="$1" cache="$2" path="$3"
	shift 3
	timeout 60 "$CASTORE" fetch --trusted-public-key "$PK" \
		--substituter "$HOSTILE/$mode/$cache" "$@" "$path"
}

@test "the server works: the same caches, undisturbed, are fetched" {
	run hostile_fetch ok cache-none "$DEP"
	[ "$status" = 0 ]
	[ "$output" = "$DEP" ]
	run hostile_fetch ok cache-xz "$TOP"
	[ "$status" = 0 ]
	# store parameters as nix.conf writes them are not part of the URLs
	rm -rf "$CASTORE_STORE"
	run hostile_fetch ok "cache-zstd?priority=40&trusted=1" "$TOP"
	echo "$output"
	[ "$status" = 0 ]
	[ "$output" = "$TOP" ]
}

@test "a NAR that runs past its NarSize is cut off one byte after it" {
	local size
	size=$(grep '^NarSize:' "$(narinfo_of cache-none "$DEP")" | cut -d' ' -f2)
	run hostile_fetch endless cache-none "$DEP"
	echo "$output"
	[ "$status" = 1 ]
	[[ "$output" == *"the NAR is longer than its NarSize"* ]]
	store_is_empty
	# castore stopped reading: what the server got out is bounded by the
	# buffers between it and the parser, not by the disk
	sent=$(cat "$F/sent-endless")
	echo "NarSize $size, server sent $sent"
	[ "$sent" -lt $((size + (64 << 20))) ]
}

@test "an xz stream with a 4 GiB dictionary is refused, not decoded" {
	run hostile_fetch bigdict cache-bigdict "$DEP"
	echo "$output"
	[ "$status" = 1 ]
	[[ "$output" == *"needs more memory to decode than castore allows (128 MiB)"* ]]
	store_is_empty
}

@test "a server that drips bytes is abandoned after the stall timeout" {
	local start end
	start=$(date +%s)
	run hostile_fetch drip cache-none "$DEP" --stall-timeout 2
	end=$(date +%s)
	echo "$output"
	[ "$status" = 1 ]
	[[ "$output" == *"Operation too slow. Less than 1024 bytes/sec transferred the last 2 seconds (--connect-timeout 10, --stall-timeout 2)"* ]]
	[ $((end - start)) -lt 15 ]
	store_is_empty
	run "$CASTORE" fetch --stall-timeout 0 --substituter "$HOSTILE/ok/cache-none" "$DEP"
	[ "$status" = 2 ]
	[[ "$output" == *"--stall-timeout takes 1..3600 seconds, not '0'"* ]]
}

# waits_on_daemon PID: PID sleeps in the kernel, its FUSE request not yet
# answered by the daemon.
waits_on_daemon() {
	[[ "$(cat "/proc/$1/wchan" 2>/dev/null)" == *request_wait_answer* ]]
}

# dead PID: PID has exited (a zombie until its parent waits, or gone).
dead() {
	local state
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -z "$state" ] || [ "$state" = Z ]
}

# killed_waiter WHAT PID: PID (a child of this shell) waits on the
# daemon; SIGKILL it, and it must die of it within 20 s (far less than
# the download it waits for: the mount's stall timeout is 600 s), and be
# reaped with exit 137.
killed_waiter() {
	local rc=0
	wait_for 30 "$1 to wait on the daemon" waits_on_daemon "$2"
	echo "$1 waits in $(cat "/proc/$2/wchan")"
	kill -9 "$2"
	wait_for 20 "$1 to die of its SIGKILL" dead "$2"
	wait "$2" || rc=$?
	[ "$rc" -eq 137 ] || { echo "$1: exit $rc, not 137 (SIGKILL)"; return 1; }
}

@test "a process killed while its lookup waits for a dripping cache dies at once" {
	local mnt="$BATS_TEST_TMPDIR/mnt" name=${DEP#/nix/store/}
	"$CASTORE" import /usr/include/linux/netfilter > "$BATS_TEST_TMPDIR/local"
	for args in "" "--no-uring"; do
		# the cache drips for ever and the stall timeout is long: only
		# the daemon cancelling the wait can let a killed caller go
		CASTORE_MOUNT_ARGS="$args" mount_castore "$mnt" --stall-timeout 600 \
			--substituter "$HOSTILE/drip/cache-none" --trusted-public-key "$PK"
		stat "$mnt/$name" > /dev/null 2>&1 3>&- &
		killed_waiter "mode '$args': a stat" $!
		# the daemon serves on: a local path; and the download goes on
		# for others: a second stat of the name waits for it (so the
		# first died before the daemon answered), and is killed alike
		ls "$mnt/$(basename "$(cat "$BATS_TEST_TMPDIR/local")")" > /dev/null
		stat "$mnt/$name" > /dev/null 2>&1 3>&- &
		killed_waiter "mode '$args': a second stat" $!
		unmount_castore "$mnt" "$MOUNT_PID"
	done
}

@test "nix.conf's substituters, keys and netrc-file serve where options are absent" {
	local conf="$BATS_TEST_TMPDIR/nixconf"
	mkdir -p "$conf"
	printf 'machine 127.0.0.1\nlogin castore\npassword secret\n' > "$conf/netrc"
	cat > "$conf/nix.conf" <<CONF
# as a Nix user writes it
substituters = $HOSTILE/auth/cache-xz?priority=40
trusted-public-keys = $WRONG_PK
CONF
	# NIX_CONFIG comes after the file: an extra key, and no 'substituters ='
	run env NIX_CONF_DIR="$conf" NIX_CONFIG="extra-trusted-public-keys = $PK" \
		NIX_USER_CONF_FILES=/nonexistent timeout 60 "$CASTORE" fetch "$DEP"
	echo "$output"
	[ "$status" = 0 ]
	[ "$output" = "$DEP" ]
	# without the netrc the cache refuses: the error says so
	rm -rf "$CASTORE_STORE" "$conf/netrc"
	run env NIX_CONF_DIR="$conf" NIX_CONFIG="extra-trusted-public-keys = $PK" \
		NIX_USER_CONF_FILES=/nonexistent timeout 60 "$CASTORE" fetch "$DEP"
	echo "$output"
	[ "$status" = 1 ]
	[[ "$output" == *"HTTP status 401"* ]]
	# --no-nix-conf: nothing is taken from it
	run env NIX_CONF_DIR="$conf" NIX_CONFIG= NIX_USER_CONF_FILES=/nonexistent \
		"$CASTORE" fetch --no-nix-conf "$DEP"
	[ "$status" = 2 ]
	[[ "$output" == *"no --substituter given"* ]]
}
