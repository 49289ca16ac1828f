#!/usr/bin/env bats
# Roots, gc, delete and inventory on real closures: Nix builds them and
# writes the binary cache, nginx serves it, castore fetches from it.

load ../net/lib

setup_file() {
	net_setup_file
}

teardown_file() {
	nginx_stop
}

setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
	[ -e "$F/ngx/nginx.pid" ] || nginx_start
}

fetch() {
	"$CASTORE" fetch --trusted-public-key "$PK" --substituter "$URL/cache-zstd" "$@"
}

# The blob files of the store, one per line (digest names).
blob_files() {
	find "$CASTORE_STORE/blobs" -type f ! -path "$CASTORE_STORE/blobs/tmp/*" -printf '%f\n' | sort
}

# The deleted paths a gc or delete printed (its lines that are paths).
printed_paths() {
	echo "$1" | grep '^/nix/store/' | sort || true
}

# The lastAccess of a store path (whole seconds), and its NAR size.
last_access() {
	"$CASTORE" path-info --json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["lastAccess"])'
}
nar_size() {
	"$CASTORE" path-info --json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["narSize"])'
}

# clock_past SECONDS: the clock has passed that second.
clock_past() {
	[ "$(date +%s)" -gt "$1" ]
}


# A tree of n small files (one of them given content), and its store path.
make_tree() {
	local dir="$1" n="$2" shared="${3:-}" i
	mkdir -p "$dir"
	for i in $(seq 1 "$n"); do echo "$dir file $i" > "$dir/f$i"; done
	[ -z "$shared" ] || echo "$shared" > "$dir/shared"
}

@test "fetch -r roots the named path only; its references live through it; root remove then gc takes the closure" {
	run fetch -r "$TOP"
	[ "$status" -eq 0 ]
	run "$CASTORE" root list
	[ "$status" -eq 0 ]
	[ "$output" = "$TOP" ]
	"$CASTORE" path-info --json "$DEP" | python3 -c 'import json,sys; p=json.load(sys.stdin)[0]; assert p["root"] is False and p["lastAccess"] > 0, p'
	"$CASTORE" path-info --json "$TOP" | python3 -c 'import json,sys; p=json.load(sys.stdin)[0]; assert p["root"] is True, p'
	# a tree added without a root is all there is to collect
	make_tree "$WORK/junk" 5
	junk=$("$CASTORE" import --no-root "$WORK/junk")
	before=$(blob_files)
	run "$CASTORE" gc --dry-run
	[ "$status" -eq 0 ]
	[ "$(printed_paths "$output")" = "$junk" ]
	[[ "$output" == *"1 store path would be deleted"* ]]
	# the dry run changed nothing
	[ "$(blob_files)" = "$before" ]
	"$CASTORE" path-info "$junk" > /dev/null
	run "$CASTORE" gc
	[ "$status" -eq 0 ]
	[ "$(printed_paths "$output")" = "$junk" ]
	run "$CASTORE" path-info "$junk"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$junk' is not in the store"* ]]
	for p in "$TOP" "$DEP"; do
		"$CASTORE" export "$p" | cmp - <(nix-store --dump "$p")
	done
	"$CASTORE" verify
	# without its root the closure is garbage
	"$CASTORE" root remove "$TOP"
	run "$CASTORE" root list
	[ -z "$output" ]
	run "$CASTORE" gc
	[ "$status" -eq 0 ]
	[ "$(printed_paths "$output")" = "$(printf '%s\n' "$DEP" "$TOP" | sort)" ]
	[ -z "$(blob_files)" ]
	run "$CASTORE" path-info --all
	[ -z "$output" ]
	"$CASTORE" verify
}

@test "gc frees exactly the unreachable blobs' bytes; blobs shared with a root stay" {
	make_tree "$WORK/kept" 20 "common content"
	make_tree "$WORK/gone" 30 "common content"
	kept=$("$CASTORE" import "$WORK/kept")
	gone=$("$CASTORE" import --no-root "$WORK/gone")
	# what only the garbage tree holds: its 30 own files
	want=$(cat "$WORK"/gone/f* | wc -c)
	run "$CASTORE" gc --dry-run
	[[ "$output" == *"would be deleted, $want bytes"* ]]
	run "$CASTORE" gc
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 store path deleted, $want bytes"* ]]
	[[ "$output" == *"(1 directory, 30 blobs)"* ]]
	"$CASTORE" export "$kept" | cmp - <(nix-store --dump "$WORK/kept")
	"$CASTORE" cat "$kept/shared" | grep -qx "common content"
	run "$CASTORE" path-info "$gone"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$gone' is not in the store"* ]]
	run "$CASTORE" verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"(0 unreferenced)"* ]]
}

