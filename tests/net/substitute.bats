#!/usr/bin/env bats
# Substituters: real Nix writes the caches, real nginx serves them; castore
# fetches eagerly (fetch) and lazily (mount), and refuses what it cannot
# verify without changing the store.

load lib

setup_file() {
	net_setup_file
}

teardown_file() {
	nginx_stop
}

setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	MNT="$BATS_TEST_TMPDIR/mnt"
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
	[ -e "$F/ngx/nginx.pid" ] || nginx_start
}

teardown() {
	end_mounts
}

fetch() {
	"$CASTORE" fetch --trusted-public-key "$PK" "$@"
}

# receiving: a download is being written into the store (a temp blob
# with bytes in it: nginx logs a request only once it has ended).
receiving() {
	[ -n "$(find "$CASTORE_STORE/blobs/tmp" -type f -size +0 2>/dev/null)" ]
}

@test "fetch --recursive brings the closure with Nix's NarHash, NarSize, references, deriver, signature" {
	run fetch --recursive --substituter "$URL/cache-xz" "$TOP"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | sort)" = "$(printf '%s\n' "$DEP" "$TOP" | sort)" ]
	for p in "$TOP" "$DEP"; do
		"$CASTORE" path-info --json "$p" > "$WORK/ours.json"
		nix path-info --json "$p" > "$WORK/nix.json"
		python3 - "$WORK/ours.json" "$WORK/nix.json" <<'PY'
import json, sys
ours, nix = (json.load(open(f)) for f in sys.argv[1:])
ours = ours[0] if isinstance(ours, list) else ours
nix = nix[0] if isinstance(nix, list) else nix
for k in ("path", "narHash", "narSize", "references", "deriver"):
    assert ours[k] == nix[k], (k, ours[k], nix[k])
assert ours["signatures"] and ours["signatures"][0].startswith("test-key-1:"), ours
PY
		"$CASTORE" export "$p" | cmp - <(nix-store --dump "$p")
	done
	"$CASTORE" verify
	# everything present: nothing downloaded, every path printed
	before=$(requests 'GET /cache-xz/')
	run fetch --recursive --substituter "$URL/cache-xz" "$TOP"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | sort)" = "$(printf '%s\n' "$DEP" "$TOP" | sort)" ]
	[ "$(requests 'GET /cache-xz/')" = "$before" ]
}

@test "fetch keeps its connection alive: narinfo and NAR of a closure on one connection" {
	start=$(wc -l < "$F/ngx/logs/access.log")
	run fetch --recursive --jobs 1 --substituter "$URL/cache-zstd" "$TOP"
	[ "$status" -eq 0 ]
	tail -n +"$((start + 1))" "$F/ngx/logs/access.log" > "$WORK/log"
	cat "$WORK/log"
	# two narinfos and two NARs
	[ "$(grep -c '/cache-zstd/' "$WORK/log")" -eq 4 ]
	[ "$(grep -o 'conn=[0-9]*' "$WORK/log" | sort -u | wc -l)" -eq 1 ]
}

@test "fetch without --recursive brings only the path; file:// caches work" {
	run fetch --substituter "file://$F/cache-zstd" "$TOP"
	[ "$status" -eq 0 ]
	[ "$output" = "$TOP" ]
	"$CASTORE" path-info "$TOP" > /dev/null
	run "$CASTORE" path-info "$DEP"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$DEP' is not in the store"* ]]
}

@test "mount with a substituter: paths appear on lookup, identical to Nix's (xz, zstd, bzip2, gzip, br, none)" {
	for c in xz zstd bzip2 gzip br none; do
		rm -rf "$CASTORE_STORE"
		mount_castore "$MNT" --substituter "$URL/cache-$c" --trusted-public-key "$PK"
		diff -r --no-dereference "$TOP" "$MNT/${TOP#/nix/store/}"
		diff -r --no-dereference "$DEP" "$MNT/${DEP#/nix/store/}"
		[ "$("$MNT/${TOP#/nix/store/}/bin/hello")" = hi ]
		unmount_castore "$MNT" "$MOUNT_PID"
		# what the mount fetched is in the store for good
		"$CASTORE" path-info "$DEP" | grep -q "references"
	done
}

@test "a wrong trusted key: refused, store unchanged; --no-require-sigs accepts" {
	run "$CASTORE" fetch --substituter "$URL/cache-xz" --trusted-public-key "$WRONG_PK" "$TOP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no valid signature by a trusted key"* ]]
	store_is_empty
	run "$CASTORE" fetch --substituter "$URL/cache-xz" "$TOP"
	[ "$status" -eq 2 ]
	[[ "$output" == *"without --trusted-public-key"* ]]
	mount_castore "$MNT" --substituter "$URL/cache-xz" --trusted-public-key "$WRONG_PK"
	[ "$(errno_of "os.stat('$MNT/${TOP#/nix/store/}')")" = EIO ]
	unmount_castore "$MNT" "$MOUNT_PID"
	store_is_empty
	run "$CASTORE" fetch --substituter "$URL/cache-xz" --no-require-sigs "$TOP"
	[ "$status" -eq 0 ]
}

@test "a tampered narinfo: the signature no longer holds; with --no-require-sigs the NAR does not match" {
	c=$(cache_copy tampered-narinfo cache-none)
	ni=$(narinfo_of "$c" "$DEP")
	size=$(awk '/^NarSize:/ {print $2}' "$ni")
	sed -i "s/^NarSize: .*/NarSize: $((size + 8))/" "$ni"
	run fetch --substituter "$URL/$c" "$DEP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no valid signature"* ]]
	store_is_empty
	run "$CASTORE" fetch --no-require-sigs --substituter "$URL/$c" "$DEP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"NarHash/NarSize"* ]]
	store_is_empty
}

