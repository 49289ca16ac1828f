#!/usr/bin/env bats
# The cache quota of a substituting mount: paths Nix built, in a cache
# nginx serves, read through a mount whose store must stay under a quota.

load ../net/lib

NPATHS=8

setup_file() {
	net_setup_file
	# eight paths of 1 MiB each (random: the sizes are what they say)
	cat > "$F/q.nix" <<'NIX'
builtins.genList (i: builtins.derivation {
  name = "castore-quota-${toString i}"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "/bin/mkdir -p $out/d; /bin/dd if=/dev/urandom of=$out/d/big bs=1M count=1 2>/dev/null; echo ${toString i} > $out/n" ];
}) 8
NIX
	nix-build --no-out-link "$F/q.nix" > "$F/qpaths" 2>/dev/null
	[ "$(wc -l < "$F/qpaths")" -eq "$NPATHS" ]
	xargs nix copy --to "file://$F/cache-q?compression=none&secret-key=$F/sk" < "$F/qpaths" 2>/dev/null
}

teardown_file() {
	nginx_stop
}

setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	MNT="$BATS_TEST_TMPDIR/mnt"
	[ -e "$F/ngx/nginx.pid" ] || nginx_start
}

teardown() {
	end_mounts
}

# Bytes of the store's blob files.
store_bytes() {
	find "$CASTORE_STORE/blobs" -type f ! -path "$CASTORE_STORE/blobs/tmp/*" -printf '%s\n' |
		awk '{ s += $1 } END { print s + 0 }'
}

# The lastAccess of a store path.
last_access() {
	"$CASTORE" path-info --json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["lastAccess"])'
}

# clock_past SECONDS: the clock has passed that second.
clock_past() {
	[ "$(date +%s)" -gt "$1" ]
}

# Read every file of store path $1 through the mount; compare with Nix's.
read_path() {
	local b=${1#/nix/store/}
	cmp "$MNT/$b/d/big" "$1/d/big"
	cmp "$MNT/$b/n" "$1/n"
}

@test "a mount under a quota reads twice the quota and more, never holds more than quota + one path, serves every path again" {
	mkdir -p "$CASTORE_STORE"
	"$CASTORE" import --no-root "$F/q.nix" > /dev/null # makes the store
	start=$(date +%s)
	quota=$((3 * 1024 * 1024))
	one=$((1024 * 1024 + 64))
	mount_castore "$MNT" --substituter "$URL/cache-q" --trusted-public-key "$PK" \
		--cache-quota 3M
	# df shows the quota
	[ "$(stat -f -c '%b %S' "$MNT")" = "768 4096" ]
	max=0
	for round in 1 2; do
		while read -r p; do
			read_path "$p"
			size=$(store_bytes)
			[ "$size" -gt "$max" ] && max=$size
			[ "$size" -le $((quota + one)) ] || {
				echo "after $p: $size bytes in the store" >&2
				return 1
			}
		done < "$F/qpaths"
	done
	echo "largest store seen: $max bytes (quota $quota)" >&3
	# every path was fetched again after its eviction
	nars=$(requests 'GET /cache-q/nar/')
	echo "NAR downloads: $nars" >&3
	[ "$nars" -gt "$NPATHS" ]
	# evicted paths are cache entries, gone from the store; what stays
	# is whole
	run "$CASTORE" path-info --all
	[ "$(echo "$output" | grep -c '^/nix/store/.*castore-quota')" -lt "$NPATHS" ]
	unmount_castore "$MNT" "$MOUNT_PID"
	# cache entries, with the last use the mount wrote as it ended
	"$CASTORE" path-info --json --all | python3 -c '
import json, sys
ps = [p for p in json.load(sys.stdin) if "castore-quota" in p["path"]]
assert ps
for p in ps:
    assert p["root"] is False and p["lastAccess"] >= int(sys.argv[1]), p' "$start"
	run "$CASTORE" verify
	[ "$status" -eq 0 ]
}

@test "a path with an open file is never evicted under it; roots never are" {
	mkdir -p "$CASTORE_STORE"
	first=$(head -1 "$F/qpaths")
	rooted=$(sed -n 2p "$F/qpaths")
	"$CASTORE" fetch --trusted-public-key "$PK" --substituter "$URL/cache-q" "$rooted" > /dev/null
	before=$(last_access "$rooted")
	# last uses are whole seconds: the mount's use must fall in a later
	# one to be seen as later
	wait_for 10 "the clock to pass second $before" clock_past "$before"
	mount_castore "$MNT" --substituter "$URL/cache-q" --trusted-public-key "$PK" \
		--cache-quota 3M
	exec 5< "$MNT/${first#/nix/store/}/d/big"
	tail -n +3 "$F/qpaths" | while read -r p; do read_path "$p"; done
	tail -n +3 "$F/qpaths" | while read -r p; do read_path "$p"; done
	# still in the store, and its open file reads whole
	"$CASTORE" path-info "$first" > /dev/null
	cmp /dev/fd/5 "$first/d/big"
	exec 5<&-
	"$CASTORE" path-info "$rooted" > /dev/null
	read_path "$rooted"
	unmount_castore "$MNT" "$MOUNT_PID"
	# its use was recorded (written as the mount ended)
	[ "$(last_access "$rooted")" -gt "$before" ]
}

@test "--cache-quota takes a size, and not --no-open" {
	mkdir -p "$BATS_TEST_TMPDIR/m"
	# no OPEN reaches the daemon: it could evict a path with open files
	run "$CASTORE" mount --no-open --cache-quota 1M "$BATS_TEST_TMPDIR/m"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--cache-quota needs the OPEN requests that --no-open gives up"* ]]
	run "$CASTORE" mount -o no_open,cache_quota=1M "$BATS_TEST_TMPDIR/m"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--cache-quota needs the OPEN requests"* ]]
	if mountpoint -q "$BATS_TEST_TMPDIR/m"; then echo "mounted anyway"; false; fi
	run "$CASTORE" mount --cache-quota 0 "$BATS_TEST_TMPDIR/m"
	[ "$status" -eq 2 ]
	run "$CASTORE" mount --cache-quota lots "$BATS_TEST_TMPDIR/m"
	[ "$status" -eq 2 ]
	[[ "$output" == *"cache-quota takes a size"* ]]
}
