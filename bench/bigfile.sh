#!/bin/bash
# bench/bigfile.sh: a generated 1 GiB file -- cat from a fresh mount and
# again, against cat of the backing blob file itself; then fio random
# 4 KiB reads (IOPS).
source "$(dirname "$0")/lib.sh"
src="$WORKDIR/bigfile-src"
if [ ! -e "$src/big" ]; then
	mkdir -p "$src"
	# incompressible
	head -c $((1 << 30)) /dev/urandom > "$src/big"
fi
prepare bigfile "$src"
cat_big() { cat "$1/big"; }
measure "cat-1GiB" bigfile cat_big
# the floor: reading the blob file straight from the page cache
hex=$(b3sum --no-names "$src/big")
blob="$WORKDIR/bigfile/store/blobs/${hex:0:2}/$hex"
t=()
for _ in $(seq 1 "$RUNS"); do cat "$blob" > /dev/null; t+=("$(time_cmd cat "$blob")"); done
echo "cat-1GiB cold blob-file $(printf '%s\n' "${t[@]}" | median)" >> "$RECORD"

fio_rand() {
	fio --name=r --filename="$1/big" --rw=randread --bs=4k --ioengine=psync \
		--runtime=5 --time_based --readonly --output-format=terse 2>/dev/null |
		awk -F';' '{print $8}' # read IOPS
}
for sys in $SYSTEMS; do
	mnt="$WORKDIR/mnt-$sys"
	dir=$(mount_sys "$sys" bigfile "$mnt")
	cat "$dir/big" > /dev/null
	echo "fio-randread-4k-iops warm $sys $(fio_rand "$dir")" >> "$RECORD"
	umount_sys "$mnt"
done