@test "a tampered NAR: the hash check fails before anything is stored" {
	c=$(cache_copy tampered-nar cache-none)
	nar="$F/$c/$(awk '/^URL:/ {print $2}' "$(narinfo_of "$c" "$DEP")")"
	# flip one byte in the middle of the 4 MiB file's contents
	flip_byte "$nar" 2000000
	run fetch --substituter "$URL/$c" "$DEP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not match FileHash/FileSize"* ]]
	store_is_empty
	# and through the mount: EIO, and the mount stays up
	mount_castore "$MNT" --substituter "$URL/$c" --trusted-public-key "$PK"
	[ "$(errno_of "os.listdir('$MNT/${DEP#/nix/store/}')")" = EIO ]
	mountpoint -q "$MNT"
	unmount_castore "$MNT" "$MOUNT_PID"
	store_is_empty
}

@test "a path in no cache: fetch says so (exit 1), the mount gives ENOENT; misses are remembered" {
	missing=/nix/store/00000000000000000000000000000000-missing
	run fetch --substituter "$URL/cache-xz" --substituter "file://$F/cache-none" "$missing"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not in any substituter"* ]]
	mount_castore "$MNT" --substituter "$URL/cache-xz" --trusted-public-key "$PK"
	before=$(requests "00000000000000000000000000000000.narinfo")
	[ "$(errno_of "os.stat('$MNT/${missing#/nix/store/}')")" = ENOENT ]
	# no event to wait on: the kernel forgets the negative entry after the
	# 1 s the daemon gives it (FS_ROOT_NEGATIVE_TIMEOUT); sleep decides
	# nothing, the request count below proves the daemon was asked again
	sleep 1.2
	asked=$(root_counter requests)
	[ "$(errno_of "os.stat('$MNT/${missing#/nix/store/}')")" = ENOENT ]
	# the daemon had the lookup (one request more than the counter's read)
	[ $(( $(root_counter requests) - asked )) -ge 2 ]
	# and answered it from memory: one narinfo request in all
	after=$(requests "00000000000000000000000000000000.narinfo")
	[ $((after - before)) -eq 1 ]
}

@test "a second cache is tried when the first lacks the path" {
	mkdir -p "$F/empty-cache"
	run fetch --substituter "$URL/empty-cache" --substituter "$URL/cache-zstd" "$TOP"
	[ "$status" -eq 0 ]
	[ "$output" = "$TOP" ]
}

@test "a truncated transfer and a stopped server: clean failures, store unchanged, the mount stays up" {
	printf 'local\n' > "$WORK/l"
	local_path=$("$CASTORE" import "$WORK/l")
	blobs_before=$(find "$CASTORE_STORE/blobs" -type f | sort)
	# the 4 MiB NAR at 512 KiB/s: stop nginx in the middle of it
	# (castore itself, not the fetch function: its PID is the one judged)
	"$CASTORE" fetch --trusted-public-key "$PK" --substituter "$URL/slow/cache-none" "$DEP" > "$WORK/out" 2>&1 3>&- &
	pid=$!
	wait_for 60 "the NAR to arrive in the store's temp files" receiving
	nginx_stop
	wait_ended "castore fetch" "$pid" 1
	cat "$WORK/out"
	grep -q "transfer closed with .* bytes remaining to read" "$WORK/out"
	[ "$(find "$CASTORE_STORE/blobs" -type f | sort)" = "$blobs_before" ]
	run "$CASTORE" path-info "$DEP"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$DEP' is not in the store"* ]]
	# the server is gone: fetch fails, a mount answers EIO and keeps serving
	run fetch --substituter "$URL/cache-none" "$DEP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Failed to connect to 127.0.0.1"* ]]
	mount_castore "$MNT" --substituter "$URL/cache-none" --trusted-public-key "$PK"
	[ "$(errno_of "os.stat('$MNT/${DEP#/nix/store/}')")" = EIO ]
	[ "$(cat "$MNT/${local_path#/nix/store/}")" = local ]
	[ "$(find "$CASTORE_STORE/blobs" -type f | sort)" = "$blobs_before" ]
}

@test "eight readers of one uncached path: one download" {
	mount_castore "$MNT" --substituter "$URL/slow/cache-none" --trusted-public-key "$PK"
	narinfos=$(requests "GET /slow/cache-none/${DEP:11:32}.narinfo")
	nars=$(requests "GET /slow/cache-none/nar/")
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		cmp "$DEP/share/big" "$MNT/${DEP#/nix/store/}/share/big" &
		pids+=($!)
	done
	# the same hash under other names: separate lookups (the kernel
	# merges only lookups of one name), one download still
	for i in 1 2 3 4; do
		[ "$(errno_of "os.stat('$MNT/${DEP:11:32}-other$i')")" = ENOENT ] &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do wait "$pid"; done
	[ $(( $(requests "GET /slow/cache-none/${DEP:11:32}.narinfo") - narinfos )) -eq 1 ]
	[ $(( $(requests "GET /slow/cache-none/nar/") - nars )) -eq 1 ]
}

@test "a slow download does not stall lookups of local paths" {
	printf 'local\n' > "$WORK/l"
	local_path=$("$CASTORE" import "$WORK/l")
	mount_castore "$MNT" --substituter "$URL/slow/cache-none" --trusted-public-key "$PK"
	stat "$MNT/${DEP#/nix/store/}" > /dev/null &
	pid=$!
	wait_for 60 "the download to arrive in the store's temp files" receiving
	# the 4 MiB download takes ~8 s; the local path answers meanwhile
	timeout 2 cat "$MNT/${local_path#/nix/store/}" > "$WORK/got"
	[ "$(cat "$WORK/got")" = local ]
	kill -0 "$pid" # still downloading
	wait "$pid"
}
