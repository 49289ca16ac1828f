#!/usr/bin/env bats
# castore virtiofs, seen from a real guest: QEMU (TCG) boots a Debian
# kernel with a busybox initramfs; the guest mounts the tag and reports
# over its serial console.  The first boot (setup_file) runs one script
# whose sections the tests below check.

load lib

setup_file() {
	export F="$BATS_FILE_TMPDIR"
	chmod o+x "$F" "$(dirname "$F")" 2>/dev/null || true
	export CASTORE_STORE="$F/store" DAEMON_LOG="$F/daemon.log"
	vm_kernel
	export VM_KERNEL VM_MODULES
	# a generated tree (odd names, symlinks, exec bits, empty and big
	# files, deep directories) and a real one
	python3 "$GEN_TREE" 12 "$F/gen"
	mkdir -p "$F/gen/deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p"
	echo bottom > "$F/gen/deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q"
	head -c 40000000 /dev/urandom > "$F/gen/big"
	: > "$F/gen/empty"
	GEN=$("$CASTORE" import "$F/gen")
	REAL=$("$CASTORE" import /usr/lib/python3.11/email)
	# the same file in two paths: one inode
	mkdir -p "$F/s1" "$F/s2"
	echo shared-content > "$F/s1/same"
	echo shared-content > "$F/s2/same"
	S1=$("$CASTORE" import "$F/s1")
	S2=$("$CASTORE" import "$F/s2")
	# a path whose blob is damaged after import: EIO, never wrong bytes
	mkdir -p "$F/bad"
	head -c 100000 /dev/urandom > "$F/bad/victim"
	echo fine > "$F/bad/ok"
	BAD=$("$CASTORE" import "$F/bad")
	hex=$(b3sum --no-names "$F/bad/victim")
	chmod u+w "$CASTORE_STORE/blobs/${hex:0:2}/$hex"
	printf 'X' | dd of="$CASTORE_STORE/blobs/${hex:0:2}/$hex" bs=1 seek=500 conv=notrunc 2>/dev/null
	export GEN REAL S1 S2 BAD
	g=${GEN#/nix/store/} r=${REAL#/nix/store/} s1=${S1#/nix/store/}
	s2=${S2#/nix/store/} b=${BAD#/nix/store/}
	gfile=$(cd "$F/gen" && find . -maxdepth 1 -type f | head -1)
	cat > "$F/guest.sh" <<EOF
mount -t virtiofs castore /mnt || exit 1
echo "--- walk-gen"; probe walk /mnt/$g
echo "--- walk-real"; probe walk /mnt/$r
echo "--- errno"
echo "open-w \$(probe errno open-w /mnt/$g/$gfile)"
echo "create \$(probe errno create /mnt/$g/new-file)"
echo "mkdir \$(probe errno mkdir /mnt/$g/new-dir)"
echo "list-root \$(probe errno opendir /mnt)"
echo "read-dir \$(probe errno read /mnt/$g)"
echo "missing \$(probe errno open-r /mnt/$g/no-such-entry)"
echo "not-a-path \$(probe errno open-r /mnt/not-a-store-path)"
echo "unknown-path \$(probe errno open-r /mnt/00000000000000000000000000000000-x)"
echo "readlink-file \$(probe errno readlink /mnt/$g/$gfile)"
echo "corrupt \$(probe errno read /mnt/$b/victim)"
echo "intact \$(cat /mnt/$b/ok)"
echo "--- xattr"
echo "blob \$(probe xattr /mnt/$s1/same user.snix.castore.blob.digest)"
echo "dir \$(probe xattr /mnt/$g user.snix.castore.directory.digest)"
echo "--- inodes"
echo "same1 \$(probe ino /mnt/$s1/same)"
echo "same2 \$(probe ino /mnt/$s2/same)"
echo "dir1 \$(probe ino /mnt/$s1)"
echo "--- forget"
echo "before \$(probe xattr /mnt user.castore.inodes)"
sync
echo 3 > /proc/sys/vm/drop_caches
echo "after \$(probe xattr /mnt user.castore.inodes)"
echo "--- remount"
umount /mnt || exit 1
mount -o ro -t virtiofs castore /mnt || exit 1
echo "same \$(cat /mnt/$s1/same)"
echo "--- end"
EOF
	vm_initrd "$F/initrd.gz" "$F/guest.sh"
	start_daemon "$F/vfs.sock"
	vm_boot "$F/initrd.gz" "$F/console" $(vm_fs_args "$F/vfs.sock")
	# QEMU is gone: the daemon ends by itself, with status 0 and no
	# sanitizer report; judged here, checked by the last test
	rc=0
	wait_exit "$DAEMON_PID" 60 > "$F/daemon.end" 2>&1 || rc=1
	echo "$rc $EXIT_RC" > "$F/daemon.rc"
}

teardown() {
	# the host mount of the xattr test, if it failed with it up
	if declare -F end_mounts > /dev/null; then end_mounts; fi
}

@test "the guest boots, mounts the tag, runs its script to the end" {
	run vm_report "$F/console"
	echo "$output" | tail -20
	[ "$status" -eq 0 ]
	grep -qx -- '--- end' "$F/console"
}

@test "a generated tree reads back entry by entry: type, mode, size, sha256, target" {
	python3 "$WALK" "$F/gen" > "$F/want-gen"
	section "$F/console" walk-gen > "$F/got-gen"
	diff -u "$F/want-gen" "$F/got-gen"
	# the tree has what the test is about
	grep -q '^l ' "$F/want-gen"
	grep -q '^f 555 ' "$F/want-gen"
	grep -q '^f 444 0 ' "$F/want-gen"
	grep -q '^f 444 40000000 ' "$F/want-gen"
	grep -q 'x09' "$F/want-gen" # a tab in a name
	grep -q '/p/q$' "$F/want-gen"
}

@test "a real tree (python's email package) reads back entry by entry" {
	python3 "$WALK" /usr/lib/python3.11/email > "$F/want-real"
	section "$F/console" walk-real > "$F/got-real"
	[ "$(wc -l < "$F/want-real")" -gt 30 ]
	diff -u "$F/want-real" "$F/got-real"
}

@test "errno contract in the guest: EROFS, EPERM, EISDIR, ENOENT, EINVAL" {
	r="$F/console"
	[ "$(field "$r" errno open-w)" = EROFS ]
	[ "$(field "$r" errno create)" = EROFS ]
	[ "$(field "$r" errno mkdir)" = EROFS ]
	[ "$(field "$r" errno list-root)" = EPERM ]
	[ "$(field "$r" errno read-dir)" = EISDIR ]
	[ "$(field "$r" errno missing)" = ENOENT ]
	[ "$(field "$r" errno not-a-path)" = ENOENT ]
	[ "$(field "$r" errno unknown-path)" = ENOENT ]
	[ "$(field "$r" errno readlink-file)" = EINVAL ]
}

@test "a corrupt blob reads as EIO in the guest; the rest of its path reads" {
	[ "$(field "$F/console" errno corrupt)" = EIO ]
	[ "$(field "$F/console" errno intact)" = fine ]
}

@test "xattrs: the blob and directory digests, as on the FUSE mount" {
	blob=$(field "$F/console" xattr blob)
	[ -n "$blob" ]
	# the same value the host's FUSE contract gives (castore's xattr is
	# the digest in its text form): compare with a host mount
	source "$BATS_TEST_DIRNAME/../fuse/lib.bash"
	mount_castore "$F/mnt"
	want=$(xattr "$F/mnt/${S1#/nix/store/}/same" user.snix.castore.blob.digest)
	wantdir=$(xattr "$F/mnt/${GEN#/nix/store/}" user.snix.castore.directory.digest)
	unmount_castore "$F/mnt" "$MOUNT_PID"
	[ "$blob" = "$want" ]
	[ "$(field "$F/console" xattr dir)" = "$wantdir" ]
}

@test "identical files in two store paths share one inode in the guest" {
	a=$(field "$F/console" inodes same1)
	b=$(field "$F/console" inodes same2)
	[ -n "$a" ] && [ "$a" = "$b" ]
	[ "$a" != "$(field "$F/console" inodes dir1)" ]
}

@test "FORGETs arrive: the daemon's inode count falls after drop_caches" {
	before=$(field "$F/console" forget before)
	after=$(field "$F/console" forget after)
	echo "inodes before $before, after $after"
	[ "$before" -gt 100 ]
	[ "$after" -lt "$before" ]
}

@test "the guest unmounts and mounts again (a new INIT) and reads" {
	[ "$(field "$F/console" remount same)" = shared-content ]
}

@test "the daemon exits 0 when QEMU goes (the guest powered off)" {
	cat "$F/daemon.end"
	# judged ok (exit 0, no sanitizer report), and exit 0
	[ "$(cat "$F/daemon.rc")" = "0 0" ]
	grep -q "done, [0-9]* requests served" "$DAEMON_LOG"
}
