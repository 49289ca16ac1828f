#!/bin/bash
# bench/kernel-image.sh NAME: the time castore mount --kernel takes to
# write a tree's EROFS image from nothing (the image removed first) and
# mount it, against the time castore import took to bring the tree in.
source "$(dirname "$0")/lib.sh"
name=$1
d="$WORKDIR/$name"
[ -e "$d/ready" ] || die "$name is not prepared"
src=$(cat "$d/src" 2> /dev/null || true)
mnt="$WORKDIR/mnt-kernel-image"
mkdir -p "$mnt"
ti=(); tk=()
for _ in $(seq 1 "$RUNS"); do
	if [ -n "$src" ]; then
		rm -rf "$d/import-store"
		s=$(now)
		"$CASTORE" --store "$d/import-store" import --name tree "$src" > /dev/null
		e=$(now)
		ti+=("$(echo "$e - $s" | bc)")
	fi
	rm -f "$d"/store/images/*.erofs
	s=$(now)
	"$CASTORE" --store "$d/store" mount --kernel "$mnt" 2> /dev/null
	e=$(now)
	tk+=("$(echo "$e - $s" | bc)")
	umount "$mnt"
done
rm -rf "$d/import-store"
k=$(printf '%s\n' "${tk[@]}" | median)
if [ ${#ti[@]} -gt 0 ]; then
	i=$(printf '%s\n' "${ti[@]}" | median)
	echo "kernel image of $name (write + mount, from nothing): $k s; castore import of the tree: $i s: $(echo "scale=3; $k / $i" | bc)x" | tee -a "$RECORD.extra"
else
	echo "kernel image of $name (write + mount, from nothing): $k s" | tee -a "$RECORD.extra"
fi
