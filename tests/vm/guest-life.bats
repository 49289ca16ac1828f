#!/usr/bin/env bats
# castore virtiofs: lazy substitution inside a guest, two request queues,
# a guest killed under the daemon, signals, and the socket's life.

load lib
source "$BATS_TEST_DIRNAME/../net/lib.bash"

setup_file() {
	vm_kernel
	export VM_KERNEL VM_MODULES
	net_setup_file
	export DAEMON_LOG="$F/daemon.log"
	chmod o+x "$F" "$(dirname "$F")" 2>/dev/null || true
}

teardown_file() {
	nginx_stop
}

setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	: > "$DAEMON_LOG"
}

teardown() {
	# what a failed test left running (QEMU, then its daemon)
	[ -z "${QEMU_PID:-}" ] || kill -9 "$QEMU_PID" 2>/dev/null || true
	[ -z "${DAEMON_PID:-}" ] || kill -9 "$DAEMON_PID" 2>/dev/null || true
}

# console_says LINE: the guest printed LINE (a line starting with it), or
# its QEMU has ended (the caller tells which).
console_says() {
	grep -q "^$1" "$BATS_TEST_TMPDIR/console" 2>/dev/null && return 0
	[ -n "${BOOT_JOB:-}" ] && ! kill -0 "$BOOT_JOB" 2>/dev/null
}

# wait_console LINE: wait (up to $VM_TIMEOUT) for the guest to print LINE;
# fails, with the console's tail, if QEMU ends first.
wait_console() {
	wait_for "$VM_TIMEOUT" "the guest to say $1" console_says "$1"
	grep -q "^$1" "$BATS_TEST_TMPDIR/console" ||
		{ echo "QEMU ended before the guest said $1:"; tail -20 "$BATS_TEST_TMPDIR/console"; false; }
}

# boot_until_mounted SOCKET: boot $BATS_TEST_TMPDIR/initrd.gz in the
# background against SOCKET; return once the guest says MOUNTED, with
# QEMU's PID in QEMU_PID.
boot_until_mounted() {
	vm_boot "$BATS_TEST_TMPDIR/initrd.gz" "$BATS_TEST_TMPDIR/console" \
		$(vm_fs_args "$1") 3>&- &
	BOOT_JOB=$!
	wait_console MOUNTED
	QEMU_PID=$(qemu_pid "$BATS_TEST_TMPDIR/console")
	[ -n "$QEMU_PID" ] || { echo "QEMU wrote no pidfile"; false; }
}

# end_boot: kill the QEMU of boot_until_mounted (SIGKILL, by its PID) and
# wait for the boot job.
end_boot() {
	kill -9 "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=
	wait "$BOOT_JOB" || true
	BOOT_JOB=
}

