#!/usr/bin/env bats
# A damaged or lost meta.lmdb: every verb says so and names the file; none
# dies by a signal, none takes the damage for an empty store, none
# overwrites it.

load ../fuse/lib

setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	mkdir -p "$BATS_TEST_TMPDIR/tree/sub"
	for i in $(seq 1 40); do echo "file $i" > "$BATS_TEST_TMPDIR/tree/sub/f$i"; done
	cp -a /usr/include/linux/if_*.h "$BATS_TEST_TMPDIR/tree/"
	P=$("$CASTORE" import "$BATS_TEST_TMPDIR/tree")
	"$CASTORE" import /usr/include/linux/netfilter > /dev/null
	MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$MNT"
}

# every_verb_refuses: each verb exits 1, names meta.lmdb, and leaves it
# byte for byte as it was
every_verb_refuses() {
	local before verb
	before=$(sha256sum < "$CASTORE_STORE/meta.lmdb")
	for verb in "verify" "path-info $P" "ls $P" "export $P" "cat $P/sub/f1" \
		"import $BATS_TEST_TMPDIR/tree" "mount $MNT"; do
		# shellcheck disable=SC2086
		run "$CASTORE" $verb
		echo "$verb: $status: $output"
		[ "$status" = 1 ]
		[[ "$output" == *"its metadata '$CASTORE_STORE/meta.lmdb' is damaged, or missing beside the store's blobs"* ]]
	done
	[ "$(sha256sum < "$CASTORE_STORE/meta.lmdb")" = "$before" ]
	! mountpoint -q "$MNT"
}

@test "a truncated meta.lmdb is refused by every verb, never a SIGBUS" {
	local size
	size=$(stat -c %s "$CASTORE_STORE/meta.lmdb")
	cp "$CASTORE_STORE/meta.lmdb" "$BATS_TEST_TMPDIR/meta.orig"
	for cut in 8192 $((size / 2)) $((size - 4096)) 100; do
		cp "$BATS_TEST_TMPDIR/meta.orig" "$CASTORE_STORE/meta.lmdb"
		truncate -s "$cut" "$CASTORE_STORE/meta.lmdb"
		every_verb_refuses
	done
}

@test "an emptied or deleted meta.lmdb beside the blobs is refused, not an empty store" {
	: > "$CASTORE_STORE/meta.lmdb"
	every_verb_refuses
	rm "$CASTORE_STORE/meta.lmdb"
	run "$CASTORE" verify
	[ "$status" = 1 ]
	[[ "$output" == *"is damaged, or missing beside the store's blobs"* ]]
	# a store of an older castore (no format record) is known by its blobs
	rm "$CASTORE_STORE/format"
	: > "$CASTORE_STORE/meta.lmdb"
	every_verb_refuses
	[ ! -e "$CASTORE_STORE/format" ]
}

@test "an older store gets its format record on open, and is then protected" {
	rm "$CASTORE_STORE/format"
	run "$CASTORE" path-info "$P"
	[ "$status" = 0 ]
	[ "$(cat "$CASTORE_STORE/format")" = "castore-store 1" ]
}

@test "random bit flips in meta.lmdb: no verb dies by a signal" {
	local cases=${FLIP_CASES:-300}
	run python3 "$BATS_TEST_DIRNAME/flip-meta.py" "$CASTORE" "$CASTORE_STORE" "$P" "$cases" 1
	echo "$output"
	[ "$status" = 0 ]
	[[ "$output" == *"$cases damaged copies"* ]]
}

@test "verify lists blobs that nothing references, and they are no problem" {
	printf 'stray bytes' > "$BATS_TEST_TMPDIR/stray"
	h=$(b3sum --no-names "$BATS_TEST_TMPDIR/stray")
	mkdir -p "$CASTORE_STORE/blobs/${h:0:2}"
	cp "$BATS_TEST_TMPDIR/stray" "$CASTORE_STORE/blobs/${h:0:2}/$h"
	run "$CASTORE" verify
	[ "$status" = 0 ]
	[[ "$output" == *"unreferenced blob $h: in no directory or store path"* ]]
	[[ "$output" == *"(1 unreferenced)"*": 0 problems" ]]
}
