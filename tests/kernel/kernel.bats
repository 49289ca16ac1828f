#!/usr/bin/env bats
# castore mount --kernel: an EROFS image castore writes, overlayfs with the
# store's blobs as a data-only layer; compared entry by entry with the
# sources and with castore's FUSE mount of the same store.

load ../fuse/lib

VIEW="$BATS_TEST_DIRNAME/view.py"

setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	WORK="$BATS_TEST_TMPDIR/work"
	KMNT="$BATS_TEST_TMPDIR/kmnt"
	MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$WORK" "$KMNT"
}

teardown() {
	while mountpoint -q "$KMNT" 2>/dev/null; do umount "$KMNT" || break; done
	end_mounts
}

# traversable DIR: every directory above DIR searchable by others (bats'
# temporary directories are private), for the tests that drop to nobody
traversable() {
	local d
	d=$(dirname "$1")
	while [ "$d" != / ]; do chmod a+x "$d"; d=$(dirname "$d"); done
}

# kernel_leftovers: erofs mounts, castore's loop devices and image mount
# directories that outlived their overlay
kernel_leftovers() {
	grep -c ' erofs ' /proc/mounts || true
	losetup -a 2>/dev/null | grep -c "$CASTORE_STORE/images" || true
	find "$CASTORE_STORE/images" -maxdepth 1 -name '.mnt.*' 2>/dev/null | wc -l
}