@test "lazy substitution inside the guest, from an nginx-served cache written by Nix; two request queues" {
	t=${TOP#/nix/store/} d=${DEP#/nix/store/}
	cat > "$BATS_TEST_TMPDIR/guest.sh" <<EOF
mount -t virtiofs castore /mnt || exit 1
echo "--- subst"
echo "hello \$(/mnt/$t/bin/hello)"
echo "data \$(cat /mnt/$d/share/data)"
echo "link \$(cat /mnt/$d/link)"
echo "big \$(probe sum /mnt/$d/share/big)"
echo "absent \$(probe errno open-r /mnt/${t:0:31}x-castore-subst-top/bin/hello)"
echo "--- end"
EOF
	vm_initrd "$BATS_TEST_TMPDIR/initrd.gz" "$BATS_TEST_TMPDIR/guest.sh"
	start_daemon "$BATS_TEST_TMPDIR/vfs.sock" --no-nix-conf \
		--substituter "$URL/cache-xz" --trusted-public-key "$PK"
	# the store starts empty: everything the guest reads is fetched
	run "$CASTORE" path-info "$TOP"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$TOP' is not in the store"* ]]
	VM_SMP=2 vm_boot "$BATS_TEST_TMPDIR/initrd.gz" "$BATS_TEST_TMPDIR/console" \
		$(vm_fs_args "$BATS_TEST_TMPDIR/vfs.sock" castore 2)
	# QEMU is gone: the daemon ends by itself, with status 0
	wait_exit "$DAEMON_PID" 60
	c="$BATS_TEST_TMPDIR/console"
	cat "$c" | tail -12
	vm_report "$c" > /dev/null
	[ "$(field "$c" subst hello)" = hi ]
	[ "$(field "$c" subst data)" = dep-data ]
	[ "$(field "$c" subst link)" = dep-data ]
	[ "$(field "$c" subst big)" = "$(stat -c %s "$DEP/share/big") $(sha256sum < "$DEP/share/big" | cut -d' ' -f1)" ]
	[ "$(field "$c" subst absent)" = ENOENT ]
	# fetched into the store, byte-identical to Nix's
	diff <("$CASTORE" export "$DEP") <(nix-store --dump "$DEP")
	# the hiprio queue and both request queues were served
	grep -q "requests served over 3 queues" "$DAEMON_LOG"
}

@test "a guest killed under the daemon (QEMU SIGKILL): the daemon exits 0" {
	# the guest sends requests without end; it says when it has sent many
	cat > "$BATS_TEST_TMPDIR/guest.sh" <<'EOF'
mount -t virtiofs castore /mnt || exit 1
echo MOUNTED
i=0
while :; do
	probe errno opendir /mnt > /dev/null
	i=$((i + 1))
	[ "$i" != 50 ] || echo BUSY
done
EOF
	"$CASTORE" import "$BATS_TEST_DIRNAME" > /dev/null
	vm_initrd "$BATS_TEST_TMPDIR/initrd.gz" "$BATS_TEST_TMPDIR/guest.sh"
	start_daemon "$BATS_TEST_TMPDIR/vfs.sock"
	boot_until_mounted "$BATS_TEST_TMPDIR/vfs.sock"
	# killed while its requests flow
	wait_console BUSY
	kill -0 "$DAEMON_PID"
	end_boot
	wait_exit "$DAEMON_PID" 60
}

@test "SIGTERM and SIGINT end the daemon with status 0, waiting or serving" {
	"$CASTORE" import "$BATS_TEST_DIRNAME" > /dev/null
	start_daemon "$BATS_TEST_TMPDIR/a.sock"
	[ -S "$BATS_TEST_TMPDIR/a.sock" ]
	kill -TERM "$DAEMON_PID"
	wait_exit "$DAEMON_PID" 60
	start_daemon "$BATS_TEST_TMPDIR/b.sock"
	kill -INT "$DAEMON_PID"
	wait_exit "$DAEMON_PID" 60
	# while a guest is being served
	cat > "$BATS_TEST_TMPDIR/guest.sh" <<'EOF'
mount -t virtiofs castore /mnt || exit 1
echo MOUNTED
sleep 600
EOF
	vm_initrd "$BATS_TEST_TMPDIR/initrd.gz" "$BATS_TEST_TMPDIR/guest.sh"
	start_daemon "$BATS_TEST_TMPDIR/c.sock"
	boot_until_mounted "$BATS_TEST_TMPDIR/c.sock"
	kill -TERM "$DAEMON_PID"
	wait_exit "$DAEMON_PID" 60
	end_boot
}

@test "the socket: a stale one is replaced, a live one or another file is refused" {
	"$CASTORE" import "$BATS_TEST_DIRNAME" > /dev/null
	# stale: a socket file nobody listens on
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$BATS_TEST_TMPDIR/s.sock"
	[ -S "$BATS_TEST_TMPDIR/s.sock" ]
	start_daemon "$BATS_TEST_TMPDIR/s.sock"
	# live: a second daemon on it is refused, and says why; the first
	# one goes on waiting for its VM
	run "$CASTORE" virtiofs --socket-path "$BATS_TEST_TMPDIR/s.sock"
	[ "$status" -eq 1 ]
	[[ "$output" == *"s.sock"*"another daemon is using"* ]]
	kill -0 "$DAEMON_PID"
	[ -S "$BATS_TEST_TMPDIR/s.sock" ]
	kill -TERM "$DAEMON_PID"
	wait_exit "$DAEMON_PID" 60
	# it leaves neither the socket nor its lock behind
	[ ! -e "$BATS_TEST_TMPDIR/s.sock" ]
	[ ! -e "$BATS_TEST_TMPDIR/s.sock.lock" ]
	# a regular file is never removed
	echo keep > "$BATS_TEST_TMPDIR/file"
	run "$CASTORE" virtiofs --socket-path "$BATS_TEST_TMPDIR/file"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a stale socket"* ]]
	[ "$(cat "$BATS_TEST_TMPDIR/file")" = keep ]
}

@test "virtiofs usage errors: exit 2 with a message; --help exits 0" {
	run "$CASTORE" virtiofs
	[ "$status" -eq 2 ]
	[[ "$output" == *"--socket-path"* ]]
	run "$CASTORE" virtiofs --socket-path /tmp/x extra
	[ "$status" -eq 2 ]
	run "$CASTORE" virtiofs --threads 0 --socket-path /tmp/x
	[ "$status" -eq 2 ]
	run "$CASTORE" virtiofs --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"vhost-user-fs-pci"* ]]
}
