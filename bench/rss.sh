#!/bin/bash
# bench/rss.sh: peak RSS of the castore daemon after a walk of a generated
# tree of ENTRIES (default 1,000,000) entries with distinct contents.
source "$(dirname "$0")/lib.sh"
entries=${ENTRIES:-1000000}
src="$WORKDIR/many-$entries"
if [ ! -e "$src.done" ]; then
	rm -rf "$src"
	python3 - "$src" "$entries" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
per = 1000
for d in range((n + per - 1) // per):
    dd = os.path.join(root, "d%04d" % d)
    os.makedirs(dd)
    for f in range(min(per - 1, n - d * per - 1)):
        with open(os.path.join(dd, "f%03d" % f), "w") as fh:
            fh.write("%d/%d\n" % (d, f))
PY
	touch "$src.done"
fi
store="$WORKDIR/many-store-$entries"
[ -e "$store.done" ] || { rm -rf "$store"; "$CASTORE" --store "$store" import --name many "$src" > "$store.path"; touch "$store.done"; }
mnt="$WORKDIR/mnt-rss"
mkdir -p "$mnt"
"$CASTORE" --store "$store" mount --daemon "$mnt"
pid=$(pgrep -n -f "castore --store $store mount")
find "$mnt/$(basename "$(cat "$store.path")")" -printf '%s %m %y\n' > /dev/null
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
umount_sys "$mnt"
echo "rss-after-walk-MiB($entries) warm castore $(echo "$hwm / 1024" | bc)" >> "$RECORD"
echo "#   peak RSS after walking $entries entries: $((hwm / 1024)) MiB" >&2
