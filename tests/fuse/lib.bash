# Mount helpers for the FUSE tests (bats).  Mounts are real; every mount
# is waited for through --ready-fd (no sleeping) and unmounted on teardown.

source "$BATS_TEST_DIRNAME/../lib/common.bash"
MOUNTS_OPEN=()

CASTORE="${CASTORE:-$BATS_TEST_DIRNAME/../../castore}"
MKFIXTURE="${MKFIXTURE:-$BATS_TEST_DIRNAME/../../build/tests/mkfixture}"
GEN_TREE="$BATS_TEST_DIRNAME/../gen-tree.py"
export NIX_CONFIG=$'experimental-features = nix-command\nsubstituters =\nbuild-users-group =\nsandbox = false'

# mount_castore MNT [mount options...]: mounts $CASTORE_STORE at MNT in the
# background; sets MOUNT_PID.  Fails if the mount does not become live.
# $CASTORE_MOUNT_ARGS (words) go first: make check runs the suite once
# more with --no-passthrough, the read path of machines without it.
# Every mount is recorded for end_mounts.
mount_castore() {
	local mnt="$1" fifo line
	shift
	mkdir -p "$mnt"
	fifo=$(mktemp -u "$BATS_FILE_TMPDIR/ready.XXXXXX")
	mkfifo "$fifo"
	# fd 3 is bats' own: close it in the daemon or bats waits for it
	# shellcheck disable=SC2086
	"$CASTORE" mount --ready-fd 9 ${CASTORE_MOUNT_ARGS:-} "$@" "$mnt" 9>"$fifo" 3>&- &
	MOUNT_PID=$!
	MOUNTS_OPEN+=("${BATS_TEST_NAME:-file} $MOUNT_PID $mnt")
	if ! read -r -t 30 line < "$fifo" || [ "$line" != ready ]; then
		rm -f "$fifo"
		echo "mount of $mnt did not become ready" >&2
		return 1
	fi
	rm -f "$fifo"
	mountpoint -q "$mnt"
}

# unmount_castore MNT PID [WANT]: unmount, wait for the daemon and judge
# its end (tests/lib/common.bash: exit WANT, default 0, and no sanitizer
# report); sets UNMOUNT_RC to its exit status.  (Not in $(...): a subshell
# cannot wait for its parent's children.)
unmount_castore() {
	local mnt="$1" pid="$2" i
	UNMOUNT_RC=0
	if ! fusermount3 -u "$mnt" 2>/dev/null && ! umount "$mnt" 2>/dev/null &&
		kill -0 "$pid" 2>/dev/null; then
		# busy (a test's reader still in it): SIGTERM ends a mount cleanly
		echo "unmount of $mnt failed: ending its daemon with SIGTERM" >&2
		kill -TERM "$pid"
	fi
	for i in "${!MOUNTS_OPEN[@]}"; do
		[ "${MOUNTS_OPEN[$i]#* }" != "$pid $mnt" ] || unset "MOUNTS_OPEN[$i]"
	done
	wait_ended "mount daemon at $mnt" "$pid" "${3:-0}" || { UNMOUNT_RC=$ENDED_RC; return 1; }
	UNMOUNT_RC=$ENDED_RC
}

# mount_ended PID [WANT]: a mount's daemon that the test ended itself (a
# signal, umount): wait for it and judge its end as unmount_castore does.
mount_ended() {
	local i
	for i in "${!MOUNTS_OPEN[@]}"; do
		case "${MOUNTS_OPEN[$i]}" in *" $1 "*) unset "MOUNTS_OPEN[$i]" ;; esac
	done
	wait_ended "mount daemon" "$1" "${2:-0}"
}

# end_mounts: for teardown and teardown_file: ends every mount this test
# (or, in teardown_file, setup_file) started and has not ended, judging
# each daemon's end; fails if any ended badly.
end_mounts() {
	local scope="${BATS_TEST_NAME:-file}" e pid mnt rc=0
	for e in "${MOUNTS_OPEN[@]}"; do
		[ "${e%% *}" = "$scope" ] || continue
		e=${e#* }
		pid=${e%% *}
		mnt=${e#* }
		unmount_castore "$mnt" "$pid" || rc=1
	done
	return "$rc"
}

# xattr PATH NAME: the value of an extended attribute.
xattr() {
	python3 -c 'import os, sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())' "$1" "$2"
}

# errno_of PYTHON-EXPR: run an os call on the mount and print the errno
# name it fails with ("OK" if it does not fail).
errno_of() {
	python3 - "$@" <<'PY'
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def getxattr_small(p, name, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    r = libc.getxattr(p.encode(), name.encode(), buf, ctypes.c_size_t(size))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r
try:
    eval(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
}

# read_syscalls PID: read(2)-family calls the daemon has made so far
# (hashing a blob reads it; over /dev/fuse, each request is one more).
read_syscalls() {
	awk '$1 == "syscr:" { print $2 }' "/proc/$1/io"
}

# root_counter NAME: the mount's counter user.castore.NAME (requests,
# uring_requests), read from the root of $MNT.  The read is one request.
root_counter() {
	xattr "$MNT" "user.castore.$1"
}

# requests_taken: requests the daemon at $MNT has taken so far, over
# /dev/fuse or io_uring, less the one that asks.
requests_taken() {
	echo $(( $(root_counter requests) - 1 ))
}

# cpu_queues: FUSE's io_uring queues, one per possible CPU.
cpu_queues() {
	local hi
	hi=$(sed 's/.*[-,]//' /sys/devices/system/cpu/possible)
	echo $(( hi + 1 ))
}

# flip_byte FILE OFFSET: invert one byte in place (the file's mtime moves,
# as with any write), so it surely differs from before.
flip_byte() {
	python3 - "$1" "$2" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
off = int(sys.argv[2])
b = os.pread(fd, 1, off)
os.pwrite(fd, bytes([b[0] ^ 0xff]), off)
os.close(fd)
PY
}
