#!/usr/bin/env bats
# castore push to file:// and http:// caches; real Nix reads what it wrote.

load lib

setup_file() {
	net_setup_file
	export SRC="$F/src"
	serve_store_make "$SRC"
	printf 'alice:pw\n' > "$F/creds"
	printf 'machine 127.0.0.1 login alice password pw\n' > "$F/netrc"
}

teardown_file() {
	nginx_stop
}

setup() {
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
	export CASTORE_STORE="$SRC"
}

teardown() {
	serve_stop
}

@test "push -r to file:// writes Nix's layout, narinfos signed, NARs matching FileHash; Nix realises it" {
	for c in xz zstd none; do
		run "$CASTORE" push -r --to "file://$WORK/cache-$c?compression=$c&secret-key=$F/sk&write-nar-listing=true" "$TOP"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"2 paths pushed"* ]]
		grep -qx 'StoreDir: /nix/store' "$WORK/cache-$c/nix-cache-info"
		for p in "$TOP" "$DEP"; do
			ni="$WORK/cache-$c/$(hash_of "$p").narinfo"
			grep -qx "Compression: $c" "$ni"
			grep -q '^Sig: test-key-1:' "$ni"
			nar="$WORK/cache-$c/$(sed -n 's/^URL: //p' "$ni")"
			[ "$(sed -n 's/^FileSize: //p' "$ni")" = "$(stat -c %s "$nar")" ]
			[ "$(sed -n 's/^FileHash: sha256://p' "$ni")" = "$(nix-hash --type sha256 --flat --base32 "$nar")" ]
			[ -s "$WORK/cache-$c/$(hash_of "$p").ls" ]
		done
		run nix_realise "$WORK/nix-$c" "file://$WORK/cache-$c" "$PK"
		echo "$output"
		[ "$status" -eq 0 ]
		same_as_nix "$WORK/nix-$c" "$TOP" "$DEP"
	done
	# no temporary file is left in the cache
	[ -z "$(find "$WORK"/cache-* -name '.*')" ]
	# again: everything is there
	run "$CASTORE" push -r --to "file://$WORK/cache-xz" "$TOP"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 paths pushed (0.0 MiB), 2 already in the cache"* ]]
	# without -r, only the path named (its narinfo after its reference's)
	run "$CASTORE" push --to "file://$WORK/only" "$DEP"
	[ "$status" -eq 0 ]
	[ -e "$WORK/only/$(hash_of "$DEP").narinfo" ]
	[ ! -e "$WORK/only/$(hash_of "$TOP").narinfo" ]
}

@test "push to file:// removes what a killed push on this host left, and nothing else" {
	local c="$WORK/cache" host dead
	host=$(hostname)
	mkdir -p "$c/nar"
	# a process that is surely gone: its pid
	sh -c 'exit 0' &
	dead=$!
	wait "$dead"
	# a push killed before its renames, one of castore 0.1.0, one still
	# running here (this shell), one of another host sharing the directory
	touch "$c/nar/.x.nar.xz.tmp.$host.$dead" "$c/.y.narinfo.tmp.$host.$dead" \
		"$c/nar/.z.nar.tmp.$dead" "$c/nar/.live.nar.tmp.$host.$$" \
		"$c/nar/.far.nar.tmp.elsewhere.$dead"
	run "$CASTORE" push -r --to "file://$c?compression=none" "$TOP"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"2 paths pushed"* ]]
	left=$(cd "$c" && find . -name '.*tmp*' | sort | tr '\n' ' ')
	[ "$left" = "./nar/.far.nar.tmp.elsewhere.$dead ./nar/.live.nar.tmp.$host.$$ " ]
}

@test "push to http:// (castore serve) with netrc credentials; without them a clear 401" {
	serve_start "$WORK/up" "$WORK/serve.log" --upload-credentials "$F/creds" --trusted-public-key "$PK"
	run "$CASTORE" push -r --to "$SERVE_URL" "$TOP"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$DEP: PUT $SERVE_URL/nar/"*": HTTP status 401: uploads need credentials"* ]]
	[[ "$output" == *"$TOP: a path it references failed"* ]]
	[[ "$output" == *"0 paths pushed (0.0 MiB), 0 already in the cache, 2 failed"* ]]
	# and nothing was stored
	run env CASTORE_STORE="$WORK/up" "$CASTORE" path-info --all
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run "$CASTORE" push -r -j 2 --netrc-file "$F/netrc" --to "$SERVE_URL?compression=zstd" "$TOP"
	echo "$output"
	[ "$status" -eq 0 ]
	for p in "$TOP" "$DEP"; do
		CASTORE_STORE="$WORK/up" "$CASTORE" export "$p" | cmp - <(nix-store --dump "$p")
	done
	# the cache refuses what no trusted key signed: a fresh key signs,
	# the server trusts only test-key-1
	nix-store --generate-binary-cache-key other-key "$WORK/other-sk" "$WORK/other-pk"
	serve_stop
	serve_start "$WORK/up2" "$WORK/serve2.log" --upload-credentials "$F/creds" --trusted-public-key "$WRONG_PK"
	run "$CASTORE" push --netrc-file "$F/netrc" --to "$SERVE_URL?secret-key=$WORK/other-sk" "$DEP"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$DEP: PUT $SERVE_URL/$(hash_of "$DEP").narinfo: HTTP status 403: "*"no valid signature by a trusted key"* ]]
	[[ "$output" == *"0 paths pushed (0.0 MiB), 0 already in the cache, 1 failed"* ]]
	run env CASTORE_STORE="$WORK/up2" "$CASTORE" path-info --all
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "push to a cache that cannot be reached: exit 1, says why, nothing counted as pushed" {
	# a port nothing listens on any more: castore serve's, once stopped
	serve_start "$SRC" "$WORK/serve.log"
	serve_stop
	run "$CASTORE" push -r --to "$SERVE_URL" "$TOP"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$SERVE_URL"* ]]
	[[ "$output" != *"0 paths pushed (0.0 MiB), 0 already in the cache, 0 failed"* ]]
}

@test "push: a corrupt blob fails its path and its referrers, and no narinfo of them is written" {
	store="$WORK/damaged"
	cp -a "$SRC" "$store"
	blob=$(find "$store/blobs" -type f -size +4000k ! -path "$store/blobs/tmp/*" | head -1)
	chmod u+w "$blob"
	printf 'X' | dd of="$blob" bs=1 seek=1000 conv=notrunc 2>/dev/null
	run env CASTORE_STORE="$store" "$CASTORE" push -r --to "file://$WORK/c" "$TOP"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$DEP: reading it from the store"* ]]
	[[ "$output" == *"$TOP: a path it references failed"* ]]
	[ -z "$(find "$WORK/c" -name '*.narinfo')" ]
}

@test "push: usage errors and missing paths" {
	run "$CASTORE" push "$TOP"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--to"* ]]
	run "$CASTORE" push --to "ftp://x" "$TOP"
	[ "$status" -eq 2 ]
	run "$CASTORE" push --to "file://$WORK/c?compression=lz4" "$TOP"
	[ "$status" -eq 2 ]
	run "$CASTORE" push --to "file://$WORK/c" /nix/store/00000000000000000000000000000000-absent
	[ "$status" -eq 1 ]
	[[ "$output" == *"not in the store"* ]]
	run "$CASTORE" push --to "file://$WORK/c" not-a-path
	[ "$status" -eq 2 ]
	run "$CASTORE" push --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"s3://BUCKET"* ]]
}
