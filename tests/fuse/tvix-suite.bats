#!/usr/bin/env bats
# tvix-store's FUSE test suite (from the tvix sources, not in this
# repository), brought to castore's filesystem contract (doc/HACKING.md,
# "The filesystem contract"): mtime 1, symlinks 0777, nlink 1 / 2 + subdirs,
# the symlink test comparing with the target, plus the errno contract.

load lib

setup_file() {
	export CASTORE_STORE="$BATS_FILE_TMPDIR/store"
	"$MKFIXTURE" "$CASTORE_STORE" tvix
	export MNT="$BATS_FILE_TMPDIR/mnt" MNT_LIST="$BATS_FILE_TMPDIR/mnt-list"
	mount_castore "$MNT" --threads 4
	export PID1=$MOUNT_PID
	mount_castore "$MNT_LIST" --list-root
	export PID2=$MOUNT_PID
}

teardown_file() {
	end_mounts
}

A=00000000000000000000000000000000-test
B=55555555555555555555555555555555-test
HELLO=66666666666666666666666666666666-test
LINK_A=11111111111111111111111111111111-test
LINK_ABS=44444444444444444444444444444444-test
DWK=22222222222222222222222222222222-test
CX=33333333333333333333333333333333-test
NO_DIR=77777777777777777777777777777777-test
NO_BLOB=88888888888888888888888888888888-test
A_EXEC=99999999999999999999999999999999-test

# bats test_tags=no-reads
@test "1 mount: the mount is live and listed in /proc/mounts" {
	grep -q " $MNT fuse.castore ro," /proc/mounts
}

@test "1b reads may be 1 MiB: the mount's readahead was raised" {
	dev=$(awk -v m="$MNT" '$5 == m {print $3}' /proc/self/mountinfo | tail -1)
	[ -n "$dev" ]
	[ "$(cat /sys/class/bdi/$dev/read_ahead_kb)" = 1024 ]
}

# bats test_tags=no-reads
@test "2 root without --list-root: EPERM" {
	[ "$(errno_of "os.listdir('$MNT')")" = EPERM ]
	run ls "$MNT"
	[ "$status" -eq 2 ]
	[[ "$output" == *"Operation not permitted"* ]]
}

# bats test_tags=no-reads
@test "3 root with --list-root lists exactly the store paths" {
	run ls "$MNT_LIST"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 10 ]
	[[ "$output" == *"$A"* && "$output" == *"$CX"* ]]
	[ "$(stat -c '%F %s %a' "$MNT_LIST/$A")" = "regular file 2 444" ]
}

# bats test_tags=no-reads
@test "4 stat a file at the root" {
	[ "$(stat -c '%F %s %a %h' "$MNT/$A")" = "regular file 2 444 1" ]
}

@test "5 read a file at the root" {
	[ "$(od -An -tx1 "$MNT/$A" | tr -d ' ')" = 0001 ]
}

@test "6 read a large file at the root (many FUSE reads)" {
	[ "$(stat -c %s "$MNT/$B")" = 1044480 ]
	want=$(python3 -c "import hashlib,sys; sys.stdout.write(hashlib.sha256(bytes(i % 255 for i in range(255*4096))).hexdigest())")
	[ "$(sha256sum < "$MNT/$B" | cut -d' ' -f1)" = "$want" ]
	# reads at odd offsets
	python3 - "$MNT/$B" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for off in (0, 1, 4095, 131071, 1044479, 1044480, 2000000):
    b = os.pread(fd, 70000, off)
    want = bytes(i % 255 for i in range(off, min(off + 70000, 1044480)))
    assert b == want, off
PY
}

# bats test_tags=no-reads
@test "7 symlink readlink; the dangling target is ENOENT" {
	[ "$(readlink "$MNT/$LINK_ABS")" = /nix/store/somewhereelse ]
	[ "$(stat -c %F "$MNT/$LINK_ABS")" = "symbolic link" ]
	[ "$(errno_of "os.stat('$MNT/$LINK_ABS')")" = ENOENT ]
	[ "$(errno_of "open('$MNT/$LINK_ABS').read()")" = ENOENT ]
}