@test "gc --max-freed stops early, least recently used first" {
	local p=() used=() i
	# four unrooted paths of one size, used in a known order, each in a
	# second of its own (last uses are kept in whole seconds): imported
	# t1 to t4, then t1 read through a mount, so the least recently
	# used first is t2, t3, t4, t1 (not the order of import)
	for i in 1 2 3 4; do
		make_tree "$WORK/t$i" 4
		p[i]=$("$CASTORE" import --no-root "$WORK/t$i")
		used[i]=$(last_access "${p[i]}")
		wait_for 10 "the clock to pass second ${used[i]}" clock_past "${used[i]}"
	done
	MNT="$BATS_TEST_TMPDIR/mnt"
	mount_castore "$MNT"
	cmp "$MNT/${p[1]#/nix/store/}/f1" "$WORK/t1/f1"
	unmount_castore "$MNT" "$MOUNT_PID"
	# the mount wrote t1's use as it ended
	used[1]=$(last_access "${p[1]}")
	echo "last uses: ${used[*]}"
	[ "${used[2]}" -lt "${used[3]}" ]
	[ "${used[3]}" -lt "${used[4]}" ]
	[ "${used[4]}" -lt "${used[1]}" ]
	size=$(nar_size "${p[3]}")
	for i in 1 2 4; do [ "$(nar_size "${p[i]}")" -eq "$size" ]; done
	# one byte: the least recently used path alone
	run "$CASTORE" gc --max-freed 1
	[ "$status" -eq 0 ]
	[ "$(printed_paths "$output")" = "${p[2]}" ]
	[[ "$output" == *"1 store path deleted, "* ]]
	# one byte more than a path: the next two, and not the last used
	run "$CASTORE" gc --max-freed $((size + 1))
	[ "$status" -eq 0 ]
	[ "$(printed_paths "$output")" = "$(printf '%s\n' "${p[3]}" "${p[4]}" | sort)" ]
	[[ "$output" == *"2 store paths deleted, "* ]]
	run "$CASTORE" path-info --all
	[ "$(printed_paths "$output")" = "${p[1]}" ]
	run "$CASTORE" verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"(0 unreferenced)"* ]]
	run "$CASTORE" gc --max-freed 0
	[ "$status" -eq 2 ]
	[[ "$output" == *"--max-freed takes a size above 0"* ]]
	run "$CASTORE" gc --max-freed 12Q
	[ "$status" -eq 2 ]
	[[ "$output" == *"--max-freed takes a size above 0"* ]]
}

@test "delete refuses a referenced path, naming the referrer, and a root; deletes what only the path reaches" {
	fetch -r --no-root "$TOP"
	run "$CASTORE" delete "$DEP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot delete $DEP: $TOP references it"* ]]
	"$CASTORE" export "$DEP" | cmp - <(nix-store --dump "$DEP")
	make_tree "$WORK/r" 3
	r=$("$CASTORE" import "$WORK/r")
	run "$CASTORE" delete "$r"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot delete $r: it is a root"* ]]
	"$CASTORE" path-info "$r" > /dev/null
	before=$(blob_files | wc -l)
	run "$CASTORE" delete "$TOP"
	[ "$status" -eq 0 ]
	[ "$(printed_paths "$output")" = "$TOP" ]
	[ "$(blob_files | wc -l)" -lt "$before" ]
	"$CASTORE" export "$DEP" | cmp - <(nix-store --dump "$DEP")
	run "$CASTORE" delete "$DEP"
	[ "$status" -eq 0 ]
	run "$CASTORE" delete "$DEP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$DEP is not in the store"* ]]
	run "$CASTORE" delete not-a-path
	[ "$status" -eq 2 ]
	# --ignore-liveness deletes a root
	run "$CASTORE" delete --ignore-liveness "$r"
	[ "$status" -eq 0 ]
	run "$CASTORE" verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"(0 unreferenced)"* ]]
}