@test "the kernel mount shows generated and real trees entry by entry as their sources, and as the FUSE mount does" {
	python3 "$GEN_TREE" 11 "$WORK/gen"
	cp -a /usr/include/linux "$WORK/linux"
	pg=$("$CASTORE" import "$WORK/gen")
	pl=$("$CASTORE" import "$WORK/linux")
	run "$CASTORE" mount --kernel --list-root "$KMNT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"2 store paths"* ]]
	[ "$(ls "$KMNT" | sort)" = "$(printf '%s\n' "${pg#/nix/store/}" "${pl#/nix/store/}" | sort)" ]
	for p in "$pg:gen" "$pl:linux"; do
		name=${p%%:*}; src=${p#*:}
		python3 "$VIEW" "$WORK/$src" > "$WORK/src.view"
		python3 "$VIEW" --mounted "$KMNT/${name#/nix/store/}" > "$WORK/k.view"
		if grep '^bad attributes' "$WORK/k.view"; then
			echo "$src: view.py found bad attributes on the kernel mount"
			false
		fi
		# the xattr column aside, as the source
		diff <(cut -d' ' -f1-4,6- "$WORK/k.view") <(cut -d' ' -f1-4,6- "$WORK/src.view")
		# every file and directory carries its digest
		[ "$(awk '$1 != "l" && $5 == "-"' "$WORK/k.view" | wc -l)" -eq 0 ]
		cp "$WORK/k.view" "$WORK/k-$src.view"
	done
	# the FUSE mount of the same store, xattrs and all
	umount "$KMNT"
	mount_castore "$MNT"
	for p in "$pg:gen" "$pl:linux"; do
		name=${p%%:*}; src=${p#*:}
		python3 "$VIEW" --mounted "$MNT/${name#/nix/store/}" > "$WORK/f.view"
		diff "$WORK/f.view" "$WORK/k-$src.view"
	done
	unmount_castore "$MNT" "$MOUNT_PID"
	[ "$(kernel_leftovers | tr '\n' ' ')" = "0 0 0 " ]
}

@test "writer round trips through the kernel: empty, single-file, symlink-only and multi-block trees" {
	mkdir -p "$WORK/empty" "$WORK/big/d"
	printf x > "$WORK/one"
	ln -s /nowhere/at/all "$WORK/link"
	# a directory whose entries take several 4 KiB blocks, names that
	# sort around "." and "..", a long name, an empty file
	for i in $(seq 1 700); do printf '%s' "$i" > "$WORK/big/d/entry-number-$i"; done
	# and one whose names all sort before "." and "..", which then fall
	# in a later block; a symlink whose target fills a block
	mkdir "$WORK/big/d2"
	for i in $(seq 1 400); do : > "$WORK/big/d2/-before-the-dots-$i"; done
	ln -s "/$(head -c 4094 /dev/zero | tr '\0' t)" "$WORK/big/long-link"
	for n in '+plus' ',comma' '-dash' '.dot' '..dots' '0zero' "$(head -c 200 /dev/zero | tr '\0' n)"; do
		printf '%s' "$n" > "$WORK/big/$n"
	done
	: > "$WORK/big/empty-file"
	for t in empty one link big; do
		"$CASTORE" import "$WORK/$t" > /dev/null
	done
	"$CASTORE" mount --kernel --list-root "$KMNT"
	for t in empty big; do
		p=$(ls "$KMNT" | grep -- "-$t\$")
		diff <(python3 "$VIEW" "$WORK/$t" | cut -d' ' -f1-4,6-) \
			<(python3 "$VIEW" --mounted "$KMNT/$p" | cut -d' ' -f1-4,6-)
	done
	# the single file and the symlink are store paths of their own
	[ "$(cat "$KMNT"/*-one)" = x ]
	[ "$(readlink "$KMNT"/*-link)" = /nowhere/at/all ]
	[ "$(ls "$KMNT"/*-empty | wc -l)" -eq 0 ]
	[ "$(ls -a "$KMNT"/*-big/d | wc -l)" -eq 702 ]
	[ "$(cat "$KMNT"/*-big/d/entry-number-577)" = 577 ]
	[ "$(ls -a "$KMNT"/*-big/d2 | wc -l)" -eq 402 ]
	[ "$(readlink "$KMNT"/*-big/long-link | wc -c)" -eq 4096 ]
	fsck.erofs "$CASTORE_STORE"/images/*.erofs
}

@test "EROFS on writes, ENOENT for bogus names; the root lists only with --list-root (else only root may)" {
	p=$("$CASTORE" import "$BATS_TEST_DIRNAME/../fuse/lib.bash")
	"$CASTORE" mount --kernel "$KMNT"
	[ "$(errno_of "open('$KMNT/${p#/nix/store/}', 'w')")" = EROFS ]
	[ "$(errno_of "os.mkdir('$KMNT/new')")" = EROFS ]
	[ "$(errno_of "os.stat('$KMNT/00000000000000000000000000000000-nope')")" = ENOENT ]
	[ "$(errno_of "os.stat('$KMNT/${p#/nix/store/}/x')")" = ENOTDIR ]
	[ "$(stat -c %a "$KMNT")" = 111 ]
	traversable "$KMNT"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups ls "$KMNT"
	[ "$status" -eq 2 ]
	[[ "$output" == *"Permission denied"* ]]
	run setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$KMNT/${p#/nix/store/}"
	[ "$status" -eq 0 ]
	umount "$KMNT"
	"$CASTORE" mount --kernel --list-root --no-xattr "$KMNT"
	[ "$(stat -c %a "$KMNT")" = 555 ]
	run getfattr -d -m - "$KMNT/${p#/nix/store/}"
	[ -z "$output" ]
}

@test "the image is the same bytes for the same paths, reused from the store, and umount leaves nothing behind" {
	python3 "$GEN_TREE" 5 "$WORK/gen"
	"$CASTORE" import "$WORK/gen" > /dev/null
	run "$CASTORE" mount --kernel "$KMNT"
	[[ "$output" == *"new"* ]]
	img=$(echo "$output" | sed -n 's/.*image \([^ ]*\.erofs\).*/\1/p')
	cp "$img" "$WORK/first.erofs"
	umount "$KMNT"
	[ "$(kernel_leftovers | tr '\n' ' ')" = "0 0 0 " ]
	run "$CASTORE" mount --kernel "$KMNT"
	[[ "$output" == *"reused"* ]]
	umount "$KMNT"
	# built again from nothing: byte-identical
	rm -f "$CASTORE_STORE"/images/*.erofs
	"$CASTORE" mount --kernel "$KMNT"
	cmp "$img" "$WORK/first.erofs"
	umount "$KMNT"
	[ "$(kernel_leftovers | tr '\n' ' ')" = "0 0 0 " ]
	# fsck.erofs finds nothing wrong in it
	fsck.erofs "$img"
}

@test "--refresh brings new paths in atomically and keeps open files working" {
	p1=$("$CASTORE" import "$BATS_TEST_DIRNAME/view.py")
	"$CASTORE" mount --kernel --list-root "$KMNT"
	exec 8< "$KMNT/${p1#/nix/store/}"
	printf 'fresh\n' > "$WORK/fresh"
	p2=$("$CASTORE" import "$WORK/fresh")
	[ ! -e "$KMNT/${p2#/nix/store/}" ]
	# a reader in a loop never sees the path missing: it runs from before
	# the refresh until 200 of its rounds came after the refresh returned
	# (or 120 s, should the test fail meanwhile)
	(
		n=0 after=0 deadline=$((SECONDS + 120))
		while [ "$after" -lt 200 ]; do
			[ -e "$WORK/refreshed" ] && after=$((after + 1))
			[ -e "$KMNT/${p1#/nix/store/}" ] || { echo "GAP after $n rounds" > "$WORK/reader"; exit 1; }
			n=$((n + 1))
			[ "$n" -ne 1 ] || touch "$WORK/reading"
			[ "$SECONDS" -lt "$deadline" ] || { echo "still reading after 120 s" > "$WORK/reader"; exit 2; }
		done
		echo "$n rounds, $after after the refresh" > "$WORK/reader"
	) 3>&- &
	reader=$!
	wait_for 30 "the reader's first round" test -e "$WORK/reading"
	run "$CASTORE" mount --kernel --refresh --list-root "$KMNT"
	echo "$output"
	touch "$WORK/refreshed"
	[ "$status" -eq 0 ]
	rc=0
	wait "$reader" || rc=$?
	cat "$WORK/reader"
	[ "$rc" -eq 0 ]
	grep -q " 200 after the refresh" "$WORK/reader"
	[ "$(cat "$KMNT/${p2#/nix/store/}")" = fresh ]
	cmp <(cat <&8) "$BATS_TEST_DIRNAME/view.py"
	exec 8<&-
	# one mount on the mountpoint, and nothing else left
	[ "$(grep -c " $KMNT " /proc/mounts)" -eq 1 ]
	umount "$KMNT"
	[ "$(kernel_leftovers | tr '\n' ' ')" = "0 0 0 " ]
	run "$CASTORE" mount --kernel --refresh "$KMNT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no kernel mount to refresh"* ]]
}

@test "a missing or corrupt blob at image time: a clear error, no image, no mount" {
	python3 "$GEN_TREE" 3 "$WORK/gen"
	"$CASTORE" import "$WORK/gen" > /dev/null
	blob=$(find "$CASTORE_STORE/blobs" -type f -size +1k ! -name '*.stamp' ! -path "$CASTORE_STORE/blobs/tmp/*" | head -1)
	mv "$blob" "$WORK/saved"
	run "$CASTORE" mount --kernel "$KMNT"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is missing: no image made (run castore verify)"* ]]
	if mountpoint -q "$KMNT"; then echo "mounted all the same"; false; fi
	# a flipped byte under the file's stamp-breaking ctime
	cp "$WORK/saved" "$blob"
	printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc 2>/dev/null
	run "$CASTORE" mount --kernel "$KMNT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is corrupt"* ]]
	if mountpoint -q "$KMNT"; then echo "mounted all the same"; false; fi
	[ -z "$(find "$CASTORE_STORE/images" -name '*.erofs')" ]
	[ "$(kernel_leftovers | tr '\n' ' ')" = "0 0 0 " ]
}

@test "usage: options a kernel mount cannot take, paths not in the store, not root" {
	"$CASTORE" import "$BATS_TEST_DIRNAME/view.py" > /dev/null
	run "$CASTORE" mount --kernel --substituter http://x "$KMNT"
	[ "$status" -eq 2 ]
	run "$CASTORE" mount --refresh "$KMNT"
	[ "$status" -eq 2 ]
	run "$CASTORE" mount --kernel "$KMNT" /nix/store/00000000000000000000000000000000-absent
	[ "$status" -eq 1 ]
	[[ "$output" == *"not in the store"* ]]
	chmod -R a+rX "$BATS_TEST_TMPDIR"
	traversable "$KMNT"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups env CASTORE_STORE="$CASTORE_STORE" "$CASTORE" mount --kernel "$KMNT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"needs root"* ]]
}

@test "gc and delete keep what a kernel mount shows; after umount gc takes it, and unused images go" {
	printf 'cache entry\n' > "$WORK/entry"
	p=$("$CASTORE" import --no-root "$WORK/entry")
	"$CASTORE" mount --kernel --list-root "$KMNT"
	run "$CASTORE" gc
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 store paths deleted"* ]]
	[ "$(cat "$KMNT/${p#/nix/store/}")" = "cache entry" ]
	run "$CASTORE" delete "$p"
	[ "$status" -eq 1 ]
	[[ "$output" == *"kernel mount"* ]]
	umount "$KMNT"
	# an image unused for 10 minutes is pruned by the next gc
	touch -d '-1 hour' "$CASTORE_STORE"/images/*.erofs
	run "$CASTORE" gc
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 store path deleted"* ]]
	[[ "$output" == *"unused kernel mount image removed"* ]]
	[ -z "$(ls "$CASTORE_STORE/images")" ]
}

@test "one castore mount a mountpoint: kernel over kernel, kernel over FUSE and FUSE over kernel are refused" {
	printf 'one\n' > "$WORK/one"
	p=$("$CASTORE" import "$WORK/one")
	"$CASTORE" mount --kernel "$KMNT"
	run "$CASTORE" mount --kernel "$KMNT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$KMNT' is already a castore kernel mount; unmount it first"* ]]
	run "$CASTORE" mount "$KMNT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$KMNT' is already a castore kernel mount; unmount it first"* ]]
	# one overlay there, still serving; --refresh is how it takes new paths
	[ "$(grep -c " $KMNT overlay " /proc/mounts)" -eq 1 ]
	[ "$(cat "$KMNT/${p#/nix/store/}")" = one ]
	run "$CASTORE" mount --kernel --refresh "$KMNT"
	[ "$status" -eq 0 ]
	[ "$(grep -c " $KMNT overlay " /proc/mounts)" -eq 1 ]
	umount "$KMNT"
	mount_castore "$KMNT"
	run "$CASTORE" mount --kernel "$KMNT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$KMNT' is already a castore mount; unmount it first"* ]]
	[ "$(grep -c " $KMNT " /proc/mounts)" -eq 1 ]
	unmount_castore "$KMNT" "$MOUNT_PID"
}

@test "gc waiting while a kernel mount is made keeps every path the mount shows" {
	printf 'cache entry\n' > "$WORK/entry"
	p=$("$CASTORE" import --no-root "$WORK/entry")
	# an import holds the writers' lock, shared, while it reads its NAR
	mkdir -p "$WORK/held"
	echo held > "$WORK/held/f"
	nix-store --dump "$WORK/held" > "$WORK/held.nar"
	mkfifo "$WORK/fifo"
	"$CASTORE" import-nar --name held < "$WORK/fifo" > /dev/null 3>&- &
	imp=$!
	exec 7> "$WORK/fifo"
	head -c 100 "$WORK/held.nar" >&7
	wait_for 30 "import-nar to hold the writers' lock" store_flock "$imp" READ held
	"$CASTORE" gc > "$WORK/gc.out" 2>&1 3>&- 7>&- &
	gcpid=$!
	wait_for 30 "gc to wait for the writers' lock" store_flock "$gcpid" WRITE waiting
	# the mount lists the paths and records its image while gc waits
	"$CASTORE" mount --kernel "$KMNT" 7>&-
	tail -c +101 "$WORK/held.nar" >&7
	exec 7>&-
	wait_ended "import-nar" "$imp"
	wait_ended "gc" "$gcpid"
	cat "$WORK/gc.out"
	grep -q '^0 store paths deleted' "$WORK/gc.out"
	[ "$(cat "$KMNT/${p#/nix/store/}")" = "cache entry" ]
}
