# Shared parts of the mount benchmarks: preparing each system's image or
# store for a tree, mounting and unmounting them, timing, medians, and the
# result table.  Sourced by the bench/*.sh scripts; run as root.
#
# Systems: erofs (kernel EROFS mounted from an image file), squashfuse
# (squashfuse_ll on an uncompressed squashfs image), castore (castore mount
# of a store holding the tree: passthrough where the kernel has it) and
# castore-kernel (castore mount --kernel: an EROFS image of the
# metadata under overlayfs, file data from the blob files; no daemon) and
# castore-splice (the same with --no-passthrough: the daemon serves every
# read, as on kernels before 6.9 or without root) and castore-noopen
# (--no-open: no OPEN/RELEASE round trips, file pages kept across opens,
# reads spliced by the daemon) and castore-devfuse (the default mode with
# --no-uring: requests through /dev/fuse, as where the kernel keeps FUSE
# over io_uring off).  The bench turns FUSE over io_uring on for its run
# (the fuse module's enable_uring parameter) and puts it back after.
# Every backing file is read into the page cache before timing: what is
# measured is the filesystem, not the disk.

set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
CASTORE=${CASTORE:-$ROOT/castore}
RUNS=${RUNS:-5}
WORKDIR=${BENCH_WORK:-/var/tmp/castore-bench}
SYSTEMS=${SYSTEMS:-"erofs squashfuse castore castore-splice castore-noopen castore-devfuse castore-kernel"}
RESULTS=${RESULTS:-$BENCH_DIR/results.txt}
mkdir -p "$WORKDIR"

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (kernel EROFS mounts, drop_caches)"
for tool in mkfs.erofs mksquashfs squashfuse_ll fio; do
	command -v "$tool" > /dev/null || die "$tool missing: run scripts/setup.sh --tests"
done

URING_PARAM=/sys/module/fuse/parameters/enable_uring
# put the parameter back; a script with an EXIT trap of its own calls it
restore_uring() { [ -z "${uring_was:-}" ] || echo "$uring_was" > "$URING_PARAM"; }
if [ -w "$URING_PARAM" ]; then
	uring_was=$(cat "$URING_PARAM")
	trap restore_uring EXIT
	echo Y > "$URING_PARAM"
fi
# for the table's header
uring_state() {
	if [ -r "$URING_PARAM" ]; then
		echo "FUSE over io_uring $(cat "$URING_PARAM") (enable_uring, set by the bench)"
	else
		echo "no FUSE over io_uring in this kernel"
	fi
}

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
warm() { find "$@" -type f -print0 | xargs -0 cat > /dev/null 2>&1 || true; }

# prepare NAME TREE: images and store for a tree, once (cached by NAME).
prepare() {
	local name=$1 tree=$2 d="$WORKDIR/$1"
	mkdir -p "$d"
	echo "$tree" > "$d/src"
	if [ ! -e "$d/ready" ]; then
		echo "# preparing $name from $tree" >&2
		rm -f "$d/erofs.img" "$d/squash.img"
		mkfs.erofs --quiet "$d/erofs.img" "$tree" > /dev/null
		mksquashfs "$tree" "$d/squash.img" -noI -noD -noF -noX -no-progress -quiet > /dev/null
		rm -rf "$d/store"
		"$CASTORE" --store "$d/store" import --name tree "$tree" > "$d/path"
		# the steady state: every blob checked once and stamped, so a
		# fresh mount does not hash it again on first open
		"$CASTORE" --store "$d/store" verify > /dev/null
		touch "$d/ready"
	fi
	warm "$d/erofs.img" "$d/squash.img" "$d/store"
}

# mount_sys SYS NAME MNT: mount system SYS for tree NAME; prints the
# directory holding the tree.
mount_sys() {
	local sys=$1 d="$WORKDIR/$2" mnt=$3
	mkdir -p "$mnt"
	case $sys in
	erofs)
		mount -t erofs -o ro "$d/erofs.img" "$mnt"
		echo "$mnt" ;;
	squashfuse)
		squashfuse_ll "$d/squash.img" "$mnt"
		echo "$mnt" ;;
	castore | castore-splice | castore-noopen | castore-devfuse)
		# shellcheck disable=SC2046
		"$CASTORE" --store "$d/store" mount --daemon --threads "${CASTORE_THREADS:-4}" \
			$([ "$sys" = castore-splice ] && echo --no-passthrough) \
			$([ "$sys" = castore-noopen ] && echo --no-open) \
			$([ "$sys" = castore-devfuse ] && echo --no-uring) \
			${CASTORE_MOUNT_OPTS:-} "$mnt"
		echo "$mnt/$(basename "$(cat "$d/path")")" ;;
	castore-kernel)
		"$CASTORE" --store "$d/store" mount --kernel --list-root "$mnt" 2> /dev/null
		echo "$mnt/$(basename "$(cat "$d/path")")" ;;
	esac
}

