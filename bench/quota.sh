#!/bin/bash
# bench/quota.sh NAME: what tracking last use costs on the hot path -- the
# warm find walk of tree NAME (prepared by walk.sh) through a substituting
# mount with --cache-quota (large: nothing is evicted, every use is
# tracked) against the same mount without it.  Same rounds as measure().
source "$(dirname "$0")/lib.sh"
name=$1
d="$WORKDIR/$name"
cache="$WORKDIR/empty-cache"
mkdir -p "$cache"
printf 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n' > "$cache/nix-cache-info"
find_walk() { find "$1" -printf '%s %m %y\n'; }
declare -A warm_t=()
for _ in $(seq 1 "$RUNS"); do
	for q in none 1T; do
		mnt="$WORKDIR/mnt-quota"
		mkdir -p "$mnt"
		sync
		echo 2 > /proc/sys/vm/drop_caches
		warm "$d/store"
		# shellcheck disable=SC2046
		"$CASTORE" --store "$d/store" mount --daemon --threads "${CASTORE_THREADS:-4}" \
			--no-nix-conf --no-require-sigs --substituter "file://$cache" \
			$([ "$q" != none ] && echo --cache-quota "$q") "$mnt"
		dir="$mnt/$(basename "$(cat "$d/path")")"
		time_cmd find_walk "$dir" > /dev/null
		t=$(time_cmd repeat 5 find_walk "$dir")
		warm_t[$q]+="$(echo "scale=6; $t / 5" | bc) "
		umount_sys "$mnt"
	done
done
a=$(printf '%s\n' ${warm_t[1T]} | median)
b=$(printf '%s\n' ${warm_t[none]} | median)
echo "find-$name-quota castore-quota $a castore-subst $b" >> "$RECORD.gc"
echo "#   find-$name (warm), substituting mount: --cache-quota $a s, without $b s" >&2