@test "8 stat and read through a symlink give the target's (fixed test)" {
	[ "$(readlink "$MNT/$LINK_A")" = "$A" ]
	[ "$(stat -L -c '%F %s %i' "$MNT/$LINK_A")" = "$(stat -c '%F %s %i' "$MNT/$A")" ]
	[ "$(stat -c %F "$MNT/$LINK_A")" = "symbolic link" ]
	cmp "$MNT/$LINK_A" "$MNT/$A"
}

# bats test_tags=no-reads
@test "9 stat a directory" {
	[ "$(stat -c '%F %a' "$MNT/$DWK")" = "directory 555" ]
}

# bats test_tags=no-reads
@test "10 xattrs: digests as blake3-<base64>, ENODATA otherwise" {
	[ "$(xattr "$MNT/$DWK" user.snix.castore.directory.digest)" = "blake3-i1tdZCtka7jtUEsIYsOUE+h+V0kUl9570HWVP3uDgQ4=" ]
	[ "$(xattr "$MNT/$A" user.snix.castore.blob.digest)" = "blake3-e3AVu5LPCzGAN3AqbN2B3uQSJPc0aEwsEizWNZyx7mM=" ]
	[ "$(python3 -c "import os; print(os.listxattr('$MNT/$DWK'))")" = "['user.snix.castore.directory.digest']" ]
	[ "$(python3 -c "import os; print(os.listxattr('$MNT/$A'))")" = "['user.snix.castore.blob.digest']" ]
	[ "$(python3 -c "import os; print(os.listxattr('$MNT/$LINK_ABS', follow_symlinks=False))")" = "[]" ]
	[ "$(errno_of "os.getxattr('$MNT/$DWK', 'user.cheesecake')")" = ENODATA ]
	[ "$(errno_of "os.getxattr('$MNT/$A', 'user.snix.castore.directory.digest')")" = ENODATA ]
	[ "$(errno_of "getxattr_small('$MNT/$A', 'user.snix.castore.blob.digest', 5)")" = ERANGE ]
}

@test "11 read a blob inside a directory" {
	[ "$(stat -c '%F %s %a' "$MNT/$DWK/.keep")" = "regular empty file 0 444" ]
	[ "$(wc -c < "$MNT/$DWK/.keep")" = 0 ]
}

@test "12 read a blob deep inside a directory" {
	[ "$(stat -c '%F %a' "$MNT/$CX/keep/.keep")" = "regular empty file 444" ]
	[ "$(cat "$MNT/$CX/keep/.keep")" = "" ]
}

# bats test_tags=no-reads
@test "13 readdir: exactly the entries, in byte order, with types" {
	run python3 -c "
import os
for e in os.scandir('$MNT/$CX'):
    print(e.name, 'dir' if e.is_dir(follow_symlinks=False) else 'link' if e.is_symlink() else 'file', e.stat(follow_symlinks=False).st_size)"
	[ "$output" = $'.keep file 0\naa link 24\nkeep dir 1' ]
}

# bats test_tags=no-reads
@test "14 readdir deep without touching the parent listing" {
	run ls -a "$MNT/$CX/keep"
	[ "$output" = .keep ]
}

# bats test_tags=no-reads
@test "15 attributes: modes, uid/gid 0, mtime 1, nlink, directory size" {
	[ "$(stat -c '%a %u %g %Y %h' "$MNT/$A")" = "444 0 0 1 1" ]
	[ "$(stat -c '%a %u %g %Y %h' "$MNT/$HELLO")" = "555 0 0 1 1" ]
	[ "$(stat -c '%a %u %g %Y %h %s' "$MNT/$DWK")" = "555 0 0 1 2 1" ]
	[ "$(stat -c '%a %u %g %Y %h %s' "$MNT/$CX")" = "555 0 0 1 3 3" ]
	[ "$(stat -c '%a %u %g %Y %h %s' "$MNT/$LINK_ABS")" = "777 0 0 1 1 24" ]
	[ "$(cat "$MNT/$HELLO")" = "Hello World!" ]
}

# bats test_tags=no-reads
@test "16 one inode for identical directories" {
	[ "$(stat -c %i "$MNT/$DWK")" = "$(stat -c %i "$MNT/$CX/keep")" ]
}

