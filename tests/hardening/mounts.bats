#!/usr/bin/env bats
# Mount lifecycle under abuse: unmounting must never remove what castore
# was mounted on; a mount whose daemon was killed is recognised.

load ../fuse/lib

setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$MNT" "$BATS_TEST_TMPDIR/tree"
	echo hello > "$BATS_TEST_TMPDIR/tree/f"
	P=$("$CASTORE" import "$BATS_TEST_TMPDIR/tree")
}

teardown() {
	# the mounts a test left, each daemon's end judged; then the tmpfs
	local i rc=0
	end_mounts || rc=1
	# what the io_uring note test turned off
	[ -z "${URING_PARAM_WAS:-}" ] ||
		echo "$URING_PARAM_WAS" > /sys/module/fuse/parameters/enable_uring
	for i in 1 2 3 4; do
		umount -l "$MNT" 2>/dev/null || break
	done
	return "$rc"
}

# open_path_to PATH: let other users traverse every directory above PATH
# (bats makes its temporary directories private)
open_path_to() {
	local d
	d=$(dirname "$1")
	while [ "$d" != / ]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
}

as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

# castore mounts in mountinfo at $MNT
castore_mounts() {
	awk -v m="$MNT" '$5 == m && $0 ~ / - fuse\.castore castore / { n++ } END { print n + 0 }' /proc/self/mountinfo
}

