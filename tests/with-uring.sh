#!/bin/sh
# Run a command with FUSE over io_uring switched on in the kernel (the
# fuse module's enable_uring parameter, which only root may write), and
# put the parameter back as it was afterwards.  A kernel without it runs
# the command as it is, its mounts taking requests through /dev/fuse, and
# says so; in CI (CI set) that is a failure: every io_uring mode of the
# tests would silently run over /dev/fuse.
p=/sys/module/fuse/parameters/enable_uring
old=$(cat "$p" 2>/dev/null)
if [ ! -e "$p" ] || [ ! -w "$p" ] || ! echo Y > "$p" 2>/dev/null; then
	if [ -n "${CI:-}" ]; then
		echo "with-uring: FAILED: cannot switch FUSE over io_uring on ($p absent or read-only); the io_uring tests would run over /dev/fuse" >&2
		exit 1
	fi
	echo "with-uring: $p absent or read-only: requests go through /dev/fuse (io_uring modes are not tested)" >&2
	exec "$@"
fi
trap 'echo "$old" > "$p"' EXIT
trap 'exit 130' INT TERM
"$@"
