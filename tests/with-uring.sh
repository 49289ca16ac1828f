#!/bin/sh
# Run a command with FUSE over io_uring switched on in the kernel (the
# fuse module's enable_uring parameter, which only root may write), and
# put the parameter back as it was afterwards.  A kernel without it runs
# the command as it is: its mounts take requests through /dev/fuse.
p=/sys/module/fuse/parameters/enable_uring
if [ ! -e "$p" ] || [ ! -w "$p" ]; then
	echo "with-uring: $p absent or read-only: requests go through /dev/fuse" >&2
	exec "$@"
fi
old=$(cat "$p")
trap 'echo "$old" > "$p"' EXIT
trap 'exit 130' INT TERM
echo Y > "$p"
"$@"