umount_sys() {
	umount "$1" 2>/dev/null || fusermount3 -u "$1"
	# a FUSE daemon may still be exiting; wait until the mount is gone
	for _ in $(seq 1 50); do mountpoint -q "$1" || return 0; sleep 0.1; done
}

# time_cmd CMD...: seconds the command took.  A failing command (a read
# error on a mount, say) fails the bench: a fast error is not a result.
time_cmd() {
	local s e
	s=$(now)
	if ! "$@" > /dev/null; then
		echo "bench: failed: $*" >&2
		return 1
	fi
	e=$(now)
	echo "$e - $s" | bc
}

# repeat N FN ARGS...: FN ARGS N times in a row.
repeat() {
	local n=$1 k
	shift
	for ((k = 0; k < n; k++)); do "$@" || return 1; done
}

# measure WORKLOAD NAME FN [REPEAT]: RUNS rounds; in each round every
# system of $SYSTEMS in turn gets a fresh mount, FN DIR (cold) and FN DIR
# (warm), so a noisy moment on this shared machine hits all systems
# alike.  With REPEAT, the warm sample is the mean of REPEAT runs in a row:
# for a workload of a tenth of a second, one run is mostly noise.  Records
# "WORKLOAD cold|warm SYS median" lines in $RECORD.
RECORD=${RECORD:-$WORKDIR/record.txt}
measure() {
	local workload=$1 name=$2 fn=$3 reps=${4:-1} sys mnt dir t
	declare -A cold=() warmt=()
	for _ in $(seq 1 "$RUNS"); do
		for sys in $SYSTEMS; do
			mnt="$WORKDIR/mnt-$sys"
			sync
			echo 2 > /proc/sys/vm/drop_caches # dentries and inodes, not the page cache of the images
			warm "$WORKDIR/$name/erofs.img" "$WORKDIR/$name/squash.img" "$WORKDIR/$name/store"
			dir=$(mount_sys "$sys" "$name" "$mnt")
			t=$(time_cmd "$fn" "$dir")
			cold[$sys]+="$t "
			t=$(time_cmd repeat "$reps" "$fn" "$dir")
			t=$(echo "scale=6; $t / $reps" | bc)
			warmt[$sys]+="$t "
			umount_sys "$mnt"
		done
	done
	for sys in $SYSTEMS; do
		local c w
		c=$(printf '%s\n' ${cold[$sys]} | median)
		w=$(printf '%s\n' ${warmt[$sys]} | median)
		echo "$workload cold $sys $c" >> "$RECORD"
		echo "$workload warm $sys $w" >> "$RECORD"
		echo "#   $workload $sys: cold $c s, warm $w s" >&2
	done
}

# table: medians and castore's ratios, from $RECORD; then castore's
# ratio to any "floor" system recorded for a workload (blob-file: cat of
# the blob file itself).
table() {
	awk '
	function r(a, b) { return (b > 0 && a != "") ? sprintf("%.2fx", a / b) : "-" }
	{ key = $1 " (" $2 ")"; v[key, $3] = $4; if (!(key in seen)) { seen[key] = 1; order[++n] = key }
	  if ($3 != "erofs" && $3 != "squashfuse" && $3 !~ /^castore/) floor[key] = $3 }
	END {
		printf "%-36s %9s %10s %9s %9s %9s %9s %9s | %8s %8s %8s %8s %8s %8s\n", "workload (seconds; IOPS and MiB named)",
			"erofs", "squashfuse", "castore", "c-splice", "c-noopen", "c-devfuse", "c-kernel", "c/erofs", "c/squash", "cs/erofs", "cn/erofs", "cd/erofs", "ck/erofs"
		for (i = 1; i <= n; i++) {
			k = order[i]
			if ((k in floor) && !((k, "erofs") in v)) continue # floor line only
			e = v[k, "erofs"]; s = v[k, "squashfuse"]; c = v[k, "castore"]
			cs = v[k, "castore-splice"]; cn = v[k, "castore-noopen"]; cd = v[k, "castore-devfuse"]
			ck = v[k, "castore-kernel"]
			printf "%-36s %9.3f %10.3f %9.3f %9.3f %9.3f %9.3f %9.3f | %8s %8s %8s %8s %8s %8s\n", k, e, s, c, cs, cn, cd, ck,
				r(c, e), r(c, s), r(cs, e), r(cn, e), r(cd, e), r(ck, e)
		}
		for (k in floor)
			printf "%s: castore %.3f, %s %.3f: %s\n", k, v[k, "castore"], floor[k], v[k, floor[k]], r(v[k, "castore"], v[k, floor[k]])
	}' "$RECORD"
}