@test "unmounting castore leaves the tmpfs it was mounted on (every mode)" {
	mount -t tmpfs castore-test-tmpfs "$MNT"
	echo underneath > "$MNT/marker"
	for args in "" "--no-passthrough" "--no-open" "--no-uring"; do
		CASTORE_MOUNT_ARGS="$args" mount_castore "$MNT"
		[ "$(cat "$MNT/${P#/nix/store/}/f")" = hello ]
		unmount_castore "$MNT" "$MOUNT_PID"
		# the daemon's exit must not have detached the tmpfs
		mountpoint -q "$MNT"
		[ "$(cat "$MNT/marker")" = underneath ]
	done
	# and a SIGTERM (the daemon unmounts itself) leaves it too
	mount_castore "$MNT"
	kill -TERM "$MOUNT_PID"
	mount_ended "$MOUNT_PID"
	[ "$(cat "$MNT/marker")" = underneath ]
	umount "$MNT"
}

@test "a mount whose daemon was killed is cleared by root's next mount" {
	mount_castore "$MNT"
	kill -9 "$MOUNT_PID"
	mount_ended "$MOUNT_PID" 137
	[ "$(castore_mounts)" = 1 ]
	run stat "$MNT/${P#/nix/store/}/f"
	[ "$status" = 1 ]
	[[ "$output" == *"Transport endpoint is not connected"* ]]
	mount_castore "$MNT" 2> "$BATS_TEST_TMPDIR/err"
	grep -q "cleared a dead castore mount at '$MNT'" "$BATS_TEST_TMPDIR/err"
	# one castore mount, not one stacked on the dead one
	[ "$(castore_mounts)" = 1 ]
	[ "$(cat "$MNT/${P#/nix/store/}/f")" = hello ]
	unmount_castore "$MNT" "$MOUNT_PID"
	[ "$(castore_mounts)" = 0 ]
}

@test "a user is told how to clear a dead mount; a live one is not mounted over" {
	mount_castore "$MNT"
	run "$CASTORE" mount "$MNT"
	[ "$status" = 1 ]
	[[ "$output" == *"is already a castore mount"* ]]
	unmount_castore "$MNT" "$MOUNT_PID"

	# a dead mount that other users may enter (allow_other; /dev/fuse is
	# root's alone here, so a user's own mount cannot be made)
	mount_castore "$MNT" --allow-other
	kill -9 "$MOUNT_PID"
	mount_ended "$MOUNT_PID" 137
	open_path_to "$MNT"
	run as_nobody "$CASTORE" --store "$BATS_TEST_TMPDIR" mount "$MNT"
	[ "$status" = 1 ]
	[[ "$output" == *"whose daemon is gone; clear it with 'fusermount3 -u $MNT'"* ]]
	# what it says works
	fusermount3 -u "$MNT"
	[ "$(castore_mounts)" = 0 ]
}

@test "noexec from -o, the helper form and mount.fuse3 reaches the kernel" {
	local exe="$BATS_TEST_TMPDIR/exe"
	mkdir -p "$exe"
	printf '#!/bin/sh\necho ran\n' > "$exe/run"
	chmod +x "$exe/run"
	local p
	p=$("$CASTORE" import "$exe")
	for args in "-o noexec" "--no-passthrough -o noexec" "-o noexec,exec"; do
		# shellcheck disable=SC2086
		mount_castore "$MNT" $args
		opts=$(findmnt -n -o OPTIONS "$MNT")
		echo "$args: $opts"
		[[ ",$opts," == *,ro,* && ",$opts," == *,nosuid,* && ",$opts," == *,nodev,* ]]
		if [[ "$args" == *noexec,exec* ]]; then
			[ "$("$MNT/${p#/nix/store/}/run")" = ran ]
		else
			[[ ",$opts," == *,noexec,* ]]
			run "$MNT/${p#/nix/store/}/run"
			[ "$status" = 126 ]
		fi
		unmount_castore "$MNT" "$MOUNT_PID"
	done
	ln -s "$CASTORE" "$BATS_TEST_TMPDIR/mount.fuse.castore"
	"$BATS_TEST_TMPDIR/mount.fuse.castore" "$CASTORE_STORE" "$MNT" -o ro,noexec,noatime 3>&-
	[[ ",$(findmnt -n -o OPTIONS "$MNT")," == *,noexec,*noatime* ||
		",$(findmnt -n -o OPTIONS "$MNT")," == *,noatime,*noexec* ]]
	fusermount3 -u "$MNT"
	PATH="$(dirname "$CASTORE"):$PATH" mount.fuse3 "$CASTORE_STORE" "$MNT" -t castore -o noexec 3>&-
	[[ ",$(findmnt -n -o OPTIONS "$MNT")," == *,noexec,* ]]
	fusermount3 -u "$MNT"
}

@test "a forgotten --store is not taken for the mount helper form" {
	local dir="$BATS_TEST_TMPDIR/storedir"
	mkdir -p "$dir/verify"
	run "$CASTORE" "$dir" verify
	[ "$status" = 2 ]
	[[ "$output" == *"unknown command '$dir' (a store directory is given as --store DIR)"* ]]
	! mountpoint -q "$dir/verify"
}

@test "a systemd Type=notify unit hears READY=1 once the mount is live" {
	sock="$BATS_TEST_TMPDIR/notify"
	run python3 - "$sock" "$CASTORE" "$MNT" <<'PY'
import os, socket, subprocess, sys
sock, castore, mnt = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock)
s.settimeout(20)
env = dict(os.environ, NOTIFY_SOCKET=sock)
p = subprocess.Popen([castore, "mount", mnt], env=env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
msg = s.recv(4096).decode()
print(msg.replace("\n", " "))
print("mounted" if os.path.ismount(mnt) else "not mounted")
subprocess.run(["fusermount3", "-u", mnt], check=True)
print(s.recv(4096).decode().strip())
print("exit", p.wait(timeout=20))
PY
	echo "$output"
	[ "$status" = 0 ]
	[ "${lines[0]}" = "READY=1 STATUS=mounted" ]
	[ "${lines[1]}" = mounted ]
	[ "${lines[2]}" = STOPPING=1 ]
	[ "${lines[3]}" = "exit 0" ]
}

@test "a detached daemon leaves the terminal alone; the io_uring note comes once per boot" {
	"$CASTORE" mount --daemon "$MNT" 2> "$BATS_TEST_TMPDIR/err" 3>&-
	pid=$(pgrep -f "castore mount --daemon $MNT" | head -1)
	[ -n "$pid" ]
	fusermount3 -u "$MNT"
	# not this shell's child: its end is seen in /proc
	gone_within 20 "$pid"
	# the "unmounted ..." line went to syslog, not to the terminal
	[ ! -s "$BATS_TEST_TMPDIR/err" ]

	param=/sys/module/fuse/parameters/enable_uring
	[ -w "$param" ] || ci_requires "FUSE's io_uring parameter ($param) in this kernel"
	URING_PARAM_WAS=$(cat "$param") # teardown puts it back should this fail
	echo N > "$param"
	rm -f /run/castore/uring-note-given
	for i in 1 2; do
		# io_uring asked for (no --no-uring from make check's second run)
		CASTORE_MOUNT_ARGS= mount_castore "$MNT" 2> "$BATS_TEST_TMPDIR/note$i" ||
			{ cat "$BATS_TEST_TMPDIR/note$i"; false; }
		unmount_castore "$MNT" "$MOUNT_PID"
	done
	echo "$URING_PARAM_WAS" > "$param"
	URING_PARAM_WAS=
	grep -q "FUSE over io_uring is off in this kernel" "$BATS_TEST_TMPDIR/note1"
	! grep -q "io_uring is off" "$BATS_TEST_TMPDIR/note2"
}

@test "make install: the helper where mount(8) looks, the man page, completion" {
	local root="$BATS_TEST_TMPDIR/root"
	make -s -C "$BATS_TEST_DIRNAME/../.." install DESTDIR="$root" PREFIX=/usr/local \
		B="$(basename "$(dirname "$(readlink -f "$CASTORE")")")"
	[ -x "$root/usr/local/bin/castore" ]
	[ "$(readlink "$root/sbin/mount.fuse.castore")" = /usr/local/bin/castore ]
	grep -q '^\.TH CASTORE 1' "$root/usr/local/share/man/man1/castore.1"
	bash -n "$root/usr/local/share/bash-completion/completions/castore"
	grep -q 'complete -F _castore castore' "$root/usr/local/share/bash-completion/completions/castore"
}

@test "the daemon logs what it cannot serve: the blob and why" {
	local hex blob
	hex=$(b3sum --no-names "$BATS_TEST_TMPDIR/tree/f")
	blob="$CASTORE_STORE/blobs/${hex:0:2}/$hex"
	chmod u+w "$blob"
	flip_byte "$blob" 0
	mount_castore "$MNT" 2> "$BATS_TEST_TMPDIR/log"
	[ "$(errno_of "open('$MNT/${P#/nix/store/}/f', 'rb').read(1)")" = EIO ]
	unmount_castore "$MNT" "$MOUNT_PID"
	cat "$BATS_TEST_TMPDIR/log"
	grep -q "castore: mount: blob $hex: corrupt: its content does not match its digest; each open of its files fails with EIO" "$BATS_TEST_TMPDIR/log"
}

@test "-o words and --options come from one table: values checked alike" {
	run "$CASTORE" mount -o list_root=yes "$MNT"
	[ "$status" = 2 ]
	[[ "$output" == *"option 'list_root=yes' takes no value"* ]]
	run "$CASTORE" mount -o threads "$MNT"
	[ "$status" = 2 ]
	[[ "$output" == *"option 'threads' needs a value"* ]]
	run "$CASTORE" mount -o threads=0 "$MNT"
	[ "$status" = 2 ]
	[[ "$output" == *"threads takes 1..1024, not '0'"* ]]
	run "$CASTORE" mount --threads 0 "$MNT"
	[ "$status" = 2 ]
	[[ "$output" == *"threads takes 1..1024, not '0'"* ]]
	# every --option of the help is a -o word too, but --daemon and
	# --ready-fd, and --kernel and --refresh (another kind of mount, not
	# a FUSE mount's option)
	"$CASTORE" mount --help | grep -o '^  --[a-z-]*' | sed 's/^  --//' |
		grep -vx -e daemon -e ready-fd -e kernel -e refresh | tr - _ > "$BATS_TEST_TMPDIR/longs"
	for w in $(cat "$BATS_TEST_TMPDIR/longs"); do
		"$CASTORE" mount --help | tr -d ' \n' | grep -q "[:,]$w[=,]" ||
			{ echo "no -o word for --$w"; false; }
	done
}
