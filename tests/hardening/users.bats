#!/usr/bin/env bats
# Other users and fresh accounts: a store readable by a user opens for
# reading; a fresh account's first import makes its store; no HOME is
# no '//' path.

load ../fuse/lib

as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

setup() {
	# a directory every user can enter (bats' own are private)
	D=$(mktemp -d /tmp/castore-users.XXXXXX)
	chmod 755 "$D"
	export CASTORE_STORE="$D/store"
	mkdir -p "$D/tree/sub"
	echo shared > "$D/tree/sub/f"
	P=$("$CASTORE" import "$D/tree")
}

teardown() {
	rm -rf "$D"
}

@test "a user who may read another's store reads it, and changes nothing" {
	"$CASTORE" export "$P" > "$D/root.nar"
	# every file but LMDB's lock file (its reader table is scratch space)
	before=$(cd "$CASTORE_STORE" && find . -type f ! -name meta.lmdb-lock -exec sha256sum {} + | sort)
	run as_nobody "$CASTORE" --store "$CASTORE_STORE" path-info "$P"
	echo "$output"
	[ "$status" = 0 ]
	[ "$(as_nobody "$CASTORE" --store "$CASTORE_STORE" cat "$P/sub/f")" = shared ]
	as_nobody "$CASTORE" --store "$CASTORE_STORE" ls "$P/sub" | grep -qx f
	as_nobody "$CASTORE" --store "$CASTORE_STORE" export "$P" | cmp - "$D/root.nar"
	run as_nobody "$CASTORE" --store "$CASTORE_STORE" verify
	echo "$output"
	[ "$status" = 0 ]
	[[ "$output" == *"1 store paths: 0 problems"* ]]
	# writing is refused with a clear message, and nothing changed
	run as_nobody "$CASTORE" --store "$CASTORE_STORE" import "$D/tree"
	[ "$status" = 1 ]
	[[ "$output" == *"$CASTORE_STORE"*"ermission denied"* ]]
	[ "$(cd "$CASTORE_STORE" && find . -type f ! -name meta.lmdb-lock -exec sha256sum {} + | sort)" = "$before" ]
}

@test "a fresh account's first import makes ~/.local/share/castore" {
	mkdir "$D/home"
	chown nobody "$D/home"
	run as_nobody env -u CASTORE_STORE -u XDG_DATA_HOME HOME="$D/home" "$CASTORE" import "$D/tree"
	echo "$output"
	[ "$status" = 0 ]
	[ "$output" = "$P" ]
	[ -d "$D/home/.local/share/castore/blobs" ]
	[ "$(stat -c %a "$D/home/.local")" = 700 ]
}

@test "no HOME: the password database's home, never '//.local'" {
	home=$(getent passwd nobody | cut -d: -f6)
	run as_nobody env -u CASTORE_STORE -u XDG_DATA_HOME -u HOME "$CASTORE" path-info "$P"
	echo "$output"
	[ "$status" = 1 ]
	[[ "$output" == *"'$home/.local/share/castore'"* ]]
	[[ "$output" != *"//.local"* ]]
}