# bats test_tags=no-reads
@test "17 one inode for identical files" {
	[ "$(stat -c %i "$MNT/$CX/.keep")" = "$(stat -c %i "$MNT/$CX/keep/.keep")" ]
}

# bats test_tags=no-reads
@test "18 one inode for identical symlinks" {
	[ "$(stat -c %i "$MNT/$CX/aa")" = "$(stat -c %i "$MNT/$LINK_ABS")" ]
}

# bats test_tags=no-reads
@test "18b no shared inode between an executable and a plain file of the same bytes" {
	cmp "$MNT/$A" "$MNT/$A_EXEC"
	[ "$(stat -c %i "$MNT/$A")" != "$(stat -c %i "$MNT/$A_EXEC")" ]
	[ "$(stat -c %a "$MNT/$A_EXEC")" = 555 ]
	[ "$(stat -c %a "$MNT/$A")" = 444 ]
}

# bats test_tags=no-reads
@test "19 wrong names in the root: exact match only" {
	[ "$(errno_of "os.stat('$MNT/00000000000000000000000000000000-tes')")" = ENOENT ]
	[ "$(errno_of "os.stat('$MNT/0000000000000000000000000000000-test')")" = ENOENT ]
	[ "$(errno_of "os.stat('$MNT/$A')")" = OK ]
	[ "$(errno_of "os.stat('$MNT/00000000000000000000000000000000-tes')")" = ENOENT ]
	[ "$(errno_of "os.stat('$MNT/not a store path')")" = ENOENT ]
	[ "$(errno_of "os.stat('$MNT/.')")" = OK ]
}

@test "20 writes: EROFS" {
	[ "$(errno_of "open('$MNT/$A', 'w')")" = EROFS ]
	[ "$(errno_of "open('$MNT/new-file', 'w')")" = EROFS ]
	[ "$(errno_of "os.mkdir('$MNT/$DWK/d')")" = EROFS ]
	[ "$(errno_of "os.unlink('$MNT/$DWK/.keep')")" = EROFS ]
	[ "$(errno_of "os.open('$MNT/$A', os.O_RDWR)")" = EROFS ]
	[ "$(errno_of "os.chmod('$MNT/$A', 0o777)")" = EROFS ]
	[ "$(errno_of "os.setxattr('$MNT/$A', 'user.x', b'1')")" = EROFS ]
}

# bats test_tags=no-reads
@test "21 missing directory object: stat works, listing and lookups give EIO" {
	[ "$(stat -c %F "$MNT/$NO_DIR")" = directory ]
	[ "$(errno_of "os.listdir('$MNT/$NO_DIR')")" = EIO ]
	[ "$(errno_of "os.stat('$MNT/$NO_DIR/absent')")" = EIO ]
	# the rest of the mount is unaffected
	[ "$(errno_of "os.listdir('$MNT/$DWK')")" = OK ]
}

@test "22 missing blob: stat works, open gives EIO" {
	[ "$(stat -c %s "$MNT/$NO_BLOB")" = 26 ]
	[ "$(errno_of "open('$MNT/$NO_BLOB').read()")" = EIO ]
	cat "$MNT/$A" > /dev/null
}

@test "errno contract: ENOTDIR, EISDIR, EINVAL" {
	[ "$(errno_of "os.stat('$MNT/$A/x')")" = ENOTDIR ]
	[ "$(errno_of "os.listdir('$MNT/$A')")" = ENOTDIR ]
	[ "$(errno_of "os.read(os.open('$MNT/$DWK', os.O_RDONLY), 10)")" = EISDIR ]
	[ "$(errno_of "os.readlink('$MNT/$A')")" = EINVAL ]
	[ "$(errno_of "os.readlink('$MNT/$DWK')")" = EINVAL ]
}

# bats test_tags=no-reads
@test "--no-xattr hides the digests" {
	mnt="$BATS_TEST_TMPDIR/nox"
	mount_castore "$mnt" --no-xattr
	pid=$MOUNT_PID
	[ "$(errno_of "os.getxattr('$mnt/$A', 'user.snix.castore.blob.digest')")" = ENODATA ]
	[ "$(python3 -c "import os; print(os.listxattr('$mnt/$A'))")" = "[]" ]
	unmount_castore "$mnt" "$pid"
}