@test "path-info --all, -r and -S agree with Nix" {
	fetch -r "$TOP"
	run "$CASTORE" path-info --all
	[ "$(printed_paths "$output")" = "$(printf '%s\n' "$DEP" "$TOP" | sort)" ]
	run "$CASTORE" path-info -r "$TOP"
	[ "$(printed_paths "$output")" = "$(printf '%s\n' "$DEP" "$TOP" | sort)" ]
	run "$CASTORE" path-info -r "$DEP"
	[ "$(printed_paths "$output")" = "$DEP" ]
	"$CASTORE" path-info --json -S "$TOP" "$DEP" > "$WORK/ours.json"
	nix path-info --json -S "$TOP" "$DEP" > "$WORK/nix.json"
	python3 - "$WORK/ours.json" "$WORK/nix.json" <<'PY'
import json, sys
ours, nix = (json.load(open(f)) for f in sys.argv[1:])
if isinstance(nix, dict):
    nix = [dict(v, path=k) for k, v in nix.items()]
want = {p["path"]: p["closureSize"] for p in nix}
got = {p["path"]: p["closureSize"] for p in ours}
assert got == want, (got, want)
PY
	run "$CASTORE" path-info --all "$TOP"
	[ "$status" -eq 2 ]
}

@test "gc in a loop beside imports in a loop: every imported path stays whole" {
	for i in $(seq 1 12); do
		make_tree "$WORK/src$i" 40 "shared by all"
	done
	make_tree "$WORK/first" 1
	"$CASTORE" import --no-root "$WORK/first" > /dev/null
	(
		for i in $(seq 1 12); do
			"$CASTORE" import "$WORK/src$i" >> "$WORK/rooted" || exit 1
			"$CASTORE" import --no-root --name "garbage$i" "$WORK/src$i" > /dev/null || exit 1
		done
	) 3>&- &
	importer=$!
	gcs=0
	while kill -0 "$importer" 2>/dev/null; do
		"$CASTORE" gc > /dev/null
		gcs=$((gcs + 1))
	done
	wait "$importer"
	"$CASTORE" gc > /dev/null
	echo "$gcs collections ran beside the imports" >&3
	[ "$gcs" -ge 2 ]
	[ "$(wc -l < "$WORK/rooted")" -eq 12 ]
	i=0
	while read -r p; do
		i=$((i + 1))
		"$CASTORE" export "$p" | cmp - <(nix-store --dump "$WORK/src$i")
	done < "$WORK/rooted"
	run "$CASTORE" path-info --all
	[ "$(printed_paths "$output" | wc -l)" -eq 12 ]
	run "$CASTORE" verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"(0 unreferenced)"* ]]
}

@test "gc waits for an import in progress, says so, and keeps what it imported" {
	make_tree "$WORK/a" 3
	make_tree "$WORK/junk" 2
	"$CASTORE" import --no-root "$WORK/junk" > /dev/null
	nix-store --dump "$WORK/a" > "$WORK/a.nar"
	mkfifo "$WORK/fifo"
	"$CASTORE" import-nar --name held < "$WORK/fifo" > "$WORK/held.out" 3>&- &
	imp=$!
	# the NAR's first bytes, then the rest once told to (or after 60 s,
	# so that nothing hangs should the test fail before it tells)
	(
		head -c 100 "$WORK/a.nar"
		for _ in $(seq 1 600); do [ -e "$WORK/go" ] && break; sleep 0.1; done
		tail -c +101 "$WORK/a.nar"
	) > "$WORK/fifo" 3>&- &
	# the import holds the store's lock, shared, while it reads the NAR
	wait_for 30 "import-nar to hold the store's lock" store_flock "$imp" READ held
	"$CASTORE" gc > "$WORK/gc.out" 2> "$WORK/gc.err" 3>&- &
	gcpid=$!
	# gc asks for it exclusively and waits; it said why before it did
	wait_for 30 "gc to wait for the store's lock" store_flock "$gcpid" WRITE waiting
	grep -q "waiting for running imports" "$WORK/gc.err"
	kill -0 "$gcpid"
	touch "$WORK/go"
	wait_ended "import-nar" "$imp"
	wait_ended "gc" "$gcpid"
	grep -q "^1 store path deleted" "$WORK/gc.out"
	"$CASTORE" export "$(cat "$WORK/held.out")" | cmp - "$WORK/a.nar"
}

