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
	[ -z "${QEMU_PID:-}" ] || kill -9 "$QEMU_PID" 2>/dev/null || true
	[ -z "${DAEMON_PID:-}" ] || kill -9 "$DAEMON_PID" 2>/dev/null || true
}

# boot_until_mounted SOCKET: boot $BATS_TEST_TMPDIR/initrd.gz in the
# background against SOCKET; return once the guest says MOUNTED.
boot_until_mounted() {
	vm_boot "$BATS_TEST_TMPDIR/initrd.gz" "$BATS_TEST_TMPDIR/console" \
		$(vm_fs_args "$1") &
	for _ in $(seq 1 600); do
		grep -q '^MOUNTED' "$BATS_TEST_TMPDIR/console" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "the guest never mounted" >&2
	return 1
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
	! "$CASTORE" path-info "$TOP" > /dev/null 2>&1
	VM_SMP=2 vm_boot "$BATS_TEST_TMPDIR/initrd.gz" "$BATS_TEST_TMPDIR/console" \
		$(vm_fs_args "$BATS_TEST_TMPDIR/vfs.sock" castore 2)
	wait_exit "$DAEMON_PID" 20
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
	[ "$EXIT_RC" = 0 ]
	# the hiprio queue and both request queues were served
	grep -q "requests served over 3 queues" "$DAEMON_LOG"
}

@test "a guest killed under the daemon (QEMU SIGKILL): the daemon exits 0" {
	cat > "$BATS_TEST_TMPDIR/guest.sh" <<'EOF'
mount -t virtiofs castore /mnt || exit 1
echo MOUNTED
while :; do probe errno opendir /mnt > /dev/null; done
EOF
	"$CASTORE" import "$BATS_TEST_DIRNAME" > /dev/null
	vm_initrd "$BATS_TEST_TMPDIR/initrd.gz" "$BATS_TEST_TMPDIR/guest.sh"
	start_daemon "$BATS_TEST_TMPDIR/vfs.sock"
	boot_until_mounted "$BATS_TEST_TMPDIR/vfs.sock"
	sleep 1 # requests in flight
	pkill -9 -f "qemu-system-x86_64.*$BATS_TEST_TMPDIR/vfs.sock"
	wait_exit "$DAEMON_PID" 10
	[ "$EXIT_RC" = 0 ]
	wait
}

@test "SIGTERM and SIGINT end the daemon with status 0, waiting or serving" {
	"$CASTORE" import "$BATS_TEST_DIRNAME" > /dev/null
	start_daemon "$BATS_TEST_TMPDIR/a.sock"
	[ -S "$BATS_TEST_TMPDIR/a.sock" ]
	kill -TERM "$DAEMON_PID"
	wait_exit "$DAEMON_PID" 5
	[ "$EXIT_RC" = 0 ]
	start_daemon "$BATS_TEST_TMPDIR/b.sock"
	kill -INT "$DAEMON_PID"
	wait_exit "$DAEMON_PID" 5
	[ "$EXIT_RC" = 0 ]
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
	wait_exit "$DAEMON_PID" 10
	[ "$EXIT_RC" = 0 ]
	pkill -9 -f "qemu-system-x86_64.*$BATS_TEST_TMPDIR/c.sock" || true
	wait
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
	wait_exit "$DAEMON_PID" 5
	[ "$EXIT_RC" = 0 ]
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