@test "SIGKILL of gc at any point: verify passes, the next gc collects the rest" {
	make_tree "$WORK/keep" 30 "kept"
	keep=$("$CASTORE" import "$WORK/keep")
	for delay in 0.02 0.05 0.1 0.2 0.4; do
		for i in $(seq 1 20); do
			make_tree "$WORK/g$delay-$i" 25
			"$CASTORE" import --no-root "$WORK/g$delay-$i" > /dev/null
		done
		"$CASTORE" gc > /dev/null 3>&- &
		pid=$!
		# the delay only picks where the kill lands: every point must
		# leave a store that verifies
		sleep "$delay"
		kill -9 "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" || rc=$?
		# killed (137), or done before the kill came (0); in both cases
		# without a sanitizer's report
		case $rc in
		0 | 137) ended_ok "gc killed after $delay s" "$pid" "$rc" "$rc" ;;
		*) echo "gc killed after $delay s: exit $rc"; false ;;
		esac
		run "$CASTORE" verify
		echo "$output" | tail -1 >&3
		[ "$status" -eq 0 ]
		"$CASTORE" export "$keep" | cmp - <(nix-store --dump "$WORK/keep")
	done
	run "$CASTORE" gc
	[ "$status" -eq 0 ]
	run "$CASTORE" verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"(0 unreferenced)"* ]]
	[[ "$output" == *"1 store paths"* ]]
}

@test "gc beside a mount: the paths it serves stay until it ends; lookups after a gc substitute again" {
	MNT="$BATS_TEST_TMPDIR/mnt"
	fetch -r --no-root "$TOP"
	mount_castore "$MNT" --substituter "$URL/cache-zstd" --trusted-public-key "$PK"
	cmp "$MNT/${DEP#/nix/store/}/share/data" "$DEP/share/data"
	# DEP is in use by the mount; TOP is not (and references DEP)
	run "$CASTORE" gc
	[ "$status" -eq 0 ]
	[ "$(printed_paths "$output")" = "$TOP" ]
	"$CASTORE" export "$DEP" | cmp - <(nix-store --dump "$DEP")
	cmp "$MNT/${DEP#/nix/store/}/share/big" "$DEP/share/big"
	# TOP is substituted again on its lookup
	cmp "$MNT/${TOP#/nix/store/}/bin/hello" "$TOP/bin/hello"
	unmount_castore "$MNT" "$MOUNT_PID"
	# the mount is gone, and so are its temporary roots
	run "$CASTORE" gc
	[ "$(printed_paths "$output")" = "$(printf '%s\n' "$DEP" "$TOP" | sort)" ]
	# no temporary roots file is left behind
	[ -z "$(ls "$CASTORE_STORE/temproots")" ]
}

@test "gc never deletes through a path it did not compute: a symlink planted among the blobs stays, and so does its target" {
	make_tree "$WORK/t" 2
	"$CASTORE" import --no-root "$WORK/t" > /dev/null
	echo precious > "$WORK/precious"
	shard="$CASTORE_STORE/blobs/ab"
	ln -s "$WORK/precious" "$shard/ab$(printf '%062d' 0)"
	run "$CASTORE" gc
	[ "$status" -eq 0 ]
	[ -L "$shard/ab$(printf '%062d' 0)" ]
	grep -qx precious "$WORK/precious"
	[[ "$output" == *"1 store path deleted"* ]]
}

@test "usage: root, gc and delete say what is wrong" {
	run "$CASTORE" root
	[ "$status" -eq 2 ]
	run "$CASTORE" root frobnicate x
	[ "$status" -eq 2 ]
	run "$CASTORE" root add
	[ "$status" -eq 2 ]
	make_tree "$WORK/x" 1
	x=$("$CASTORE" import --no-root "$WORK/x")
	run "$CASTORE" root add "/nix/store/0c5b8vw40dy178xlpddw65q9gf1h2186-absent"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not in the store"* ]]
	"$CASTORE" root add "$x"
	[ "$("$CASTORE" root list)" = "$x" ]
	run "$CASTORE" gc extra
	[ "$status" -eq 2 ]
	run "$CASTORE" gc --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--max-freed"* ]]
}
